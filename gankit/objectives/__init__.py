"""GAN objectives, each registered by name in ``OBJECTIVES``."""

from gankit.objectives import (  # noqa: F401  (registers)
    began,
    classic,
    fgan,
    lsgan,
    relativistic,
    wasserstein,
)
from gankit.objectives.base import OBJECTIVES, Objective, TrainDefaults, build_objective

__all__ = ["OBJECTIVES", "Objective", "TrainDefaults", "build_objective"]
