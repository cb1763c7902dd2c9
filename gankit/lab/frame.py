"""What the lab's page draws, computed from a Trainer without touching its training state.

Pure functions of the trainer's networks and the data: the discriminator over the plane
(``heat_map``), the push of the generator's loss on each generated point
(``generator_push``), and for 1-D densities the learned discriminator beside its optimum and
the critic's f-divergence bound beside the exact value (``theory``). None of them draws from
the global random stream or changes a parameter or buffer, so a run that the lab saves
continues exactly as it would have in the lab.
"""

from __future__ import annotations

import math
import time

import torch

from gankit.theory.distributions import Distribution, Normal
from gankit.theory.exact import exact_divergence, gauss_legendre_grid, get_divergence
from gankit.theory.spec import parse_spec
from gankit.viz.pictures import critic_field

# Objectives whose D output v is a logit with D = sigmoid(v) -> D* = p / (p + q) at the optimum
# (Goodfellow et al. 2014, Prop. 1; for fgan-gan and fgan-js, T = g_f(v) is log D up to a constant).
SIGMOID_D = ("minimax", "ns", "fgan-gan", "fgan-js")


def rounded(t: torch.Tensor | list, digits: int = 4) -> list:
    """A flat JSON-safe list: values rounded, NaN and inf as None."""
    t = torch.as_tensor(t, dtype=torch.float64).flatten()
    scale = 10.0**digits
    values = (torch.round(t * scale) / scale).tolist()
    if not bool(torch.isfinite(t).all()):
        values = [v if math.isfinite(v) else None for v in values]
    return values


def square_box(points: torch.Tensor, margin: float = 0.15) -> tuple[list[float], list[float]]:
    """A square (lo, hi) around ``points`` (N, 2), widened by ``margin`` of its side."""
    lo, hi = points.min(0).values, points.max(0).values
    centre, half = (lo + hi) / 2, float((hi - lo).max()) / 2 * (1 + 2 * margin) + 1e-3
    return (centre - half).tolist(), (centre + half).tolist()


def d_meaning(loss: str) -> str:
    """How the page reads D's output v: "probability" (sigmoid(v)) or "raw"."""
    return "probability" if loss in SIGMOID_D else "raw"


def heat_map(trainer, lo, hi, res: int = 48) -> dict:
    """D over a res x res grid of [lo, hi]^2 (row-major, y rising with the row), as the page reads it."""
    _, _, vals = critic_field(trainer, lo, hi, res)  # (res, res), row = y
    meaning = d_meaning(trainer.cfg.loss)
    shown = torch.sigmoid(vals) if meaning == "probability" else vals
    return {"res": res, "values": rounded(shown, 3), "meaning": meaning}


