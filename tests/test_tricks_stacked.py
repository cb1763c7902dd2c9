"""benchmarks/stacked_mnist.py counts modes with the LeNet on the run's device, all channels in
one batch; its counts must equal gankit's per-channel metric (gankit.metrics.images)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from gankit.metrics.images import lenet_features, stacked_modes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from stacked_mnist import stacked_mode_metrics, table  # noqa: E402


def test_benchmark_mode_count_equals_gankits_per_channel_metric():
    gen = torch.Generator().manual_seed(0)
    # (90, 3, 28, 28) in [-1, 1]: blobs of different sizes, so the channels get different digits
    x = torch.rand(90, 3, 28, 28, generator=gen) * 2 - 1
    x = x * torch.linspace(0.1, 1.0, 90).view(-1, 1, 1, 1)
    ours = stacked_mode_metrics(x, "cpu", chunk=40)
    _, probs = lenet_features("stacked-mnist", x)
    ref = stacked_modes(probs)
    assert ours["modes_stacked"] == ref["modes_stacked"] and ours["modes_stacked"] >= 2
    assert abs(ours["kl_stacked"] - ref["kl_stacked"]) < 1e-9


def test_benchmark_table_marks_runs_cut_by_the_wall_cap():
    rows = [
        {"variant": "plain", "seed": s, "steps": st, "steps_asked": 100, "modes": m, "kl": k, "train_s": 1.0}
        for s, st, m, k in ((0, 100, 900, 0.5), (1, 80, 950, 0.3))
    ]
    line = table(rows).splitlines()[2]
    assert "925.0 (900-950)" in line and "0.40 (0.30-0.50)" in line
    assert "80-100 (cut by the wall cap; asked 100)" in line
    assert line.endswith("| DCGAN: 99.0 modes, KL 3.40 |")  # full-size D: beside PacGAN table 2


def test_benchmark_table_of_a_narrow_d_sits_beside_pacgan_table_3():
    rows = [
        {"variant": "pack4", "seed": 0, "steps": 9, "steps_asked": 9, "modes": 900, "kl": 0.8, "train_s": 1.0}
    ]
    header, _, line = table(rows, narrow_d=True).splitlines()
    assert header.endswith("| PacGAN table 3 (D = G/4 / G/2) |")
    assert line.endswith("| PacDCGAN4: 667.4 / 820.2 modes |")
