"""Bad config input: one line naming the key, the value and what is allowed; exit code 2; no
traceback; no run folder created. Most cases call ``gankit.cli.main`` in-process (the same
code path as the console script); two go through a real ``python -m gankit`` process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gankit.cli import main
from gankit.registries import OBJECTIVES

ROOT = Path(__file__).resolve().parents[1]


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    return rc, capsys.readouterr().err


# (arguments, fragments the one-line message must contain)
CASES = [
    (["--steps", "-5"], ["steps=-5", "allowed: an integer >= 0"]),
    (["--steps", "abc"], ["steps='abc'", "expected an integer"]),
    (["--lr", "0"], ["lr=0.0", "allowed: a number > 0"]),
    (["--lr", "nan"], ["lr='nan'", "must be a finite number"]),
    (["--lr-d=-1e-4"], ["lr_d=-0.0001", "a number > 0"]),
    (["--set", "foo=1"], ["unknown config key 'foo'", "valid keys: data,"]),
    (["--set", "model.foo=1"], ["unknown option 'foo' for model 'mlp'", "valid options: width"]),
    (["--set", "model.width=abc"], ["width='abc'", "expected an integer"]),
    (["--loss", "lsgan", "--set", "loss.a=1", "--set", "loss.b=1"], ["a=1.0 and b=1.0", "choose b != a"]),
    (["--clip", "-1"], ["clip=-1.0", "allowed: a number >= 0"]),
    (["--set", "ema=1.5"], ["ema=1.5", "allowed: a number in [0, 1)"]),
    (["--optimizer", "adamw"], ["optimizer='adamw'", "choose one of: adam, rmsprop, sgd"]),
    (["--penalty", "gp=-1"], ["weight of 'gp' is -1.0", "allowed: a number >= 0"]),
    (["--set", "betas=0.5"], ["betas=['0.5']", "expected 2 comma-separated values"]),
    (["--loss", "nope"], ["unknown objective 'nope'", "choose one of:", "ns"]),
    (["--loss", "hnge"], ["unknown objective 'hnge' (did you mean 'hinge'?); choose one of:"]),
    (["--data", "gird"], ["unknown dataset 'gird' (did you mean 'grid'?)"]),
    (["--set", "stpes=9"], ["unknown config key 'stpes' (did you mean 'steps'?)"]),
    (["--set", "modle.width=9"], ["unknown section 'modle' (did you mean 'model'?)"]),
    (["--set", "model.widht=9"], ["unknown option 'widht' for model 'mlp' (did you mean 'width'?)"]),
    (["--optimizer", "Adma"], ["optimizer='Adma' is not allowed (did you mean 'adam'?)"]),
    (["--on-nan", "ignore"], ["on_nan='ignore'", "choose one of: stop, rollback"]),
    (["--set", "max_rollbacks=-1"], ["max_rollbacks=-1", "an integer >= 0"]),
    (["--model", "dcgan"], ["model dcgan makes square images", "shape (2,)"]),
]


@pytest.mark.parametrize("args,fragments", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_config_is_one_line_exit_2_no_folder(tmp_path, capsys, args, fragments):
    out = tmp_path / "run"
    rc, err = run_cli(["train", "--data", "8gaussians", "--steps", "3", *args, "--out", str(out)], capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gankit: error: "), err
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])
    assert not out.exists()  # nothing is created before the whole run has been built


@pytest.mark.skipif("began" not in OBJECTIVES, reason="began objective not present")
def test_objective_needing_a_model_feature(tmp_path, capsys):
    out = tmp_path / "run"
    rc, err = run_cli(
        ["train", "--loss", "began", "--model", "mlp", "--steps", "2", "--out", str(out)], capsys
    )
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "model 'mlp'" in err and "energies" in err and "--model began" in err
    assert not out.exists()


def test_image_size_the_model_cannot_make(tmp_path, capsys, data_dir):
    out = tmp_path / "run"
    rc, err = run_cli(
        [
            "train",
            "--data",
            "mnist",
            "--data-dir",
            str(data_dir),
            "--set",
            "data.limit=64",
            "--set",
            "data.image_size=20",
            "--model",
            "dcgan",
            "--steps",
            "2",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "cannot make 20x20 images" in err and "allowed sizes:" in err
    assert not out.exists()


def test_resume_of_a_folder_without_checkpoints(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    rc, err = run_cli(["train", "--resume", str(tmp_path / "empty")], capsys)
    assert (
        rc == 2 and err.startswith("gankit: error: no checkpoint in") and len(err.strip().splitlines()) == 1
    )


def test_real_process_exit_code_and_stderr(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    args = ["--loss", "lsgan", "--set", "loss.a=1", "--set", "loss.b=1"]
    p = subprocess.run(
        [sys.executable, "-m", "gankit", "train", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("gankit: error: ")
    assert "a=1.0 and b=1.0 are equal" in p.stderr and "Traceback" not in p.stderr
    assert not out.exists()


def test_did_you_mean_offers_only_a_close_name():
    from gankit.errors import did_you_mean

    names = ["grid", "ring", "25gaussians", "fashion-mnist"]
    assert did_you_mean("gird", names) == " (did you mean 'grid'?)"
    assert did_you_mean("Fashion_MNIST", names) == " (did you mean 'fashion-mnist'?)"  # any case
    assert did_you_mean("nope", names) == ""  # nothing close: no guess
    assert did_you_mean("x", []) == ""
