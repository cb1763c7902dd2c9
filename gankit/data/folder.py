"""``folder:PATH``: any folder of PNG, JPEG or WebP images.

Images are resized (shorter side to ``image_size``) and centre-cropped, converted to
``channels`` (grayscale, palette and transparent images included: transparency is composited
on ``background``), and decoded once into a uint8 array cached in the user cache folder,
keyed by the file list, sizes, modification times and options. When every image lies in a
subfolder, the subfolder names are the class labels. Unreadable files (corrupt, truncated,
decompression bombs over Pillow's ``MAX_IMAGE_PIXELS``) are skipped with a warning that
counts them; a folder with nothing readable is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from gankit.data.base import DATASETS
from gankit.data.download import cache_dir
from gankit.data.image_presets import image_presets
from gankit.data.images import ImageDataset
from gankit.errors import ConfigError, DataError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
BACKGROUNDS = {"white": (255, 255, 255, 255), "black": (0, 0, 0, 255)}
CACHE_VERSION = 1


@dataclasses.dataclass
class FolderOptions:
    path: str = ""  # the folder; --data folder:PATH sets it
    image_size: int = 64  # side of the square images
    channels: int = 3  # 1 (grayscale) or 3 (RGB)
    background: str = "white"  # what transparent pixels become: white | black
    limit: int = 0  # use only the first N files in sorted order (0: all)
    cache: bool = True  # keep the decoded array in the cache folder
    workers: int = 0  # processes decoding the files on first use; 0: one per CPU (at most 8)

    def check(self):
        if not self.path:
            raise ConfigError("dataset folder needs a path: use --data folder:PATH")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels={self.channels}; allowed: 1 or 3")
        if not 4 <= self.image_size <= 1024:
            raise ConfigError(f"image_size={self.image_size}; allowed: 4 to 1024")
        if self.background not in BACKGROUNDS:
            raise ConfigError(f"background={self.background!r}; choose one of: {', '.join(BACKGROUNDS)}")
        if self.limit < 0:
            raise ConfigError(f"limit={self.limit}; allowed: 0 (all) or a positive count")
        if self.workers < 0:
            raise ConfigError(f"workers={self.workers}; allowed: 0 (one per CPU) or a positive count")


def list_images(root: Path) -> list[Path]:
    """Image files under ``root`` (recursively, hidden folders skipped), sorted."""
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.suffix.lower() in EXTENSIONS and p.is_file():
            out.append(p)
    return sorted(out)


def to_mode(im: Image.Image, channels: int, background: str) -> Image.Image:
    """Any Pillow image -> "L" or "RGB"; transparency composited on ``background``."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit / float grayscale: scale to 8 bits
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if a.max(initial=0) > 255 else 255.0
        im = Image.fromarray(np.clip(a * (255.0 / top), 0, 255).round().astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        im = im.convert("RGBA")
        base = Image.new("RGBA", im.size, BACKGROUNDS[background])
        im = Image.alpha_composite(base, im)
    return im.convert("L" if channels == 1 else "RGB")


def decode_image(path: Path, size: int, channels: int, background: str) -> np.ndarray:
    """One file -> uint8 (C, size, size). Raises OSError/ValueError/... when unreadable."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            im.draft("RGB" if channels == 3 else "L", (size, size))  # JPEG: decode at reduced scale
            im = to_mode(im, channels, background)
            im = ImageOps.fit(im, (size, size), method=Image.Resampling.BICUBIC)
            a = np.asarray(im, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


UNREADABLE = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


def _decode_or_reason(args) -> np.ndarray | str:
    """The decoded image, or why the file is unreadable (a string): picklable for workers."""
    path, size, channels, background = args
    try:
        return decode_image(path, size, channels, background)
    except UNREADABLE as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"


# Below this many files one process decodes them; above, ``workers`` processes share the work.
PARALLEL_FROM = 256


def decode_folder(files: list[Path], size: int, channels: int, background: str, workers: int = 1):
    """(uint8 (N, C, size, size), indices of the decoded files, [(file, reason)] skipped).

    Decoding is the slow part of a first run on a large folder (Pillow decodes one image per
    call); ``workers`` > 1 spreads the files over that many processes, in order, with a
    progress bar. The result does not depend on ``workers``."""
    from tqdm.auto import tqdm

    jobs = [(p, size, channels, background) for p in files]
    bar = dict(total=len(files), desc="decoding images", unit="img", disable=len(files) < PARALLEL_FROM)
    if workers > 1 and len(files) >= PARALLEL_FROM:
        import concurrent.futures
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            results = list(tqdm(pool.map(_decode_or_reason, jobs, chunksize=64), **bar))
    else:
        results = [_decode_or_reason(j) for j in tqdm(jobs, **bar)]
    arrays, kept, skipped = [], [], []
    for i, r in enumerate(results):
        if isinstance(r, str):
            skipped.append((files[i], r))
        else:
            arrays.append(r)
            kept.append(i)
    images = np.stack(arrays) if arrays else np.zeros((0, channels, size, size), np.uint8)
    return images, kept, skipped


def _cache_key(root: Path, files: list[Path], opts: FolderOptions) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps(
            [CACHE_VERSION, str(root.resolve()), opts.image_size, opts.channels, opts.background]
        ).encode()
    )
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def load_folder(opts: FolderOptions) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """(images uint8 (N, C, S, S), labels or None, class names) of the folder ``opts.path``."""
    root = Path(opts.path).expanduser()
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist or is not a folder")
    files = list_images(root)
    if opts.limit:
        files = files[: opts.limit]
    if not files:
        raise DataError(f"{root}: no PNG, JPEG or WebP images found (searched subfolders too)")
    rel = [p.relative_to(root) for p in files]
    classes = sorted({r.parts[0] for r in rel}) if all(len(r.parts) > 1 for r in rel) else []

    key = _cache_key(root, files, opts)
    cache = cache_dir() / "folders"
    npy, meta_path = cache / f"{key}.npy", cache / f"{key}.json"
    images = kept = None
    if opts.cache and npy.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            images, kept = np.load(npy, allow_pickle=False), meta["kept"]
            if images.shape[0] != len(kept):
                images = None
            elif meta.get("skipped"):
                warnings.warn(
                    f"{root}: skipped {meta['skipped']} of {len(files)} unreadable image files "
                    "(cached decode)",
                    stacklevel=2,
                )
        except (OSError, ValueError, KeyError):
            images = None
    if images is None:
        workers = opts.workers or min(8, os.cpu_count() or 1)
        images, kept, skipped = decode_folder(files, opts.image_size, opts.channels, opts.background, workers)
        if not kept:
            first = f" (first: {skipped[0][0].name}: {skipped[0][1]})" if skipped else ""
            raise DataError(f"{root}: none of the {len(files)} image files could be read{first}")
        if skipped:
            names = ", ".join(f"{p.name} ({why})" for p, why in skipped[:3])
            warnings.warn(
                f"{root}: skipped {len(skipped)} of {len(files)} unreadable image files: {names}"
                f"{' ...' if len(skipped) > 3 else ''}",
                stacklevel=2,
            )
        if opts.cache:
            try:
                cache.mkdir(parents=True, exist_ok=True)
                tmp = cache / f".{key}.{id(images)}.npy"
                np.save(tmp, images)
                tmp.replace(npy)
                meta_path.write_text(json.dumps({"root": str(root), "kept": kept, "skipped": len(skipped)}))
            except OSError as e:
                warnings.warn(f"cannot cache decoded images in {cache}: {e.strerror}", stacklevel=2)
    x = torch.from_numpy(np.ascontiguousarray(images))
    y = None
    if classes:
        index = {c: i for i, c in enumerate(classes)}
        y = torch.tensor([index[rel[i].parts[0]] for i in kept], dtype=torch.int64)
    return x, y, classes


class FolderDataset(ImageDataset):
    """Images of a folder; the reference is the same images (there is no test split)."""

    reference_split = "train"


@DATASETS.register(
    "folder", options=FolderOptions, presets=image_presets("unmeasured guess: DCGAN's MNIST setting")[:1]
)
def folder(opts: FolderOptions, data_dir=None):
    """Any folder of PNG/JPEG/WebP images (folder:PATH); labels from subfolder names."""
    x, y, classes = load_folder(opts)
    ds = FolderDataset("folder", x, y, x, y, num_classes=len(classes))
    ds.classes = classes
    return ds
