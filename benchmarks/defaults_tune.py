"""Variants of the toy preset, one seed each, for tuning (rows in results/defaults_tuning.json).

Each variant is the toy recipe (ns, MLP 3 x 256, Adam 1e-3 held 30% then decayed linearly to 0,
6,000 steps, batch 256, gp 0.1) with some keys changed; one thread, evaluation at the end only.

    python benchmarks/defaults_tune.py '{"ema999": {"ema": 0.999}}' 25gaussians 0,1
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BASE = dict(
    loss="ns",
    lr=1e-3,
    lr_schedule="linear-decay",
    decay_start=0.3,
    steps=6000,
    penalties={"gp": 0.1},
    batch_size=256,
    progress="none",
    n_eval=2500,
)


def main() -> None:
    from gankit.config import Config
    from gankit.training.trainer import Trainer

    torch.set_num_threads(1)
    variants = json.loads(sys.argv[1])
    data, seeds = sys.argv[2], [int(s) for s in sys.argv[3].split(",")]
    for name, change in variants.items():
        for seed in seeds:
            kw = {**BASE, **change, "data": data, "seed": seed}
            kw["out"] = f"/tmp/gankit-tune/{data}-{name}-{seed}-{time.time():.0f}"
            kw["eval_every"] = kw["steps"]
            t = time.time()
            row = Trainer(Config(**kw)).fit(progress=False)
            print(
                json.dumps(
                    {
                        "name": name,
                        "change": change,
                        "data": data,
                        "seed": seed,
                        "modes": row.get("modes"),
                        "hq": round(row.get("hq_fraction", 0), 3),
                        "kl": round(row.get("mode_kl", 0), 3),
                        "wall": round(time.time() - t, 1),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
