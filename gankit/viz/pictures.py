"""Pictures of a run: what the generator draws (by data kind) and the metric curves.

``PICTURES`` maps a dataset kind ("points", "curves", "images", ...) to a function
``draw(trainer, path)`` that writes one PNG of the current state; modules for new kinds
register their own.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from gankit.registry import Registry  # noqa: E402

PICTURES = Registry("picture kind")


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


@torch.no_grad()
def critic_field(trainer, lo, hi, res: int = 120):
    """D's output on a res x res grid over [lo, hi]^2: (xs, ys, values (res, res))."""
    xs = torch.linspace(lo[0], hi[0], res)
    ys = torch.linspace(lo[1], hi[1], res)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")
    pts = torch.stack([gx.flatten(), gy.flatten()], 1).to(trainer.device)
    recipe = trainer.recipe
    was = recipe.training
    recipe.eval()
    try:
        vals = recipe.critic(pts).float().cpu().view(res, res)
    finally:
        recipe.train(was)
    return xs, ys, vals


@PICTURES.register("points")
def draw_points(trainer, path: Path, n: int = 1000) -> Path:
    """Real (black) and generated (orange) points over the discriminator's output."""
    real = trainer.dataset.reference(n).x
    fake, _ = trainer.generate(n)
    lo = torch.minimum(real.min(0).values, torch.tensor([-1.0, -1.0])) - 0.5
    hi = torch.maximum(real.max(0).values, torch.tensor([1.0, 1.0])) + 0.5
    fig, ax = plt.subplots(figsize=(5.5, 5))
    try:
        xs, ys, vals = critic_field(trainer, lo.tolist(), hi.tolist())
        vals = torch.nan_to_num(vals)
        im = ax.contourf(xs.numpy(), ys.numpy(), vals.numpy(), levels=30, cmap="viridis", alpha=0.85)
        fig.colorbar(im, ax=ax, fraction=0.046, label="D output")
    except Exception:  # a model without a critic on points still gets its scatter
        pass
    ax.scatter(real[:, 0], real[:, 1], s=3, c="black", label="real", alpha=0.6)
    f = fake[torch.isfinite(fake).all(1)]
    ax.scatter(f[:, 0], f[:, 1], s=3, c="tab:orange", label="generated", alpha=0.6)
    ax.set_xlim(float(lo[0]), float(hi[0]))
    ax.set_ylim(float(lo[1]), float(hi[1]))
    ax.set_aspect("equal")
    ax.legend(loc="upper right", markerscale=4, fontsize=8)
    ax.set_title(f"{trainer.cfg.data} / {trainer.cfg.loss}, step {trainer.state.step}")
    return _save(fig, path)


@PICTURES.register("curves")
def draw_curves(trainer, path: Path, n: int = 40) -> Path:
    """Generated curves (orange) against real ones (grey)."""
    xs = trainer.dataset.xs
    real = trainer.dataset.reference(n).x
    fake, _ = trainer.generate(n)
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in real:
        ax.plot(xs, r, color="grey", alpha=0.4, lw=1)
    for f in fake:
        ax.plot(xs, f, color="tab:orange", alpha=0.7, lw=1)
    ax.plot([], [], color="grey", label="real")
    ax.plot([], [], color="tab:orange", label="generated")
    ax.legend()
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"curve / {trainer.cfg.loss}, step {trainer.state.step}")
    return _save(fig, path)


def draw_metric_curves(rows: list[dict], path: Path, title: str = "") -> Path | None:
    """Every numeric metric of ``metrics.jsonl`` against step, one small panel each."""
    skip = {"step", "images_seen", "wall_s", "n_samples", "modes_total"}
    keys = [k for k in rows[-1] if k not in skip and isinstance(rows[-1][k], (int, float))] if rows else []
    if len(rows) < 2 or not keys:
        return None
    cols = min(4, len(keys))
    nrows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.4 * nrows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", lw=1)
        ax.set_title(key, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def draw_run_pictures(trainer, folder: Path) -> dict[str, Path]:
    """Samples at this step (kept per step and as latest.png) and the metric curves."""
    folder = Path(folder)
    out = {}
    kind = trainer.dataset.kind
    if kind in PICTURES:
        path = PICTURES.get(kind).factory(trainer, folder / f"step-{trainer.state.step:08d}.png")
        shutil.copyfile(path, folder / "latest.png")
        out["samples"] = path
    recipe_pictures = getattr(trainer.recipe, "draw_pictures", None)  # a recipe's own pictures
    if recipe_pictures is not None:
        out.update(recipe_pictures(trainer, folder))
    rows = getattr(trainer, "metrics_log", None)
    if rows is not None:
        curves = draw_metric_curves(
            rows.read(), folder / "metrics.png", f"{trainer.cfg.data} / {trainer.cfg.loss}"
        )
        if curves is not None:
            out["metrics"] = curves
    return out
