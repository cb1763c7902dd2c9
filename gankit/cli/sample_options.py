"""The ``gankit sample`` options beyond plain noise: ``--class K`` (conditional runs),
``--traverse`` (InfoGAN code traversal grid) and ``--interpolate`` (latent interpolation grid).

torch is imported inside the functions, so building the CLI parser stays fast."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from gankit.errors import GankitError

if TYPE_CHECKING:
    import torch


def add_sample_options(p) -> None:
    p.add_argument(
        "--class",
        dest="klass",
        type=int,
        default=None,
        metavar="K",
        help="conditional runs: draw class K only (default: classes in turn)",
    )
    p.add_argument(
        "--traverse",
        action="store_true",
        help="InfoGAN runs: grid with one row per category and columns sweeping a continuous code",
    )
    p.add_argument(
        "--interpolate",
        nargs="?",
        const="slerp",
        default=None,
        choices=("slerp", "lerp"),
        help="grid of interpolations between random latent pairs (one pair per row)",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="grid columns: code values for --traverse (9), points per pair for --interpolate (10)",
    )
    p.add_argument("--code", type=int, default=0, help="--traverse: which continuous code to sweep")
    p.add_argument("--rows", type=int, default=8, help="--interpolate: number of latent pairs (rows)")


# --- labels -----------------------------------------------------------------------------------
def sample_labels(n: int, num_classes: int, klass: int | None) -> torch.Tensor | None:
    """Labels for ``n`` samples: None for unconditional runs, class ``klass`` for all, or the
    classes in turn (0, 1, ..., K-1, 0, ...)."""
    import torch

    if not num_classes:
        if klass is not None:
            raise GankitError("--class needs a conditional run (trained with --set recipe.conditional=true)")
        return None
    if klass is None:
        return torch.arange(n) % num_classes
    if not 0 <= klass < num_classes:
        raise GankitError(f"--class {klass}: this run has classes 0 to {num_classes - 1}")
    return torch.full((n,), klass, dtype=torch.int64)


def run_classes(trainer) -> int:
    return trainer.dataset.num_classes if getattr(trainer.recipe, "conditional", False) else 0


# --- interpolation ----------------------------------------------------------------------------
def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985) of rows a, b (N, D) at fractions t (T,) -> (N, T, D).

    sin((1 - t) w) / sin w * a + sin(t w) / sin w * b, w the angle between a and b; linear
    where a and b are (anti)parallel.
    """
    import torch

    cos = torch.nn.functional.cosine_similarity(a, b, dim=1).clamp(-1, 1)  # (N,)
    w = torch.acos(cos)[:, None, None]  # (N, 1, 1)
    t = t[None, :, None]  # (1, T, 1)
    s = torch.sin(w)
    safe = s.abs() > 1e-6
    wa = torch.where(safe, torch.sin((1 - t) * w) / torch.where(safe, s, 1.0), 1 - t)
    wb = torch.where(safe, torch.sin(t * w) / torch.where(safe, s, 1.0), t)
    return wa * a[:, None] + wb * b[:, None]


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(1 - t) a + t b for rows a, b (N, D) and fractions t (T,) -> (N, T, D)."""
    t = t[None, :, None]
    return (1 - t) * a[:, None] + t * b[:, None]


def interpolation_latent(recipe, rows: int, steps: int, seed: int, mode: str) -> torch.Tensor:
    """G inputs (rows * steps, D): row r goes from one random latent to another."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    a = recipe.noise(rows, "cpu", generator=gen)
    b = recipe.noise(rows, "cpu", generator=gen)
    t = torch.linspace(0, 1, steps)
    return (slerp if mode == "slerp" else lerp)(a, b, t).reshape(rows * steps, -1)


# --- the grids --------------------------------------------------------------------------------
def write_grid(samples: torch.Tensor, ncol: int, path: Path, kind: str, title: str, dataset) -> Path:
    """Images: a grid with ``ncol`` columns (.png); other data or .npy: as ``write_samples``."""
    from gankit.viz.samples import write_samples

    path = Path(path)
    if kind == "images" and path.suffix == ".png":
        from gankit.viz.images import image_grid, save_png

        try:
            return save_png(image_grid(samples, ncol), path)
        except OSError as e:
            raise GankitError(f"cannot write {path}: {e.strerror}") from None
    return write_samples(samples, path, kind, title, dataset)


def draw_grid(args, trainer) -> Path:
    """``--traverse`` or ``--interpolate`` for a run: the grid written to ``args.output``."""
    import torch

    recipe = trainer.recipe
    steps = args.steps if args.steps is not None else (9 if args.traverse else 10)
    if steps < 2:
        raise GankitError(f"--steps {steps}: must be >= 2")
    if args.traverse:
        if not hasattr(recipe, "traversal_latent"):
            raise GankitError(
                f"--traverse needs an InfoGAN run (recipe infogan); this run's recipe is {trainer.cfg.recipe}"
            )
        latent, ncol = recipe.traversal_latent(steps=steps, code=args.code, seed=args.seed)
        y = None
        what = "code traversal"
    else:
        if args.rows < 1:
            raise GankitError(f"--rows {args.rows}: must be >= 1")
        rows = args.rows
        latent = interpolation_latent(recipe, rows, steps, args.seed, args.interpolate)
        ncol = steps
        num_classes = run_classes(trainer)
        y = sample_labels(rows, num_classes, args.klass)
        y = None if y is None else y.repeat_interleave(steps)
        what = f"{args.interpolate} interpolation"
    G = trainer.sampling_generator()
    G.eval()
    chunks = []
    for i in range(0, latent.shape[0], 500):
        yi = None if y is None else y[i : i + 500].to(trainer.device)
        chunks.append(recipe.sample(latent[i : i + 500].to(trainer.device), yi, G=G).float().cpu())
    samples = torch.cat(chunks)
    title = f"{trainer.cfg.data} / {what}, step {trainer.state.step}"
    out = write_grid(samples, ncol, Path(args.output), trainer.dataset.kind, title, trainer.dataset)
    print(f"wrote a {math.ceil(samples.shape[0] / ncol)}x{ncol} {what} grid to {out}")
    return out
