"""Training speed: gankit's Trainer against the straightforward DCGAN loop, same model and batch.

The straightforward loop is the PyTorch DCGAN example's step (BCE on logits, Adam 2e-4 /
(0.5, 0.999), D on a real batch and on G's detached fake, then G through D on the same fake),
drawing real batches by random indexing of the float MNIST tensor. gankit's side is
``Trainer.train_step`` with ``loss=ns`` (the same losses), model dcgan, the same batch size.
Both run in one process, alternating, ``--repeats`` times ``--steps`` steps each after a
warm-up; the table gives the median images per CPU second of the process (robust on a shared
machine, where wall-clock rates mostly measure the other jobs) and per wall second.

    OMP_NUM_THREADS=1 nice python benchmarks/dcgan_speed.py --steps 30 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


def plain_loop(G, D, x_train, batch, z_dim):
    """The PyTorch-example step, as a closure over its own optimizers."""
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones, zeros = torch.ones(batch), torch.zeros(batch)

    def step():
        real = x_train[torch.randint(len(x_train), (batch,))]
        D.zero_grad()
        loss_real = F.binary_cross_entropy_with_logits(D(real), ones)
        fake = G(torch.randn(batch, z_dim))
        loss_fake = F.binary_cross_entropy_with_logits(D(fake.detach()), zeros)
        (loss_real + loss_fake).backward()
        opt_d.step()
        G.zero_grad()
        F.binary_cross_entropy_with_logits(D(fake), ones).backward()
        opt_g.step()

    return step


def images_per_second(step, steps: int, batch: int) -> tuple[float, float]:
    """(images per wall second, images per CPU second of this process) over ``steps`` steps."""
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - t0), steps * batch / (time.process_time() - c0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, default=28)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    from gankit.config import Config
    from gankit.data.images import to_float
    from gankit.nets import ModelSpec, build_networks
    from gankit.training.trainer import Trainer

    cfg = Config(
        data="mnist",
        model="dcgan",
        loss="ns",
        data_dir=a.data_dir,
        batch_size=a.batch_size,
        data_args={"image_size": a.image_size},
        steps=1,
        out="/tmp/gankit-speed",
        progress="none",
    )
    trainer = Trainer(cfg)
    x_train = to_float(trainer.dataset.train_x)  # (60000, 1, S, S) float, as the example keeps it
    torch.manual_seed(0)
    spec = ModelSpec((1, a.image_size, a.image_size), z_dim=100, bounded=True)
    nets = build_networks("dcgan", spec, {})
    plain = plain_loop(nets["G"], nets["D"], x_train, a.batch_size, 100)

    def gankit_step():
        trainer.train_step()

    for fn in (plain, gankit_step):  # warm-up
        images_per_second(fn, 3, a.batch_size)
    rates = {"plain": [], "gankit": []}  # (wall, cpu) images per second, per repeat
    for _ in range(a.repeats):
        rates["plain"].append(images_per_second(plain, a.steps, a.batch_size))
        rates["gankit"].append(images_per_second(gankit_step, a.steps, a.batch_size))
    med = {k: [statistics.median(r[i] for r in v) for i in (0, 1)] for k, v in rates.items()}
    result = {
        "batch_size": a.batch_size,
        "image_size": a.image_size,
        "threads": a.threads,
        "steps": a.steps,
        "repeats": a.repeats,
        "rates_wall_cpu": rates,
        "median_wall_cpu": med,
        "ratio_cpu": med["gankit"][1] / med["plain"][1],
        "torch": torch.__version__,
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"dcgan_speed_{a.image_size}.json").write_text(json.dumps(result, indent=1))
    print(
        f"| loop | images per CPU second | images per wall second |  (median of {a.repeats} x {a.steps} steps)"
    )
    print("|---|---|---|")
    for k, label in (("plain", "straightforward DCGAN loop"), ("gankit", "gankit Trainer.train_step")):
        print(f"| {label} | {med[k][1]:.0f} | {med[k][0]:.0f} |")
    print(f"gankit / plain (CPU) = {result['ratio_cpu']:.3f}")


if __name__ == "__main__":
    main()
