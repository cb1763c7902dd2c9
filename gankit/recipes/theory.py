"""Recipes of the theory lab (gankit.theory): games whose answer is known in closed form.

``critic``: only D plays. P is the dataset (e.g. ``dist:normal(0,1)``), Q a fixed sampler
(the option ``q``, a SPEC) standing where G would be; the objective's ``d_loss`` trains D, so
with ``fgan-NAME`` the negated loss is the variational bound on D_f(P||Q) (Nowozin et al.
2016, eq. 6) and with ``minimax`` D approaches p/(p+q) (Goodfellow et al. 2014, Prop. 1).

``gaussian-fit``: G is one Gaussian with learnable mean and log standard deviation,
x = mean + exp(log_std) * z, playing the objective's full game against an MLP D.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.nets.base import build_networks
from gankit.recipes.base import RECIPES, BuildContext, Phase, Recipe
from gankit.recipes.plain import TwoPlayer, model_spec
from gankit.theory.spec import parse_spec


@dataclasses.dataclass
class CriticOptions:
    q: str = "normal(0,1)"  # SPEC of the fixed distribution Q the critic separates from P

    def check(self):
        parse_spec(self.q)


class FixedSampler(nn.Module):
    """Stands where G stands: its "noise" already is a sample of Q, so G is the identity."""

    def __init__(self, q):
        super().__init__()
        self.q = q
        self.z_dim = q.dim

    def forward(self, z, y=None):
        return z


class Critic(Recipe):
    """D alone against samples of P (the batch) and of a fixed Q."""

    players = ("D",)

    def __init__(self, D: nn.Module, Q, objective):
        super().__init__()
        self.D, self.objective = D, objective
        self.G = FixedSampler(Q)

    def parameters_of(self, player):
        return list(self.D.parameters())

    def phases(self):
        return [Phase("D", 1)]

    def generator(self):
        return self.G

    def noise(self, n, device, generator=None):
        return self.G.q.sample(n, generator).to(device)

    @torch.no_grad()
    def sample(self, z, y=None, G=None):
        return z

    def critic(self, x, y=None):
        return self.D(x)

    def loss(self, player, batch, step):
        real = batch.x  # (N, dim) ~ P
        fake = self.noise(real.shape[0], real.device)  # (N, dim) ~ Q
        both = self.D(torch.cat([real, fake]))  # (2N,)
        d_real, d_fake = both[: real.shape[0]], both[real.shape[0] :]
        loss = self.objective.d_loss(d_real, d_fake)
        self._last_d = (d_real.detach(), d_fake.detach())
        return loss, {"loss_d": loss.detach()}

    def after_update(self, player):
        self.objective.update_state(*self._last_d)


@RECIPES.register("critic", options=CriticOptions)
def build_critic(ctx: BuildContext) -> Critic:
    """D alone between the data P and a fixed Q (option q, a SPEC): divergence estimates."""
    q = parse_spec(ctx.options.q)
    if (q.dim,) != tuple(ctx.dataset.sample_shape):
        raise ConfigError(
            f"recipe critic: q={ctx.options.q!r} is {q.dim}-D but the data's samples have shape "
            f"{tuple(ctx.dataset.sample_shape)}; give Q in the data's dimension"
        )
    D = build_networks(ctx.cfg.model, model_spec(ctx), ctx.cfg.model_args)["D"]
    return Critic(D, q, ctx.objective)


@dataclasses.dataclass
class GaussianFitOptions:
    init_mean: float = 0.0  # initial mean of every coordinate
    init_std: float = 1.0  # initial standard deviation of every coordinate

    def check(self):
        if not self.init_std > 0:
            raise ConfigError(f"gaussian-fit init_std={self.init_std}; allowed: a number > 0")


class LearnableGaussian(nn.Module):
    """G(z) = mean + exp(log_std) * z, z ~ N(0, I): the model N(mean, diag(exp(2 log_std)))."""

    def __init__(self, dim: int, init_mean: float = 0.0, init_std: float = 1.0):
        super().__init__()
        self.z_dim = dim
        self.mean = nn.Parameter(torch.full((dim,), float(init_mean)))
        self.log_std = nn.Parameter(torch.full((dim,), math.log(init_std)))

    def forward(self, z: torch.Tensor, y=None) -> torch.Tensor:
        return self.mean + self.log_std.exp() * z  # (N, dim)


@RECIPES.register("gaussian-fit", options=GaussianFitOptions)
def build_gaussian_fit(ctx: BuildContext) -> TwoPlayer:
    """One learnable Gaussian G (mean, log std) against an MLP D, for any objective."""
    opts: GaussianFitOptions = ctx.options
    if len(ctx.dataset.sample_shape) != 1:
        raise ConfigError(
            f"recipe gaussian-fit needs vector samples; data {ctx.dataset.name!r} has shape {tuple(ctx.dataset.sample_shape)}"
        )
    (dim,) = ctx.dataset.sample_shape
    D = build_networks(ctx.cfg.model, model_spec(ctx), ctx.cfg.model_args)["D"]
    G = LearnableGaussian(dim, opts.init_mean, opts.init_std)
    return TwoPlayer(G, D, ctx.objective, ctx.cfg.penalties, ctx.cfg.n_critic)
