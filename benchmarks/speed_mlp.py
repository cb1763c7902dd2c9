"""Training speed: the textbook GAN loop against gankit's trainer, same model, data and batch.

The textbook loop (as in the classic single-file MNIST GAN scripts): MLP G 10-128-784 with a
sigmoid output, D 784-128-1, Adam 1e-3, batch 64; G(z) computed twice per iteration, D called
separately on real and fake, the D step backpropagating through G. gankit: the same layer sizes
(``mlp`` width 128, depth 1, ReLU, z_dim 10; tanh output for data in [-1, 1]), loss ``ns``, Adam
1e-3 (0.9, 0.999), batch 64, timed over ``Trainer.train_step``. Both draw batches from the same
in-memory MNIST tensor. Repeats alternate the two and report the median images per CPU second
of the process (``time.process_time``: robust on a shared machine, where wall-clock rates
measure the other jobs) and the median of the per-repeat ratios.

    python benchmarks/speed_mlp.py --data-dir ../shared/data [--iters 300] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn


def textbook(x_all: torch.Tensor, batch: int = 64):
    """The textbook step as a closure over persistent networks and optimizers."""
    G = nn.Sequential(nn.Linear(10, 128), nn.ReLU(), nn.Linear(128, 784), nn.Sigmoid())
    D = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 1), nn.Sigmoid())
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3)
    n = x_all.shape[0]

    def step():
        x = x_all[torch.randint(n, (batch,))].flatten(1)
        z = torch.randn(batch, 10)
        d_real = D(x)
        d_fake = D(G(z))
        loss_d = -torch.mean(torch.log(d_real) + torch.log(1 - d_fake))
        loss_d.backward()
        opt_d.step()
        G.zero_grad()
        D.zero_grad()
        z = torch.randn(batch, 10)
        loss_g = -torch.mean(torch.log(D(G(z))))
        loss_g.backward()
        opt_g.step()
        G.zero_grad()
        D.zero_grad()

    return step


def timed(step, iters: int, batch: int) -> float:
    t0 = time.process_time()
    for _ in range(iters):
        step()
    return iters * batch / (time.process_time() - t0)


def gankit_trainer(data_dir: str, out: str):
    from gankit.config import Config
    from gankit.training.trainer import Trainer

    cfg = Config(
        data="mnist",
        data_dir=data_dir,
        model="mlp",
        loss="ns",
        z_dim=10,
        batch_size=64,
        lr=1e-3,
        betas=(0.9, 0.999),
        steps=10**9,
        eval_every=10**9,
        progress="none",
        out=out,
        model_args={"width": 128, "depth": 1, "g_activation": "relu", "d_activation": "relu"},
    )
    return Trainer(cfg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    # Trainer.fit flushes denormals on CPU; train_step alone does not, so set it for both loops
    # (in every intra-op thread, as fit does).
    from gankit.training.denormals import set_flush_denormal

    set_flush_denormal(True)
    torch.manual_seed(0)
    trainer = gankit_trainer(args.data_dir, "benchmarks/out/speed_mlp")
    x_all = trainer.dataset.train_x.float().div(255)  # the same MNIST tensor, in memory
    plain = textbook(x_all)
    timed(trainer.train_step, 20, 64)
    timed(plain, 20, 64)
    rows = []
    for _ in range(args.repeats):
        a = timed(plain, args.iters, 64)
        b = timed(trainer.train_step, args.iters, 64)
        rows.append((a, b, b / a))
    med = {
        k: statistics.median(r[i] for r in rows)
        for i, k in enumerate(("textbook_img_per_cpu_s", "gankit_img_per_cpu_s", "ratio"))
    }
    print(
        json.dumps(
            {
                "threads": args.threads,
                "iters": args.iters,
                "repeats": args.repeats,
                **med,
                "ratios": [round(r[2], 3) for r in rows],
            }
        )
    )


if __name__ == "__main__":
    main()
