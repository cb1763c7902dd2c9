"""Critic games between fixed distributions, trained by gankit's Trainer on its objectives.

``estimate_divergence``: the f-GAN critic (objective ``fgan-NAME``, recipe ``critic``) between
P and Q; its variational bound E_P[g_f(v)] - E_Q[f*(g_f(v))] (Nowozin et al. 2016, eq. 6) is
evaluated by quadrature of the learned critic against the exact densities, beside the exact
D_f(P||Q) and the optimal critic T*(x) = f'(p(x)/q(x)).

``optimal_discriminator``: the minimax discriminator (objective ``minimax``) between P and Q
beside D*(x) = p/(p+q), and its value V(D) beside -log 4 + 2 JSD(P||Q) (Goodfellow et al.
2014, Prop. 1 and Thm. 1).
"""

from __future__ import annotations

import dataclasses
import math
import time

import torch

from gankit.config import Config
from gankit.theory.distributions import Distribution
from gankit.theory.exact import exact_divergence, gauss_legendre_grid, get_divergence, jsd
from gankit.theory.spec import parse_spec


@dataclasses.dataclass
class CriticBudget:
    """Training settings of a critic; the defaults meet the accuracy targets on 1-D Gaussians."""

    steps: int = 3000
    batch_size: int = 4096
    width: int = 64
    depth: int = 2
    activation: str = "silu"
    lr: float = 3e-3
    decay_start: float = 0.3  # linear learning-rate decay to 0 after this fraction of steps
    seed: int = 0


def critic_config(loss: str, p_spec: str, q_spec: str, budget: CriticBudget) -> Config:
    """The run config of D alone between P (data ``dist:P``) and Q (recipe option ``q``)."""
    return Config(
        data=f"dist:{p_spec}",
        model="mlp",
        loss=loss,
        recipe="critic",
        recipe_args={"q": q_spec},
        model_args={"width": budget.width, "depth": budget.depth, "d_activation": budget.activation},
        steps=budget.steps,
        batch_size=budget.batch_size,
        lr_d=budget.lr,
        lr_g=budget.lr,
        betas=(0.9, 0.999),
        lr_schedule="linear-decay",
        decay_start=budget.decay_start,
        seed=budget.seed,
        device="cpu",
        progress="none",
    )


def train_critic(loss: str, p_spec: str, q_spec: str, budget: CriticBudget, on_step=None):
    """Train the critic with Trainer.train_step (no run folder); returns the trainer."""
    from gankit.training.trainer import Trainer

    trainer = Trainer(critic_config(loss, p_spec, q_spec, budget))
    for _ in range(budget.steps):
        logs = trainer.train_step()
        if on_step is not None:
            on_step(trainer.state.step, logs)
    return trainer


