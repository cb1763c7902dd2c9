"""The arena's --device option: passed to every run, checked before any worker starts, and
allowed to change when an arena resumes (the benchmarks run MNIST arenas on a GPU)."""

from __future__ import annotations

import json

import pytest
import torch

from gankit.arena import ArenaSpec
from gankit.arena.runner import plan_run, run_config, train_one
from gankit.cli import main

SETS = ["--set", "batch_size=16", "--set", "n_eval=50", "--set", "eval_every=4"]


def arena_argv(out, steps, device):
    return [
        "arena",
        "--data",
        "ring",
        "--losses",
        "ns",
        "--seeds",
        "1",
        "--steps",
        str(steps),
        "--jobs",
        "1",
    ] + [
        "--out",
        str(out),
        "--device",
        device,
        *SETS,
    ]


def test_cli_passes_the_device_to_every_run(tmp_path, monkeypatch):
    import gankit.arena

    seen = []
    monkeypatch.setattr(gankit.arena, "arena", lambda spec, **kw: seen.append(spec) or {"ranking": []})
    assert main(arena_argv(tmp_path / "a", 4, "cpu")) == 0
    assert seen[0].device == "cpu" and run_config(seen[0], "ns", 0)["device"] == "cpu"
    assert ArenaSpec(data="ring", losses=["ns"], seeds=[0], steps=1, out="x").device == "auto"


def test_a_run_resumes_on_another_device(tmp_path):
    spec = ArenaSpec(data="ring", losses=["ns"], seeds=[0], steps=4, out=str(tmp_path), device="cpu")
    spec.sets = ["batch_size=16", "n_eval=50", "eval_every=4"]
    st = train_one(run_config(spec, "ns", 0), "fresh")
    run = spec.run_dir("ns", 0)
    assert st["status"] == "finished" and json.loads((run / "config.json").read_text())["device"] == "cpu"
    more = ArenaSpec(**{**spec.__dict__, "steps": 8, "device": "auto"})
    assert plan_run(run, 8) == "resume"
    st = train_one(run_config(more, "ns", 0), "resume")
    assert st["status"] == "finished" and st["step"] == 8, st
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [
        0,
        4,
        8,
    ]


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_one_error_before_training(tmp_path, capsys):
    out = tmp_path / "b"
    assert main(arena_argv(out, 4, "cuda")) == 2
    err = capsys.readouterr().err.strip()
    assert "CUDA is not available" in err and len(err.splitlines()) == 1
    assert not (out / "runs").exists()


@pytest.mark.parametrize(
    "argv, message", [(["--set", "device=cpu"], "--device"), (["--device", "tpu"], "tpu")]
)
def test_device_mistakes(argv, message, tmp_path, capsys):
    out = tmp_path / "c"
    assert main(arena_argv(out, 4, "cpu") + argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (out / "runs").exists()
