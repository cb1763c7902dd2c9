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
    target_shape: tuple[int, ...] | None = None  # image-to-image models: one target-domain sample


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
    """True when a layer mixes the samples of a batch (batch norm, minibatch std), so real and
    fake must not share a forward pass."""
    return any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) or getattr(m, "uses_batch_statistics", False)
        for m in module.modules()
    )


def check_d_output(model: str, D: nn.Module | None, wanted: str) -> None:
    """Refuse a discriminator whose output convention (its ``d_output`` attribute, default
    "logit") is not the one the objective reads (``ModelSpec.d_output``)."""
    have = getattr(D, "d_output", "logit") if D is not None else wanted
    if have != wanted:
        from gankit.errors import ConfigError

        what = {"logit": "one score (logit) per sample", "energy": "reconstruction energies (BEGAN)"}
        fix = "--model began" if wanted == "energy" else "an objective that reads energies (--loss began)"
        raise ConfigError(
            f"model {model!r} outputs {what.get(have, have)} but the objective needs "
            f"{what.get(wanted, wanted)}; use {fix}"
        )


def build_networks(name: str, spec: ModelSpec, options: dict | None = None) -> dict[str, nn.Module]:
    entry = MODELS.get(name)
    opts = MODELS.resolve_options(name, options)
    nets = entry.factory(spec, opts)
    check_d_output(name, nets.get("D"), spec.d_output)
    if spec.spectral_norm:
        apply_spectral_norm(nets["D"])
    return nets
