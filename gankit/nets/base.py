"""The network contract.

A registered model factory takes a :class:`ModelSpec` and its options dataclass and returns a
dict of networks, at least ``{"G": generator, "D": discriminator}``. Conventions every
recipe relies on:

- ``G(z, y=None) -> x``: ``z`` (N, z_dim), ``y`` (N,) labels when ``num_classes > 0``;
  ``G.z_dim`` is set.
- ``D(x, y=None) -> (N,)`` outputs; ``D.features(x, y=None) -> (N, F)`` the body's last
  features, ``D.head(h, y=None) -> (N,)`` and ``D.feature_dim = F``, so extra heads
  (InfoGAN's Q) and feature matching can share the body.
"""

from __future__ import annotations

import dataclasses

from torch import nn

from gankit.registry import Registry

MODELS = Registry("model")


@dataclasses.dataclass
class ModelSpec:
    sample_shape: tuple[int, ...]  # one sample, e.g. (2,) or (1, 28, 28)
    z_dim: int
    num_classes: int = 0  # > 0: conditional networks
    bounded: bool = False  # samples live in [-1, 1]: G ends with tanh
    d_output: str = "logit"  # "logit" or "energy" (objective's convention)
    spectral_norm: bool = False


def activation(name: str) -> nn.Module:
    from gankit.errors import ConfigError

    table = {
        "relu": lambda: nn.ReLU(),
        "leaky_relu": lambda: nn.LeakyReLU(0.2),
        "elu": lambda: nn.ELU(),
        "tanh": lambda: nn.Tanh(),
        "gelu": lambda: nn.GELU(),
        "silu": lambda: nn.SiLU(),
    }
    if name not in table:
        raise ConfigError(f"activation {name!r} is unknown; choose one of: {', '.join(table)}")
    return table[name]()


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalization (Miyato et al. 2018) of every Linear and Conv layer in ``module``."""
    from torch.nn.utils.parametrizations import spectral_norm

    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
            setattr(module, name, spectral_norm(child))
        else:
            apply_spectral_norm(child)
    return module


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def build_networks(name: str, spec: ModelSpec, options: dict | None = None) -> dict[str, nn.Module]:
    entry = MODELS.get(name)
    opts = MODELS.resolve_options(name, options)
    nets = entry.factory(spec, opts)
    if spec.spectral_norm:
        apply_spectral_norm(nets["D"])
    return nets
