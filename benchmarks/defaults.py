"""The defaults as a user meets them: ``gankit train --data X --seed S`` and no other flag.

Each run is a whole ``python -m gankit train`` process (import, data, training, evaluations,
pictures, checkpoints), timed from outside; its final metrics come from its metrics.jsonl.
Targets (issue 14): grid and 25gaussians 25/25 modes with hq_fraction >= 0.9, ring and
8gaussians 8/8 with hq >= 0.9, each run <= 120 s; MNIST <= 15 minutes, 10 classes, class KL
< 0.05, fid_lenet <= 5. Runs one at a time; on a shared machine the wall times are upper bounds.

    python benchmarks/defaults.py --data grid,25gaussians --seeds 0,1,2
    python benchmarks/defaults.py --data mnist --seeds 0 --data-dir ../shared/data
    python benchmarks/defaults.py --report      # markdown tables of the saved results

Comparisons side by side pin the threads and name their results file (the command in the file
records every flag):

    python benchmarks/defaults.py --data mnist --loss rpgan --threads 1 --tag threads1
    python benchmarks/defaults.py --data ring --loss rpgan --flags "--minutes 2 --steps 100000" --tag minutes2

Results: ``benchmarks/results/defaults_<data>[_<choice>][_<tag>].json`` (one row per seed,
merged with earlier rows of the same file).
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
    "translation": ("label_acc_ab", "label_acc_ba", "fid_ab", "fid_ba", "cycle_l1_a", "cycle_l1_b"),
    "images": (
        "fid_lenet",
        "code_accuracy",
        "class_coverage",
        "class_kl",
        "classifier_score_lenet",
        "precision_lenet",
        "recall_lenet",
    ),
}
KIND = {
    "mnist": "images",
    "fashion-mnist": "images",
    "mnist2inverted": "translation",
    "curve": "curves",
    "swissroll": "points",
}
IMAGE_DATA = ("mnist", "fashion-mnist", "mnist2inverted")


def run_one(
    data: str, seed: int, out_root: Path, data_dir: str | None, choice: list[str] = (), pinned: list[str] = ()
) -> dict:
    """``choice``: the user's choice of recipe or objective (``--recipe infogan``), no tuning flag;
    ``pinned``: ``--threads N`` where runs are compared side by side (not a tuning flag)."""
    # the pinned flags name the folder too, so runs compared side by side never share one
    extra = "".join(c if c.isalnum() or c in "._=" else "-" for c in "-".join(["", *pinned])).rstrip("-")
    out = out_root / f"{data}{'-'.join(['', *choice[1::2]])}{extra}-seed{seed}"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "gankit", "train", "--data", data, "--seed", str(seed), "--out", str(out)]
    cmd += [*choice, *pinned, "--progress", "lines"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if data_dir and data in IMAGE_DATA:
        env["GANKIT_DATA"] = data_dir  # where the files are: not a training flag
    load_before = os.getloadavg()[0]
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
        "loadavg_1min_before": round(load_before, 2),
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


def save(
    data: str, rows: list[dict], choice: list[str] = (), machine: str = "", tag: str = "", pinned=()
) -> Path:
    name = "_".join([data, *choice[1::2], *([tag] if tag else [])])
    path = RESULTS / f"defaults_{name}.json"
    old = json.loads(path.read_text())["rows"] if path.exists() else []
    seeds = {r["seed"] for r in rows}
    merged = [r for r in old if r["seed"] not in seeds] + rows
    merged.sort(key=lambda r: r["seed"])
    path.write_text(
        json.dumps(
            {
                "command": " ".join(["gankit train --data", data, *choice, *pinned, "--seed S"])
                + ("" if pinned else " (no other flag)"),
                "machine": machine or "2-core CPU shared with other jobs (wall times are upper bounds)",
                "rows": merged,
            },
            indent=1,
        )
        + "\n"
    )
    return path


def report() -> str:
    lines = []
    for path in sorted(p for p in RESULTS.glob("defaults_*.json") if p.name != "defaults_tuning.json"):
        saved = json.loads(path.read_text())
        rows = saved["rows"]
        data = rows[0]["data"]
        keys = [k for k in KEYS[KIND.get(data, "points")] if any(r.get(k) is not None for r in rows)]
        command = saved.get("command", f"gankit train --data {data}").split(" --seed S")[0]
        lines += [
            f"\n`{command}`:\n",
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
    ap.add_argument("--recipe", default="", help="the user's recipe choice (infogan, progressive, cyclegan)")
    ap.add_argument("--loss", default="", help="the user's objective choice (began)")
    ap.add_argument("--machine", default="", help="what else ran on the machine, for the results file")
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="pin CPU threads (runs compared side by side under equal conditions; needs --tag); 0: gankit's choice",
    )
    ap.add_argument(
        "--flags",
        default="",
        help="more gankit flags for a comparison row, e.g. '--minutes 2 --steps 100000'",
    )
    ap.add_argument("--tag", default="", help="suffix of the results file (defaults_DATA[_CHOICE]_TAG.json)")
    ap.add_argument("--report", action="store_true")
    a = ap.parse_args()
    if a.report:
        print(report())
        return
    choice = [*(["--recipe", a.recipe] if a.recipe else []), *(["--loss", a.loss] if a.loss else [])]
    pinned = (["--threads", str(a.threads)] if a.threads else []) + a.flags.split()
    if pinned and not a.tag:  # else pinned rows would merge into the defaults' own file
        raise SystemExit("--threads and --flags change the defaults: name the results file with --tag")
    for data in a.data.split(","):
        rows = []
        for seed in (int(s) for s in a.seeds.split(",")):
            row = run_one(data, seed, Path(a.out), a.data_dir, choice, pinned)
            print(json.dumps({k: v for k, v in row.items() if k != "config"}), flush=True)
            rows.append(row)
            save(data, rows, choice, a.machine, a.tag, pinned)


if __name__ == "__main__":
    main()
