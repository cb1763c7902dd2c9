"""PacGAN's 2-D networks (Lin et al. 2018, sec. 5 and appendix; fjxmlzn/PacGAN, synthetic data).

- G: z (N, 2) -> 4 hidden layers of 400 units, each Linear (no bias) -> batch norm -> ReLU ->
  Linear with bias -> x (N, 2). Batch norm keeps running statistics with momentum 0.05 (the
  authors' population update ``p <- 0.95 p + 0.05 m``); samples for the metrics use them.
- D: x (N, d) -> 3 LinearMaxout layers of 200 units with 5 pieces each (Goodfellow et al. 2013)
  -> Linear -> one logit. No batch norm, no dropout.
- Every weight starts N(0, 0.02), every bias 0.

Packing is not part of the model: ``--set recipe.pack=m`` builds this D for inputs of m * d
features (gankit.tricks.build). The presets below are PacGAN's protocol (batch of 100 packs,
Adam 1e-4 with beta1 0.8, constant rate, no penalty) at a length this CPU can afford.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.nets.base import MODELS, ModelSpec
from gankit.presets import Preset


@dataclasses.dataclass
class PacGANOptions:
    width: int = 400  # G's hidden units
    depth: int = 4  # G's hidden layers
    d_width: int = 200  # D's maxout units per layer
    d_depth: int = 3  # D's maxout layers
    pieces: int = 5  # linear pieces per maxout unit
    init_std: float = 0.02  # weights N(0, init_std), biases 0
    bn_momentum: float = 0.05  # G's batch-norm running statistics

    def check(self):
        for key in ("width", "depth", "d_width", "d_depth", "pieces"):
            if getattr(self, key) < 1:
                raise ConfigError(f"pacgan {key}={getattr(self, key)}: must be an integer >= 1")
        if self.init_std <= 0 or not 0 < self.bn_momentum <= 1:
            raise ConfigError(
                f"pacgan init_std={self.init_std}, bn_momentum={self.bn_momentum}: need init_std > 0 "
                "and 0 < bn_momentum <= 1"
            )


class LinearMaxout(nn.Module):
    """h_i = max_j (W x + b)_{i, j}, i < units, j < pieces (Goodfellow et al. 2013, eq. 1).

    One Linear with ``units * pieces`` outputs, read as (units, pieces): unit ``i`` takes the
    maximum of outputs ``i*pieces .. (i+1)*pieces - 1``. (N, n_in) -> (N, units).
    """

    def __init__(self, n_in: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(n_in, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.linear(x)  # (N, units * pieces)
        return a.view(x.shape[0], self.units, self.pieces).amax(dim=2)  # (N, units)


def _init(module: nn.Module, std: float) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class PacGANGenerator(nn.Module):
    """z (N, z_dim) -> depth x [Linear (no bias), BN, ReLU] -> Linear -> x (N, *shape)."""

    def __init__(self, spec: ModelSpec, opts: PacGANOptions):
        super().__init__()
        self.z_dim = spec.z_dim
        self.sample_shape = tuple(spec.sample_shape)
        layers: list[nn.Module] = []
        for i in range(opts.depth):
            n_in = spec.z_dim if i == 0 else opts.width
            layers += [
                nn.Linear(n_in, opts.width, bias=False),
                nn.BatchNorm1d(opts.width, momentum=opts.bn_momentum),
                nn.ReLU(),
            ]
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(opts.width, math.prod(self.sample_shape))
        self.bounded = spec.bounded
        _init(self, opts.init_std)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = self.out(self.body(z))  # (N, prod(shape))
        if self.bounded:
            x = torch.tanh(x)
        return x.view(x.shape[0], *self.sample_shape)


class PacGANDiscriminator(nn.Module):
    """x (N, *shape) -> d_depth maxout layers (N, d_width) -> Linear -> (N,) logits."""

    def __init__(self, spec: ModelSpec, opts: PacGANOptions):
        super().__init__()
        n_in = math.prod(spec.sample_shape)
        self.body = nn.Sequential(
            *(
                LinearMaxout(n_in if i == 0 else opts.d_width, opts.d_width, opts.pieces)
                for i in range(opts.d_depth)
            )
        )
        self.feature_dim = opts.d_width
        self.linear = nn.Linear(opts.d_width, 1)
        _init(self, opts.init_std)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(x.flatten(1))  # (N, d_width)

    def head(self, h: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.linear(h).squeeze(1)  # (N,)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x))


# PacGAN's protocol (fjxmlzn/PacGAN, synthetic_data_experiments/2DGrid_GAN&PacGAN/config.py):
# Adam 1e-4, beta1 0.8, batch 100 packs (100 * m samples), constant rate, no penalty, the ns
# objective (the authors' generator loss is softplus(-D(G(z))) plus a constant). The paper
# trains 400 epochs of 100,000 samples (400,000 steps); these presets train the length
# benchmarks/pacgan_table1.py measured on this CPU.
PROTOCOL = {
    "lr": 1e-4,
    "betas": (0.8, 0.999),
    "lr_schedule": "constant",
    "penalties": {},
    "ema": 0.0,
}
STEPS = 2000
SOURCE = (
    "benchmarks/results/pacgan_table1_grid.json (PacGAN table 1 protocol, {} steps of the paper's 400,000; "
    "not converged: 7-9 of 25 modes, hq 2%)"
)


def _preset(m: int) -> Preset:
    values = {**PROTOCOL, "batch_size": 100 * m, "steps": STEPS, "eval_every": 1000}
    return Preset(values, SOURCE.format(STEPS), {"recipe": "plain", "loss": "ns", "recipe.pack": m})


@MODELS.register("pacgan", options=PacGANOptions, presets=[_preset(m) for m in (1, 2, 3, 4)])
def build_pacgan(spec: ModelSpec, opts: PacGANOptions) -> dict[str, nn.Module]:
    """PacGAN's 2-D networks: G 4 x 400 ReLU + batch norm, D 3 x 200 maxout (5 pieces)."""
    if spec.num_classes:
        raise ConfigError("model pacgan is unconditional; use --model mlp for conditional runs")
    return {"G": PacGANGenerator(spec, opts), "D": PacGANDiscriminator(spec, opts)}
