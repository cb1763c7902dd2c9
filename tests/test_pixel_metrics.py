"""kid_pixels16: the quality metric of image data without a trained classifier (folders,
CIFAR-10), against hand computations; and a folder run that reports it."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli import main
from gankit.metrics.images import pixel_features, pixel_metrics


def test_pixel_features_are_block_means():
    x = torch.rand(3, 2, 32, 32) * 2 - 1
    blocks = x.reshape(3, 2, 16, 2, 16, 2).mean(dim=(3, 5))  # 2 x 2 blocks by hand
    torch.testing.assert_close(pixel_features(x), blocks.reshape(3, -1), rtol=0, atol=1e-6)
    assert pixel_features(torch.zeros(4, 16, 16)).shape == (4, 256)  # (N, H, W): one channel


def mmd2_by_hand(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD^2 with k(x, y) = (x.y/d + 1)^3, term by term (Binkowski et al. 2018, eq. 2)."""
    m, d = a.shape
    k = lambda u, v: (float(u @ v) / d + 1.0) ** 3  # noqa: E731
    xx = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(a[i], b[j]) for i in range(m) for j in range(m)) / m**2
    return xx + yy - 2 * xy


def test_kid_pixels16_matches_a_hand_computation():
    gen = torch.Generator().manual_seed(0)
    real = torch.rand(12, 3, 32, 32, generator=gen) * 2 - 1
    fake = (torch.rand(12, 3, 32, 32, generator=gen) * 2 - 1) * 0.5 + 0.3
    out = pixel_metrics(real, fake)  # 12 < 500 per subset: one estimate on all of them, std 0
    pool = lambda x: x.reshape(12, 3, 16, 2, 16, 2).mean(dim=(3, 5)).reshape(12, -1).double().numpy()  # noqa: E731
    assert out["kid_pixels16"] == pytest.approx(mmd2_by_hand(pool(real), pool(fake)), rel=1e-9, abs=1e-12)
    assert out["kid_pixels16_std"] == 0.0
    nan = pixel_metrics(real, fake.clone().fill_(float("nan")))
    assert math.isnan(nan["kid_pixels16"])


def test_kid_pixels16_is_near_0_for_one_distribution_and_grows_with_a_shift():
    gen = torch.Generator().manual_seed(1)
    draw = lambda: torch.rand(1000, 1, 16, 16, generator=gen) * 2 - 1  # noqa: E731
    same = pixel_metrics(draw(), draw())
    shifted = pixel_metrics(draw(), draw() * 0.8 + 0.2)
    assert abs(same["kid_pixels16"]) < 3 * same["kid_pixels16_std"] + 1e-4
    assert shifted["kid_pixels16"] > 10 * (abs(same["kid_pixels16"]) + same["kid_pixels16_std"])


def test_a_folder_run_reports_kid_pixels16(tmp_path, capsys):
    root = tmp_path / "imgs"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / f"{i}.png")
    run = tmp_path / "run"
    argv = ["train", "--data", f"folder:{root}", "--model", "dcgan", "--image-size", "16", "--steps", "2"]
    argv += ["--batch-size", "8", "--n-eval", "40", "--eval-every", "2", "--progress", "none"]
    argv += ["--set", "model.width=8", "--out", str(run)]
    assert main(argv) == 0
    assert "kid_pixels16" in capsys.readouterr().out
    rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["kid_pixels16"]) for r in rows) and [r["step"] for r in rows] == [0, 2]
