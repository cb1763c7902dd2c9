"""Relativistic objectives: the discriminator judges whether real data is more realistic than
generated data, not whether one sample is real.

Jolicoeur-Martineau 2018 ("The relativistic discriminator: a key element missing from standard
GAN", ICLR 2019) writes C for the critic (the logit before the sigmoid), x_r for real and x_f for
generated data:

- RSGAN (sec. 4.1): L_D = -E log sigmoid(C(x_r) - C(x_f)), L_G = -E log sigmoid(C(x_f) - C(x_r)),
  the expectations over pairs (x_r, x_f): here the i-th real row with the i-th fake row.
- RaGAN (sec. 4.2): each sample against the mean critic value of the other batch,
  C~(x_r) = C(x_r) - E C(x_f) and C~(x_f) = C(x_f) - E C(x_r); the standard, least-squares and
  hinge forms (sec. 4.2 and appendix A):

      standard: L_D = E softplus(-C~(x_r)) + E softplus(C~(x_f))
                L_G = E softplus(-C~(x_f)) + E softplus(C~(x_r))
      lsgan:    L_D = E (C~(x_r) - 1)^2 + E (C~(x_f) + 1)^2
                L_G = E (C~(x_f) - 1)^2 + E (C~(x_r) + 1)^2
      hinge:    L_D = E relu(1 - C~(x_r)) + E relu(1 + C~(x_f))
                L_G = E relu(1 - C~(x_f)) + E relu(1 + C~(x_r))

  (the paper's sums; its code halves them, a constant factor.)
- RpGAN (Huang et al. 2024, "The GAN is dead; long live the GAN!", eq. 2 with f = softplus):
  L_D = E f(C(x_f) - C(x_r)), L_G = E f(C(x_r) - C(x_f)). ``-log sigmoid(t) = softplus(-t)``,
  so this is RSGAN's loss written from the other side; ``rpgan`` carries R3GAN's optimizer
  settings and the R1 + R2 penalties (sec. 3.1, "R3GAN's loss") in its defaults.

Every generator loss needs the critic on real data too (``g_needs_real``): the recipes compute
it in the G update with D frozen, so its gradient flows into G through C(x_f) alone.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from gankit.errors import ConfigError
from gankit.objectives.base import OBJECTIVES, Objective, TrainDefaults

RA_FORMS = ("standard", "lsgan", "hinge")


def paired(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """C(x_r) - C(x_f) for the i-th real and i-th fake sample; shapes (N, ...) each, equal."""
    if d_real.shape != d_fake.shape:
        raise ConfigError(
            f"relativistic pairing needs as many real as fake outputs; got {tuple(d_real.shape)} "
            f"and {tuple(d_fake.shape)}"
        )
    return d_real - d_fake


class _Relativistic(Objective):
    g_needs_real = True


@OBJECTIVES.register("rsgan")
class RSGAN(_Relativistic):
    """Relativistic standard GAN (Jolicoeur-Martineau 2018, sec. 4.1): softplus(-(C(x_r) - C(x_f))) paired."""

    def d_loss(self, d_real, d_fake):
        return F.softplus(-paired(d_real, d_fake)).mean()

    def g_loss(self, d_fake, d_real=None):
        return F.softplus(-paired(d_fake, d_real)).mean()


@OBJECTIVES.register("rpgan")
class RpGAN(RSGAN):
    """Relativistic pairing GAN of R3GAN (Huang et al. 2024, eq. 2, f = softplus) with R1 = R2 = 0.1, Adam (0, 0.99)."""

    # R3GAN's optimizer: Adam with beta1 0 (their configs: beta2 0.9 -> 0.99, lr 2e-4 -> 5e-5
    # over 20M images); here the end value of beta2 and the start lr. gamma = 0.1 for R1 and
    # R2: their configs use 0.05 to 150 with the data; on the toy sets and MNIST here, 0.1 and
    # 1 were within run-to-run noise of each other in short runs (docs/relativistic.md), so
    # this value is a guess within that range, not a tuned one.
    defaults = TrainDefaults(
        optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.0, 0.99), penalties={"r1": 0.1, "r2": 0.1}
    )


@dataclasses.dataclass
class RaOptions:
    form: str = "standard"  # standard | lsgan | hinge

    def check(self):
        if self.form not in RA_FORMS:
            raise ConfigError(f"ragan form={self.form!r}; choose one of: {', '.join(RA_FORMS)}")


def ra_terms(d_real: torch.Tensor, d_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(C~(x_r), C~(x_f)) = (C(x_r) - E C(x_f), C(x_f) - E C(x_r)), shapes as the inputs."""
    return d_real - d_fake.mean(), d_fake - d_real.mean()


def ra_pair_loss(form: str, up: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    """The loss pushing ``up`` towards +1 (more real) and ``down`` towards -1 in ``form``."""
    if form == "standard":
        return F.softplus(-up).mean() + F.softplus(down).mean()
    if form == "lsgan":
        return (up - 1.0).pow(2).mean() + (down + 1.0).pow(2).mean()
    return F.relu(1.0 - up).mean() + F.relu(1.0 + down).mean()


@OBJECTIVES.register("ragan", options=RaOptions)
class RaGAN(_Relativistic):
    """Relativistic average GAN (Jolicoeur-Martineau 2018, sec. 4.2): each side against the other's mean; standard, lsgan or hinge."""

    def __init__(self, opts: RaOptions | None = None):
        super().__init__()
        self.form = (opts or RaOptions()).form

    def d_loss(self, d_real, d_fake):
        rel_real, rel_fake = ra_terms(d_real, d_fake)
        return ra_pair_loss(self.form, rel_real, rel_fake)

    def g_loss(self, d_fake, d_real=None):
        rel_real, rel_fake = ra_terms(d_real, d_fake)
        return ra_pair_loss(self.form, rel_fake, rel_real)
