"""Image datasets: MNIST, Fashion-MNIST, CIFAR-10 and Stacked-MNIST.

Every image dataset is decoded once into a uint8 tensor (N, C, H, W) in memory; training
batches index it with a seeded permutation (``TensorStream``) and become float in [-1, 1] per
batch, so there is no Python loop per image. ``reference`` draws real images of the test
split. Files come from the data directory (see :mod:`gankit.data.download`); MNIST and
Fashion-MNIST are the original gzip IDX files, CIFAR-10 the python tarball.
"""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import torch
import torch.nn.functional as F

from gankit.data.archive import load_plain_pickle, read_members
from gankit.data.base import DATASETS, Batch, Dataset, TensorStream
from gankit.data.download import RemoteFile, data_root, ensure_files

# The IDX files and their reader live in gankit/data/idx.py; these names are used from here too.
from gankit.data.idx import (  # noqa: F401
    IDX_FILES,
    IDX_IMAGES,
    IDX_LABELS,
    SPLITS,
    idx_files,
    load_idx_split,
    read_idx,
)
from gankit.data.image_presets import LUCIC_PLAIN, LUCIC_ROW, image_presets
from gankit.errors import ConfigError, DataError


# --- sizes ----------------------------------------------------------------------------------
def fit_size(x: torch.Tensor, size: int, pad_ok: bool = False) -> torch.Tensor:
    """uint8 (N, C, H, W) -> (N, C, size, size).

    ``pad_ok``: enlarging by at most 4 px pads with zeros (MNIST 28 -> 32 keeps the digit's
    pixels); other changes resize with antialiased bilinear interpolation, in chunks.
    """
    h = x.shape[-1]
    if size == h:
        return x
    if pad_ok and 0 < size - h <= 4:
        lo = (size - h) // 2
        return F.pad(x, (lo, size - h - lo, lo, size - h - lo))
    out = torch.empty(x.shape[0], x.shape[1], size, size, dtype=torch.uint8)
    for i in range(0, x.shape[0], 4096):
        part = x[i : i + 4096].float()
        part = F.interpolate(part, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out[i : i + 4096] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]. Two kernels: true division of uint8 yields float32,
    bit for bit what ``x.float() / 127.5`` gives."""
    return torch.div(x, 127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255] (clamped)."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round_().to(torch.uint8)


# --- the dataset ----------------------------------------------------------------------------
class ImageDataset(Dataset):
    """Training images (N, C, H, W) uint8 and a reference split, with optional labels."""

    kind = "images"
    default_z_dim = 100
    reference_split = "test"

    def __init__(
        self,
        key: str,
        train_x: torch.Tensor,
        train_y: torch.Tensor | None,
        ref_x: torch.Tensor,
        ref_y: torch.Tensor | None,
        num_classes: int = 0,
    ):
        self.key = key  # the registered name ("mnist", "folder", ...)
        self.name = key
        self.train_x, self.train_y = train_x, train_y
        self.ref_x, self.ref_y = ref_x, ref_y
        self.num_classes = num_classes if train_y is not None else 0
        self.sample_shape = tuple(self.image_shape())

    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])

    def __len__(self) -> int:
        return self.train_x.shape[0]

    def train_tensors(self) -> dict[str, torch.Tensor]:
        out = {"x": self.train_x}
        if self.train_y is not None:
            out["y"] = self.train_y
        return out

    def images(self, rows: torch.Tensor, reference: bool = False) -> torch.Tensor:
        """Stored rows of a batch -> float images (B, C, H, W) in [-1, 1]."""
        return to_float(rows)

    def decode(self, parts: dict[str, torch.Tensor], gen=None) -> dict[str, torch.Tensor]:
        """The training stream's transform: stored rows -> float images."""
        parts["x"] = self.images(parts["x"])
        return parts

    def stream(self, batch_size, seed, rank=0, world_size=1):
        n_shard = len(self) // world_size
        if n_shard < batch_size:
            raise ConfigError(
                f"dataset {self.name} has {len(self)} training images ({n_shard} per process); "
                f"batch_size={batch_size} needs at least that many"
            )
        return TensorStream(self.train_tensors(), batch_size, seed, rank, world_size, transform=self.decode)

    def reference(self, n, seed=0):
        """``n`` images of the reference split in a seeded order (repeating when n > its size)."""
        total = self.ref_x.shape[0]
        gen = torch.Generator().manual_seed(20_011 + seed)
        idx = torch.cat([torch.randperm(total, generator=gen) for _ in range(-(-n // total))])[:n]
        y = None if self.ref_y is None else self.ref_y[idx]
        return Batch(self.images(self.ref_x[idx], reference=True), y)

    def evaluate(self, fake, labels=None):
        try:
            image_metrics = importlib.import_module("gankit.metrics.images")
        except ModuleNotFoundError as e:  # the image metrics are optional until installed
            if e.name != "gankit.metrics.images":
                raise
            return {}
        real = self.reference(fake.shape[0]).x
        return image_metrics.evaluate_images(
            self.key, fake, real, labels, reference_split=self.reference_split
        )

    def main_metric(self):
        main = {"mnist": "fid_lenet", "fashion-mnist": "fid_lenet", "stacked-mnist": "modes_stacked"}
        return main.get(self.key, "kid_pixels16")  # folders, CIFAR-10: no trained classifier


# --- MNIST and Fashion-MNIST ------------------------------------------------------------------
@dataclasses.dataclass
class MNISTOptions:
    image_size: int = 28  # 28: native; 32: padded by 2 px of background; others: resized
    split: str = "train"  # the training split: train | test (the reference is always test)
    # Use only the first N training images (0: all): small-data runs are scored against the
    # whole test split unless test_limit cuts it too (fast smoke runs).
    limit: int = 0
    test_limit: int = 0  # use only the first N images of the test split, the reference (0: all)

    def check(self):
        if self.split not in SPLITS:
            raise ConfigError(f"split={self.split!r}; choose one of: {', '.join(SPLITS)}")
        if not 8 <= self.image_size <= 1024:
            raise ConfigError(f"image_size={self.image_size}; allowed: 8 to 1024")
        for name in ("limit", "test_limit"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)}; allowed: 0 (all) or a positive count")


def _mnist_family(key: str, opts: MNISTOptions, data_dir) -> ImageDataset:
    train_x, train_y = load_idx_split(key, data_dir, opts.split, opts.limit)
    ref_x, ref_y = load_idx_split(key, data_dir, "test", opts.test_limit)
    train_x = fit_size(train_x.unsqueeze(1), opts.image_size, pad_ok=True)
    ref_x = fit_size(ref_x.unsqueeze(1), opts.image_size, pad_ok=True)
    return ImageDataset(key, train_x, train_y, ref_x, ref_y, num_classes=10)


@DATASETS.register("mnist", options=MNISTOptions, presets=image_presets(LUCIC_ROW, LUCIC_PLAIN))
def mnist(opts: MNISTOptions, data_dir=None):
    """MNIST handwritten digits, 28x28 grayscale, 10 classes (original IDX files)."""
    return _mnist_family("mnist", opts, data_dir)


@DATASETS.register(
    "fashion-mnist",
    options=MNISTOptions,
    presets=image_presets(
        "benchmarks/results/defaults_fashion-mnist.json (MNIST's preset; seed 0, one thread beside another run: "
        "1,631 steps in 807 s, fid_lenet 0.85, class KL 0.007)",
        LUCIC_PLAIN,
    ),
)
def fashion_mnist(opts: MNISTOptions, data_dir=None):
    """Fashion-MNIST clothing images, 28x28 grayscale, 10 classes (original IDX files)."""
    return _mnist_family("fashion-mnist", opts, data_dir)


# --- Stacked MNIST ----------------------------------------------------------------------------
STACKED_SEED = 8_675_309


@dataclasses.dataclass
class StackedOptions(MNISTOptions):
    size: int = 0  # number of stacked images per split (0: as many as the MNIST split)


class StackedMNIST(ImageDataset):
    """Three MNIST digits as the R, G, B channels; label 100*d_R + 10*d_G + d_B (1,000 modes).

    Stores each split's MNIST digits (N, S, S) and index triplets (M, 3); a batch gathers
    its digits with one indexing operation.
    """

    def __init__(self, digits, digit_labels, ref_digits, ref_digit_labels, size: int):
        self.digits, self.ref_digits = digits, ref_digits
        self._tables: dict = {}  # (device, reference) -> the digit table on that device
        self.triplets, y = stack_triplets(digit_labels, size or len(digit_labels), STACKED_SEED)
        self.ref_triplets, ref_y = stack_triplets(
            ref_digit_labels, size or len(ref_digit_labels), STACKED_SEED + 1
        )
        super().__init__("stacked-mnist", self.triplets, y, self.ref_triplets, ref_y, num_classes=1000)

    def image_shape(self):
        return (3, *self.digits.shape[1:])

    def images(self, rows, reference=False):
        digits = self.ref_digits if reference else self.digits
        if digits.device != rows.device:
            # GPU-resident triplets (the training stream moves them): gather on that device from
            # a copy of the digit table made once, not by sending each batch's rows back
            key = (rows.device, reference)
            if key not in self._tables:
                self._tables[key] = digits.to(rows.device)
            digits = self._tables[key]
        return to_float(digits[rows])  # (B, 3) indices -> (B, 3, S, S)


def stack_triplets(labels: torch.Tensor, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` seeded triplets of digit indices (size, 3) and their labels 100 a + 10 b + c."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(labels), (size, 3), generator=gen)
    d = labels[idx]  # (size, 3)
    return idx, 100 * d[:, 0] + 10 * d[:, 1] + d[:, 2]


@DATASETS.register(
    "stacked-mnist",
    options=StackedOptions,
    presets=image_presets("unmeasured guess: DCGAN's MNIST setting")[:1],
)
def stacked_mnist(opts: StackedOptions, data_dir=None):
    """Stacked MNIST: three MNIST digits as RGB channels, 1,000 classes (mode-collapse benchmark)."""
    if opts.size < 0:
        raise ConfigError(f"size={opts.size}; allowed: 0 (as many as MNIST) or a positive count")
    train_x, train_y = load_idx_split("mnist", data_dir, opts.split, opts.limit)
    ref_x, ref_y = load_idx_split("mnist", data_dir, "test", opts.test_limit)
    train_x = fit_size(train_x.unsqueeze(1), opts.image_size, pad_ok=True)[:, 0]
    ref_x = fit_size(ref_x.unsqueeze(1), opts.image_size, pad_ok=True)[:, 0]
    return StackedMNIST(train_x, train_y, ref_x, ref_y, opts.size)


# --- CIFAR-10 ---------------------------------------------------------------------------------
@dataclasses.dataclass
class CifarOptions:
    image_size: int = 32  # 32: native; others: resized
    split: str = "train"  # the training split: train | test (the reference is always test)
    limit: int = 0  # use only the first N training images (0: all)
    test_limit: int = 0  # use only the first N images of the test split, the reference (0: all)

    check = MNISTOptions.check


CIFAR_DIR = "cifar-10-batches-py"
CIFAR10_FILE = RemoteFile(
    "cifar-10-python.tar.gz",
    170498071,
    md5="c58f30108f718f92721af3b95e74349a",
    urls=("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
)


def load_cifar10(data_dir, split: str, limit: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 3, 32, 32) uint8, labels (N,) int64) of a CIFAR-10 split.

    Reads the python batches from the extracted folder ``cifar10/cifar-10-batches-py`` when
    present, else straight from ``cifar10/cifar-10-python.tar.gz`` (checked member by member).
    """
    folder = data_root(data_dir) / "cifar10"
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    extracted = folder / CIFAR_DIR
    if all((extracted / n).is_file() for n in names):
        blobs = {n: (extracted / n).read_bytes() for n in names}
        where = extracted
    else:
        tar = ensure_files("cifar10", folder, [CIFAR10_FILE])[CIFAR10_FILE.name]
        members = read_members(tar, [f"{CIFAR_DIR}/{n}" for n in names])
        blobs = {n: members[f"{CIFAR_DIR}/{n}"] for n in names}
        where = tar
    xs, ys = [], []
    for n in names:
        batch = load_plain_pickle(blobs[n], f"{where}/{n}")
        data = batch.get(b"data") if isinstance(batch, dict) else None
        labels = batch.get(b"labels") if isinstance(batch, dict) else None
        if (
            not isinstance(data, np.ndarray)
            or data.dtype != np.uint8
            or data.ndim != 2
            or data.shape[1] != 3072
        ):
            raise DataError(f"{where}/{n}: expected a uint8 array of shape (N, 3072) under 'data'")
        if labels is None or len(labels) != data.shape[0]:
            raise DataError(
                f"{where}/{n}: {0 if labels is None else len(labels)} labels for {data.shape[0]} images"
            )
        xs.append(torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()))
        ys.append(torch.as_tensor(np.asarray(labels, dtype=np.int64)))
    x, y = torch.cat(xs), torch.cat(ys)
    if y.numel() and (int(y.min()) < 0 or int(y.max()) > 9):
        raise DataError(f"{where}: labels outside 0-9")
    return (x[:limit], y[:limit]) if limit else (x, y)


@DATASETS.register(
    "cifar10", options=CifarOptions, presets=image_presets("unmeasured guess: DCGAN's MNIST setting")[:1]
)
def cifar10(opts: CifarOptions, data_dir=None):
    """CIFAR-10: 32x32 colour images of 10 classes (the python tarball)."""
    train_x, train_y = load_cifar10(data_dir, opts.split, opts.limit)
    ref_x, ref_y = load_cifar10(data_dir, "test", opts.test_limit)
    return ImageDataset(
        "cifar10",
        fit_size(train_x, opts.image_size),
        train_y,
        fit_size(ref_x, opts.image_size),
        ref_y,
        num_classes=10,
    )
