"""Networks, each model family registered by name in ``MODELS``."""

from gankit.nets import began, cyclegan, dcgan, mlp, pacgan, progan  # noqa: F401  (registers)
from gankit.nets.base import MODELS, ModelSpec, build_networks

__all__ = ["MODELS", "ModelSpec", "build_networks"]
