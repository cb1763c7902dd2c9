"""Loss-side remedies against mode collapse: feature matching, historical averaging and the
unrolled generator loss. :class:`Tricks` holds their state (buffers) inside the recipe, so
checkpoints and resume keep it, and is called by :class:`~gankit.recipes.plain.TwoPlayer`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from gankit.tricks.options import TrickOptions
from gankit.tricks.unroll import step_function


def feature_matching_loss(h_real: torch.Tensor, h_fake: torch.Tensor) -> torch.Tensor:
    """||E f(x) - E f(G(z))||_2^2 over features (N, F) (Salimans et al. 2016, sec. 3.1)."""
    return (h_real.mean(0) - h_fake.mean(0)).square().sum()


class HistoricalAverage(nn.Module):
    """||theta - (1/t) sum_{i<=t} theta[i]||^2 summed over a player's parameters (Salimans et
    al. 2016, sec. 3.3). The running means are buffers: one per parameter, started at the
    initial values, and ``count`` (t). Every rank updates them from the same (averaged)
    parameters, so they stay identical under multi-process training."""

    def __init__(self, params: list[nn.Parameter]):
        super().__init__()
        self.register_buffer("count", torch.ones((), dtype=torch.long))
        for i, p in enumerate(params):
            self.register_buffer(f"mean_{i}", p.detach().clone())
        self.n = len(params)

    @property
    def means(self) -> list[torch.Tensor]:
        return [getattr(self, f"mean_{i}") for i in range(self.n)]

    def penalty(self, params: list[torch.Tensor]) -> torch.Tensor:
        terms = [(p - m).square().sum() for p, m in zip(params, self.means, strict=True)]
        return torch.stack(terms).sum()

    @torch.no_grad()
    def update(self, params: list[torch.Tensor]) -> None:
        self.count += 1
        for p, m in zip(params, self.means, strict=True):
            m.add_((p.detach() - m) / self.count)


class Tricks(nn.Module):
    """The loss-side options for one :class:`TwoPlayer`; ``recipe`` is passed in each call."""

    def __init__(
        self,
        opts: TrickOptions,
        params: dict[str, list[nn.Parameter]],
        lr_d: float,
        feature_dim: int,
        betas: tuple[float, float] = (0.5, 0.999),
    ):
        super().__init__()
        self.fm_mode, self.fm_weight = opts.feature_matching, opts.fm_weight
        self.fm_dim = feature_dim  # D's own body features, before any appended batch statistics
        self.hist_weight = {"D": opts.hist_avg_d, "G": opts.hist_avg_g}
        self.hist = nn.ModuleDict({p: HistoricalAverage(params[p]) for p, w in self.hist_weight.items() if w})
        self.unroll_steps = opts.unroll_steps if opts.unrolled else 0
        self.unroll_lr, self.lr_d, self.betas = opts.unroll_lr, lr_d, tuple(betas)
        self.unroll_inner = opts.unroll_inner

    # --- hooks of TwoPlayer ---------------------------------------------------------------
    def d_extra(self, recipe, loss, logs):
        return self._with_history(recipe, "D", loss, logs)

    def g_step(self, recipe, real, fake, y):
        if self.unroll_steps:
            loss = self.unrolled_g_loss(recipe, real, fake, y)
            logs = {"loss_g": loss.detach()}
        elif self.fm_mode != "replace":
            loss, logs = recipe.g_adversarial(real, fake, y)
        else:
            loss, logs = fake.new_zeros(()), {}
        if self.fm_mode != "off":
            with torch.no_grad():
                h_real = recipe.D.features(real, y)[:, : self.fm_dim]
            fm = feature_matching_loss(h_real, recipe.D.features(fake, y)[:, : self.fm_dim])
            loss = loss + self.fm_weight * fm
            logs = {**logs, "feature_matching": fm.detach()}
            logs.setdefault("loss_g", loss.detach())
        return self._with_history(recipe, "G", loss, logs)

    def after_update(self, recipe, player):
        if player in self.hist:
            self.hist[player].update(recipe.parameters_of(player))

    def _with_history(self, recipe, player, loss, logs):
        if player not in self.hist:
            return loss, logs
        value = self.hist[player].penalty(recipe.parameters_of(player))
        return loss + self.hist_weight[player] * value, {**logs, f"hist_avg_{player.lower()}": value.detach()}

    # --- unrolled GAN -----------------------------------------------------------------------
    def unrolled_g_loss(self, recipe, real, fake, y):
        """G's loss against D after ``k`` differentiable updates: the surrogate
        ``f_K(θ_G, θ_D) = f(θ_G, θ_D^K(θ_G, θ_D))`` of Metz et al. 2017 (eq. 5-7, 10).

        D's parameters are copied (detached leaves, so the real D never changes) and updated
        ``k`` times on D's objective loss of (real, fake) with ``create_graph=True``; G's gradient
        flows through those updates, moments included. Penalties are left out of the inner loss;
        buffers (batch-norm statistics) are copied, not updated.
        """
        params, buffers = self.unroll(recipe, real, fake, y)
        objective = recipe.objective
        if objective.g_needs_real:
            d_real, d_fake = self._d_outputs(recipe, params, buffers, real, fake, y)
            return objective.g_loss(d_fake, d_real)
        return objective.g_loss(functional_call(recipe.D, {**params, **buffers}, (fake, y)), None)

    def unroll(self, recipe, real, fake, y) -> tuple[dict, dict]:
        """(D's parameters after ``unroll_steps`` inner steps, D's buffers), by name.

        Inner step ``optimizer``: D's own optimizer (Adam, SGD or RMSprop, :mod:`gankit.tricks.unroll`)
        from the state and hyper-parameters it holds now, read through the loop's read-only view
        (outside the loop: Adam from a fresh state at lr_d); ``sgd``: ``θ - lr g``. ``unroll_lr``
        > 0 replaces the learning rate.
        """
        D, objective = recipe.D, recipe.objective
        named = list(D.named_parameters())
        params = {n: p.detach().clone().requires_grad_(True) for n, p in named}
        buffers = {n: b.clone() for n, b in D.named_buffers()}
        view = recipe.optimizer_view("D") if self.unroll_inner == "optimizer" else None
        kind = view.kind if view is not None else ("Adam" if self.unroll_inner == "optimizer" else "SGD")
        hypers, states = {}, {}
        for n, p in named:
            h = view.hyper(p) if view is not None else {"lr": self.lr_d, "betas": self.betas, "eps": 1e-8}
            hypers[n] = {**h, "lr": self.unroll_lr or h["lr"]}
            states[n] = view.state(p) if view is not None else {}
        steps = {n: step_function(kind, hypers[n]) for n, _ in named}
        names = [n for n, _ in named]
        for _ in range(self.unroll_steps):
            loss_d = objective.d_loss(*self._d_outputs(recipe, params, buffers, real, fake, y))
            grads = torch.autograd.grad(
                loss_d, [params[n] for n in names], create_graph=True, allow_unused=True
            )
            for n, g in zip(names, grads, strict=True):
                if g is not None:  # like torch.optim: a parameter without gradient keeps its state
                    params[n], states[n] = steps[n](params[n], g, states[n], hypers[n])
        return params, buffers

    @staticmethod
    def _d_outputs(recipe, params, buffers, real, fake, y):
        """(d_real, d_fake) of D with ``params``: one call on both batches when the recipe
        makes one (no batch norm), else two."""
        D, state = recipe.D, {**params, **buffers}
        if recipe.joint_d_call:
            both = functional_call(
                D, state, (torch.cat([real, fake]), None if y is None else torch.cat([y, y]))
            )
            n_real = both.shape[0] * real.shape[0] // (real.shape[0] + fake.shape[0])  # packs (PacGAN)
            return both[:n_real], both[n_real:]
        return functional_call(D, state, (real, y)), functional_call(D, state, (fake, y))
