"""Multilayer perceptron generator and discriminator, for any sample shape."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.nets.base import MODELS, ModelSpec, activation
from gankit.nets.conditioning import check_cond_d, concat_label

NORMS = ("none", "batch", "layer")


@dataclasses.dataclass
class MLPOptions:
    width: int = 256  # hidden units per layer, both players
    depth: int = 3  # hidden layers per player
    g_activation: str = "relu"
    d_activation: str = "leaky_relu"
    g_norm: str = "none"  # none | batch | layer
    d_norm: str = "none"
    d_width: int = 0  # 0: same as width
    cond_d: str = "projection"  # conditional D: projection | concat (label appended to x)
    # Both networks work in units of (data x scale): D reads scale * x, G's output is divided by
    # scale. Same networks, same optimizer steps, on data of another size (25gaussians is grid
    # shrunk 2.828 times; its preset sets 2.828 so it trains as grid does).
    scale: float = 1.0

    def check(self):
        if self.width < 1 or self.depth < 1 or self.d_width < 0:
            raise ConfigError(f"mlp width={self.width}, depth={self.depth} must be >= 1")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ConfigError(f"mlp scale={self.scale} must be a positive number (1: the data's own units)")
        for key in ("g_norm", "d_norm"):
            if getattr(self, key) not in NORMS:
                raise ConfigError(f"mlp {key}={getattr(self, key)!r}; choose one of: {', '.join(NORMS)}")
        activation(self.g_activation)
        activation(self.d_activation)
        check_cond_d(self.cond_d)


def _norm(kind: str, width: int) -> list[nn.Module]:
    return {"none": [], "batch": [nn.BatchNorm1d(width)], "layer": [nn.LayerNorm(width)]}[kind]


def mlp_body(n_in: int, width: int, depth: int, act: str, norm: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else width, width), *_norm(norm, width), activation(act)]
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z (N, z_dim) [+ label embedding] -> hidden layers -> sample (N, *shape)."""

    def __init__(self, spec: ModelSpec, opts: MLPOptions):
        super().__init__()
        self.z_dim = spec.z_dim
        self.sample_shape = tuple(spec.sample_shape)
        self.embed = nn.Embedding(spec.num_classes, spec.z_dim) if spec.num_classes else None
        n_in = spec.z_dim * (2 if self.embed is not None else 1)
        self.body = mlp_body(n_in, opts.width, opts.depth, opts.g_activation, opts.g_norm)
        self.out = nn.Linear(opts.width, math.prod(self.sample_shape))
        self.bounded = spec.bounded
        self.scale = opts.scale

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        x = self.out(self.body(z))  # (N, prod(shape))
        if self.bounded:
            x = torch.tanh(x)
        if self.scale != 1.0:
            x = x / self.scale
        return x.view(x.shape[0], *self.sample_shape)


class MLPDiscriminator(nn.Module):
    """sample (N, *shape) -> hidden features (N, F) -> one output per sample (N,).

    Conditional: projection discriminator (Miyato & Koyama 2018, eq. 3),
    out = w^T h + <embed(y), h>; or, with ``cond_d=concat``, the one-hot label appended to x.
    """

    def __init__(self, spec: ModelSpec, opts: MLPOptions):
        super().__init__()
        width = opts.d_width or opts.width
        self.concat_classes = spec.num_classes if opts.cond_d == "concat" else 0
        n_in = math.prod(spec.sample_shape) + self.concat_classes
        self.body = mlp_body(n_in, width, opts.depth, opts.d_activation, opts.d_norm)
        self.feature_dim = width
        self.scale = opts.scale
        self.linear = nn.Linear(width, 1)
        project = spec.num_classes and not self.concat_classes
        self.embed = nn.Embedding(spec.num_classes, width) if project else None

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = x.flatten(1)  # (N, F)
        if self.scale != 1.0:
            x = x * self.scale
        if self.concat_classes:
            x = concat_label(x, y, self.concat_classes)  # (N, F + K)
        return self.body(x)

    def head(self, h: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        out = self.linear(h).squeeze(1)
        if self.embed is not None and y is not None:
            out = out + (self.embed(y) * h).sum(1)
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x, y), y)


@MODELS.register("mlp", options=MLPOptions)
def build_mlp(spec: ModelSpec, opts: MLPOptions) -> dict[str, nn.Module]:
    """MLP generator and discriminator with configurable width, depth, activation and norm."""
    return {"G": MLPGenerator(spec, opts), "D": MLPDiscriminator(spec, opts)}
