"""Maximum likelihood is KL minimization, shown on a Gaussian mixture fitted by EM.

For any model q, E_P[log q(x)] = -H(P) - KL(P||q) (the cross-entropy identity), so the average
log-likelihood of a large sample is, up to the constant -H(P) of the data, minus the KL
divergence from the data distribution, and the log-likelihood gap between the true density
and the model, on the same sample, estimates KL(P||q) with no constant at all. The fit is the
EM algorithm (Dempster, Laird & Rubin 1977) for a K-component 1-D Gaussian mixture; every EM
iterate is a model whose exact KL(P||q) we integrate numerically.
"""

from __future__ import annotations

import math

import torch

from gankit.errors import ConfigError
from gankit.objectives.fgan import DIVERGENCES
from gankit.theory.distributions import Distribution, Mixture, Normal
from gankit.theory.exact import gauss_legendre_grid, grid_divergence
from gankit.theory.spec import parse_spec


def mixture_of(weights: torch.Tensor, means: torch.Tensor, stds: torch.Tensor) -> Mixture:
    return Mixture(
        weights.tolist(), [Normal(m, s) for m, s in zip(means.tolist(), stds.tolist(), strict=True)]
    )


def em_step(x: torch.Tensor, weights, means, stds, min_std: float = 1e-3):
    """One EM update of a 1-D Gaussian mixture on data x (N,); returns new (weights, means, stds)."""
    z = (x[:, None] - means) / stds  # (N, K)
    log_r = torch.log(weights) - 0.5 * z * z - torch.log(stds)  # (N, K), up to a constant
    r = torch.softmax(log_r, 1)  # responsibilities
    nk = r.sum(0)  # (K,)
    means = (r * x[:, None]).sum(0) / nk
    var = (r * (x[:, None] - means) ** 2).sum(0) / nk
    return nk / x.shape[0], means, var.sqrt().clamp(min=min_std)


def entropy(P: Distribution) -> float:
    """H(P) = -integral p log p, by composite Gauss-Legendre quadrature (1-D)."""
    x, w = gauss_legendre_grid(P, panels=2000, order=10)
    lp = P.log_prob(x)
    return float(-(w * torch.where(torch.isfinite(lp), lp.exp() * lp, torch.zeros_like(lp))).sum())


def mle_vs_kl(
    p_spec: str,
    k: int = 2,
    n_train: int = 2000,
    n_test: int = 100_000,
    iters: int = 30,
    seed: int = 0,
    on_iter=None,
) -> dict:
    """EM fit of a k-component mixture to n_train samples of P; per iterate the average
    log-likelihoods (train, fresh test sample), the exact KL(P||model) and cross-entropy.
    ``on_iter(it)`` is called after each of the ``iters + 1`` iterates (progress display)."""
    P = parse_spec(p_spec)
    if P.dim != 1:
        raise ConfigError(f"mle-vs-kl fits 1-D mixtures; --p {p_spec!r} is {P.dim}-D")
    if k < 1 or n_train < 2 * k or iters < 1:
        raise ConfigError(
            f"mle-vs-kl: need k >= 1, n >= 2k and iters >= 1 (got k={k}, n={n_train}, iters={iters})"
        )
    gen = torch.Generator().manual_seed(seed)
    x = P.sample(n_train, gen).double()[:, 0]  # (N,)
    x_test = P.sample(n_test, gen).double()  # (M, 1)
    h = entropy(P)
    lp_test = P.log_prob(x_test)  # (M,)
    ll_true_test = float(lp_test.mean())
    # Start: means at the sample's quantiles (i + 1/2)/k, each as wide as the whole sample.
    weights = torch.full((k,), 1.0 / k, dtype=torch.float64)
    means = torch.quantile(x, (torch.arange(k, dtype=torch.float64) + 0.5) / k)
    stds = torch.full((k,), float(x.std()), dtype=torch.float64)
    xs, ws = gauss_legendre_grid(P, panels=400, order=10)
    rows, fits = [], []
    for it in range(iters + 1):
        if it:
            weights, means, stds = em_step(x, weights, means, stds)
        model = mixture_of(weights, means, stds)
        ll_train = float(model.log_prob(x[:, None]).mean())
        ll_test_all = model.log_prob(x_test)
        ll_test = float(ll_test_all.mean())
        kl = grid_divergence(DIVERGENCES["kl"], P, model, panels=400, order=10)
        lq = model.log_prob(xs)
        cross = float(-(ws * P.log_prob(xs).exp() * lq).sum())  # -E_P[log q], exact
        gap = lp_test - ll_test_all  # (M,): log p - log q per test point; its mean estimates KL
        rows.append(
            {
                "iter": it,
                "loglik_train": ll_train,
                "loglik_test": ll_test,
                "kl_exact": kl,
                "minus_loglik_test_minus_entropy": -ll_test - h,
                "loglik_gap_true_minus_model": ll_true_test - ll_test,
                "gap_std_error": float(gap.std() / math.sqrt(n_test)),
                "cross_entropy_exact": cross,
                "entropy_plus_kl": h + kl,
            }
        )
        fits.append(model.spec())
        if on_iter is not None:
            on_iter(it)
    return {
        "p": P.spec(),
        "k": k,
        "n_train": n_train,
        "n_test": n_test,
        "entropy": h,
        "loglik_true_test": ll_true_test,
        "rows": rows,
        "fits": fits,
        "fit": fits[-1],
        "_data": x,
    }
