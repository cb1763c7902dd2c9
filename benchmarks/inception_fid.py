"""Inception FID/KID (clean-fid protocol): speed, the real-data floor, and a gankit run scored.

    python benchmarks/inception_fid.py speed --n 50            # images per second, this machine
    python benchmarks/inception_fid.py floor --data mnist --n 1000   # train vs test of one dataset
    python benchmarks/inception_fid.py run RUN --data mnist --n 1000 # a run's samples vs the test split

Every result is merged into ``benchmarks/results/inception_fid.json`` under its own key, with
the conditions (N, device, threads, wall seconds). The test split's features go through the
same on-disk cache as ``gankit fid``, so ``run`` after ``floor`` computes only the samples'.
FID rests on N images per side and is biased upward at small N (Binkowski et al. 2018, sec. 3);
compare numbers only at the same N.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from gankit.metrics import fid_inputs, inception
from gankit.metrics.inception_eval import fid_kid

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "inception_fid.json"


def features(spec: str, n: int, ext, data_dir, batch_size: int):
    side = fid_inputs.resolve(spec, data_dir, str(ext.device))
    t = time.perf_counter()

    def compute():
        return inception.features(side.take(n, batch_size), n, ext, progress=True, desc=spec)

    feats = inception.cached_features(side.cache(n, ext.name), compute) if side.cache else compute()
    return feats, time.perf_counter() - t


def save(key: str, row: dict) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[key] = row
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({key: row}))


def conditions(ext) -> dict:
    return {
        "device": str(ext.device),
        "gpu": torch.cuda.get_device_name() if ext.device.type == "cuda" else None,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "protocol": inception.PROTOCOL,
        "network": ext.name,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["speed", "floor", "run"])
    p.add_argument("run_dir", nargs="?", default=None)
    p.add_argument("--data", default="mnist")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    ext = inception.load_extractor(args.device)
    if args.what == "speed":
        x = torch.randint(0, 256, (args.n, 1, 28, 28), dtype=torch.uint8)
        inception.features(x[:2].split(2), 2, ext)  # warm-up
        t = time.perf_counter()
        inception.features(x.split(args.batch_size), args.n, ext, progress=True, desc="speed")
        wall = time.perf_counter() - t
        save(
            f"speed_{ext.device.type}",
            {"n": args.n, "batch_size": args.batch_size, "wall_s": round(wall, 2),
             "images_per_s": round(args.n / wall, 3), **conditions(ext)},
        )  # fmt: skip
        return
    test, t_test = features(f"{args.data}:test", args.n, ext, args.data_dir, args.batch_size)
    if args.what == "floor":
        other, t_other = features(f"{args.data}:train", args.n, ext, args.data_dir, args.batch_size)
        key, label = f"floor_{args.data}_n{args.n}", f"{args.data}:train"
    else:
        other, t_other = features(args.run_dir, args.n, ext, args.data_dir, args.batch_size)
        key, label = f"run_{args.data}_{Path(args.run_dir).name}_n{args.n}", args.run_dir
    t = time.perf_counter()
    scores = fid_kid(other, test)
    row = {
        "a": label,
        "b": f"{args.data}:test",
        "n": args.n,
        **scores,
        "features_wall_s": {"test": round(t_test, 1), "other": round(t_other, 1)},
        "scores_wall_s": round(time.perf_counter() - t, 1),
        **conditions(ext),
    }
    if args.what == "run":
        cfg = json.loads((Path(args.run_dir) / "config.json").read_text())
        row["run_config"] = {k: cfg.get(k) for k in ("data", "model", "loss", "steps", "batch_size", "seed")}
        last = (Path(args.run_dir) / "metrics.jsonl").read_text().splitlines()[-1]
        row["steps_done"], row["fid_lenet"] = (json.loads(last).get(k) for k in ("step", "fid_lenet"))
    save(key, row)


if __name__ == "__main__":
    main()
