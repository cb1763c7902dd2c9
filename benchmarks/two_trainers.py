"""Two gankit trainers sharing the cores: the second starts while the first holds them all.

Starts ``gankit train`` A, waits ``--delay`` seconds, starts B (the same command, another
seed), and reads both trainers' thread counts from gankit's registry (``threads.Sharing``) every
half second until both end. Without the sharing rule A would keep every core and B would add a
thread on top (oversubscription); with it A gives a core back within ``REBALANCE_S`` of B's
start and takes it again when B ends.

    python benchmarks/two_trainers.py --data grid --delay 20

Results: ``benchmarks/results/two_trainers_<data>.json`` (the timeline of counts, each run's
steps and wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gankit.training.threads import available_cores  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="grid")
    ap.add_argument("--delay", type=float, default=20.0)
    ap.add_argument("--flags", default="", help="extra gankit train flags for both runs")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="two-trainers-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GANKIT_TRAINERS_DIR": str(work / "registry")}
    registry = work / "registry" / "gankit-trainers"

    def start(seed: int) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "gankit", "train", "--data", a.data, "--seed", str(seed)]
        cmd += [*a.flags.split(), "--progress", "none", "--out", str(work / f"run{seed}")]
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    t0 = time.perf_counter()
    procs = {"A": start(0)}
    started = {"A": 0.0}
    timeline = []
    while any(p.poll() is None for p in procs.values()):
        now = time.perf_counter() - t0
        if "B" not in procs and now >= a.delay:
            procs["B"], started["B"] = start(1), now
        counts = {}
        for name, p in procs.items():
            f = registry / str(p.pid)
            if p.poll() is None and f.exists():
                counts[name] = int(f.read_text() or 0)
        timeline.append({"t": round(now, 1), **counts})
        time.sleep(0.5)
    runs = {}
    for name in procs:
        rows = [
            json.loads(line) for line in (work / f"run{0 if name == 'A' else 1}" / "metrics.jsonl").open()
        ]
        runs[name] = {
            "started_s": round(started[name], 1),
            "steps": rows[-1]["step"],
            "wall_s": rows[-1]["wall_s"],
        }
        runs[name]["hq_fraction"] = rows[-1].get("hq_fraction")
    busiest = max(sum(v for k, v in row.items() if k != "t") for row in timeline)
    out = {
        "command": f"gankit train --data {a.data} {a.flags}".strip(),
        "delay_s": a.delay,
        "cores": available_cores(),
        "most_threads_at_once": busiest,
        "runs": runs,
        "timeline": timeline,
    }
    shutil.rmtree(work, ignore_errors=True)
    path = ROOT / "benchmarks" / "results" / f"two_trainers_{a.data}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    counts = [{k: v for k, v in row.items() if k != "t"} for row in timeline]
    changes = [row for i, row in enumerate(timeline) if i == 0 or counts[i] != counts[i - 1]]
    for row in changes:
        print(row)
    print(json.dumps(runs), f"most threads at once: {busiest}")


if __name__ == "__main__":
    main()
