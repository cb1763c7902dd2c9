"""Loss-side remedies against mode collapse: feature matching, historical averaging and the
unrolled generator loss. :class:`Tricks` holds their state (buffers) inside the recipe, so
checkpoints and resume keep it, and is called by :class:`~gankit.recipes.plain.TwoPlayer`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from gankit.tricks.options import TrickOptions


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
        self, opts: TrickOptions, params: dict[str, list[nn.Parameter]], lr_d: float, feature_dim: int
    ):
        super().__init__()
        self.fm_mode, self.fm_weight = opts.feature_matching, opts.fm_weight
        self.fm_dim = feature_dim  # D's own body features, before any appended batch statistics
        self.hist_weight = {"D": opts.hist_avg_d, "G": opts.hist_avg_g}
        self.hist = nn.ModuleDict({p: HistoricalAverage(params[p]) for p, w in self.hist_weight.items() if w})
        self.unroll_steps = opts.unroll_steps if opts.unrolled else 0
        self.unroll_lr = opts.unroll_lr or lr_d
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
        """G's loss against D after ``k`` differentiable updates (Metz et al. 2017, eq. 5-6).

        D's parameters are copied (detached leaves, so the real D never changes) and updated
        ``k`` times on D's objective loss of (real, fake) with ``create_graph=True``; G's
        gradient flows through those updates. Inner step: ``theta - lr * g`` ("sgd") or
        ``theta - lr * g / rms(g)`` with the RMS over all of D's gradient entries, held constant
        ("normalized": Adam-sized steps; when D saturates its gradients vanish, the step grows
        without bound and G was measured to hide in D's valley, docs/mode_collapse.md). Penalties are left out
        of the inner loss. Buffers (batch norm statistics) are copied too.
        """
        D, objective = recipe.D, recipe.objective
        params = {n: p.detach().clone().requires_grad_(True) for n, p in D.named_parameters()}
        buffers = {n: b.clone() for n, b in D.named_buffers()}

        def d_call(ps, x):
            return functional_call(D, {**ps, **buffers}, (x, y))

        def outputs(ps):
            if recipe.joint_d_call:
                both = functional_call(
                    D, {**ps, **buffers}, (torch.cat([real, fake]), None if y is None else torch.cat([y, y]))
                )
                return both[: both.shape[0] // 2], both[both.shape[0] // 2 :]
            return d_call(ps, real), d_call(ps, fake)

        names = list(params)
        for _ in range(self.unroll_steps):
            loss_d = objective.d_loss(*outputs(params))
            grads = torch.autograd.grad(
                loss_d, [params[n] for n in names], create_graph=True, allow_unused=True
            )
            lr = self.unroll_lr * self._step_scale(grads)
            params = {
                n: params[n] - lr * g if g is not None else params[n]
                for n, g in zip(names, grads, strict=True)
            }
        if objective.g_needs_real:
            d_real, d_fake = outputs(params)
            return objective.g_loss(d_fake, d_real)
        return objective.g_loss(d_call(params, fake), None)

    def _step_scale(self, grads) -> torch.Tensor | float:
        """1 for "sgd"; for "normalized", 1 / RMS of all of D's gradient entries, a constant
        of the graph (detached): steps of RMS ``lr`` like Adam's, while G's gradient through
        the update stays that of an SGD step (normalizing each tensor by its own RMS, with
        gradients through the normalizer, drove G to collapse where a tensor's gradient was tiny)."""
        if self.unroll_inner == "sgd":
            return 1.0
        used = [g.detach().flatten() for g in grads if g is not None]
        return 1.0 / (torch.cat(used).square().mean().sqrt() + 1e-12)
