"""R3GAN's loss (rpgan + R1 + R2) against the non-saturating GAN (ns) at equal CPU time.

Toy sets (grid, ring, 25gaussians): the default MLP (3 x 256, z_dim 2), batch 256, each
objective's recommended optimizer settings (ns: Adam 2e-4 (0.5, 0.999); rpgan: Adam 2e-4
(0, 0.99), R1 = R2 = gamma), ``--cpu-seconds`` of one thread per run, a few seeds; scored by
the toy metrics (modes covered, hq_fraction, mode_kl) on 2,500 samples. MNIST: DCGAN 28x28,
batch 64 (rpgan: D with layer norm instead of batch norm, since the gradient penalties need
per-sample gradients), scored by fid_lenet and class KL against the test split.

    python benchmarks/r3gan.py toy --cpu-seconds 45 --seeds 0,1 --gammas 0.1,1
    python benchmarks/r3gan.py mnist --cpu-seconds 180 --gammas 0.1

Results: ``benchmarks/results/r3gan_{toy,mnist}.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_budget import ROOT, data_dir, train_for  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TOY_KEYS = ("modes", "modes_total", "hq_fraction", "mode_kl")
MNIST_KEYS = ("fid_lenet", "class_kl", "class_coverage", "classifier_score_lenet")


def variants(gammas: str) -> dict[str, dict]:
    out = {"ns": {"loss": "ns"}}
    for g in gammas.split(","):
        out[f"rpgan r1=r2={g}"] = {"loss": "rpgan", "penalties": {"r1": float(g), "r2": float(g)}}
    return out


def run(kind: str, a) -> None:
    from gankit.config import Config

    rows = []
    datas = a.data.split(",") if kind == "toy" else ["mnist"]
    for data in datas:
        for name, kw in variants(a.gammas).items():
            for seed in [int(s) for s in a.seeds.split(",")]:
                extra = (
                    dict(model="dcgan", batch_size=64, data_dir=data_dir(), n_eval=2000)
                    if kind == "mnist"
                    else dict(batch_size=256, n_eval=2500)
                )
                if kind == "mnist" and kw["loss"] == "rpgan":  # gradient penalties: no batch norm in D
                    extra["model_args"] = {"d_norm": "layer"}
                cfg = Config(
                    data=data,
                    seed=seed,
                    steps=10**7,
                    progress="none",
                    out=f"/tmp/r3gan-bench/{data}-{seed}",
                    **extra,
                    **kw,
                )
                trainer, budget = train_for(cfg, a.cpu_seconds)
                metrics = trainer.evaluate()
                keys = MNIST_KEYS if kind == "mnist" else TOY_KEYS
                row = {
                    "data": data,
                    "variant": name,
                    "seed": seed,
                    **budget,
                    **{k: metrics.get(k) for k in keys},
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "cpu_seconds_per_run": a.cpu_seconds,
        "threads": 1,
        "machine": "shared 2-core CPU (CPU time, not wall)",
        "rows": rows,
    }
    (RESULTS / f"r3gan_{kind}{a.suffix}.json").write_text(json.dumps(out, indent=1))
    print(report(rows, keys))


def report(rows, keys) -> str:
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault((r["data"], r["variant"]), []).append(r)
    lines = ["| data | objective | steps | " + " | ".join(keys) + " |", "|---" * (3 + len(keys)) + "|"]
    for (data, name), rs in groups.items():
        cells = []
        for k in keys:
            vals = [r[k] for r in rs if r.get(k) is not None]
            cells.append(", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in vals))
        steps = statistics.median(r["steps"] for r in rs)
        lines.append(f"| {data} | {name} | {steps:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["toy", "mnist"])
    p.add_argument("--data", default="grid,ring,25gaussians")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--gammas", default="0.1")
    p.add_argument("--cpu-seconds", type=float, default=45.0)
    p.add_argument("--suffix", default="")
    run(p.parse_args().kind, p.parse_args())


if __name__ == "__main__":
    main()
