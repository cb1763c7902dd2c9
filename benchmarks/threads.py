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
    ap.add_argument("--data", help="another dataset than the model's (grid for mlp, mnist for dcgan)")
    ap.add_argument("--set", action="append", default=[], help="key=value config fields, as gankit's --set")
    ap.add_argument("--tag", default="", help="results file suffix: threads_<model>[_<tag>].json")
    ap.add_argument("--note", default="shared 2-core machine; other jobs were running")
    a = ap.parse_args()
    from gankit.config import apply_set, from_dict
    from gankit.training.trainer import Trainer

    d = {"data": a.data or ("grid" if a.model == "mlp" else "mnist"), "model": a.model}
    d.update(data_dir=a.data_dir, out="/tmp/gankit-threads-bench", progress="none")
    for assignment in a.set:
        apply_set(d, assignment)
    trainer = Trainer(from_dict(d))
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
        "sets": a.set,
        "note": a.note,
    }
    path = ROOT / "benchmarks" / "results" / f"threads_{a.model}{'_' + a.tag if a.tag else ''}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    for n in counts:
        print(
            f"{a.model} threads={n}: {out['ms_per_step_wall_median'][n]:.2f} ms/step wall, "
            f"{out['ms_per_step_cpu_median'][n]:.2f} ms/step CPU"
        )


if __name__ == "__main__":
    main()
