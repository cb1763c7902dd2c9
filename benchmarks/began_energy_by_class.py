"""Why a BEGAN trained on MNIST draws mostly one digit: its autoencoder's energy per class.

BEGAN's equilibrium only asks E[L(G(z))] = gamma E[L(x)]: the generator is free to spend its
samples on whichever images the autoencoder reconstructs most cheaply. This script loads a
finished BEGAN run, scores 1,000 test images per class with the trained D (the reconstruction
energy L(x) = mean |x - AE(x)|, the quantity G minimizes) and classifies the run's final samples
with the shipped LeNet, so the two histograms can be read side by side.

    python benchmarks/began_energy_by_class.py runs/bench-began-g1 [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gankit.data.base import build_dataset  # noqa: E402
from gankit.metrics.images import lenet_features  # noqa: E402
from gankit.training.trainer import Trainer  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--data-dir", default=os.environ.get("GANKIT_DATA", str(ROOT.parent / "shared" / "data")))
    p.add_argument("--per-class", type=int, default=1000)
    p.add_argument("--samples", type=int, default=2000)
    a = p.parse_args()
    torch.set_grad_enabled(False)
    trainer = Trainer.from_run(a.run, overrides={"data_dir": a.data_dir})
    name = trainer.cfg.data
    D = trainer.recipe.D.eval()
    test = build_dataset(name, {"image_size": 32, "split": "test"}, a.data_dir).reference(10_000)
    x = test.x  # (N, 1, 32, 32) in [-1, 1]
    fake = trainer.sample(a.samples)
    _, probs = lenet_features(name, fake.clamp(-1, 1))
    drawn = torch.bincount(probs[:, 0].argmax(1), minlength=10).float() / a.samples
    energy_fake = float(D(fake).mean())
    print(
        f"{a.run}: k = {float(trainer.recipe.objective.k):.4f}, mean energy of {a.samples} samples {energy_fake:.4f}"
    )
    print("| class | energy L(x) of test images | share of samples classified as it |")
    print("|---|---|---|")
    for c in range(10):
        xc = x[test.y == c][: a.per_class]
        print(f"| {c} | {float(D(xc).mean()):.4f} | {float(drawn[c]):.3f} |")
    print(f"| all | {float(D(x[: 10 * a.per_class]).mean()):.4f} | 1.000 |")


if __name__ == "__main__":
    main()
