"""CycleGAN on the built-in unpaired task ``mnist2inverted`` on this CPU: metrics over wall time.

    nice -n 10 python benchmarks/cyclegan_mnist.py --out runs/bench-cyclegan --max-wall-s 3300

Trains with the recipe's recommended setup (LSGAN, lambda_cycle 10, identity 0.5, pool 50,
Adam 2e-4 (0.5, 0.999), constant learning rate then linear decay to zero over the second
half) and prints a Markdown table of the evaluations from the run's ``metrics.jsonl``.
Every evaluation's checkpoint is kept; ``--reeval`` evaluates them all again (for instance
when the classifier weights were missing during training) and prints that table instead.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from gankit import config as config_mod
from gankit.config import Config
from gankit.training import checkpoint as ckpt
from gankit.training.runfolder import MetricsLog
from gankit.training.trainer import Trainer

COLUMNS = ("step", "wall_s", "label_acc_ab", "label_acc_ba", "fid_ab", "fid_ba", "cycle_l1_a", "cycle_l1_b")


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = []
        for k in COLUMNS:
            v = r.get(k)
            cells.append("" if v is None else f"{v:.0f}" if k in ("step", "wall_s") else f"{v:.3g}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reevaluate(run_dir: Path, n: int) -> list[dict]:
    """Metrics of every kept checkpoint of ``run_dir``, with the wall time it was saved at."""
    rows = []
    for path in ckpt.list_checkpoints(run_dir / "checkpoints"):
        state = ckpt.load_file(path)
        cfg = config_mod.from_dict(json.loads(state["config"]))
        trainer = Trainer(cfg, run_dir=run_dir, resume_state=state)
        rows.append({"step": trainer.state.step, "wall_s": trainer.state.wall_s, **trainer.evaluate(n)})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/bench-cyclegan-mnist")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--n-blocks", type=int, default=2)
    p.add_argument("--n-down", type=int, default=1)
    p.add_argument("--max-wall-s", type=float, default=3300.0)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--n-eval", type=int, default=500)
    p.add_argument("--reeval", action="store_true", help="evaluate the kept checkpoints of --out again")
    p.add_argument("--data-dir", default=os.environ.get("GANKIT_DATA", "/work/shared/data"))
    args = p.parse_args()
    if args.reeval:
        print(table(reevaluate(Path(args.out), args.n_eval)))
        return
    cfg = Config(
        data="mnist2inverted",
        recipe="cyclegan",
        data_dir=args.data_dir,
        steps=args.steps,
        batch_size=args.batch_size,
        max_wall_s=args.max_wall_s,
        model_args={"width": args.width, "n_blocks": args.n_blocks, "n_down": args.n_down},
        lr_schedule="linear-decay",
        decay_start=0.5,
        eval_every=args.eval_every,
        n_eval=args.n_eval,
        keep_ckpts=1000,
        out=args.out,
        progress="lines",
    )
    trainer = Trainer(cfg)
    trainer.fit()
    print(table(MetricsLog(trainer.run_dir / "metrics.jsonl").read()))


if __name__ == "__main__":
    main()
