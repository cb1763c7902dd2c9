"""report.html as a browser shows it: headless Chromium renders it, embedded pictures included."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gankit.arena import ArenaSpec, collect, write_report
from gankit.arena.browser import find_browser, screenshot

BROWSER = find_browser()
RED = (230, 20, 20)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(BROWSER is None, reason="no chromium binary on PATH (apt-get install chromium)"),
]


def make_arena(out):
    """Two objectives x two seeds of hand-written run folders (no training needed)."""
    from PIL import Image

    spec = ArenaSpec(data="ring", losses=["ns", "hinge"], seeds=[0, 1], steps=20, out=str(out))
    for loss in spec.losses:
        for seed in spec.seeds:
            d = spec.run_dir(loss, seed)
            (d / "pictures").mkdir(parents=True)
            Image.new("RGB", (300, 300), RED).save(d / "pictures" / "latest.png")
            rows = [
                {
                    "step": s,
                    "images_seen": 32 * s,
                    "wall_s": 0.1 * s,
                    "modes": min(8, s // 2 + seed),
                    "modes_total": 8,
                    "hq_fraction": s / 25,
                    "loss_d": 1.0,
                    "loss_g": 0.7,
                }
                for s in (0, 10, 20)
            ]
            (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            (d / "config.json").write_text(json.dumps({"data": "ring", "loss": loss, "seed": seed}))
            (d / "arena_status.json").write_text(json.dumps({"status": "finished", "main_metric": "modes"}))
    return spec


def test_report_renders_in_headless_chromium(tmp_path):
    from PIL import Image

    spec = make_arena(tmp_path / "arena")
    html_path, _ = write_report(collect(spec), spec.out)
    shot = screenshot(html_path, tmp_path / "shot.png", size=(1280, 2000))
    with Image.open(shot) as img:
        px = np.asarray(img.convert("RGB")).astype(int)  # (H, W, 3)
    assert px.shape == (2000, 1280, 3)
    white = (px == 255).all(axis=2).mean()
    assert 0.02 < 1 - white < 0.95  # text, tables and figures, but not a blank or black page
    assert len(np.unique(px.reshape(-1, 3), axis=0)) > 200  # anti-aliased text and plots
    # the embedded sample pictures (flat red, data URIs) were decoded and drawn
    red = ((abs(px[..., 0] - RED[0]) < 12) & (px[..., 1] < 40) & (px[..., 2] < 40)).sum()
    assert red > 200 * 150, red