@torch.no_grad()
def critic_on(trainer, x: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """The critic's raw output v(x) (M,) in float64 for points x (M, dim)."""
    D = trainer.recipe.D
    was = D.training
    D.eval()
    try:
        return torch.cat([D(x[i : i + chunk].float()).double() for i in range(0, x.shape[0], chunk)])
    finally:
        D.train(was)


def evaluation_grid(P: Distribution, Q: Distribution) -> tuple[torch.Tensor, torch.Tensor, str]:
    if P.dim == 1:
        x, w = gauss_legendre_grid(P, Q, panels=400, order=10)
    else:
        x, w = gauss_legendre_grid(P, Q, panels=60, order=8)
    return (
        x,
        w,
        f"quadrature of the learned critic against the exact densities ({x.shape[0]} Gauss-Legendre nodes)",
    )


def central_mask(
    P: Distribution, Q: Distribution, x: torch.Tensor, w: torch.Tensor, mass: float = 0.99
) -> torch.Tensor:
    """Nodes in the central ``mass`` of (p+q)/2: between its quantiles in 1-D, its
    highest-density region in 2-D."""
    m = 0.5 * (P.log_prob(x).exp() + Q.log_prob(x).exp())  # (M,)
    tail = (1 - mass) / 2
    if x.shape[1] == 1:
        order = torch.argsort(x[:, 0])
        cdf = torch.cumsum((w * m)[order], 0)
        keep = (cdf >= tail) & (cdf <= 1 - tail)
    else:
        order = torch.argsort(m, descending=True)
        keep = torch.cumsum((w * m)[order], 0) <= mass
    mask = torch.zeros_like(keep)
    mask[order] = keep
    return mask


def estimate_divergence(
    name: str, p_spec: str, q_spec: str, budget: CriticBudget | None = None, on_step=None
) -> dict:
    """Train the f-GAN critic for ``name`` between P and Q; the estimate beside the exact value.
    ``on_step(step, logs)`` is called after every critic update (progress display)."""
    budget = budget or CriticBudget()
    div = get_divergence(name)
    P, Q = parse_spec(p_spec), parse_spec(q_spec)
    exact, method = exact_divergence(name, P, Q)
    t0 = time.perf_counter()
    trainer = train_critic(f"fgan-{name}", p_spec, q_spec, budget, on_step)
    train_s = time.perf_counter() - t0
    x, w, how = evaluation_grid(P, Q)
    lp, lq = P.log_prob(x), Q.log_prob(x)
    v = critic_on(trainer, x)
    t = div.activation(v)  # the learned T(x)
    p, q = lp.exp(), lq.exp()
    estimate = float((w * p * t).sum() - (w * q * div.conjugate_of_activation(v)).sum())
    # The optimal critic T*(x) = f'(p/q), compared on the central 99% of (p+q)/2.
    t_star = div.f_prime(torch.exp(lp - lq))
    mask = central_mask(P, Q, x, w)
    gap = (t - t_star)[mask].abs()
    abs_err = abs(estimate - exact)
    return {
        "divergence": name,
        "title": div.title,
        "p": P.spec(),
        "q": Q.spec(),
        "estimate": estimate,
        "exact": exact,
        "exact_method": method,
        "abs_error": abs_err,
        "rel_error": abs_err / abs(exact) if exact else math.inf,
        "critic_sup_error": float(gap.max()),
        "critic_rms_error": float(
            ((t - t_star)[mask] ** 2 * (w * (p + q))[mask]).sum().div((w * (p + q))[mask].sum()).sqrt()
        ),
        "evaluation": how,
        "train_seconds": round(train_s, 2),
        "budget": dataclasses.asdict(budget),
        "_curve": (x, t, t_star, p, q),
    }


def optimal_discriminator(p_spec: str, q_spec: str, budget: CriticBudget | None = None, on_step=None) -> dict:
    """Train the minimax discriminator between P and Q; compare with D* = p/(p+q).
    ``on_step(step, logs)`` is called after every update (progress display)."""
    budget = budget or CriticBudget()
    P, Q = parse_spec(p_spec), parse_spec(q_spec)
    t0 = time.perf_counter()
    trainer = train_critic("minimax", p_spec, q_spec, budget, on_step)
    train_s = time.perf_counter() - t0
    x, w, how = evaluation_grid(P, Q)
    lp, lq = P.log_prob(x), Q.log_prob(x)
    v = critic_on(trainer, x)
    d = torch.sigmoid(v)
    d_star = torch.sigmoid(lp - lq)  # p / (p + q)
    mask = central_mask(P, Q, x, w)
    p, q = lp.exp(), lq.exp()
    # V(D) = E_P[log D] + E_Q[log(1 - D)], with log sigmoid(v) = -softplus(-v).
    value = float(
        -(w * p * torch.nn.functional.softplus(-v)).sum() - (w * q * torch.nn.functional.softplus(v)).sum()
    )
    js = jsd(P, Q)
    optimum = -math.log(4.0) + 2.0 * js
    return {
        "p": P.spec(),
        "q": Q.spec(),
        "sup_error": float((d - d_star)[mask].abs().max()),
        "region": "central 99% of the mass of (p+q)/2",
        "value": value,
        "optimal_value": optimum,
        "jsd": js,
        "value_gap": optimum - value,
        "evaluation": how,
        "train_seconds": round(train_s, 2),
        "budget": dataclasses.asdict(budget),
        "_curve": (x, d, d_star, p, q),
    }
