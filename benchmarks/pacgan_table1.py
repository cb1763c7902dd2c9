"""PacGAN table 1 (Lin et al. 2018) on ``grid`` and ``ring``, with PacGAN's own networks and protocol.

Each (data, m) is one ``gankit arena`` with the ``pacgan`` model's preset for pack m:

    gankit arena --data grid --model pacgan --losses ns --set recipe.pack=m --seeds S --steps N

i.e. G 4 x 400 ReLU + batch norm, D 3 x 200 maxout (5 pieces), z ~ N(0, I_2), batch of 100
packs (100 * m samples), Adam 1e-4 (0.8, 0.999), constant rate, ns objective, no penalty;
judged on 2,500 samples (modes: nearest centre of at least one sample within 3 std;
hq_fraction: samples within 3 std of a centre). The paper trains 400 epochs of 100,000 samples
(400,000 steps) and reports the mean over 10 trials; this script trains ``--steps`` (the
arena's runs resume, so a longer rerun continues them).

    python benchmarks/pacgan_table1.py --data grid --packs 1,2,3,4 --seeds 3 --steps 2000 \
        --out benchmarks/out/pacgan_table1 --json benchmarks/results/pacgan_table1_grid.json

Writes the JSON after every arena (settings, one row per run, the means beside the paper's).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# PacGAN table 1: mean modes (of 25 / 8) and high-quality samples (%) over 10 trials (the paper's
# +- are standard errors).
PUBLISHED = {
    "grid": {
        1: (17.3, 94.8),
        2: (23.8, 91.3),
        3: (24.6, 94.2),
        4: (24.8, 93.6),
    },
    "ring": {
        1: (6.3, 98.2),
        2: (7.9, 95.6),
        3: (7.8, 97.7),
        4: (7.8, 95.9),
    },
}
NAMES = {1: "GAN", 2: "PacGAN2", 3: "PacGAN3", 4: "PacGAN4"}


def run_arena(data: str, m: int, seeds: int, steps: int, out: Path) -> list[dict]:
    cmd = [
        sys.executable, "-m", "gankit", "arena",
        "--data", data, "--model", "pacgan", "--losses", "ns",
        "--set", f"recipe.pack={m}",
        "--seeds", str(seeds), "--steps", str(steps), "--jobs", "1", "--evals", "1",
        "--out", str(out),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    results = json.loads((out / "results.json").read_text())
    return sorted(results["runs"], key=lambda r: r["seed"])


def summarize(rows: list[dict]) -> dict:
    """Mean, standard deviation and standard error (as the paper reports) over the seeds."""
    modes = [r["modes"] for r in rows]
    hq = [100 * r["hq_fraction"] for r in rows]
    n = len(rows)

    def sem(v):
        return statistics.stdev(v) / n**0.5 if n > 1 else 0.0

    return {
        "n_seeds": n,
        "modes_mean": round(statistics.fmean(modes), 2),
        "modes_std": round(statistics.pstdev(modes), 2),
        "modes_sem": round(sem(modes), 2),
        "hq_pct_mean": round(statistics.fmean(hq), 2),
        "hq_pct_std": round(statistics.pstdev(hq), 2),
        "hq_pct_sem": round(sem(hq), 2),
        "modes_range": [min(modes), max(modes)],
    }


def table(result: dict) -> str:
    lines = [
        "| data | variant | gankit modes (mean ± s.e.) | gankit hq % (mean ± s.e.) | paper modes | paper hq % | seeds, steps |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, s in result["summary"].items():
        data, m = key.split(":")
        pm, ph = PUBLISHED[data][int(m)]
        lines.append(
            f"| {data} | {NAMES[int(m)]} | {s['modes_mean']:.1f} ± {s['modes_sem']:.1f} | "
            f"{s['hq_pct_mean']:.1f} ± {s['hq_pct_sem']:.1f} | {pm} | {ph} | "
            f"{s['n_seeds']}, {result['settings']['steps']} |"
        )
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="grid", help="grid, ring or both comma-separated")
    ap.add_argument("--packs", default="1,2,3,4")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--out", default="benchmarks/out/pacgan_table1")
    ap.add_argument("--json", default="benchmarks/results/pacgan_table1.json")
    ap.add_argument(
        "--report", action="store_true", help="recompute the summary of --json and print the table"
    )
    args = ap.parse_args()
    if args.report:
        result = json.loads(Path(args.json).read_text())
        result["published"] = {d: {NAMES[m]: v for m, v in t.items()} for d, t in PUBLISHED.items()}
        for key in result["summary"]:
            data, m = key.split(":")
            result["summary"][key] = summarize(
                [r for r in result["rows"] if (r["data"], r["pack"]) == (data, int(m))]
            )
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(table(result))
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    result = {
        "settings": {
            "steps": args.steps,
            "seeds": args.seeds,
            "packs": args.packs,
            "model": "pacgan (G 4x400 ReLU+BN, D 3x200 maxout, 5 pieces)",
            "protocol": "batch 100 packs, Adam 1e-4 (0.8, 0.999), constant, ns, no penalty; 2,500 samples",
            "paper_steps": 400_000,
            "machine": "2 shared CPU cores (other jobs running), one thread, runs one at a time",
        },
        "published": {d: {NAMES[m]: v for m, v in t.items()} for d, t in PUBLISHED.items()},
        "rows": [],
        "summary": {},
    }
    for data in args.data.split(","):
        for m in (int(x) for x in args.packs.split(",")):
            t0 = time.perf_counter()
            runs = run_arena(data, m, args.seeds, args.steps, Path(args.out) / f"{data}-pack{m}")
            rows = [
                {
                    "data": data,
                    "variant": NAMES[m],
                    "pack": m,
                    "seed": r["seed"],
                    "steps": r["steps_done"],
                    "modes": r["final"]["modes"],
                    "hq_fraction": r["final"]["hq_fraction"],
                    "mode_kl": r["final"]["mode_kl"],
                    "wall_s": r["wall_s"],
                }
                for r in runs
            ]
            result["rows"] += rows
            result["summary"][f"{data}:{m}"] = summarize(rows)
            print(f"{data} {NAMES[m]}: {result['summary'][f'{data}:{m}']} ({time.perf_counter() - t0:.0f} s)")
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))


if __name__ == "__main__":
    main()
