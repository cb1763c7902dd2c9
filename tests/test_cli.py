"""Every core CLI command end to end on a tiny budget, through ``gankit.cli.main``."""

import json

import numpy as np
import pytest

from gankit.cli import main

TINY = [
    "--steps",
    "4",
    "--eval-every",
    "2",
    "--n-eval",
    "200",
    "--batch-size",
    "32",
    "--progress",
    "none",
    "--set",
    "model.width=16",
    "--set",
    "model.depth=1",
]


def test_train_eval_sample_list(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", "25gaussians", "--loss", "lsgan", "--out", str(run), *TINY]) == 0
    out = capsys.readouterr().out
    assert f"run: {run}" in out and "modes_total" in out and "picture:" in out
    assert (run / "pictures" / "latest.png").exists()

    assert main(["eval", str(run), "--json", "--n", "300"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["step"] == 4 and metrics["n_samples"] == 300 and metrics["modes_total"] == 25
    assert 0.0 <= metrics["hq_fraction"] <= 1.0

    assert main(["sample", str(run), "-n", "50", "-o", str(tmp_path / "s.npy")]) == 0
    arr = np.load(tmp_path / "s.npy")
    assert arr.shape == (50, 2) and np.isfinite(arr).all()
    assert main(["sample", str(run), "-n", "50", "-o", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()

    assert main(["list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    for name in ("ns", "wgan-gp", "fgan-kl", "grid", "mlp", "plain", "gp"):
        assert any(line.split()[1] == name for line in listing if len(line.split()) > 1), name


def test_dry_run_prints_resolved_config(capsys, tmp_path):
    assert main(["train", "--loss", "wgan-gp", "--dry-run", "--out", str(tmp_path / "x")]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["n_critic"] == 5 and cfg["penalties"] == {"gp": 10.0} and cfg["lr_g"] == 1e-4
    assert not (tmp_path / "x").exists()  # a dry run writes nothing


def test_curve_run_and_resume_via_cli(tmp_path, capsys):
    run = tmp_path / "curve"
    assert main(["train", "--data", "curve", "--out", str(run), *TINY]) == 0
    assert main(["train", "--resume", str(run), "--steps", "6"]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 2, 4, 6]
    assert "curve_rms" in rows[-1]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["train", "--loss", "nope"], "unknown objective 'nope'"),
        (["train", "--data", "ring", "--steps", "-5"], "steps=-5"),
        (["train", "--set", "model.widht=3"], "widht"),
        (["eval", "/nonexistent/run"], "does not exist"),
        (["list", "things"], "unknown kind"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, needle, capsys, tmp_path):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gankit: error:") and needle in err[0]


def test_no_overwrite_of_existing_run(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), *TINY]) == 0
    before = (run / "metrics.jsonl").read_text()
    assert main(["train", "--out", str(run), *TINY]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (run / "metrics.jsonl").read_text() == before
