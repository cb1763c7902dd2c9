"""Fault injection with real processes: SIGTERM, then SIGKILL at seeded random moments,
resume after each, and the finished run must equal an uninterrupted one bit for bit.

(NaN injected into a loss, a read-only or full run folder and a truncated checkpoint are
in test_reliability.py, in-process, where they can be monkeypatched.)
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_reliability import comparable, fast, same_state, tiny  # noqa: F401  (fast: fixture)

from gankit.training import checkpoint as ckpt
from gankit.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
STEPS, CKPT_EVERY, KILLS = 120, 6, 3


def train_cmd(out: Path, resume: bool) -> list[str]:
    if resume:
        return [sys.executable, "-m", "gankit", "train", "--resume", str(out)]
    return [
        sys.executable,
        "-m",
        "gankit",
        "train",
        "--data",
        "8gaussians",
        "--steps",
        str(STEPS),
        "--batch-size",
        "32",
        "--n-eval",
        "64",
        "--eval-every",
        "100000",
        "--device",
        "cpu",
        "--progress",
        "none",
        "--out",
        str(out),
        "--set",
        f"ckpt_every={CKPT_EVERY}",
        "--set",
        "model.width=16",
        "--set",
        "model.depth=1",
        "--set",
        "lr_schedule=constant",  # as tiny(): the toy preset's decay is not what this test compares
    ]


def start(out: Path, resume: bool) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        train_cmd(out, resume),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=out.parent,
    )


def newest_step(out: Path) -> int:
    found = ckpt.list_checkpoints(out / "checkpoints")
    return int(found[-1].stem.split("-")[1]) if found else -1


def wait_for_checkpoint_after(proc: subprocess.Popen, out: Path, step: int, timeout: float = 120) -> bool:
    """Block until a checkpoint newer than ``step`` exists (True), or the run finished (False)."""
    t0 = time.monotonic()
    while newest_step(out) <= step:
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.communicate()[1][-2000:]
            return False
        assert time.monotonic() - t0 < timeout, "no new checkpoint in time"
        time.sleep(0.01)
    return True


def test_sigterm_then_sigkills_resume_to_the_uninterrupted_result(tmp_path, fast):  # noqa: F811
    rng = random.Random(8)
    out = tmp_path / "run"

    # 1. SIGTERM right after the first checkpoint: a clean stop at a step boundary, with a
    # checkpoint and how to resume.
    proc = start(out, resume=False)
    assert wait_for_checkpoint_after(proc, out, -1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("gankit: stopped: SIGTERM received at step ")
    assert last.endswith(f"checkpoint saved. Resume with: gankit train --resume {out}")
    stopped_at = int(last.split("at step ")[1].split(";")[0])
    assert newest_step(out) == stopped_at and 0 < stopped_at < STEPS

    # 2. SIGKILL at random moments after training has made progress; each time the newest
    # checkpoint must verify and load, and no completed checkpoint may be lost.
    step, kills = stopped_at, 0
    while kills < KILLS and step < STEPS:
        proc = start(out, resume=True)
        if not wait_for_checkpoint_after(proc, out, step):
            break  # a fast machine finished the run first
        time.sleep(rng.uniform(0.0, 0.15))
        proc.kill()
        proc.communicate(timeout=60)
        kills += 1
        _, state = ckpt.load_latest(out)
        assert state["train"]["step"] > step
        step = state["train"]["step"]
    assert kills >= 1

    # 3. Resume to the end.
    if newest_step(out) < STEPS:
        proc = start(out, resume=True)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
    _, final = ckpt.load_latest(out)
    assert final["train"]["step"] == STEPS

    # The same run without interruptions (in-process; pictures do not touch training state).
    ref = Trainer(tiny(tmp_path / "ref", steps=STEPS, ckpt_every=CKPT_EVERY, eval_every=100000))
    ref.fit(progress=False)
    _, expected = ckpt.load_latest(tmp_path / "ref")
    same_state(comparable(expected), comparable(final))


def test_manifest_without_matching_file_is_not_a_checkpoint(tmp_path):
    """A crash between writing the .pt and its manifest leaves no half-checkpoint behind."""
    folder = tmp_path / "checkpoints"
    ckpt.save_checkpoint(folder, 1, {"x": 1})
    (folder / "step-00000002.pt").write_bytes(b"partial")  # its manifest never got written
    (folder / ".step-00000003.pt.tmp-99").write_bytes(b"partial")  # an abandoned temp file
    assert [p.name for p in ckpt.list_checkpoints(folder)] == ["step-00000001.pt"]
    with pytest.raises(Exception):  # noqa: B017  the stray file alone is never loaded as valid
        ckpt.verify(folder / "step-00000002.pt")
