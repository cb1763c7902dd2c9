"""The seed article's LSGAN loop on MNIST, as one plain script (the baseline of
``benchmarks/speed_whole_process.py``).

The straightforward single-file PyTorch LSGAN of the classic tutorials: MLP G 10-128-784 with a
sigmoid output, D 784-128-1 (linear output), Adam 1e-3 for both, least-squares losses
D: 0.5 (E[(D(x) - 1)^2] + E[D(G(z))^2]), G: 0.5 E[(D(G(z)) - 1)^2] (Mao et al. 2017, eq. 9 with
a=0, b=c=1). Per iteration G(z) is computed twice (once per update), D is called separately on
real and fake, and the D step backpropagates through G (G's gradients are computed and thrown
away). MNIST is read from the gzip IDX files with numpy, pixels in [0, 1]; batches are drawn
uniformly at random. At the end it prints the losses and writes 16 samples as a PNG grid,
the article's only output.

    python benchmarks/seed_lsgan.py --data-dir ../shared/data --steps 6000 --out /tmp/seed
"""

import argparse
import gzip
import os

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

ap = argparse.ArgumentParser()
ap.add_argument("--data-dir", default="../shared/data")
ap.add_argument("--steps", type=int, default=6000)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--threads", type=int, default=0, help="torch threads; 0: torch's default")
ap.add_argument("--out", default="out")
args = ap.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)
torch.manual_seed(0)

with gzip.open(os.path.join(args.data_dir, "mnist", "train-images-idx3-ubyte.gz")) as f:
    X_all = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255.0
X_all = torch.from_numpy(X_all)

mb_size, Z_dim, X_dim, h_dim, lr = args.batch, 10, 784, 128, 1e-3

G = nn.Sequential(nn.Linear(Z_dim, h_dim), nn.ReLU(), nn.Linear(h_dim, X_dim), nn.Sigmoid())
D = nn.Sequential(nn.Linear(X_dim, h_dim), nn.ReLU(), nn.Linear(h_dim, 1))
G_solver = optim.Adam(G.parameters(), lr=lr)
D_solver = optim.Adam(D.parameters(), lr=lr)


def reset_grad():
    G.zero_grad()
    D.zero_grad()


for _it in range(args.steps):
    # Discriminator
    z = torch.randn(mb_size, Z_dim)
    X = X_all[torch.randint(X_all.shape[0], (mb_size,))]
    G_sample = G(z)
    D_real = D(X)
    D_fake = D(G_sample)
    D_loss = 0.5 * (torch.mean((D_real - 1) ** 2) + torch.mean(D_fake**2))
    D_loss.backward()
    D_solver.step()
    reset_grad()
    # Generator
    z = torch.randn(mb_size, Z_dim)
    G_sample = G(z)
    D_fake = D(G_sample)
    G_loss = 0.5 * torch.mean((D_fake - 1) ** 2)
    G_loss.backward()
    G_solver.step()
    reset_grad()

print(f"Iter-{args.steps}; D_loss: {D_loss.item():.4}; G_loss: {G_loss.item():.4}")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

samples = G(torch.randn(16, Z_dim)).detach().numpy()
fig, axes = plt.subplots(4, 4, figsize=(4, 4))
for ax, s in zip(axes.flat, samples):
    ax.axis("off")
    ax.imshow(s.reshape(28, 28), cmap="Greys_r")
os.makedirs(args.out, exist_ok=True)
fig.savefig(os.path.join(args.out, "samples.png"), bbox_inches="tight")
