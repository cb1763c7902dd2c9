"""Image datasets: MNIST, Fashion-MNIST, CIFAR-10 and Stacked-MNIST.

Every image dataset is decoded once into a uint8 tensor (N, C, H, W) in memory; training
batches index it with a seeded permutation (``TensorStream``) and become float in [-1, 1] per
batch, so there is no Python loop per image. ``reference`` draws real images of the test
split. Files come from the data directory (see :mod:`gankit.data.download`); MNIST and
Fashion-MNIST are the original gzip IDX files, CIFAR-10 the python tarball.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import importlib
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gankit.data.archive import load_plain_pickle, read_members
from gankit.data.base import DATASETS, Batch, Dataset, TensorStream
from gankit.data.download import RemoteFile, data_root, ensure_files
from gankit.errors import ConfigError, DataError
from gankit.presets import Preset

SPLITS = ("train", "test")

# --- file lists with the published checksums ------------------------------------------------
# Maintained copies of the original files, tried in order and checked against the checksums
# below: PyTorch's (torchvision's first mirror) and the CVDF's (TensorFlow's). yann.lecun.com
# refuses many clients (HTTP 403) and is not tried.
_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

IDX_FILES = {
    "mnist": [
        (
            "train-images-idx3-ubyte.gz",
            9912422,
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        ),
        (
            "train-labels-idx1-ubyte.gz",
            28881,
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "d53e105ee54ea40749a09fcbcd1e9432",
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            1648877,
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "9fb629c4189551a2d022fa330f9573f3",
        ),
        (
            "t10k-labels-idx1-ubyte.gz",
            4542,
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
    ],
    "fashion-mnist": [
        (
            "train-images-idx3-ubyte.gz",
            26421880,
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        ),
        (
            "train-labels-idx1-ubyte.gz",
            29515,
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "25c81989df183df01b3e8a0aad5dffbe",
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            4422102,
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "bef4ecab320f06d8554ea6380940ec79",
        ),
        (
            "t10k-labels-idx1-ubyte.gz",
            5148,
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ),
    ],
}
_MIRRORS = {"mnist": _MNIST_MIRRORS, "fashion-mnist": _FASHION_MIRRORS}
CIFAR10_FILE = RemoteFile(
    "cifar-10-python.tar.gz",
    170498071,
    md5="c58f30108f718f92721af3b95e74349a",
    urls=("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
)


def idx_files(name: str, split: str) -> list[RemoteFile]:
    """The (images, labels) RemoteFiles of ``name``'s ``split``."""
    prefix = "train" if split == "train" else "t10k"
    return [
        RemoteFile(f, size, sha256=sha, md5=md5, urls=tuple(m + f for m in _MIRRORS[name]))
        for f, size, sha, md5 in IDX_FILES[name]
        if f.startswith(prefix)
    ]


# --- the IDX format -------------------------------------------------------------------------
IDX_IMAGES, IDX_LABELS = 2051, 2049  # magic numbers: uint8 data with 3 or 1 dimensions


def read_idx(path: Path, magic: int, limit: int = 0) -> tuple[torch.Tensor, int]:
    """An IDX file (gzip-compressed when it ends in .gz) -> (uint8 tensor, count in the header).

    With ``limit`` only the first ``limit`` items are read; otherwise the file must hold
    exactly the items its header announces. Problems raise DataError naming the file.
    """
    path = Path(path)
    ndim = magic & 0xFF
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4 + 4 * ndim)
            if len(head) < 4:
                raise DataError(f"{path}: file is empty or truncated (no IDX header)")
            (got,) = struct.unpack(">I", head[:4])
            if got != magic:
                raise DataError(
                    f"{path}: wrong magic number {got} (0x{got:08x}), expected {magic} (0x{magic:08x}); not an IDX {'image' if ndim == 3 else 'label'} file"
                )
            if len(head) < 4 + 4 * ndim:
                raise DataError(f"{path}: truncated IDX header")
            dims = struct.unpack(f">{ndim}I", head[4:])
            count = dims[0]
            take = min(limit, count) if limit else count
            per_item = math.prod(dims[1:])
            want, parts, got = take * per_item, [], 0
            while got < want:  # in chunks: a forged header must not make one huge read
                part = f.read(min(want - got, 1 << 24))
                if not part:
                    break
                parts.append(part)
                got += len(part)
            body = b"".join(parts)
            if len(body) < take * per_item:
                raise DataError(
                    f"{path}: truncated: header says {count} items, data ends after {len(body) // max(per_item, 1)}"
                )
            if not limit and f.read(1):
                raise DataError(f"{path}: more data than the header's {count} items")
    except (gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f"{path}: corrupt gzip data ({e}); delete the file and download it again") from None
    except EOFError:
        raise DataError(f"{path}: truncated gzip file; delete the file and download it again") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    arr = np.frombuffer(body, dtype=np.uint8).reshape(take, *dims[1:])
    return torch.from_numpy(arr.copy()), count


