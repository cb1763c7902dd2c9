"""Train a gankit config for a budget of the process's CPU time (one thread), shared by the
R3GAN and small-data benchmarks. CPU time (``time.process_time``) excludes the waiting of a
shared machine, so runs of different objectives get the same compute."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # gankit from this checkout, installed or not


def data_dir() -> str:
    """GANKIT_DATA, else the first ``shared/data`` beside or above the checkout holding MNIST."""
    env = os.environ.get("GANKIT_DATA")
    if env:
        return env
    for d in (ROOT.parent / "shared" / "data", ROOT.parents[1] / "shared" / "data"):
        if (d / "mnist" / "train-images-idx3-ubyte.gz").exists():
            return str(d)
    raise SystemExit("MNIST files not found: set GANKIT_DATA to a folder holding mnist/")


def train_for(cfg, cpu_seconds: float):
    """(trainer, {steps, images_seen, cpu_s, wall_s}) after ``cpu_seconds`` of training."""
    from gankit.training.trainer import Trainer

    torch.set_num_threads(1)
    trainer = Trainer(cfg)
    cpu, wall0 = 0.0, time.perf_counter()
    flush = torch.set_flush_denormal(True)
    try:
        while cpu < cpu_seconds:
            t = time.process_time()
            trainer.train_step()
            cpu += time.process_time() - t
    finally:
        if flush:
            torch.set_flush_denormal(False)
    return trainer, {
        "steps": trainer.state.step,
        "images_seen": trainer.state.images_seen,
        "cpu_s": round(cpu, 1),
        "wall_s": round(time.perf_counter() - wall0, 1),
    }
