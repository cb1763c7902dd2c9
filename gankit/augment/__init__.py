"""Differentiable augmentation of D's inputs (real and generated alike), registered in ``AUGMENTS``."""

from gankit.augment import ada, diffaugment  # noqa: F401  (registers)
from gankit.augment.base import AUGMENTS, Augment, AugmentOptions, build_augment

__all__ = ["AUGMENTS", "Augment", "AugmentOptions", "build_augment"]
