"""The objective contract.

An objective is a pure function of the discriminator's outputs (logits, critic values or,
for BEGAN, per-sample reconstruction energies). It holds no weights; explicit state such as
BEGAN's k lives in buffers so checkpoints and DDP carry it. Shapes: ``d_real`` and ``d_fake``
are ``(N,)`` or ``(N, ...)``; every loss is a scalar to be minimized by its player.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from gankit.registry import Registry

OBJECTIVES = Registry("objective")


@dataclasses.dataclass(frozen=True)
class TrainDefaults:
    """Recommended optimization settings that make an objective train well untuned."""

    optimizer: str = "adam"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1
    clip: float = 0.0  # WGAN weight clipping bound; 0: none
    penalties: dict = dataclasses.field(default_factory=dict)  # name -> weight


class Objective(nn.Module):
    """Base class: ``d_loss`` is minimized by the discriminator, ``g_loss`` by the generator."""

    defaults = TrainDefaults()
    # True when g_loss needs the discriminator's output on real data too.
    g_needs_real = False
    # True for objectives whose discriminator output is a probability logit, where one-sided
    # label smoothing of the real target is defined.
    supports_label_smoothing = False
    # Name of the discriminator output convention: "logit" (one value per sample),
    # "energy" (BEGAN: one reconstruction energy per sample).
    d_output = "logit"

    def d_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, d_fake: torch.Tensor, d_real: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def update_state(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> None:
        """Advance explicit state (e.g. BEGAN's k) from a discriminator step's detached outputs.

        Called by the recipe once per discriminator update; stateless objectives do nothing.
        """

    def stats(self) -> dict[str, torch.Tensor]:
        """Scalars worth logging (e.g. BEGAN's k); empty for stateless objectives."""
        return {}


def build_objective(name: str, options: dict | None = None) -> Objective:
    entry = OBJECTIVES.get(name)
    opts = OBJECTIVES.resolve_options(name, options)
    return entry.factory(opts) if entry.options else entry.factory()
