"""Pictures of image runs: sample grids written with Pillow, and the training GIF.

At every evaluation the fixed-noise grid is written as ``pictures/step-NNNNNNNN.png`` and
``pictures/progress.gif`` is rebuilt from those PNGs, one frame per evaluation.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gankit.viz.pictures import PICTURES
from gankit.viz.samples import SAMPLE_PICTURES

MAX_GIF_FRAMES = 120


def image_grid(images: torch.Tensor, ncol: int | None = None, pad: int = 2, scale: int = 0) -> Image.Image:
    """(N, C, H, W) in [-1, 1] -> one Pillow image, ``ncol`` per row, ``pad`` px of grey between.

    ``scale`` enlarges each pixel (nearest neighbour); 0 picks 2 for images under 64 px.
    """
    x = images.detach().float().cpu()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    n, c, h, w = x.shape
    if c not in (1, 3):
        x = x[:, :1] if c < 3 else x[:, :3]
        c = x.shape[1]
    ncol = ncol or max(1, math.ceil(math.sqrt(n)))
    nrow = max(1, math.ceil(n / ncol))
    x = torch.nan_to_num(x, nan=0.0).clamp(-1, 1)
    u8 = ((x + 1) * 127.5).round().to(torch.uint8)  # (N, C, H, W)
    canvas = torch.full((c, nrow * (h + pad) + pad, ncol * (w + pad) + pad), 128, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        canvas[:, top : top + h, left : left + w] = u8[i]
    scale = scale or (2 if max(h, w) < 64 else 1)
    arr = canvas.permute(1, 2, 0).numpy()
    im = Image.fromarray(arr[:, :, 0] if c == 1 else np.ascontiguousarray(arr), "L" if c == 1 else "RGB")
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    return im


def save_png(im: Image.Image, path: Path) -> Path:
    """Write ``im`` atomically (a half-written PNG is never left under ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    im.save(tmp, format="PNG")
    tmp.replace(path)
    return path


def grid_columns(n: int, num_classes: int) -> int:
    """One class per column for conditional grids of up to 20 classes, else a square grid."""
    if 0 < num_classes <= 20 and n >= num_classes:
        return num_classes
    return max(1, math.ceil(math.sqrt(n)))


def write_progress_gif(folder: Path, duration_ms: int = 300) -> Path | None:
    """``folder/progress.gif`` from the ``step-*.png`` grids in step order (at most
    MAX_GIF_FRAMES, evenly spaced, always keeping the last)."""
    folder = Path(folder)
    frames = sorted(folder.glob("step-*.png"))
    if not frames:
        return None
    if len(frames) > MAX_GIF_FRAMES:
        keep = np.linspace(0, len(frames) - 1, MAX_GIF_FRAMES).round().astype(int)
        frames = [frames[i] for i in sorted(set(keep.tolist()))]
    images = []
    for f in frames:
        with Image.open(f) as im:
            images.append(im.convert("RGB"))
    size = images[-1].size
    images = [im if im.size == size else im.resize(size) for im in images]
    path = folder / "progress.gif"
    tmp = folder / ".progress.gif.tmp"
    images[0].save(
        tmp,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=duration_ms,
        loop=0,
        optimize=False,
    )
    tmp.replace(path)
    return path


@PICTURES.register("images")
def draw_image_grid(trainer, path: Path, n: int = 64) -> Path:
    """The fixed-noise sample grid of this evaluation, and the GIF of all of them so far."""
    num_classes = trainer.dataset.num_classes if getattr(trainer.recipe, "conditional", False) else 0
    if 0 < num_classes <= 20:
        n = num_classes * max(1, min(10, 100 // num_classes))
    fake, _ = trainer.generate(n)
    save_png(image_grid(fake, grid_columns(n, num_classes)), path)
    write_progress_gif(Path(path).parent)
    return Path(path)


@SAMPLE_PICTURES.register("images")
def images_picture(samples: torch.Tensor, path: Path, title: str = "", dataset=None) -> None:
    """A grid of (up to ``max_shown``, 400) samples."""
    samples = samples[: images_picture.max_shown]
    save_png(image_grid(samples), path)


images_picture.max_shown = 400
