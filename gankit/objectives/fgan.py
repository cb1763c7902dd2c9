"""f-GAN (Nowozin, Cseke & Tomioka 2016): any f-divergence as a GAN through the Fenchel conjugate.

D_f(P||Q) = integral q(x) f(p(x)/q(x)) dx >= sup_T E_P[T(x)] - E_Q[f*(T(x))]   (eq. 4)

The critic outputs an unconstrained value v; T = g_f(v) maps it into dom f* (Table 2, the
"output activation"). For each divergence this module defines the generator function f, its
derivative f' (T*(x) = f'(p(x)/q(x)) is the optimal critic), the conjugate f*, g_f, and the
composite f*(g_f(v)) written so it stays finite for |v| <= 50 (no exp overflow in float32).

Note on Jensen-Shannon: the f of the paper's Table 2 row (u log u - (u+1) log((1+u)/2)) gives
2 JSD(P||Q); we keep that f, so ``fgan-js`` estimates 2 JSD. ``fgan-gan`` estimates
2 JSD - log 4 (the GAN game's value with the optimal discriminator).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from gankit.errors import ConfigError
from gankit.objectives.base import OBJECTIVES, Objective

LOG2 = math.log(2.0)
Fn = Callable[[torch.Tensor], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class FDivergence:
    """One row of Nowozin et al. 2016, Tables 1 and 2."""

    name: str
    title: str
    f: Fn  # generator function f(u), u = p/q > 0
    f_prime: Fn  # f'(u): the optimal critic T*(x) = f'(p(x)/q(x))
    conjugate: Fn  # f*(t) on dom f*
    activation: Fn  # g_f(v): R -> dom f*
    conjugate_of_activation: Fn  # f*(g_f(v)), numerically stable


def _xlogx(u):
    return torch.xlogy(u, u)


DIVERGENCES: dict[str, FDivergence] = {
    "kl": FDivergence(
        "kl",
        "Kullback-Leibler KL(P||Q)",
        f=_xlogx,
        f_prime=lambda u: 1.0 + torch.log(u),
        conjugate=lambda t: torch.exp(t - 1.0),
        activation=lambda v: v,
        conjugate_of_activation=lambda v: torch.exp(v - 1.0),
    ),
    "rkl": FDivergence(
        "rkl",
        "reverse Kullback-Leibler KL(Q||P)",
        f=lambda u: -torch.log(u),
        f_prime=lambda u: -1.0 / u,
        conjugate=lambda t: -1.0 - torch.log(-t),
        activation=lambda v: -torch.exp(-v),
        # -1 - log(exp(-v)) = v - 1
        conjugate_of_activation=lambda v: v - 1.0,
    ),
    "pearson": FDivergence(
        "pearson",
        "Pearson chi^2",
        f=lambda u: (u - 1.0) ** 2,
        f_prime=lambda u: 2.0 * (u - 1.0),
        conjugate=lambda t: 0.25 * t * t + t,
        activation=lambda v: v,
        conjugate_of_activation=lambda v: 0.25 * v * v + v,
    ),
    "neyman": FDivergence(
        "neyman",
        "Neyman chi^2",
        f=lambda u: (1.0 - u) ** 2 / u,
        f_prime=lambda u: 1.0 - 1.0 / (u * u),
        conjugate=lambda t: 2.0 - 2.0 * torch.sqrt(1.0 - t),
        activation=lambda v: 1.0 - torch.exp(-v),
        # 2 - 2 sqrt(exp(-v)) = 2 - 2 exp(-v/2)
        conjugate_of_activation=lambda v: 2.0 - 2.0 * torch.exp(-0.5 * v),
    ),
    "hellinger": FDivergence(
        "hellinger",
        "squared Hellinger",
        f=lambda u: (torch.sqrt(u) - 1.0) ** 2,
        f_prime=lambda u: 1.0 - 1.0 / torch.sqrt(u),
        conjugate=lambda t: t / (1.0 - t),
        activation=lambda v: 1.0 - torch.exp(-v),
        # (1 - e^-v) / e^-v = e^v - 1
        conjugate_of_activation=lambda v: torch.expm1(v),
    ),
    "js": FDivergence(
        "js",
        "Jensen-Shannon (2 JSD)",
        f=lambda u: _xlogx(u) - (u + 1.0) * torch.log((u + 1.0) / 2.0),
        f_prime=lambda u: torch.log(2.0 * u / (u + 1.0)),
        conjugate=lambda t: -torch.log(2.0 - torch.exp(t)),
        activation=lambda v: LOG2 - F.softplus(-v),
        # -log(2 - 2 sigmoid(v)) = softplus(v) - log 2
        conjugate_of_activation=lambda v: F.softplus(v) - LOG2,
    ),
    "tv": FDivergence(
        "tv",
        "total variation",
        f=lambda u: 0.5 * torch.abs(u - 1.0),
        f_prime=lambda u: 0.5 * torch.sign(u - 1.0),
        conjugate=lambda t: t,
        activation=lambda v: 0.5 * torch.tanh(v),
        conjugate_of_activation=lambda v: 0.5 * torch.tanh(v),
    ),
    "gan": FDivergence(
        "gan",
        "GAN (2 JSD - log 4)",
        f=lambda u: _xlogx(u) - (u + 1.0) * torch.log(u + 1.0),
        f_prime=lambda u: torch.log(u / (u + 1.0)),
        conjugate=lambda t: -torch.log(1.0 - torch.exp(t)),
        activation=lambda v: -F.softplus(-v),
        # -log(1 - sigmoid(v)) = softplus(v)
        conjugate_of_activation=lambda v: F.softplus(v),
    ),
}


def variational_bound(div: FDivergence, v_real: torch.Tensor, v_fake: torch.Tensor) -> torch.Tensor:
    """E_P[g_f(v)] - E_Q[f*(g_f(v))]: Nowozin et al. 2016, eq. 6; a lower bound on D_f(P||Q)."""
    return div.activation(v_real).mean() - div.conjugate_of_activation(v_fake).mean()


@dataclasses.dataclass
class FGANOptions:
    # "alt": G maximizes E_Q[g_f(v)] (the paper's sec. 3.2 heuristic, used in its experiments);
    # "saddle": G minimizes the bound itself, -E_Q[f*(g_f(v))], the exact divergence game.
    generator: str = "alt"

    def check(self):
        if self.generator not in ("alt", "saddle"):
            raise ConfigError(f"f-GAN generator={self.generator!r}; choose alt or saddle")


class FGAN(Objective):
    """f-GAN game for one divergence: D maximizes eq. 6, G minimizes it (or its "alt" form)."""

    divergence: FDivergence

    def __init__(self, opts: FGANOptions | None = None):
        super().__init__()
        self.generator = (opts or FGANOptions()).generator

    def d_loss(self, d_real, d_fake):
        return -variational_bound(self.divergence, d_real, d_fake)

    def g_loss(self, d_fake, d_real=None):
        if self.generator == "saddle":
            return -self.divergence.conjugate_of_activation(d_fake).mean()
        return -self.divergence.activation(d_fake).mean()


def _register(key: str, div: FDivergence) -> None:
    cls = type(
        f"FGAN_{key}",
        (FGAN,),
        {
            "divergence": div,
            "__doc__": f"f-GAN with the {div.title} divergence (Nowozin et al. 2016, Table 2).",
        },
    )
    OBJECTIVES.register(f"fgan-{key}", options=FGANOptions)(cls)


for _key, _div in DIVERGENCES.items():
    _register(_key, _div)
