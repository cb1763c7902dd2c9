"""Discriminator regularizers that compose with any objective.

Each penalty is a pure function ``penalty(critic, real, fake, d_real) -> scalar`` where
``critic`` maps a batch to the discriminator's outputs (labels already bound for conditional
models). The config's ``penalties`` maps names to weights; the recipe adds
``weight * penalty(...)`` to the discriminator's loss. Penalties run in float32 with autocast
off, so the double backward of a gradient penalty does not overflow under fp16.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch

from gankit.errors import ConfigError
from gankit.registry import Registry

PENALTIES = Registry("penalty")
Critic = Callable[[torch.Tensor], torch.Tensor]
# Penalties on each example's own input gradient: they need a critic whose output for one
# example does not depend on the others (no batch norm; Gulrajani et al. 2017, sec. 4).
PER_EXAMPLE_GRADIENT = ("gp", "gp-one-sided", "r1", "r2", "dragan")


def per_example_shape(x: torch.Tensor) -> list[int]:
    """``[N, 1, 1, ...]``: one coefficient per example, broadcast over the rest of ``x``."""
    return [x.shape[0]] + [1] * (x.dim() - 1)


def critic_grad_norm(critic: Critic, x: torch.Tensor) -> torch.Tensor:
    """||grad_x critic(x)||_2 per example, the gradient flattened per example; shape (N,).

    ``create_graph=True`` so the penalty itself can be backpropagated (double backward).
    """
    x = x.detach().float().requires_grad_(True)
    device_type = x.device.type if x.device.type in ("cuda", "cpu") else "cpu"
    with torch.autocast(device_type, enabled=False):
        out = critic(x).float()
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1).norm(2, dim=1)


def interpolate(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """x_hat = eps real + (1 - eps) fake, eps ~ U[0, 1] drawn once per example."""
    eps = torch.rand(per_example_shape(real), device=real.device, dtype=torch.float32)
    return eps * real.detach().float() + (1.0 - eps) * fake.detach().float()


@PENALTIES.register("gp")
def gradient_penalty(critic: Critic, real, fake, d_real=None) -> torch.Tensor:
    """Two-sided gradient penalty E[(||grad D(x_hat)||_2 - 1)^2] (Gulrajani et al. 2017, eq. 3)."""
    norm = critic_grad_norm(critic, interpolate(real, fake))
    return (norm - 1.0).pow(2).mean()


@PENALTIES.register("gp-one-sided")
def one_sided_gradient_penalty(critic: Critic, real, fake, d_real=None) -> torch.Tensor:
    """One-sided penalty E[max(0, ||grad D(x_hat)||_2 - 1)^2] (Gulrajani et al. 2017, sec. 4, note)."""
    norm = critic_grad_norm(critic, interpolate(real, fake))
    return torch.relu(norm - 1.0).pow(2).mean()


@PENALTIES.register("r1")
def r1_penalty(critic: Critic, real, fake=None, d_real=None) -> torch.Tensor:
    """R1 = 1/2 E_P[||grad D(x)||^2] (Mescheder et al. 2018, eq. 9); the weight is their gamma."""
    norm = critic_grad_norm(critic, real)
    return 0.5 * norm.pow(2).mean()


@PENALTIES.register("r2")
def r2_penalty(critic: Critic, real=None, fake=None, d_real=None) -> torch.Tensor:
    """R2 = 1/2 E_Q[||grad D(x)||^2] on generated data (Mescheder et al. 2018, eq. 10); R3GAN's
    loss (Huang et al. 2024, sec. 3.1) is rpgan with R1 + R2 of equal weight gamma."""
    norm = critic_grad_norm(critic, fake)
    return 0.5 * norm.pow(2).mean()


@PENALTIES.register("dragan")
def dragan_penalty(critic: Critic, real, fake=None, d_real=None, c: float = 0.5) -> torch.Tensor:
    """DRAGAN (Kodali et al. 2017): E[(||grad D(x + delta)||_2 - 1)^2] around the real data.

    delta = alpha * (x_p - x), x_p = x + c * std(x) * U[0, 1], alpha ~ U[0, 1] per example.
    """
    x = real.detach().float()
    perturbed = x + c * x.std() * torch.rand_like(x)
    alpha = torch.rand(per_example_shape(x), device=x.device)
    norm = critic_grad_norm(critic, x + alpha * (perturbed - x))
    return (norm - 1.0).pow(2).mean()


@PENALTIES.register("drift")
def drift_penalty(critic: Critic, real=None, fake=None, d_real=None) -> torch.Tensor:
    """Drift term E_P[D(x)^2] keeping the critic near zero (Karras et al. 2018, sec. A.1; eps 0.001)."""
    if d_real is None:
        d_real = critic(real)
    return d_real.float().pow(2).mean()


# --- R3GAN's gamma schedule ---------------------------------------------------------------------
ZERO_CENTRED = ("r1", "r2")  # the penalties whose weight is R3GAN's gamma
GAMMA_SCHEDULES = ("constant", "cosine")


def cosine_decay(images: float, base: float, final: float, total: float) -> float:
    """base + (final - base) (1 - cos(pi t / T)) / 2 for t = ``images`` <= T = ``total``, then final.

    R3GAN's ``cosine_decay_with_warmup`` (training/training_loop.py) without warm-up or hold; its
    configs decay gamma from base to base / 10 over 20M images.
    """
    if images >= total:
        return final
    return base + (final - base) * 0.5 * (1.0 - math.cos(math.pi * images / total))


@dataclasses.dataclass
class GammaScheduleOptions:
    # Weight schedule of the zero-centred penalties r1 and r2 (R3GAN's gamma): constant, or
    # cosine from the configured weight to weight * gamma_final over gamma_decay_images.
    gamma_schedule: str = "constant"  # constant | cosine
    gamma_final: float = 0.1  # final weight / initial weight (R3GAN: 0.1)
    gamma_decay_images: int = 0  # images seen over which the weight decays; 0: the whole run

    def check(self):
        if self.gamma_schedule not in GAMMA_SCHEDULES:
            raise ConfigError(
                f"recipe option gamma_schedule={self.gamma_schedule!r}; choose one of: "
                f"{', '.join(GAMMA_SCHEDULES)}"
            )
        if not 0.0 <= self.gamma_final <= 1.0:
            raise ConfigError(f"recipe option gamma_final={self.gamma_final}; allowed: a number in [0, 1]")
        if self.gamma_decay_images < 0:
            raise ConfigError(
                f"recipe option gamma_decay_images={self.gamma_decay_images}; allowed: an integer >= 0 "
                "(0: the whole run)"
            )


class GammaSchedule:
    """The factor on r1 and r2 at a training position: a pure function of the images seen (kept
    in every checkpoint), so a resumed run continues the schedule exactly."""

    def __init__(self, opts: GammaScheduleOptions, run_images: int):
        self.cosine = opts.gamma_schedule == "cosine"
        self.final = opts.gamma_final
        self.total = max(opts.gamma_decay_images or run_images, 1)

    def factor(self, images_seen: int) -> float:
        return cosine_decay(images_seen, 1.0, self.final, self.total) if self.cosine else 1.0