@functools.lru_cache(maxsize=8)
def _load_idx_split_cached(
    folder: str, split: str, limit: int, stamp: tuple
) -> tuple[torch.Tensor, torch.Tensor]:
    images_path, labels_path = (Path(p) for p in stamp[0])
    images, n_images = read_idx(images_path, IDX_IMAGES, limit)
    labels, n_labels = read_idx(labels_path, IDX_LABELS, limit)
    if n_images != n_labels:
        raise DataError(f"{images_path} holds {n_images} images but {labels_path} holds {n_labels} labels")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{labels_path}: {labels.shape[0]} labels read for {images.shape[0]} images")
    if labels.numel() and int(labels.max()) > 9:
        raise DataError(f"{labels_path}: label {int(labels.max())} outside 0-9")
    return images, labels.long()


def load_idx_split(
    name: str, data_dir: str | None, split: str, limit: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 28, 28) uint8, labels (N,) int64) of MNIST or Fashion-MNIST.

    Decoded once per process (cached by path, size and modification time).
    """
    folder = data_root(data_dir) / name
    specs = idx_files(name, split)
    found = ensure_files(name, folder, specs)
    paths = [found[s.name] for s in specs]
    stamp = (tuple(str(p) for p in paths), tuple((p.stat().st_size, p.stat().st_mtime_ns) for p in paths))
    return _load_idx_split_cached(str(folder), split, limit, stamp)


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
    limit: int = 0  # use only the first N images of each split (0: all)

    def check(self):
        if self.split not in SPLITS:
            raise ConfigError(f"split={self.split!r}; choose one of: {', '.join(SPLITS)}")
        if not 8 <= self.image_size <= 1024:
            raise ConfigError(f"image_size={self.image_size}; allowed: 8 to 1024")
        if self.limit < 0:
            raise ConfigError(f"limit={self.limit}; allowed: 0 (all) or a positive count")


def _mnist_family(key: str, opts: MNISTOptions, data_dir) -> ImageDataset:
    train_x, train_y = load_idx_split(key, data_dir, opts.split, opts.limit)
    ref_x, ref_y = load_idx_split(key, data_dir, "test", opts.limit)
    train_x = fit_size(train_x.unsqueeze(1), opts.image_size, pad_ok=True)
    ref_x = fit_size(ref_x.unsqueeze(1), opts.image_size, pad_ok=True)
    return ImageDataset(key, train_x, train_y, ref_x, ref_y, num_classes=10)


# Budget of the image presets: 14 minutes of wall time, the schedule fitted to it.
CPU_BUDGET_S = 840.0
DCGAN_ROW = (
    "benchmarks/results/dcgan_mnist_ns_15min.json (ns, batch 64, constant lr: fid_lenet 4.96, class KL 0.069 "
    "at 14.2 CPU min); with the decay over 14 minutes: benchmarks/results/defaults_mnist.json (seed 0 at load "
    "average 11: 1,494 steps in 14.8 min, fid_lenet 11.7, class KL 0.20)"
)
# The plain ns preset of an image dataset: DCGAN 28-64 px, batch 64, the decay fitted to 14 minutes.
DCGAN_PLAIN = {
    "model": "dcgan",
    "loss": "ns",
    "batch_size": 64,
    "steps": 8000,
    "max_wall_s": CPU_BUDGET_S,
    "lr_schedule": "linear-decay",
    "decay_start": 0.5,
    "eval_every": 1000,
}
# MNIST-like 28x28 grayscale: the networks of Lucic et al. 2018 (InfoGAN's MNIST networks) with
# InfoGAN's optimizer (G 1e-3, D 2e-4, batch 128). Measured against DCGAN on the idle 2-core
# machine: DCGAN's preset reached fid_lenet 5.91, class KL 0.085 in 8,000 steps (597 s); these
# networks fid_lenet 2.6, class KL 0.02 after 500 steps at one thread.
LUCIC_PLAIN = {
    "model": "lucic",
    "loss": "ns",
    "batch_size": 128,
    "lr_g": 1e-3,
    "lr_d": 2e-4,
    "steps": 10000,  # an upper bound: the 14-minute budget decides
    "max_wall_s": CPU_BUDGET_S,
    "lr_schedule": "linear-decay",
    "decay_start": 0.5,
    "eval_every": 500,
}
LUCIC_ROW = (
    "benchmarks/results/defaults_mnist.json (lucic, 14 minutes: fid_lenet and class KL per seed) and "
    "defaults_mnist_dcgan.json (DCGAN's preset on the idle machine: fid_lenet 5.91, class KL 0.085)"
)

R3GAN_ROW = "benchmarks/results/defaults_mnist_rpgan.json (one 14-minute run)"


def image_presets(source: str, plain: dict | None = None) -> tuple[Preset, ...]:
    """Presets of an image dataset, per recipe and objective; ``plain`` is the plain ns preset
    (default: DCGAN's), ``source`` names what measured it."""
    plain = plain or DCGAN_PLAIN
    when_ns = {"recipe": "plain", "loss": "ns"}
    extra = ()
    if plain is not DCGAN_PLAIN:
        # R3GAN's loss (its optimizer and R1 = R2 = 0.1 are the objective's defaults) on the
        # same networks and schedule; DCGAN's own preset when asked for.
        r3gan = {k: v for k, v in plain.items() if k not in ("loss", "lr_g", "lr_d")}
        extra = (
            Preset(r3gan, R3GAN_ROW, {"recipe": "plain", "loss": "rpgan", "model": plain["model"]}),
            Preset(DCGAN_PLAIN, DCGAN_ROW, {**when_ns, "model": "dcgan"}),
        )
    return (
        Preset(plain, source, {**when_ns, "model": plain["model"]}),
        *extra,
        # InfoGAN's paper networks (its own preset sets the optimizer and the budget).
        Preset({"model": "lucic"}, "benchmarks/results/infogan_mnist_lucic*.json", {"recipe": "infogan"}),
        Preset({"data.image_size": 32}, "progan grows by doubling from 4x4", {"recipe": "progressive"}),
        # BEGAN's best CPU-scale setting (docs/began_progan.md): gamma 1 keeps its k control engaged.
        Preset(
            {
                "model": "began",
                "data.image_size": 32,
                "loss.gamma": 1.0,
                "loss.lambda_k": 0.001,
                "max_wall_s": CPU_BUDGET_S,
                "steps": 20000,
            },
            "docs/began_progan.md (gamma 1, lambda_k 0.001, batch 16: mode dropping, fid_lenet 104-108 "
            "after 40 min); 14-minute budget unmeasured",
            {"recipe": "plain", "loss": "began"},
        ),
        # Other objectives: the image model, and the same wall budget, so that no default run
        # on a CPU takes more than 14 minutes (3,000 steps of wgan-gp would take hours).
        Preset(
            {"model": "dcgan", "max_wall_s": CPU_BUDGET_S},
            "unmeasured guess: the image model and the CPU budget for other objectives",
            {"recipe": "plain"},
        ),
    )


@DATASETS.register("mnist", options=MNISTOptions, presets=image_presets(LUCIC_ROW, LUCIC_PLAIN))
def mnist(opts: MNISTOptions, data_dir=None):
    """MNIST handwritten digits, 28x28 grayscale, 10 classes (original IDX files)."""
    return _mnist_family("mnist", opts, data_dir)


@DATASETS.register(
    "fashion-mnist",
    options=MNISTOptions,
    presets=image_presets("benchmarks/results/defaults_fashion-mnist.json (MNIST's preset)", LUCIC_PLAIN),
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
    ref_x, ref_y = load_idx_split("mnist", data_dir, "test", opts.limit)
    train_x = fit_size(train_x.unsqueeze(1), opts.image_size, pad_ok=True)[:, 0]
    ref_x = fit_size(ref_x.unsqueeze(1), opts.image_size, pad_ok=True)[:, 0]
    return StackedMNIST(train_x, train_y, ref_x, ref_y, opts.size)


# --- CIFAR-10 ---------------------------------------------------------------------------------
@dataclasses.dataclass
class CifarOptions:
    image_size: int = 32  # 32: native; others: resized
    split: str = "train"  # the training split: train | test (the reference is always test)
    limit: int = 0  # use only the first N images of each split (0: all)

    check = MNISTOptions.check


CIFAR_DIR = "cifar-10-batches-py"


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
    ref_x, ref_y = load_cifar10(data_dir, "test", opts.limit)
    return ImageDataset(
        "cifar10",
        fit_size(train_x, opts.image_size),
        train_y,
        fit_size(ref_x, opts.image_size),
        ref_y,
        num_classes=10,
    )
