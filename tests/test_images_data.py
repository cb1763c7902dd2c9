"""Image datasets: IDX files, CIFAR tarballs, folders, Stacked-MNIST, downloads (all offline)."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
import urllib.error
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data import build_dataset
from gankit.data import download as dl
from gankit.data.archive import load_plain_pickle, safe_extract
from gankit.data.images import IDX_IMAGES, IDX_LABELS, read_idx
from gankit.errors import ConfigError, DataError

# Counts from shared/data/README.md.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def no_network_and_tmp_cache(monkeypatch, tmp_path):
    def refuse(*a, **k):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(dl.urllib.request, "urlopen", refuse)
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))


# --- MNIST / Fashion-MNIST on the shared files -------------------------------------------------
def test_idx_labels_match_published_counts(data_dir):
    for name, counts in (("train", MNIST_TRAIN_COUNTS), ("t10k", MNIST_TEST_COUNTS)):
        labels, n = read_idx(data_dir / "mnist" / f"{name}-labels-idx1-ubyte.gz", IDX_LABELS)
        assert n == sum(counts)
        assert torch.bincount(labels.long(), minlength=10).tolist() == counts
    labels, _ = read_idx(data_dir / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz", IDX_LABELS)
    assert torch.bincount(labels.long()).tolist() == [1000] * 10


def test_mnist_dataset_first_items_and_pixels(data_dir):
    ds = build_dataset("mnist", {"limit": 1000}, str(data_dir))
    assert ds.kind == "images" and ds.sample_shape == (1, 28, 28) and ds.num_classes == 10
    assert ds.default_z_dim == 100 and ds.main_metric() == "fid_lenet"
    # limit cuts the training split only: the reference is the whole test split unless test_limit
    assert len(ds) == 1000 and ds.ref_x.shape == (10000, 1, 28, 28)
    cut = build_dataset("mnist", {"limit": 1000, "test_limit": 500}, str(data_dir))
    assert cut.ref_x.shape == (500, 1, 28, 28) and torch.equal(cut.ref_x, ds.ref_x[:500])
    with pytest.raises(ConfigError, match="test_limit=-1; allowed: 0"):
        build_dataset("mnist", {"test_limit": -1}, str(data_dir))
    # The first ten training labels of MNIST, as printed in countless tutorials.
    assert ds.train_y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    # Header count 60000 although only 1000 images were read.
    images, n = read_idx(data_dir / "mnist" / "train-images-idx3-ubyte.gz", IDX_IMAGES, limit=1000)
    assert n == 60000 and images.shape == (1000, 28, 28) and images.dtype == torch.uint8
    assert torch.equal(images, ds.train_x[:, 0])
    # The MNIST pixel mean and std quoted everywhere (0.1307, 0.3081) over the full train set.
    full, _ = read_idx(data_dir / "mnist" / "train-images-idx3-ubyte.gz", IDX_IMAGES)
    x = full.double() / 255
    assert x.mean().item() == pytest.approx(0.1307, abs=5e-5)
    assert x.std().item() == pytest.approx(0.3081, abs=5e-5)


def test_stream_batches_are_floats_and_resume_exactly(data_dir):
    ds = build_dataset("fashion-mnist", {"limit": 256}, str(data_dir))
    stream = ds.stream(32, seed=3)
    b = stream.next()
    assert b.x.shape == (32, 1, 28, 28) and b.x.dtype == torch.float32 and b.y.shape == (32,)
    assert b.x.min() >= -1 and b.x.max() <= 1
    # Pixels map to 2 * p / 255 - 1 exactly.
    idx = [int(torch.nonzero((ds.train_x.float() / 127.5 - 1 == b.x[0]).flatten(1).all(1))[0])]
    assert ds.train_y[idx[0]] == b.y[0]
    state = stream.state_dict()
    after = [stream.next() for _ in range(9)]  # crosses an epoch boundary (256 / 32 = 8)
    stream.load_state_dict(state)
    again = [stream.next() for _ in range(9)]
    assert all(torch.equal(a.x, c.x) and torch.equal(a.y, c.y) for a, c in zip(after, again, strict=True))
    ref = ds.reference(300, seed=1)
    assert ref.x.shape == (300, 1, 28, 28) and torch.equal(ref.x, ds.reference(300, seed=1).x)


def test_mnist_32_pads_with_background(data_dir):
    small = build_dataset("mnist", {"limit": 64}, str(data_dir))
    big = build_dataset("mnist", {"limit": 64, "image_size": 32}, str(data_dir))
    assert big.sample_shape == (1, 32, 32)
    assert torch.equal(big.train_x[:, :, 2:30, 2:30], small.train_x)
    border = big.train_x.clone()
    border[:, :, 2:30, 2:30] = 0
    assert int(border.max()) == 0
    # Other sizes resize with antialiasing, which keeps each image's mean ink (area average).
    half = build_dataset("mnist", {"limit": 64, "image_size": 14}, str(data_dir))
    torch.testing.assert_close(
        half.train_x.float().mean((1, 2, 3)), small.train_x.float().mean((1, 2, 3)), atol=1.0, rtol=0.01
    )


def test_stacked_mnist_labels_come_from_the_channel_digits(data_dir):
    ds = build_dataset("stacked-mnist", {"limit": 300, "size": 500}, str(data_dir))
    assert ds.sample_shape == (3, 28, 28) and ds.num_classes == 1000 and len(ds) == 500
    digits = build_dataset("mnist", {"limit": 300}, str(data_dir))
    flat = digits.train_x.flatten(1).float() / 127.5 - 1  # (300, 784)
    b = ds.stream(20, seed=0).next()
    for x, y in zip(b.x, b.y, strict=True):
        d = []
        for c in range(3):
            match = torch.nonzero((flat == x[c].flatten()).all(1))[0, 0]
            d.append(int(digits.train_y[match]))
        assert int(y) == 100 * d[0] + 10 * d[1] + d[2]
    again = build_dataset("stacked-mnist", {"limit": 300, "size": 500}, str(data_dir))
    assert torch.equal(again.train_y, ds.train_y)  # fixed seeded construction
    assert ds.reference(8).x.shape == (8, 3, 28, 28)


# --- corrupt IDX files -------------------------------------------------------------------------
def idx_bytes(magic: int, dims: tuple[int, ...], data: bytes) -> bytes:
    return struct.pack(f">I{len(dims)}I", magic, *dims) + data


def write_mnist(folder, n_img=5, n_lab=5, img_magic=IDX_IMAGES, body_items=None, raw_images=None):
    folder.mkdir(parents=True, exist_ok=True)
    body_items = n_img if body_items is None else body_items
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        imgs = idx_bytes(
            img_magic, (n_img, 28, 28), rng.integers(0, 256, body_items * 784, dtype=np.uint8).tobytes()
        )
        labs = idx_bytes(IDX_LABELS, (n_lab,), bytes(i % 10 for i in range(n_lab)))
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            raw_images if raw_images is not None else gzip.compress(imgs)
        )
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labs))


def test_small_valid_idx_files_load(tmp_path):
    write_mnist(tmp_path / "mnist")
    ds = build_dataset("mnist", {}, str(tmp_path))
    assert ds.train_x.shape == (5, 1, 28, 28) and ds.train_y.tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        ({"img_magic": 2049 + 0x100}, "wrong magic number"),
        ({"body_items": 3}, "truncated"),
        ({"body_items": 6}, "more data than"),
        ({"n_lab": 4}, "labels"),
        ({"raw_images": b"this is not gzip at all"}, "gzip"),
        (
            {
                "raw_images": gzip.compress(idx_bytes(IDX_IMAGES, (5, 28, 28), np.random.bytes(5 * 784)))[
                    :2000
                ]
            },
            "truncated",
        ),
        ({"raw_images": b""}, "empty"),
    ],
)
def test_corrupt_idx_files_name_the_file(tmp_path, kwargs, problem):
    write_mnist(tmp_path / "mnist", **kwargs)
    with pytest.raises(DataError) as e:
        build_dataset("mnist", {}, str(tmp_path))
    msg = str(e.value)
    assert problem in msg
    assert "idx3-ubyte.gz" in msg or "idx1-ubyte.gz" in msg


def test_bad_options_are_config_errors(data_dir):
    with pytest.raises(ConfigError, match="split"):
        build_dataset("mnist", {"split": "val"}, str(data_dir))
    with pytest.raises(ConfigError, match="valid options"):
        build_dataset("mnist", {"colour": 3}, str(data_dir))


# --- downloads (urllib mocked) -----------------------------------------------------------------
class FakeResponse(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def test_download_verifies_checksums(tmp_path, monkeypatch):
    good = b"gankit test payload" * 100
    spec = dl.RemoteFile(
        "f.bin",
        len(good),
        sha256=hashlib.sha256(good).hexdigest(),
        md5=hashlib.md5(good).hexdigest(),
        urls=("https://mirror-a/f.bin", "https://mirror-b/f.bin"),
    )
    served = {"https://mirror-a/f.bin": good[:-1] + b"X", "https://mirror-b/f.bin": good}
    calls = []

    def urlopen(req, timeout=None):
        calls.append(req.full_url)
        return FakeResponse(served[req.full_url])

    monkeypatch.setattr(dl.urllib.request, "urlopen", urlopen)
    found = dl.ensure_files("toy", tmp_path / "toy", [spec])
    assert calls == ["https://mirror-a/f.bin", "https://mirror-b/f.bin"]  # bad checksum -> next mirror
    assert found["f.bin"].read_bytes() == good
    assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == ["f.bin"]  # no partial file left

    served["https://mirror-b/f.bin"] = good[:-1] + b"Y"
    with pytest.raises(DataError, match="checksum mismatch"):
        dl.ensure_files("toy", tmp_path / "toy2", [spec])
    assert not (tmp_path / "toy2" / "f.bin").exists()


def test_offline_message_names_files_place_and_checksums(tmp_path, monkeypatch):
    def offline(req, timeout=None):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(dl.urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as e:
        build_dataset("mnist", {}, str(tmp_path))
    msg = str(e.value)
    assert str(tmp_path / "mnist") in msg and "name resolution" in msg
    assert "train-images-idx3-ubyte.gz" in msg and "train-labels-idx1-ubyte.gz" in msg
    assert "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609" in msg
    assert "9912422 bytes" in msg


def test_data_dir_falls_back_to_env_then_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "env"))
    assert dl.data_root(None) == tmp_path / "env"
    assert dl.data_root(str(tmp_path / "given")) == tmp_path / "given"
    monkeypatch.delenv("GANKIT_DATA")
    assert dl.data_root(None) == tmp_path / "cache"


# --- CIFAR-10 tarball and archive safety ---------------------------------------------------------
def add_member(tar, name, data: bytes):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def cifar_batch(n: int, first_label: int) -> bytes:
    data = np.zeros((n, 3072), np.uint8)
    data[:, :1024] = 255  # red channel full, green and blue zero
    data[:, 2048 + 5] = 7  # blue channel, row 0, column 5
    return pickle.dumps({b"data": data, b"labels": [(first_label + i) % 10 for i in range(n)]}, protocol=2)


def write_cifar(folder, extra=None):
    folder.mkdir(parents=True)
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as tar:
        for i in range(1, 6):
            add_member(tar, f"cifar-10-batches-py/data_batch_{i}", cifar_batch(4, i))
        add_member(tar, "cifar-10-batches-py/test_batch", cifar_batch(3, 0))
        if extra:
            extra(tar)


def test_cifar10_from_tarball(tmp_path):
    write_cifar(tmp_path / "cifar10")
    ds = build_dataset("cifar10", {}, str(tmp_path))
    assert ds.sample_shape == (3, 32, 32) and len(ds) == 20 and ds.ref_x.shape == (3, 3, 32, 32)
    assert ds.train_y[:5].tolist() == [1, 2, 3, 4, 2]
    x = ds.reference(3).x
    assert torch.all(x[:, 0] == 1) and torch.all(x[:, 1] == -1)
    assert x[0, 2, 0, 5].item() == pytest.approx(7 / 127.5 - 1)
    assert build_dataset("cifar10", {"limit": 6}, str(tmp_path)).train_x.shape[0] == 6


def test_tar_with_escaping_member_or_link_is_refused(tmp_path):
    write_cifar(tmp_path / "a" / "cifar10", extra=lambda tar: add_member(tar, "../evil.txt", b"x"))
    with pytest.raises(DataError, match="escapes"):
        build_dataset("cifar10", {}, str(tmp_path / "a"))

    def link(tar):
        info = tarfile.TarInfo("cifar-10-batches-py/link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)

    write_cifar(tmp_path / "b" / "cifar10", extra=link)
    with pytest.raises(DataError, match="link"):
        safe_extract(tmp_path / "b" / "cifar10" / "cifar-10-python.tar.gz", tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))
    write_cifar(tmp_path / "c" / "cifar10")
    files = safe_extract(tmp_path / "c" / "cifar10" / "cifar-10-python.tar.gz", tmp_path / "ok")
    assert len(files) == 6 and all(str(f).startswith(str((tmp_path / "ok").resolve())) for f in files)


class Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickles_that_would_run_code_are_refused():
    with pytest.raises(DataError, match="refusing to load .*print"):
        load_plain_pickle(pickle.dumps({b"data": Exploit()}, protocol=2), "batch")


# --- folders of images ---------------------------------------------------------------------------
def make_folder(root):
    (root / "cats").mkdir(parents=True)
    (root / "dogs").mkdir()
    half = np.zeros((20, 40, 3), np.uint8)
    half[:, 20:] = 255  # left half black, right half white
    Image.fromarray(half).save(root / "cats" / "halves.png")
    Image.fromarray(np.full((24, 24, 3), (0, 0, 255), np.uint8)).save(root / "cats" / "blue.jpg", quality=95)
    Image.new("RGBA", (10, 10), (255, 0, 0, 0)).save(root / "dogs" / "transparent.png")  # invisible red
    pal = Image.new("P", (12, 12), 1)
    pal.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    pal.save(root / "dogs" / "palette.png")
    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(root / "dogs" / "white16.png")
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(root / "dogs" / "grey.webp", lossless=True)
    (root / "dogs" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 9, np.uint8)).save(buf, format="PNG")
    (root / "dogs" / "truncated.png").write_bytes(buf.getvalue()[:60])
    (root / "dogs" / "notes.txt").write_text("not an image")


def test_folder_dataset_converts_labels_and_skips_unreadable(tmp_path):
    make_folder(tmp_path / "imgs")
    with pytest.warns(UserWarning, match="skipped 2 of 8 unreadable"):
        ds = build_dataset(f"folder:{tmp_path / 'imgs'}", {"image_size": 16}, None)
    assert ds.sample_shape == (3, 16, 16) and len(ds) == 6
    assert ds.classes == ["cats", "dogs"] and ds.num_classes == 2
    # sorted: cats/blue.jpg, cats/halves.png | dogs/grey.webp, palette, transparent, white16
    assert ds.train_y.tolist() == [0, 0, 1, 1, 1, 1]
    blue, halves, grey, palette, transparent, white16 = ds.train_x.int()
    assert torch.all(halves[:, :, :7] == 0) and torch.all(halves[:, :, 9:] == 255)  # centre crop of 32x16
    assert abs(blue[2].float().mean() - 255) < 3 and blue[0].float().mean() < 3
    assert torch.all(grey == 90)
    assert torch.all(palette[0] == 0) and torch.all(palette[1] == 200) and torch.all(palette[2] == 0)
    assert torch.all(transparent == 255)  # composited on white
    assert torch.all(white16 == 255)  # 16-bit full scale -> 255

    with pytest.warns(UserWarning, match="skipped 2 of 8"):
        gray = build_dataset(
            f"folder:{tmp_path / 'imgs'}", {"image_size": 8, "channels": 1, "background": "black"}, None
        )
    assert gray.sample_shape == (1, 8, 8)
    assert torch.all(gray.train_x[4] == 0)  # transparent on black


def test_folder_decode_is_cached(tmp_path, monkeypatch):
    from gankit.data import folder as folder_mod

    root = tmp_path / "flat"
    root.mkdir()
    for i in range(3):
        Image.fromarray(np.full((9, 9), 40 * i, np.uint8)).save(root / f"{i}.png")
    first = build_dataset(f"folder:{root}", {"image_size": 8}, None)
    assert first.num_classes == 0 and first.train_y is None
    monkeypatch.setattr(folder_mod, "decode_folder", lambda *a: pytest.fail("decoded again"))
    second = build_dataset(f"folder:{root}", {"image_size": 8}, None)
    assert torch.equal(first.train_x, second.train_x)
    assert len(list((tmp_path / "cache" / "folders").glob("*.npy"))) == 1


def test_folder_refuses_empty_or_unreadable_and_bombs_are_skipped(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no PNG, JPEG or WebP"):
        build_dataset(f"folder:{tmp_path / 'empty'}", {}, None)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"nope")
    with pytest.raises(DataError, match="none of the 1 image files"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build_dataset(f"folder:{tmp_path / 'bad'}", {}, None)
    with pytest.raises(DataError, match="does not exist"):
        build_dataset(f"folder:{tmp_path / 'missing'}", {}, None)
    with pytest.raises(ConfigError, match="folder:PATH"):
        build_dataset("folder", {}, None)

    bombs = tmp_path / "bombs"
    bombs.mkdir()
    Image.new("L", (15, 10), 1).save(bombs / "warns.png")  # 150 px: over the limit (warning)
    Image.new("L", (30, 30), 2).save(bombs / "errors.png")  # 900 px: over twice the limit (error)
    Image.new("L", (8, 8), 3).save(bombs / "small.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.warns(UserWarning, match="skipped 2 of 3"):
        ds = build_dataset(f"folder:{bombs}", {"image_size": 8, "channels": 1, "cache": False}, None)
    assert len(ds) == 1 and torch.all(ds.train_x == 3)


def test_folder_decode_in_worker_processes_equals_one_process(tmp_path, monkeypatch):
    """Above PARALLEL_FROM files the decode is spread over processes; same images, same order,
    the same unreadable file reported."""
    from gankit.data import folder as folder_mod

    root = tmp_path / "many"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)).save(root / f"{i:02d}.png")
    (root / "05x.png").write_bytes(b"not an image")
    files = folder_mod.list_images(root)
    monkeypatch.setattr(folder_mod, "PARALLEL_FROM", 4)
    serial = folder_mod.decode_folder(files, 8, 3, "white", workers=1)
    parallel = folder_mod.decode_folder(files, 8, 3, "white", workers=2)
    assert np.array_equal(serial[0], parallel[0]) and serial[0].shape == (12, 3, 8, 8)
    assert serial[1] == parallel[1] == [i for i in range(13) if files[i].name != "05x.png"]
    assert [p.name for p, _ in parallel[2]] == ["05x.png"] and "UnidentifiedImageError" in parallel[2][0][1]


def test_stream_copies_its_permutation_to_the_data_device_once_per_epoch():
    """GPU-resident data is gathered with a device copy of the epoch's permutation, made once
    per epoch rather than once per batch (stand-in device: meta; values are checked on CUDA in
    test_cuda.py). The CPU permutation stays the checkpointed state."""
    from gankit.data.base import TensorStream

    x = torch.arange(10 * 3, dtype=torch.uint8).reshape(10, 3)
    stream = TensorStream({"x": x}, batch_size=4, seed=0)
    stream.tensors = {"x": x.to("meta")}
    stream.next()
    copy = stream.perm_on_device
    assert copy.device.type == "meta" and stream.perm.device.type == "cpu"
    assert stream.next().x.shape == (4, 3) and stream.perm_on_device is copy  # same epoch
    stream.next()  # 8 + 4 > 10: a new epoch, a new permutation and one new copy
    assert stream.perm_on_device is not copy and stream.pos == 4
    state = stream.state_dict()
    assert state["perm"].device.type == "cpu"
    stream.load_state_dict(state)
    assert stream.perm_on_device is None
