"""GAN objectives, each registered by name in ``OBJECTIVES``."""

from gankit.objectives import began, classic, fgan, lsgan, wasserstein  # noqa: F401  (registers)
from gankit.objectives.base import OBJECTIVES, Objective, TrainDefaults, build_objective

__all__ = ["OBJECTIVES", "Objective", "TrainDefaults", "build_objective"]
