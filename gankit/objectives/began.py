"""Boundary Equilibrium GAN (Berthelot et al. 2017, sec. 3.3-3.4, eq. 4-5).

The discriminator's outputs are per-sample reconstruction energies L(v) = |v - AE(v)| (D of
the ``began`` model), not logits:

    L_D = L(x) - k_t L(G(z))          (D minimizes)
    L_G = L(G(z))                      (G minimizes)
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)
    M_global = L(x) + |gamma L(x) - L(G(z))|   (convergence measure)

``k`` is a buffer, so checkpoints carry it and a resume continues it exactly. The update
reads the energies of the discriminator step (the plain recipe calls :meth:`update_state`
after every D update with that step's detached outputs).

Distributed training: :meth:`update_state` is :meth:`energy_means` then :meth:`update_k`;
the means are a tensor, so a caller running several ranks can all-reduce (average) them in
between and every rank then takes the identical k step::

    means = objective.energy_means(d_real, d_fake)   # (2,) tensor: L(x), L(G(z))
    torch.distributed.all_reduce(means); means /= world_size
    objective.update_k(means)
"""

from __future__ import annotations

import dataclasses

import torch

from gankit.errors import ConfigError
from gankit.objectives.base import OBJECTIVES, Objective, TrainDefaults
from gankit.presets import Preset


@dataclasses.dataclass
class BEGANOptions:
    gamma: float = 0.5  # diversity ratio E[L(G(z))] / E[L(x)] the control aims at
    lambda_k: float = 0.001  # proportional gain of the k control
    k_init: float = 0.0  # k_0

    def check(self):
        if not 0.0 < self.gamma <= 1.0:
            raise ConfigError(f"began gamma={self.gamma}: allowed values are in (0, 1]")
        if self.lambda_k < 0:
            raise ConfigError(f"began lambda_k={self.lambda_k}: must be >= 0")
        if not 0.0 <= self.k_init <= 1.0:
            raise ConfigError(f"began k_init={self.k_init}: allowed values are in [0, 1]")


@OBJECTIVES.register(
    "began",
    options=BEGANOptions,
    presets=Preset({"model": "began"}, "BEGAN needs its autoencoder discriminator (an energy per sample)"),
)
class BEGAN(Objective):
    """BEGAN: L_D = L(x) - k L(G(z)), L_G = L(G(z)) on reconstruction energies; k by equilibrium control."""

    d_output = "energy"
    defaults = TrainDefaults(optimizer="adam", lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.999))

    def __init__(self, opts: BEGANOptions | None = None):
        super().__init__()
        opts = opts or BEGANOptions()
        self.gamma, self.lambda_k = opts.gamma, opts.lambda_k
        self.register_buffer("k", torch.tensor(float(opts.k_init)))
        # Means of the last discriminator step: L(x), L(G(z)); and how many steps k has taken.
        self.register_buffer("last_means", torch.zeros(2))
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))

    def d_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        return d_real.mean() - self.k * d_fake.mean()

    def g_loss(self, d_fake: torch.Tensor, d_real: torch.Tensor | None = None) -> torch.Tensor:
        return d_fake.mean()

    @staticmethod
    def energy_means(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        """(2,) tensor [L(x), L(G(z))]: the batch means the k update needs."""
        return torch.stack([d_real.detach().float().mean(), d_fake.detach().float().mean()])

    def update_k(self, means: torch.Tensor) -> None:
        """k <- clip(k + lambda_k (gamma L(x) - L(G(z))), 0, 1) from ``means`` = [L(x), L(G(z))]."""
        means = means.to(self.k)
        self.k.copy_((self.k + self.lambda_k * (self.gamma * means[0] - means[1])).clamp(0.0, 1.0))
        self.last_means.copy_(means.to(self.last_means))
        self.updates += 1

    def update_state(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> None:
        # Under multi-process training the means are averaged over ranks, so k stays identical.
        from gankit.training.distributed import all_mean

        self.update_k(all_mean(self.energy_means(d_real, d_fake)))

    def convergence(self) -> torch.Tensor:
        """M_global = L(x) + |gamma L(x) - L(G(z))| of the last discriminator step."""
        real, fake = self.last_means
        return real + (self.gamma * real - fake).abs()

    def stats(self) -> dict[str, torch.Tensor]:
        out = {"k": self.k.detach().clone()}
        if self.updates > 0:
            out["m_global"] = self.convergence()
        return out
