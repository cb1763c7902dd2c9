"""Whole-process speed: the seed article's LSGAN script against ``gankit train`` on the same MLP.

Each run is a fresh process timed end to end: Python startup, imports, reading MNIST, training,
and the final output (the seed script: 16 samples drawn with matplotlib; gankit: its
evaluation at the end, as the issue's protocol asks (``eval_on_start=false``), with
FID/KID/precision/recall on LeNet features, the metrics log, the pictures and the final
checkpoint). Both train G 10-128-784 and D 784-128-1,
least squares (a=0, b=c=1), Adam 1e-3 (0.9, 0.999), batch 64, for ``--steps`` steps; images per
second = steps x batch / time. The variants run back to back, alternating within each repeat:

- ``seed``: ``benchmarks/seed_lsgan.py`` at torch's default thread count;
- ``gankit``: ``gankit train`` with its own thread choice (``gankit/training/threads.py``);
- ``gankit_start``: the same with the step-0 evaluation too (gankit's default cadence);
- ``gankit_t1`` / ``gankit_t2``: ``gankit train --threads 1`` / ``2``;
- ``seed_t1``: the seed script on one thread;
- ``lean``: ``benchmarks/lean_lsgan.py``, gankit's per-step algorithm hand-written with nothing
  else (no checks, schedule, metrics or checkpoints), at torch's default thread count: the
  ceiling of the ratio for a loop of this algorithm;
- ``gankit_base``: ``gankit train`` as ``gankit``, from another checkout (``--base-root``, e.g.
  ``git archive COMMIT | tar -x -C /tmp/base``), for before/after comparisons in one run.

Two clocks per run: wall time, and the child's CPU time (user + sys from ``os.wait4``'s
resource usage). On a machine shared with other jobs the wall time measures them too; the CPU
time counts only this process's work (though contention still inflates it a little through
cache misses and, with two threads, spinning). Reported: per-variant medians and the median of
the per-repeat ratios gankit / seed in images per second (time_seed / time_gankit).

    python benchmarks/speed_whole_process.py --data-dir ../shared/data [--steps 6000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 64


def commands(data_dir: str, steps: int, out: Path) -> dict[str, list[str]]:
    py = sys.executable
    seed = [py, str(ROOT / "benchmarks" / "seed_lsgan.py"), "--data-dir", data_dir, "--steps", str(steps)]
    lean = [py, str(ROOT / "benchmarks" / "lean_lsgan.py"), "--data-dir", data_dir, "--steps", str(steps)]
    gankit = [
        py, "-m", "gankit", "train", "--data", "mnist", "--data-dir", data_dir, "--model", "mlp",
        "--loss", "lsgan", "--z-dim", "10", "--batch-size", str(BATCH), "--lr", "1e-3",
        "--set", "betas=0.9,0.999", "--steps", str(steps), "--eval-every", str(steps),
        "--set", "model_args.width=128", "--set", "model_args.depth=1",
        "--set", "model_args.d_activation=relu", "--progress", "none",
    ]  # fmt: skip
    at_end = ["--set", "eval_on_start=false"]  # the protocol: evaluation only at the end
    return {
        "seed": [*seed, "--out", str(out / "seed")],
        "gankit": [*gankit, *at_end, "--out", str(out / "gankit")],
        "gankit_start": [*gankit, "--out", str(out / "gankit_start")],
        "gankit_t1": [*gankit, *at_end, "--threads", "1", "--out", str(out / "gankit_t1")],
        "gankit_t2": [*gankit, *at_end, "--threads", "2", "--out", str(out / "gankit_t2")],
        "seed_t1": [*seed, "--threads", "1", "--out", str(out / "seed_t1")],
        "lean": [*lean, "--out", str(out / "lean")],
        "gankit_base": [*gankit, *at_end, "--out", str(out / "gankit_base")],
    }


def run_once(cmd: list[str], out_dir: Path, root: Path = ROOT) -> dict[str, float]:
    """Wall and CPU (user + sys) seconds of one process run to completion, in ``root`` (``python
    -m`` puts the current folder first on the import path)."""
    shutil.rmtree(out_dir, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(root), "GANKIT_TRAINERS_DIR": str(out_dir.parent / "registry")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime}


def ratios_vs(ref: str, runs: dict[str, list[dict]], variants) -> dict[str, dict[str, float]]:
    """Per variant, the median over paired runs of ``ref``'s wall and CPU time over the variant's
    (> 1: the variant is faster); empty when ``ref`` was not run."""
    return {
        v: {
            k: statistics.median(r[k] / g[k] for r, g in zip(runs[ref], runs[v], strict=True))
            for k in ("wall_s", "cpu_s")
        }
        for v in variants
        if v != ref and ref in runs
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--variants", default="seed,gankit,gankit_t1")
    ap.add_argument("--base-root", default="", help="checkout that the gankit_base variant runs")
    ap.add_argument("--gankit-root", default="", help="checkout that the other gankit variants run")
    ap.add_argument("--json", default="", help="write the results here too")
    ap.add_argument("--note", default="2-core machine shared with other jobs (load average above)")
    args = ap.parse_args()
    variants = args.variants.split(",")
    work = Path(tempfile.mkdtemp(prefix="speed-whole-"))
    cmds = commands(os.path.abspath(args.data_dir), args.steps, work)
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    load = [os.getloadavg()[0]]
    for r in range(args.repeats):
        order = variants if r % 2 == 0 else variants[::-1]  # alternate who goes first
        for v in order:
            root = ROOT
            if v == "gankit_base" or (v.startswith("gankit") and args.gankit_root):
                root = Path(args.base_root if v == "gankit_base" else args.gankit_root).resolve()
            runs[v].append(run_once(cmds[v], work / v, root))
            print(v, {k: round(x, 2) for k, x in runs[v][-1].items()}, file=sys.stderr, flush=True)
        load.append(os.getloadavg()[0])
    shutil.rmtree(work, ignore_errors=True)
    images = args.steps * BATCH
    result = {
        "steps": args.steps,
        "batch": BATCH,
        "repeats": args.repeats,
        "cores": os.cpu_count(),
        "load_average_1min": [round(x, 2) for x in load],
        "runs": runs,
        "median": {
            v: {
                **{k: statistics.median(x[k] for x in runs[v]) for k in ("wall_s", "cpu_s")},
                "img_per_wall_s": statistics.median(images / x["wall_s"] for x in runs[v]),
                "img_per_cpu_s": statistics.median(images / x["cpu_s"] for x in runs[v]),
            }
            for v in variants
        },
        "ratio_vs_seed": ratios_vs("seed", runs, variants),
        "ratio_vs_seed_t1": ratios_vs("seed_t1", runs, variants),
        "note": f"{args.note}; CPU = child user+sys",
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
