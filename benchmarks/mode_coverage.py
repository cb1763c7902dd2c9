"""Mode coverage of gankit's toy recipe on ``25gaussians`` and ``grid`` (issue 2's benchmark).

The recipe: objective ``ns`` (optionally with ``--penalty gp=0.1``), the default MLP (3 x 256, ReLU G / leaky-ReLU D, z_dim 2),
batch 256, Adam lr 1e-3 (0.5, 0.999) held for the first 30% of the steps then decayed
linearly to 0, 6,000 steps, metrics on 2,500 samples (modes within 3 std, hq_fraction).
Each dataset runs as one arena (5 seeds, 2 at a time, one thread each), so the runs are
ordinary run folders and an interrupted benchmark resumes.

    python benchmarks/mode_coverage.py [--seeds 5] [--steps 6000] [--out benchmarks/out/mode_coverage]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

RECIPE = ["--set", "lr=1e-3", "--set", "lr_schedule=linear-decay", "--set", "decay_start=0.3"]
# --penalty gp=0.1: the same recipe plus a small two-sided gradient penalty on D.


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="25gaussians,grid")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/out/mode_coverage")
    ap.add_argument("--penalty", default=None, help="e.g. gp=0.1 (default: none)")
    args = ap.parse_args()
    lines = ["| data | seed | modes | hq_fraction | mode_kl | wall s |", "|---|---|---|---|---|---|"]
    summary = []
    for data in args.data.split(","):
        out = Path(args.out) / data
        cmd = [
            sys.executable,
            "-m",
            "gankit",
            "arena",
            "--data",
            data,
            "--losses",
            "ns",
            "--seeds",
            str(args.seeds),
            "--steps",
            str(args.steps),
            "--jobs",
            str(args.jobs),
            "--evals",
            "6",
            "--out",
            str(out),
            *RECIPE,
        ]
        if args.penalty:
            cmd += ["--set", f"penalties={args.penalty}"]
        subprocess.run(cmd, check=True)
        results = json.loads((out / "results.json").read_text())
        runs = sorted(results["runs"], key=lambda r: r["seed"])
        for r in runs:
            f = r["final"]
            lines.append(
                f"| {data} | {r['seed']} | {f['modes']}/{f['modes_total']} | {f['hq_fraction']:.3f} | "
                f"{f['mode_kl']:.3f} | {r['wall_s']:.0f} |"
            )
        modes = [r["final"]["modes"] for r in runs]
        hq = [r["final"]["hq_fraction"] for r in runs]
        wall = [r["wall_s"] for r in runs]
        summary.append(
            f"| {data} | {statistics.median(modes)} ({min(modes)}-{max(modes)}) | "
            f"{statistics.median(hq):.3f} ({min(hq):.3f}-{max(hq):.3f}) | "
            f"{sum(m == runs[0]['final']['modes_total'] and h >= 0.9 for m, h in zip(modes, hq))}/{len(runs)} | "
            f"{statistics.median(wall):.0f} |"
        )
    print(
        "\n".join(
            [
                "| data | modes, median (range) | hq_fraction, median (range) | seeds at all modes & hq>=0.9 | median wall s |",
                "|---|---|---|---|---|",
                *summary,
                "",
                *lines,
            ]
        )
    )


if __name__ == "__main__":
    main()
