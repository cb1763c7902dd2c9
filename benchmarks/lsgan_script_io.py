"""What the two LSGAN scripts of ``benchmarks/speed_whole_process.py`` share around their loops
(``seed_lsgan.py``, the seed article's; ``lean_lsgan.py``, its ceiling): the flags, MNIST's
training images read with numpy, and the output, 16 samples drawn as a PNG grid with matplotlib.
The loops themselves stay in the scripts, each as one plain block."""

import argparse
import gzip
import os

import numpy as np
import torch


def parse_args() -> argparse.Namespace:
    """--data-dir, --steps, --batch, --out, and --threads (0: torch's default), applied here."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="torch threads; 0: torch's default")
    ap.add_argument("--out", default="out")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def mnist_images(data_dir: str) -> np.ndarray:
    """MNIST's 60,000 training images as uint8 rows (60000, 784), from the gzip IDX file."""
    with gzip.open(os.path.join(data_dir, "mnist", "train-images-idx3-ubyte.gz")) as f:
        return np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)


def save_samples(G: torch.nn.Module, z_dim: int, out: str) -> None:
    """16 samples of ``G`` as a 4 x 4 grid in ``out``/samples.png (the article's only output)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with torch.no_grad():
        samples = G(torch.randn(16, z_dim)).numpy()
    fig, axes = plt.subplots(4, 4, figsize=(4, 4))
    for ax, s in zip(axes.flat, samples):
        ax.axis("off")
        ax.imshow(s.reshape(28, 28), cmap="Greys_r")
    os.makedirs(out, exist_ok=True)
    fig.savefig(os.path.join(out, "samples.png"), bbox_inches="tight")
