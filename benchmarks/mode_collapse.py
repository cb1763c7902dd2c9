"""Mode collapse on the PacGAN/VEEGAN 2-D mixtures: plain ns against each remedy.

Every variant trains the same MLP with the same budget (steps, batch size, learning rates)
for several seeds on ``ring`` (8 modes) and ``grid`` (25 modes); reported: modes covered and
the fraction of high-quality samples (within 3 std of a centre) of 2,500 samples, and wall
time. Usage::

    python benchmarks/mode_collapse.py --steps 1500 --seeds 0 1 2 --out benchmarks/out/mode_collapse
    python benchmarks/mode_collapse.py --variants plain pack4 --data ring --steps 200   # quick look

Results: ``<out>/results.json`` (one row per run) and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

VARIANTS = {  # name -> (recipe_args, loss_args, extra model_args)
    "plain": ({}, {}, {}),
    "label-smoothing": ({}, {"label_smoothing": 0.9}, {}),
    "feature-matching": ({"feature_matching": "add"}, {}, {}),
    "minibatch-disc": ({"minibatch_disc": 4, "mbd_dims": 3}, {}, {}),  # cost: O(B C N^2)
    "mbstd": ({"mbstd": 4}, {}, {}),
    "hist-avg": ({"hist_avg_d": 1e-3, "hist_avg_g": 1e-3}, {}, {}),
    "vbn": ({"vbn": 64}, {}, {"g_norm": "batch"}),
    "pack2": ({"pack": 2}, {}, {}),
    "pack4": ({"pack": 4}, {}, {}),
    # Unrolled GAN, inner steps: D's own Adam from its current moments (the paper's), k = 5 or 10;
    # and plain SGD steps of 0.1 (eq. 7 as written; G hid from D, docs/mode_collapse.md).
    "unrolled5-adam": ({"unrolled": True, "unroll_steps": 5}, {}, {}),
    "unrolled10-adam": ({"unrolled": True, "unroll_steps": 10}, {}, {}),
    "unrolled5": ({"unrolled": True, "unroll_steps": 5, "unroll_lr": 0.1, "unroll_inner": "sgd"}, {}, {}),
}


def run_one(data: str, variant: str, seed: int, args) -> dict:
    from gankit.config import Config
    from gankit.training.trainer import Trainer

    recipe_args, loss_args, model_extra = VARIANTS[variant]
    out = Path(args.out) / f"{data}-{variant}-s{seed}"
    cfg = Config(
        data=data,
        loss="ns",
        steps=args.steps,
        batch_size=args.batch_size,
        seed=seed,
        lr=args.lr,
        lr_d=args.lr_d or args.lr,
        device="cpu",
        eval_every=args.steps,
        n_eval=2500,
        max_wall_s=args.max_wall_s,
        progress="none",
        out=str(out),
        model_args={"width": args.width, "depth": 3, **model_extra},
        recipe_args=recipe_args,
        loss_args=loss_args,
    )
    t0 = time.perf_counter()
    row = Trainer(cfg).fit(progress=False)
    return {
        "data": data,
        "variant": variant,
        "seed": seed,
        "steps": row.get("step"),
        "modes": row.get("modes"),
        "modes_total": row.get("modes_total"),
        "hq_fraction": row.get("hq_fraction"),
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| data | variant | seeds | modes (mean, min-max) | hq_fraction | steps | wall s / run |",
        "|---|---|---|---|---|---|---|",
    ]
    order = {v: i for i, v in enumerate(VARIANTS)}  # variants of older runs last
    keys = sorted(
        {(r["data"], r["variant"]) for r in rows}, key=lambda k: (k[0], order.get(k[1], len(order)), k[1])
    )
    for data, variant in keys:
        rs = [r for r in rows if (r["data"], r["variant"]) == (data, variant)]
        modes = [r["modes"] for r in rs]
        hq = [r["hq_fraction"] for r in rs]
        lines.append(
            f"| {data} | {variant} | {len(rs)} | {statistics.mean(modes):.1f} of {rs[0]['modes_total']} "
            f"({min(modes)}-{max(modes)}) | {statistics.mean(hq):.2f} | {min(r['steps'] for r in rs)} | "
            f"{statistics.mean(r['wall_s'] for r in rs):.0f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", nargs="+", default=["ring", "grid"])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--lr-d", type=float, default=0.0, help="D's learning rate (0: --lr)")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--max-wall-s", type=float, default=0.0, help="per-run wall-clock cap (0: none)")
    p.add_argument("--out", default="benchmarks/out/mode_collapse")
    args = p.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    results = Path(args.out) / "results.json"
    rows = json.loads(results.read_text()) if results.exists() else []
    done = {(r["data"], r["variant"], r["seed"]) for r in rows}
    for seed in args.seeds:  # seeds outermost: a cut-short run still covers every variant
        for data in args.data:
            for variant in args.variants:
                if (data, variant, seed) in done:
                    continue
                row = run_one(data, variant, seed, args)
                print(json.dumps(row), flush=True)
                rows.append(row)
                results.write_text(json.dumps(rows, indent=1) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
