"""Per-example image transforms, differentiable in the images (N, C, H, W).

Each takes its random parameters as tensors of shape (N,), so the callers (DiffAugment, ADA)
decide the distributions and these stay pure functions.
"""

from __future__ import annotations

import torch


def col(v: torch.Tensor) -> torch.Tensor:
    """(N,) -> (N, 1, 1, 1), to broadcast one value per example over an image."""
    return v.view(-1, 1, 1, 1)


def brightness(x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """x + delta per example."""
    return x + col(delta)


def saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Scale each pixel's deviation from its channel mean (grayscale: identity)."""
    mean = x.mean(dim=1, keepdim=True)  # (N, 1, H, W)
    return (x - mean) * col(factor) + mean


def contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Scale the deviation from the image's mean over all channels and pixels."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (N, 1, 1, 1)
    return (x - mean) * col(factor) + mean


def mirrored(index: torch.Tensor, size: int) -> torch.Tensor:
    """Indices reflected about the edge pixels into [0, size) (numpy's pad mode "reflect":
    -1 -> 1, size -> size - 2), for offsets of less than ``size``."""
    index = index.abs()
    return torch.where(index > size - 1, 2 * (size - 1) - index, index)


def translate(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, reflect: bool = False) -> torch.Tensor:
    """Shift example i by (dx_i, dy_i) whole pixels (right, down); vacated pixels are 0, or with
    ``reflect`` the image mirrored about its edge (ADA's padding; shifts below the size)."""
    n, _, h, w = x.shape
    rows = torch.arange(h, device=x.device)[None, :] - dy.view(-1, 1)  # (N, H) source rows
    cols = torch.arange(w, device=x.device)[None, :] - dx.view(-1, 1)  # (N, W) source columns
    idx = torch.arange(n, device=x.device).view(-1, 1, 1)
    if reflect:
        out = x[idx, :, mirrored(rows, h)[:, :, None], mirrored(cols, w)[:, None, :]]  # (N, H, W, C)
        return out.permute(0, 3, 1, 2)
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # (N, H, W)
    out = x[idx, :, rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, w - 1)[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2) * inside[:, None].to(x.dtype)


def cutout(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Zero a ``size`` = (height, width) box at (top, left) per example (clipped to the image)."""
    _, _, h, w = x.shape
    rows = torch.arange(h, device=x.device)[None, :] - top.view(-1, 1)  # (N, H)
    cols = torch.arange(w, device=x.device)[None, :] - left.view(-1, 1)  # (N, W)
    box = ((rows >= 0) & (rows < size[0]))[:, :, None] & ((cols >= 0) & (cols < size[1]))[:, None, :]
    return x * (~box)[:, None].to(x.dtype)


def xflip(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror left-right the examples where ``flip`` (N,) bool is set."""
    return torch.where(col(flip), x.flip(3), x)


def rotate90(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Rotate example i by k_i * 90 degrees (square images)."""
    out = x
    for turns in (1, 2, 3):
        out = torch.where(col(k == turns), torch.rot90(x, turns, dims=(2, 3)), out)
    return out


def where(mask: torch.Tensor, augmented: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``augmented`` for the examples where ``mask`` (N,) is set, ``x`` for the others."""
    return torch.where(col(mask), augmented, x)
