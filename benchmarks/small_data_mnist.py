"""Small-data MNIST: DCGAN with ``ns`` on the first 1,000 or 300 training images, without
augmentation, with DiffAugment and with ADA, at equal CPU time.

Each run: model dcgan (28x28, width 64), batch 64, Adam 2e-4 (0.5, 0.999), ``--cpu-seconds`` of
one thread (CPU time, so a shared machine's waiting is excluded), ``data.limit`` = the training
size. Scored after training on ``--n-eval`` fixed-noise samples by fid_lenet and the class KL
against the FULL MNIST test split (computed here with an unlimited dataset, as it was before
``data.limit`` left the test split whole). ADA's speed is scaled
for runs this short: ``ada_kimg`` = ``--ada-kimg`` thousand images to move p by 1 (the paper:
500), adjusted every 4 D updates, target 0.6.

    python benchmarks/small_data_mnist.py --sizes 1000,300 --cpu-seconds 90

Results: ``benchmarks/results/small_data_mnist.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_budget import ROOT, data_dir, train_for  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
KEYS = ("fid_lenet", "class_kl", "class_coverage", "classifier_score_lenet")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000,300")
    p.add_argument("--augments", default="none,diffaugment,ada")
    p.add_argument("--cpu-seconds", type=float, default=90.0)
    p.add_argument("--ada-kimg", type=float, default=20.0)
    p.add_argument("--n-eval", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--suffix", default="")
    a = p.parse_args()
    from gankit.config import Config
    from gankit.data.base import build_dataset

    full = build_dataset("mnist", {}, data_dir())
    rows = []
    for size in [int(s) for s in a.sizes.split(",")]:
        for aug in a.augments.split(","):
            recipe_args = {"augment": aug}
            if aug == "ada":
                recipe_args["ada_kimg"] = a.ada_kimg
            cfg = Config(
                data="mnist",
                model="dcgan",
                loss="ns",
                batch_size=64,
                steps=10**7,
                seed=a.seed,
                data_dir=data_dir(),
                data_args={"limit": size},
                recipe_args=recipe_args,
                progress="none",
                out=f"/tmp/small-data-bench/{size}-{aug}",
            )
            trainer, budget = train_for(cfg, a.cpu_seconds)
            fake, _ = trainer.generate(a.n_eval)
            metrics = full.evaluate(fake)
            row = {"train_images": size, "augment": aug, **budget, **{k: metrics.get(k) for k in KEYS}}
            row.update({k: round(float(v), 4) for k, v in trainer.recipe.stats().items()})
            rows.append(row)
            print(json.dumps(row), flush=True)
    out = {
        "cpu_seconds_per_run": a.cpu_seconds,
        "threads": 1,
        "ada_kimg": a.ada_kimg,
        "n_eval": a.n_eval,
        "reference": "full MNIST test split",
        "machine": "shared 2-core CPU (CPU time budget; wall time under contention)",
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"small_data_mnist{a.suffix}.json").write_text(json.dumps(out, indent=1))
    print("| train images | augment | steps | " + " | ".join(KEYS) + " |")
    for r in rows:
        cells = " | ".join(f"{r[k]:.3g}" if isinstance(r[k], float) else str(r[k]) for k in KEYS)
        print(f"| {r['train_images']} | {r['augment']} | {r['steps']} | {cells} |")


if __name__ == "__main__":
    main()
