"""Remedies against mode collapse as options of the plain recipe (``--set recipe.KEY=VALUE``).

Network wrappers (:mod:`gankit.tricks.layers`): packing (PacGAN), minibatch discrimination,
the minibatch standard deviation feature, virtual batch normalization. Loss terms
(:mod:`gankit.tricks.game`): feature matching, historical averaging, the unrolled generator
loss. One-sided label smoothing is an objective option (``--set loss.label_smoothing=0.9``).
"""

from gankit.tricks.build import build_with_tricks
from gankit.tricks.options import TrickOptions

__all__ = ["TrickOptions", "build_with_tricks"]
