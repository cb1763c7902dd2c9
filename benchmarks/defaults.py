"""The defaults as a user meets them: ``gankit train --data X --seed S`` and no other flag.

Each run is a whole ``python -m gankit train`` process (import, data, training, evaluations,
pictures, checkpoints), timed from outside; its final metrics come from its metrics.jsonl.
Targets (issue 14): grid and 25gaussians 25/25 modes with hq_fraction >= 0.9, ring and
8gaussians 8/8 with hq >= 0.9, each run <= 120 s; MNIST <= 15 minutes, 10 classes, class KL
< 0.05, fid_lenet <= 5. Runs one at a time; on a shared machine the wall times are upper bounds.

    python benchmarks/defaults.py --data grid,25gaussians --seeds 0,1,2
    python benchmarks/defaults.py --data mnist --seeds 0 --data-dir ../shared/data
    python benchmarks/defaults.py --report      # markdown tables of the saved results

Results: ``benchmarks/results/defaults_<data>.json`` (one row per seed, merged with earlier rows).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
KEYS = {
    "points": ("modes", "modes_total", "hq_fraction", "mode_kl", "js_binned"),
    "curves": ("curve_rms", "a_coverage", "a_ks"),
    "images": (
        "fid_lenet",
        "class_coverage",
        "class_kl",
        "classifier_score_lenet",
        "precision_lenet",
        "recall_lenet",
    ),
}
KIND = {"mnist": "images", "fashion-mnist": "images", "curve": "curves", "swissroll": "points"}
IMAGE_DATA = ("mnist", "fashion-mnist")


def run_one(data: str, seed: int, out_root: Path, data_dir: str | None) -> dict:
    out = out_root / f"{data}-seed{seed}"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "gankit", "train", "--data", data, "--seed", str(seed), "--out", str(out)]
    cmd += ["--progress", "lines"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if data_dir and data in IMAGE_DATA:
        env["GANKIT_DATA"] = data_dir  # where the files are: not a training flag
    t0, c0 = time.perf_counter(), os.times()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    c1 = os.times()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    cfg = json.loads((out / "config.json").read_text())
    last = rows[-1]
    kind = KIND.get(data, "points")
    row = {
        "data": data,
        "seed": seed,
        "wall_s": round(wall, 1),
        "cpu_s": round((c1.children_user + c1.children_system) - (c0.children_user + c0.children_system), 1),
        "steps": last["step"],
        "loadavg_1min_after": round(os.getloadavg()[0], 2),
        **{k: last.get(k) for k in KEYS[kind]},
    }
    row["config"] = {
        k: cfg[k]
        for k in (
            "model",
            "loss",
            "steps",
            "batch_size",
            "lr_g",
            "lr_d",
            "lr_schedule",
            "decay_start",
            "penalties",
        )
    }
    row["config"]["max_wall_s"] = cfg["max_wall_s"]
    row["threads"] = cfg.get("threads")
    return row


def save(data: str, rows: list[dict]) -> Path:
    path = RESULTS / f"defaults_{data}.json"
    old = json.loads(path.read_text())["rows"] if path.exists() else []
    seeds = {r["seed"] for r in rows}
    merged = [r for r in old if r["seed"] not in seeds] + rows
    merged.sort(key=lambda r: r["seed"])
    path.write_text(
        json.dumps(
            {
                "command": f"gankit train --data {data} --seed S (no other flag)",
                "machine": "2-core CPU shared with other jobs (wall times are upper bounds)",
                "rows": merged,
            },
            indent=1,
        )
        + "\n"
    )
    return path


def report() -> str:
    lines = []
    for path in sorted(RESULTS.glob("defaults_*.json")):
        rows = json.loads(path.read_text())["rows"]
        data = rows[0]["data"]
        keys = KEYS[KIND.get(data, "points")]
        lines += [
            f"\n`gankit train --data {data}`:\n",
            "| seed | " + " | ".join(keys) + " | steps | wall s |",
        ]
        lines.append("|---" * (len(keys) + 3) + "|")
        for r in rows:
            cells = [f"{r[k]:.3g}" if isinstance(r[k], float) else str(r[k]) for k in keys]
            lines.append(f"| {r['seed']} | " + " | ".join(cells) + f" | {r['steps']} | {r['wall_s']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="grid,25gaussians,ring,8gaussians")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default="/tmp/gankit-defaults")
    ap.add_argument("--data-dir", default=os.environ.get("GANKIT_DATA"))
    ap.add_argument("--report", action="store_true")
    a = ap.parse_args()
    if a.report:
        print(report())
        return
    for data in a.data.split(","):
        rows = []
        for seed in (int(s) for s in a.seeds.split(",")):
            row = run_one(data, seed, Path(a.out), a.data_dir)
            print(json.dumps({k: v for k, v in row.items() if k != "config"}), flush=True)
            rows.append(row)
            save(data, rows)


if __name__ == "__main__":
    main()
