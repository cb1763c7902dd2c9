"""Exact f-divergences D_f(P||Q) = integral q(x) f(p(x)/q(x)) dx, with the f of the core.

The f of each divergence is the one ``gankit.objectives.fgan.DIVERGENCES`` trains with, so
the exact value is the quantity the f-GAN critic bounds: ``js`` is 2 JSD and ``gan`` is
2 JSD - log 4 (Nowozin et al. 2016, Table 1 and its footnote). Where a closed form exists
(Gaussian pairs: KL both ways, squared Hellinger through the Bhattacharyya coefficient,
Pearson and Neyman chi^2 through the Chernoff integral) it is used; otherwise 1-D integrals
go to ``scipy.integrate.quad`` and 2-D integrals to a tensor-product Gauss-Legendre grid.

Where one density is zero and the other is not, q f(p/q) takes its limits: q f(0) where p = 0
and p lim_{u->inf} f(u)/u where q = 0 (the convention of Liese & Vajda 2006).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import integrate

from gankit.errors import ConfigError, did_you_mean
from gankit.objectives.fgan import DIVERGENCES, FDivergence
from gankit.theory.distributions import Distribution, Normal, Normal2D

F64 = torch.float64
CLAMP = 300.0  # |log(p/q)| beyond which f(p/q) is extrapolated (f(e^300) fits in float64)


def get_divergence(name: str) -> FDivergence:
    if name not in DIVERGENCES:
        raise ConfigError(
            f"unknown f-divergence {name!r}{did_you_mean(name, DIVERGENCES)}; choose one of: {', '.join(DIVERGENCES)}"
        )
    return DIVERGENCES[name]


def f_at_zero(div: FDivergence) -> float:
    """f(0+): the integrand's value per unit of Q-mass where p = 0."""
    return float(div.f(torch.tensor(0.0, dtype=F64)))


def f_slope_at_infinity(div: FDivergence) -> float:
    """lim_{u->inf} f(u)/u = lim_{t->0} t f(1/t): the value per unit of P-mass where q = 0."""
    a, b = (t * float(div.f(torch.tensor(1.0 / t, dtype=F64))) for t in (1e-16, 1e-20))
    return b if abs(a - b) <= 1e-6 * max(1.0, abs(b)) else math.inf


# --- closed forms for Gaussian pairs ----------------------------------------------------------


