"""Pictures of the theory lab's experiments (one PNG each)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from gankit.theory.distributions import Normal  # noqa: E402
from gankit.theory.spec import parse_spec  # noqa: E402


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _window(x: torch.Tensor, p: torch.Tensor, q: torch.Tensor, lo_mass: float = 1e-4):
    """Nodes where p or q is not negligible (for 1-D plots)."""
    keep = (p > lo_mass * p.max()) | (q > lo_mass * q.max())
    return keep


def _curves(res: dict, path: Path, learned: str, optimum: str, title: str) -> Path:
    x, t, t_star, p, q = res["_curve"]
    if x.shape[1] == 2:
        return _field(res, path, learned, optimum, title)
    keep = _window(x, p, q)
    xs = x[keep, 0].numpy()
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(6.5, 6), sharex=True)
    ax0.plot(xs, p[keep].numpy(), label=f"p = {res['p']}")
    ax0.plot(xs, q[keep].numpy(), label=f"q = {res['q']}")
    ax0.set_ylabel("density")
    ax0.legend(fontsize=8)
    ax0.set_title(title, fontsize=10)
    ax1.plot(xs, t_star[keep].numpy(), "k--", label=optimum)
    ax1.plot(xs, t[keep].numpy(), color="tab:red", alpha=0.8, label=learned)
    lo, hi = torch.quantile(t_star[keep], torch.tensor([0.01, 0.99], dtype=t_star.dtype)).tolist()
    pad = 0.25 * (hi - lo) + 1e-3
    ax1.set_ylim(lo - pad, hi + pad)
    ax1.set_xlabel("x")
    ax1.legend(fontsize=8)
    return _save(fig, path)


def _field(res: dict, path: Path, learned: str, optimum: str, title: str) -> Path:
    x, t, t_star, p, q = res["_curve"]
    n = int(round(math.sqrt(x.shape[0])))
    X, Y = x[:, 0].view(n, n).numpy(), x[:, 1].view(n, n).numpy()
    m = (p + q).view(n, n)
    keep = (m > 1e-3 * m.max()).numpy()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    lo, hi = torch.quantile(
        t_star.view(n, n)[torch.from_numpy(keep)], torch.tensor([0.01, 0.99], dtype=t_star.dtype)
    ).tolist()
    for ax, vals, label in ((axes[0], t, learned), (axes[1], t_star, optimum)):
        v = vals.view(n, n).numpy().copy()
        v[~keep] = float("nan")
        im = ax.pcolormesh(X, Y, v, vmin=lo, vmax=hi, shading="auto", cmap="coolwarm")
        ax.contour(X, Y, p.view(n, n).numpy(), levels=4, colors="k", linewidths=0.6)
        ax.contour(X, Y, q.view(n, n).numpy(), levels=4, colors="g", linewidths=0.6)
        ax.set_title(label, fontsize=9)
        ax.set_xlim(X[keep].min(), X[keep].max())
        ax.set_ylim(Y[keep].min(), Y[keep].max())
    fig.colorbar(im, ax=axes.tolist())
    fig.suptitle(title + "  (black: p, green: q)", fontsize=10)
    return _save(fig, path)


def plot_divergence(res: dict, path: Path) -> Path:
    title = (
        f"{res['title']}: estimate {res['estimate']:.4f}, exact {res['exact']:.4f} "
        f"(rel. error {100 * res['rel_error']:.2f}%)"
    )
    return _curves(res, path, "learned critic T(x) = g_f(v(x))", "optimal T*(x) = f'(p/q)", title)


def plot_optimal_d(res: dict, path: Path) -> Path:
    title = (
        f"D vs D* = p/(p+q): sup error {res['sup_error']:.4f}; V(D) = {res['value']:.4f}, "
        f"-log 4 + 2 JSD = {res['optimal_value']:.4f}"
    )
    return _curves(res, path, "trained D(x)", "D*(x) = p/(p+q)", title)


def plot_mle(res: dict, path: Path) -> Path:
    P = parse_spec(res["p"])
    data = res["_data"]
    lo, hi = float(data.min()) - 1, float(data.max()) + 1
    xs = torch.linspace(lo, hi, 800, dtype=torch.float64)[:, None]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.5))
    ax0.hist(data.numpy(), bins=60, density=True, color="0.85", label=f"{res['n_train']} samples")
    ax0.plot(xs[:, 0], P.log_prob(xs).exp(), "k", lw=2, label="true p")
    n = len(res["fits"])
    for i in sorted({0, n // 4, n // 2, n - 1}):
        model = parse_spec(res["fits"][i])
        ax0.plot(
            xs[:, 0],
            model.log_prob(xs).exp(),
            lw=1.2,
            alpha=0.5 + 0.5 * i / max(n - 1, 1),
            label=f"EM iterate {i}",
        )
    ax0.set_title(f"EM fit of a {res['k']}-component Gaussian mixture", fontsize=10)
    ax0.legend(fontsize=8)
    rows = res["rows"]
    it = [r["iter"] for r in rows]
    ax1.plot(it, [r["kl_exact"] for r in rows], "k-", lw=2, label="KL(P||model), exact (quadrature)")
    for key, style, label in (
        ("minus_loglik_test_minus_entropy", "o", "-avg log-lik (test) - H(P)"),
        ("loglik_gap_true_minus_model", "x", "avg log-lik gap: true - model (test)"),
    ):
        ax1.plot(it, [r[key] for r in rows], style, ms=5, label=label)
    ax1.set_xlabel("EM iteration")
    ax1.set_yscale("log")
    ax1.set_title(f"Maximum likelihood = KL minimization (H(P) = {res['entropy']:.4f} nats)", fontsize=10)
    ax1.legend(fontsize=8)
    return _save(fig, path)


def plot_modes(res: dict, path: Path) -> Path:
    P = parse_spec(res["p"])
    ((lo, hi),) = P.box()
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    xs = torch.linspace(mid - half * 0.45, mid + half * 0.45, 800, dtype=torch.float64)[:, None]
    rows = res["rows"]
    cols = min(4, len(rows))
    nrows = math.ceil(len(rows) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 2.8 * nrows), squeeze=False, sharex=True)
    p = P.log_prob(xs).exp()
    for ax, r in zip(axes.ravel(), rows, strict=False):
        ax.fill_between(xs[:, 0], p, color="0.85", label="target p")
        game = Normal(r["game_mean"], r["game_std"]).log_prob(xs).exp()
        exact = Normal(r["exact_mean"], r["exact_std"]).log_prob(xs).exp()
        ax.plot(xs[:, 0], game, color="tab:red", label="f-GAN game")
        ax.plot(xs[:, 0], exact, "k--", label="exact minimizer")
        ax.set_title(
            f"{r['divergence']}: game N({r['game_mean']:.2f}, {r['game_std']:.2f}^2)\n"
            f"exact N({r['exact_mean']:.2f}, {r['exact_std']:.2f}^2)",
            fontsize=8,
        )
    for ax in axes.ravel()[len(rows) :]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("One Gaussian fitted to a two-mode mixture by each f-divergence", fontsize=10)
    return _save(fig, path)
