"""What ``gankit fid`` compares: each side is a set of uint8 images or saved statistics.

A side may be a folder of images, a ``.npy``/``.npz`` array of images, a gankit run folder
(its generator draws the samples), a dataset with a split (``mnist:test``,
``fashion-mnist:train``, ``cifar10:test``, ``folder:PATH``) or a statistics ``.npz`` holding
``mu`` and ``sigma``. Datasets' features are cached (see :func:`gankit.metrics.inception.cache_path`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gankit.errors import ConfigError, DataError
from gankit.metrics import inception

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".pgm", ".ppm")
DATASETS = {"mnist": ("train", "test"), "fashion-mnist": ("train", "test"), "cifar10": ("train", "test")}
RUN_DEFAULT_N = 10_000
KINDS = (
    "a folder of images, a .npy/.npz of images, a run folder, DATASET:SPLIT (e.g. mnist:test) or a stats .npz"
)


@dataclasses.dataclass
class ImageSet:
    """``count`` images; ``take(n, batch_size)`` yields uint8 (B, C, H, W) batches of ``n`` of them
    (a seeded choice when n < count); ``cache(n)`` is the features file of datasets, else None."""

    label: str
    count: int
    take: Callable[[int, int], Iterator[torch.Tensor]]
    cache: Callable[[int, str], Path] | None = None
    generated: bool = False  # a run: count is whatever is asked for


@dataclasses.dataclass
class Stats:
    label: str
    mu: np.ndarray
    sigma: np.ndarray
    n: int | None
    protocol: str | None


# --- arrays -----------------------------------------------------------------------------------
def as_uint8_nchw(a: np.ndarray, label: str) -> torch.Tensor:
    """Images (N, H, W), (N, C, H, W) or (N, H, W, C), C in {1, 3} -> uint8 (N, C, H, W).

    uint8 stays as it is; float arrays are read in gankit's [-1, 1] convention (what ``gankit
    sample -o x.npy`` writes); integer arrays must lie in [0, 255].
    """
    if a.ndim == 3:
        a = a[:, None]
    elif a.ndim == 4 and a.shape[1] not in (1, 3) and a.shape[3] in (1, 3):
        a = a.transpose(0, 3, 1, 2)
    if a.ndim != 4 or a.shape[1] not in (1, 3):
        raise DataError(
            f"{label}: array of shape {a.shape} is not images; expected (N, H, W), (N, C, H, W) or "
            "(N, H, W, C) with 1 or 3 channels"
        )
    if a.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(a))
    if np.issubdtype(a.dtype, np.floating):
        lo, hi = float(np.min(a)), float(np.max(a))
        if not (-1.0 <= lo and hi <= 1.0):
            raise DataError(
                f"{label}: float values in [{lo:.3g}, {hi:.3g}]; float images must lie in [-1, 1] "
                "(gankit's convention); save uint8 in [0, 255] otherwise"
            )
        from gankit.data.images import to_uint8

        return to_uint8(torch.from_numpy(np.ascontiguousarray(a)))
    if np.issubdtype(a.dtype, np.integer) and a.size and (a.min() < 0 or a.max() > 255):
        raise DataError(f"{label}: integer values outside [0, 255]")
    return torch.from_numpy(np.ascontiguousarray(a.astype(np.uint8)))


def tensor_set(label: str, x: torch.Tensor, cache=None) -> ImageSet:
    """An ImageSet over uint8 images (N, C, H, W) held in memory."""

    def take(n, batch_size):
        yield from x[inception.subset(x.shape[0], n)].split(batch_size)

    return ImageSet(label, int(x.shape[0]), take, cache)


def array_file(path: Path) -> ImageSet | Stats:
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable .npy/.npz file ({e})") from None
    if isinstance(data, np.ndarray):
        return tensor_set(str(path), as_uint8_nchw(data, str(path)))
    with data:
        if "mu" in data and "sigma" in data:
            protocol = str(data["protocol"]) if "protocol" in data else None
            n = int(data["n"]) if "n" in data else None
            return Stats(str(path), np.asarray(data["mu"]), np.asarray(data["sigma"]), n, protocol)
        keys = [k for k in ("images", "x", "arr_0") if k in data] or list(data.keys())
        if len(keys) != 1 and keys[0] not in ("images", "x", "arr_0"):
            raise DataError(f"{path}: holds {sorted(data.keys())}; expected one image array or mu and sigma")
        return tensor_set(str(path), as_uint8_nchw(data[keys[0]], f"{path}[{keys[0]}]"))


# --- folders ----------------------------------------------------------------------------------
def list_images(root: Path) -> list[Path]:
    """Image files under ``root`` (subfolders too, hidden ones skipped), sorted."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def read_image(path: Path) -> np.ndarray:
    """One file -> uint8 (C, H, W): grayscale stays one channel, anything else becomes RGB
    (``convert("RGB")``, as clean-fid reads files)."""
    try:
        with Image.open(path) as im:
            a = np.asarray(im if im.mode == "L" else im.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot read this image ({e})") from None
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def folder_set(root: Path, label: str, cached: bool) -> ImageSet:
    if not root.is_dir():
        raise DataError(f"{label}: folder {root} does not exist")
    files = list_images(root)
    if not files:
        raise DataError(f"{label}: no images in {root} ({', '.join(IMAGE_EXTENSIONS)}; subfolders searched)")
    sizes: dict[tuple[int, int], Path] = {}
    for p in files:
        try:
            with Image.open(p) as im:
                sizes.setdefault(im.size, p)
        except (OSError, ValueError, SyntaxError) as e:
            raise DataError(f"{label}: cannot read {p} ({e})") from None
        if len(sizes) > 1:
            (s1, p1), (s2, p2) = sizes.items()
            raise DataError(
                f"{label}: images of different sizes in {root} ({p1.name} {s1[0]}x{s1[1]}, "
                f"{p2.name} {s2[0]}x{s2[1]}); resize them to one size first"
            )

    def take(n, batch_size):
        chosen = [files[i] for i in inception.subset(len(files), n).tolist()]
        for i in range(0, len(chosen), batch_size):
            imgs = [read_image(p) for p in chosen[i : i + batch_size]]
            if len({a.shape[0] for a in imgs}) > 1:
                imgs = [np.repeat(a, 3, axis=0) if a.shape[0] == 1 else a for a in imgs]
            yield torch.from_numpy(np.stack(imgs))

    cache = None
    if cached:
        h = hashlib.sha256(str(root.resolve()).encode())
        for p in files:
            st = p.stat()
            h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        content = h.hexdigest()

        def cache(n, net):
            return inception.cache_path(f"folder-{root.name}", "all", n, net, content)

    return ImageSet(label, len(files), take, cache)


# --- datasets and runs ------------------------------------------------------------------------
def dataset_set(spec: str, data_dir: str | None) -> ImageSet:
    name, _, split = spec.partition(":")
    if name == "folder":
        return folder_set(Path(split).expanduser(), spec, cached=True)
    if name not in DATASETS:
        raise ConfigError(f"{spec}: not a path, and {name!r} is not a dataset; {KINDS}")
    if split not in DATASETS[name]:
        raise ConfigError(
            f"{spec}: split {split!r}; use {' or '.join(f'{name}:{s}' for s in DATASETS[name])}"
        )
    from gankit.data import images

    if name == "cifar10":
        x, _ = images.load_cifar10(data_dir, split)
    else:
        x = images.load_idx_split(name, data_dir, split)[0].unsqueeze(1)  # (N, 1, 28, 28)
    content = inception.content_key(x)
    return tensor_set(spec, x, cache=lambda n, net: inception.cache_path(name, split, n, net, content))


def run_set(path: Path, device) -> ImageSet:
    from gankit.cli.run_commands import load_run
    from gankit.data.images import to_uint8

    trainer = load_run(str(path), device)
    if getattr(trainer.dataset, "kind", None) != "images":
        raise ConfigError(f"{path}: a run on {trainer.cfg.data}; Inception metrics need an image dataset")

    def take(n, batch_size):
        fake, _ = trainer.generate(n)  # the evaluation's fixed noise
        yield from to_uint8(fake).split(batch_size)

    return ImageSet(f"{path} (step {trainer.state.step})", RUN_DEFAULT_N, take, generated=True)


def is_run_folder(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "checkpoints").is_dir()


def resolve(spec: str, data_dir: str | None = None, device=None) -> ImageSet | Stats:
    """One side of ``gankit fid``: see the module docstring."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return run_set(path, device) if is_run_folder(path) else folder_set(path, spec, cached=False)
    if path.is_file():
        if path.suffix.lower() not in (".npy", ".npz"):
            raise DataError(f"{spec}: not a folder or a .npy/.npz file; {KINDS}")
        return array_file(path)
    if ":" in spec and spec.partition(":")[0] in (*DATASETS, "folder"):
        return dataset_set(spec, data_dir)
    if spec in DATASETS:
        raise ConfigError(f"{spec}: give a split, e.g. {spec}:test or {spec}:train")
    raise DataError(f"{spec} does not exist; expected {KINDS}")