def gaussian_params(d: Distribution) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(mean (d,), covariance (d, d)) in float64 for a normal, None for anything else."""
    if isinstance(d, Normal):
        return torch.tensor([d.mean], dtype=F64), torch.tensor([[d.std**2]], dtype=F64)
    if isinstance(d, Normal2D):
        return d.mean_vector, d.covariance
    return None


def gaussian_kl(mp, Sp, mq, Sq) -> float:
    """KL(N(mp, Sp) || N(mq, Sq)) = 1/2 [tr(Sq^-1 Sp) + dm' Sq^-1 dm - d + log(|Sq| / |Sp|)]."""
    dm = mq - mp
    Sq_inv = torch.linalg.inv(Sq)
    d = mp.numel()
    val = torch.trace(Sq_inv @ Sp) + dm @ Sq_inv @ dm - d + torch.logdet(Sq) - torch.logdet(Sp)
    return float(0.5 * val)


def gaussian_log_chernoff(mp, Sp, mq, Sq, alpha: float) -> float:
    """log integral p^alpha q^(1-alpha) for Gaussians; +inf where the integral diverges.

    With S_a = alpha Sq + (1 - alpha) Sp (positive definite iff the integral is finite):
    -alpha(1-alpha)/2 dm' S_a^-1 dm - 1/2 log|S_a| + (1-alpha)/2 log|Sp| + alpha/2 log|Sq|.
    """
    Sa = alpha * Sq + (1 - alpha) * Sp
    if torch.linalg.eigvalsh(Sa).min() <= 0:
        return math.inf
    dm = mq - mp
    quad = dm @ torch.linalg.solve(Sa, dm)
    val = -0.5 * alpha * (1 - alpha) * quad - 0.5 * torch.logdet(Sa)
    val = val + 0.5 * (1 - alpha) * torch.logdet(Sp) + 0.5 * alpha * torch.logdet(Sq)
    return float(val)


def closed_form(name: str, P: Distribution, Q: Distribution) -> float | None:
    """D_f(P||Q) in closed form for Gaussian P and Q of the same dimension; None otherwise."""
    gp, gq = gaussian_params(P), gaussian_params(Q)
    if gp is None or gq is None or P.dim != Q.dim:
        return None
    if name == "kl":
        return gaussian_kl(*gp, *gq)
    if name == "rkl":
        return gaussian_kl(*gq, *gp)
    if name == "hellinger":  # integral (sqrt p - sqrt q)^2 = 2 (1 - BC)
        return 2.0 * (1.0 - math.exp(gaussian_log_chernoff(*gp, *gq, 0.5)))
    if name == "pearson":  # integral p^2 / q - 1
        return math.expm1(gaussian_log_chernoff(*gp, *gq, 2.0))
    if name == "neyman":  # integral q^2 / p - 1
        return math.expm1(gaussian_log_chernoff(*gq, *gp, 2.0))
    return None


# --- numerical integration --------------------------------------------------------------------


def _edges(lo: float, hi: float, breaks: list[float], panels: int) -> np.ndarray:
    inner = [b for b in breaks if lo < b < hi]
    return np.unique(np.concatenate([np.linspace(lo, hi, panels + 1), inner]))


def box_of(*dists: Distribution) -> list[tuple[float, float]]:
    boxes = [d.box() for d in dists]
    return [(min(b[i][0] for b in boxes), max(b[i][1] for b in boxes)) for i in range(dists[0].dim)]


def gauss_legendre_grid(
    *dists: Distribution, panels: int = 200, order: int = 10, box=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes (M, dim) and weights (M,) in float64 of composite Gauss-Legendre quadrature over
    ``box`` (default: the union of the distributions' boxes), panels ending at every break.

    sum(w * h(x)) approximates the integral of h over the box; in 2-D the rule is the tensor
    product of the 1-D rule per axis.
    """
    box = box or box_of(*dists)
    breaks = sorted({b for d in dists for b in d.breaks()})
    t, wt = np.polynomial.legendre.leggauss(order)
    axes = []
    for lo, hi in box:
        e = _edges(lo, hi, breaks if len(box) == 1 else [], panels)
        mid, half = (e[1:] + e[:-1]) / 2, (e[1:] - e[:-1]) / 2
        axes.append(((mid[:, None] + half[:, None] * t).ravel(), (half[:, None] * wt).ravel()))
    if len(axes) == 1:
        x, w = axes[0]
        return torch.from_numpy(x)[:, None], torch.from_numpy(w)
    (x0, w0), (x1, w1) = axes
    X = np.stack(np.meshgrid(x0, x1, indexing="ij"), -1).reshape(-1, 2)
    return torch.from_numpy(X), torch.from_numpy(np.outer(w0, w1).ravel())


def _boundary(div: FDivergence, mass_p_without_q: float, mass_q_without_p: float) -> float:
    """The parts of the integral where one density vanishes."""
    total = 0.0
    for mass, per_unit in ((mass_p_without_q, f_slope_at_infinity), (mass_q_without_p, f_at_zero)):
        if mass > 1e-14:
            total += mass * per_unit(div)
    return total


def _logs(P: Distribution, Q: Distribution, x: torch.Tensor):
    return P.log_prob(x), Q.log_prob(x)


def _tail_model(div: FDivergence, side: int) -> tuple[str, float, float]:
    """How q f(p/q) behaves for log ratio d = side * |d| beyond CLAMP.

    ("limit", value, 0): q f(p/q) -> value * (p if side > 0 else q), with value f'(inf) or f(0).
    ("power", log|f| at CLAMP, slope): log|f| grows linearly in |d| (f ~ u^k).
    ("log", log|f| at CLAMP, slope): log|f| grows linearly in log|d| (f ~ log u).
    """
    limit = f_slope_at_infinity(div) if side > 0 else f_at_zero(div)
    if math.isfinite(limit):
        return "limit", limit, 0.0
    logf = [math.log(abs(float(div.f(torch.tensor(side * CLAMP / k, dtype=F64).exp())))) for k in (4, 2, 1)]
    r1, r2 = logf[1] - logf[0], logf[2] - logf[1]
    if r2 > 1.5 * r1:  # rises double when |d| doubles: a power of u
        return "power", logf[2], r2 / (CLAMP / 2)
    return "log", logf[2], r2 / math.log(2)


def signed_log_integrand(
    div: FDivergence, lp: torch.Tensor, lq: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sign, log |q f(p/q)|) from finite log densities, without overflow for any log ratio d.

    For |d| <= CLAMP it is computed directly; beyond, from f's limit or growth (``_tail_model``),
    so tails far outside float64's range of p/q are still weighed correctly.
    """
    d = lp - lq
    c = d.clamp(-CLAMP, CLAMP)
    f_c = div.f(torch.exp(c))
    sign, out = torch.sign(f_c), lq + torch.log(torch.abs(f_c))
    for side in (1, -1):
        far = side * d > CLAMP
        if not far.any():
            continue
        kind, a, b = _tail_model(div, side)
        if kind == "limit":
            base = lp if side > 0 else lq
            value, s = base + math.log(abs(a)) if a else torch.full_like(d, -math.inf), math.copysign(1.0, a)
        elif kind == "power":
            value, s = lq + a + b * (d.abs() - CLAMP), sign
        else:
            value, s = lq + a + b * torch.log(d.abs() / CLAMP), sign
        out = torch.where(far, value, out)
        sign = torch.where(far, torch.as_tensor(s, dtype=d.dtype), sign)
    return sign, out


def integrand(div: FDivergence, lp: torch.Tensor, lq: torch.Tensor) -> torch.Tensor:
    """q f(p/q) from log densities where both are positive, 0 elsewhere (float64)."""
    both = torch.isfinite(lp) & torch.isfinite(lq)
    zero = torch.zeros_like(lp)
    sign, log_abs = signed_log_integrand(div, torch.where(both, lp, zero), torch.where(both, lq, zero))
    return torch.where(both, sign * torch.exp(log_abs), zero)


def diverges_at_edge(div: FDivergence, P: Distribution, Q: Distribution, box) -> bool:
    """True when q f(p/q) is not negligible at the integration box's edge, where the integral
    beyond the box would matter (e.g. Pearson chi^2 with Q's tails lighter than P's)."""
    centre = np.array([(lo + hi) / 2 for lo, hi in box])
    grid = np.array(np.meshgrid(*[[lo, (lo + hi) / 2, hi] for lo, hi in box], indexing="ij"))
    pts = grid.reshape(len(box), -1).T
    pts = torch.from_numpy(pts[np.abs(pts - centre).max(1) > 0].copy())  # the box's edge points
    lp, lq = _logs(P, Q, pts)
    both = torch.isfinite(lp) & torch.isfinite(lq)
    log_volume = sum(math.log(hi - lo) for lo, hi in box)
    return bool((signed_log_integrand(div, lp[both], lq[both])[1] + log_volume > math.log(1e-9)).any())


def quad_divergence(div: FDivergence, P: Distribution, Q: Distribution, box=None) -> float:
    """1-D D_f(P||Q) by adaptive quadrature (scipy.integrate.quad), split at every break."""
    ((lo, hi),) = box or box_of(P, Q)
    # Fixed panels first, so no narrow peak of a wide box escapes quad's first sampling.
    edges = _edges(lo, hi, P.breaks() + Q.breaks(), panels=32)

    def at(x):
        t = torch.tensor([[x]], dtype=F64)
        return _logs(P, Q, t)

    def main(x):
        lp, lq = at(x)
        return float(integrand(div, lp, lq)[0])

    total = 0.0
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        total += integrate.quad(main, a, b, limit=400, epsabs=1e-13, epsrel=1e-11)[0]
    return total + _boundary(div, *_lone_masses(P, Q, [(lo, hi)]))


def _lone_masses(P: Distribution, Q: Distribution, box) -> tuple[float, float]:
    """(P-mass where q = 0, Q-mass where p = 0), by Gauss-Legendre panels ending at the breaks."""
    x, w = gauss_legendre_grid(P, Q, panels=64, order=10, box=box)
    lp, lq = _logs(P, Q, x)
    p_only = float((w * torch.where(torch.isinf(lq), lp.exp(), torch.zeros_like(lp))).sum())
    q_only = float((w * torch.where(torch.isinf(lp), lq.exp(), torch.zeros_like(lq))).sum())
    return p_only, q_only


def grid_divergence(div: FDivergence, P: Distribution, Q: Distribution, **grid_kw) -> float:
    """D_f(P||Q) by composite Gauss-Legendre quadrature (any dimension)."""
    x, w = gauss_legendre_grid(P, Q, **grid_kw)
    lp, lq = _logs(P, Q, x)
    main = float((w * integrand(div, lp, lq)).sum())
    return main + _boundary(div, *_lone_masses(P, Q, grid_kw.get("box") or box_of(P, Q)))


def exact_divergence(name: str, P: Distribution, Q: Distribution) -> tuple[float, str]:
    """(D_f(P||Q), method): "closed-form", "quad" (1-D) or "gauss-legendre-grid" (2-D)."""
    div = get_divergence(name)
    if P.dim != Q.dim:
        raise ConfigError(f"P is {P.dim}-D but Q is {Q.dim}-D; give both in the same dimension")
    value = closed_form(name, P, Q)
    if value is not None:
        return value, "closed-form"
    method = "quad" if P.dim == 1 else "gauss-legendre-grid"
    box = box_of(P, Q)
    for _ in range(4):  # widen the box until the integrand is negligible at its edge
        if not diverges_at_edge(div, P, Q, box):
            if P.dim == 1:
                return quad_divergence(div, P, Q, box), method
            return grid_divergence(div, P, Q, panels=60, order=8, box=box), method
        box = [((3 * lo - hi) / 2, (3 * hi - lo) / 2) for lo, hi in box]
    return math.inf, method


def jsd(P: Distribution, Q: Distribution) -> float:
    """Jensen-Shannon divergence in nats: half of D_f for the core's ``js`` f."""
    return 0.5 * exact_divergence("js", P, Q)[0]
