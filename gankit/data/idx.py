"""MNIST and Fashion-MNIST files: the published file lists with their checksums and mirrors,
and the IDX format they are stored in (gzip; big-endian magic, dimensions, uint8 data).
Used by the image datasets (``gankit/data/images.py``) and the LeNet metrics."""

from __future__ import annotations

import functools
import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from gankit.data.download import RemoteFile, data_root, ensure_files
from gankit.errors import DataError

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
