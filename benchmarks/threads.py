"""Steps per second of a model at 1 and 2 CPU threads (the evidence for gankit's thread rule).

Alternates thread counts in one process, ``--repeats`` times ``--steps`` training steps each
(``Trainer.train_step``: no evaluation), and reports the median wall and CPU time per step.
On a shared machine wall time overstates what an idle machine gives; the ratio between
thread counts measured in the same process is what the rule is based on.

    python benchmarks/threads.py --model mlp            # the toy preset's MLP on grid
    python benchmarks/threads.py --model dcgan --data-dir ../shared/data

Results: ``benchmarks/results/threads_<model>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=("mlp", "dcgan"), default="mlp")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    a = ap.parse_args()
    from gankit.config import Config
    from gankit.training.trainer import Trainer

    kw = {"data": "grid"} if a.model == "mlp" else {"data": "mnist", "data_dir": a.data_dir}
    trainer = Trainer(Config(**kw, out="/tmp/gankit-threads-bench", progress="none"))
    torch.set_flush_denormal(True)
    counts = [int(t) for t in a.threads.split(",")]
    wall = {n: [] for n in counts}
    cpu = {n: [] for n in counts}
    for n in counts:  # warm-up
        torch.set_num_threads(n)
        for _ in range(10):
            trainer.train_step()
    for _ in range(a.repeats):
        for n in counts:
            torch.set_num_threads(n)
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(a.steps):
                trainer.train_step()
            wall[n].append((time.perf_counter() - w0) / a.steps * 1e3)
            cpu[n].append((time.process_time() - c0) / a.steps * 1e3)
    out = {
        "model": a.model,
        "config": {k: getattr(trainer.cfg, k) for k in ("data", "model", "loss", "batch_size")},
        "steps": a.steps,
        "repeats": a.repeats,
        "ms_per_step_wall_median": {n: statistics.median(wall[n]) for n in counts},
        "ms_per_step_cpu_median": {n: statistics.median(cpu[n]) for n in counts},
        "ms_per_step_wall": wall,
        "note": "shared 2-core machine; other jobs were running",
    }
    path = ROOT / "benchmarks" / "results" / f"threads_{a.model}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    for n in counts:
        print(
            f"{a.model} threads={n}: {out['ms_per_step_wall_median'][n]:.2f} ms/step wall, "
            f"{out['ms_per_step_cpu_median'][n]:.2f} ms/step CPU"
        )


if __name__ == "__main__":
    main()