def generator_push(recipe, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """-d(G's loss)/d(fake) per point (N, dim), scaled by N: where each generated point is pushed.

    The loss is the one the generator's update minimizes: the objective's generator loss, or
    the remedies' form of it (feature matching, unrolled D) when they are on.
    """
    fake = fake.detach().clone().requires_grad_(True)
    was = recipe.training
    recipe.eval()
    try:
        with torch.enable_grad():
            tricks = getattr(recipe, "tricks", None)
            if tricks is not None:
                loss, _ = tricks.g_step(recipe, real, fake, None)
            else:
                loss, _ = recipe.g_adversarial(real, fake, None)
            (grad,) = torch.autograd.grad(loss, fake)
    finally:
        recipe.train(was)
    return -grad * fake.shape[0]


@torch.no_grad()
def critic_values(trainer, x: torch.Tensor) -> torch.Tensor:
    """D's raw output v (M,) in float64 at points ``x`` (M, dim), in eval mode."""
    recipe = trainer.recipe
    was = recipe.training
    recipe.eval()
    try:
        return recipe.critic(x.float().to(trainer.device)).double().cpu().flatten()
    finally:
        recipe.train(was)


def model_density(trainer) -> Distribution | None:
    """Q, the distribution of generated samples, when its density is known: the critic
    recipe's fixed Q, or gaussian-fit's Gaussian; None for a neural generator."""
    cfg, recipe = trainer.cfg, trainer.recipe
    if cfg.recipe == "critic":
        return parse_spec(cfg.recipe_args["q"])
    if cfg.recipe == "gaussian-fit" and recipe.G.mean.numel() == 1:
        return Normal(float(recipe.G.mean.detach()), float(recipe.G.log_std.detach().exp()))
    return None


def divergence_of(loss: str) -> str | None:
    """The f-divergence whose variational bound D maximizes: fgan-NAME's NAME; the GAN game's
    value is the bound of ``gan`` (2 JSD - log 4) with T = log sigmoid(v)."""
    if loss.startswith("fgan-"):
        return loss[len("fgan-") :]
    return "gan" if loss in ("minimax", "ns") else None


def bound(div_name: str, trainer, P: Distribution, Q: Distribution) -> float:
    """E_P[g_f(v)] - E_Q[f*(g_f(v))] of the learned critic (Nowozin et al. 2016, eq. 6),
    integrated against the exact densities by Gauss-Legendre quadrature."""
    div = get_divergence(div_name)
    x, w = gauss_legendre_grid(P, Q, panels=60, order=8)  # (M, 1), (M,)
    v = critic_values(trainer, x)
    p, q = P.log_prob(x).exp(), Q.log_prob(x).exp()
    return float((w * p * div.activation(v)).sum() - (w * q * div.conjugate_of_activation(v)).sum())


def histogram(x: torch.Tensor, lo: float, hi: float, bins: int) -> torch.Tensor:
    """Density histogram (bins,) of 1-D samples over [lo, hi] (mass outside is dropped)."""
    h = torch.histc(x.double().flatten(), bins=bins, min=lo, max=hi)
    return h / max(x.numel(), 1) / ((hi - lo) / bins)


def exact_value(cache: dict, div_name: str, P: Distribution, Q: Distribution, every_s: float = 1.0):
    """D_f(P||Q), computed again only when the pair changed and ``every_s`` seconds have
    passed (gaussian-fit's Q moves at every step; a quadrature takes up to a few 100 ms)."""
    key = (div_name, P.spec(), Q.spec())
    now = time.perf_counter()
    if key != cache.get("key") and (cache.get("key", ())[:2] != key[:2] or now - cache["t"] >= every_s):
        cache.update(key=key, t=now, value=exact_divergence(div_name, P, Q)[0])
    return cache["value"]


def theory(trainer, P: Distribution, lo: float, hi: float, real, fake, exact_cache: dict) -> dict:
    """The 1-D view: densities, histograms, D (or T) beside its optimum, the bound and the
    exact divergence (kept in ``exact_cache``, see ``exact_value``)."""
    loss = trainer.cfg.loss
    xs = torch.linspace(lo, hi, 200, dtype=torch.float64)[:, None]  # (200, 1)
    Q = model_density(trainer)
    v = critic_values(trainer, xs)
    lp = P.log_prob(xs)
    out = {
        "xs": rounded(xs, 4),
        "p": rounded(lp.exp()),
        "real_hist": rounded(histogram(real, lo, hi, 60)),
        "fake_hist": rounded(histogram(fake, lo, hi, 60)),
        "q": None,
        "curve": None,
        "optimum": None,
        "curve_label": "D(x) (raw output)",
        "estimate": None,
        "exact": None,
        "divergence": None,
    }
    lq = Q.log_prob(xs) if Q is not None else None
    if Q is not None:
        out["q"] = rounded(lq.exp())
    div_name = divergence_of(loss)
    if loss in SIGMOID_D or loss == "lsgan":
        out["curve"] = rounded(torch.sigmoid(v) if loss in SIGMOID_D else v)
        out["curve_label"] = "D(x)" + (" = sigmoid(v)" if loss in SIGMOID_D else "")
        if Q is not None:
            d_star = torch.sigmoid(lp - lq)  # p / (p + q)
            if loss == "lsgan":  # Mao et al. 2017, eq. 4: (b p + a q) / (p + q)
                obj = trainer.recipe.objective
                d_star = obj.b * d_star + obj.a * (1 - d_star)
            out["optimum"] = rounded(d_star)
    elif div_name is not None:
        div = get_divergence(div_name)
        out["curve"] = rounded(div.activation(v))
        out["curve_label"] = "T(x) = g_f(v)"
        if Q is not None:
            out["optimum"] = rounded(div.f_prime(torch.exp(lp - lq)))  # T* = f'(p/q)
    else:
        out["curve"] = rounded(v)
    if div_name is not None and Q is not None:
        exact = exact_value(exact_cache, div_name, P, Q)
        out["divergence"] = get_divergence(div_name).title
        out["exact"] = exact if math.isfinite(exact) else None
        out["estimate"] = bound(div_name, trainer, P, Q)
    return out
