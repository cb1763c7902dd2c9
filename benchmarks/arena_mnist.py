"""The MNIST arena behind README's table beside Lucic et al. 2018 ("Are GANs Created Equal?"):
their MNIST architecture (model ``lucic``), the main objectives, 3 seeds, a wall-clock budget
per run, ranked by fid_lenet (FID in the features of the LeNet gankit ships, not Inception).

    python benchmarks/arena_mnist.py --data-dir DATA --device cuda --out OUT        # on a GPU
    python benchmarks/arena_mnist.py --data-dir DATA --device cpu --losses ns,lsgan --seeds 1 \\
        --budget-s 20 --out OUT                                                      # tiny check

DATA holds mnist/ (the four original gz files). Writes OUT/mnist/ (an arena folder) and
OUT/arena_mnist.md. Every objective gets the same wall time, evaluation included, so a fast step
(ns) buys more steps than a slow one (wgan-gp: five critic updates and a double backward).

Settings: batch 64 (Lucic et al.), D with layer norm instead of batch norm for every objective
(the gradient penalty is per sample, which batch norm breaks; one architecture for all keeps the
comparison fair), 2,500 samples per evaluation (each costs a few CPU seconds: LeNet features,
KID, precision/recall), an evaluation every 4,000 steps and at the end, target fid_lenet <= 10.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from arena_toy import ROOT, common_args, run_datasets  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--losses", default="ns,minimax,lsgan,wgan-gp,hinge")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=1_000_000, help="step cap; the wall-clock budget ends runs")
    p.add_argument(
        "--budget-s", type=float, default=50.0, help="wall-clock seconds per run, evaluation included"
    )
    p.add_argument("--eval-every", type=int, default=4000)
    p.add_argument("--n-eval", type=int, default=2500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--target", default="fid_lenet<=10")
    p.add_argument("--device", default="cuda", help="device of every run (default cuda)")
    p.add_argument("--data-dir", required=True, help="folder holding mnist/")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "arena-mnist"))
    common_args(p)
    args = p.parse_args(argv)
    args.evals = 1  # unused: eval_every is set
    sets = [
        f"data_dir={Path(args.data_dir).resolve()}",
        f"batch_size={args.batch_size}",
        f"n_eval={args.n_eval}",
        f"eval_every={args.eval_every}",
        "model.d_norm=layer",
        "keep_ckpts=1",
    ]
    run_datasets(
        args,
        datasets=["mnist"],
        model="lucic",
        sets=sets,
        target=args.target,
        title="MNIST arena",
        md_name="arena_mnist.md",
        device=args.device,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
