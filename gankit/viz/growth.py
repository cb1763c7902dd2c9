"""The growth picture of a progressive run: one row of fixed-noise samples per evaluation,
labelled with its step, resolution and alpha, so every resolution reached and every fade-in
shows in one PNG (``pictures/growth.png``).

Each evaluation appends its row to ``pictures/growth.npz`` (uint8 images at the data size);
rows from a later step than the current one (left by a run that was resumed from an earlier
checkpoint) are dropped first. The picture shows at most ``MAX_ROWS`` rows: the last row of
every resolution reached, filled up with evenly spaced others.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from gankit.training.checkpoint import atomic_write_bytes
from gankit.viz.images import image_grid, save_png

MAX_ROWS = 12
PER_ROW = 8


def append_row(store: Path, step: int, res: int, alpha: float, images: torch.Tensor) -> dict[str, np.ndarray]:
    """Add one evaluation's samples (N, C, S, S) in [-1, 1] to ``store``; returns all rows."""
    u8 = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()[None]
    rows = {
        "step": np.array([step]),
        "res": np.array([res]),
        "alpha": np.array([alpha], dtype=np.float32),
        "images": u8,
    }
    if store.exists():
        with np.load(store) as old:
            keep = old["step"] < step
            if old["images"].shape[1:] == u8.shape[1:]:
                rows = {k: np.concatenate([old[k][keep], rows[k]]) for k in rows}
    buf = io.BytesIO()
    np.savez(buf, **rows)
    atomic_write_bytes(store, buf.getvalue())
    return rows


def pick_rows(res: np.ndarray, max_rows: int = MAX_ROWS) -> list[int]:
    """Indices to show: the last row at each resolution, then evenly spaced ones, in order."""
    n = len(res)
    if n <= max_rows:
        return list(range(n))
    chosen = {int(np.nonzero(res == r)[0][-1]) for r in np.unique(res)}
    for i in np.linspace(0, n - 1, max_rows).round().astype(int):
        if len(chosen) >= max_rows:
            break
        chosen.add(int(i))
    return sorted(chosen)


def draw_growth(rows: dict[str, np.ndarray], path: Path) -> Path:
    """One labelled image row per chosen evaluation."""
    strips = []
    for i in pick_rows(rows["res"]):
        imgs = torch.from_numpy(rows["images"][i]).float() / 127.5 - 1.0
        strip = image_grid(imgs, ncol=imgs.shape[0]).convert("RGB")
        label = f"step {int(rows['step'][i])}  {int(rows['res'][i])}x{int(rows['res'][i])}  alpha {float(rows['alpha'][i]):.2f}"
        labelled = Image.new("RGB", (strip.width, strip.height + 14), "white")
        labelled.paste(strip, (0, 14))
        ImageDraw.Draw(labelled).text((2, 1), label, fill="black")
        strips.append(labelled)
    width = max(s.width for s in strips)
    canvas = Image.new("RGB", (width, sum(s.height for s in strips)), "white")
    top = 0
    for s in strips:
        canvas.paste(s, (0, top))
        top += s.height
    return save_png(canvas, path)


def draw_growth_picture(trainer, folder: Path) -> dict[str, Path]:
    """Append this evaluation's samples and redraw ``growth.png``."""
    folder = Path(folder)
    recipe = trainer.recipe
    fake, _ = trainer.generate(PER_ROW)
    rows = append_row(folder / "growth.npz", trainer.state.step, recipe.resolution, float(recipe.alpha), fake)
    return {"growth": draw_growth(rows, folder / "growth.png")}
