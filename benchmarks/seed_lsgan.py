"""The seed article's LSGAN loop on MNIST, as one plain script (the baseline of
``benchmarks/speed_whole_process.py``).

The straightforward single-file PyTorch LSGAN of the classic tutorials: MLP G 10-128-784 with a
sigmoid output, D 784-128-1 (linear output), Adam 1e-3 for both, least-squares losses
D: 0.5 (E[(D(x) - 1)^2] + E[D(G(z))^2]), G: 0.5 E[(D(G(z)) - 1)^2] (Mao et al. 2017, eq. 9 with
a=0, b=c=1). Per iteration G(z) is computed twice (once per update), D is called separately on
real and fake, and the D step backpropagates through G (G's gradients are computed and thrown
away). MNIST is read from the gzip IDX files with numpy, pixels in [0, 1]; batches are drawn
uniformly at random. At the end it prints the losses and writes 16 samples as a PNG grid,
the article's only output (flags, data and output: ``lsgan_script_io.py``, shared with
``lean_lsgan.py``).

    python benchmarks/seed_lsgan.py --data-dir ../shared/data --steps 6000 --out /tmp/seed
"""

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from lsgan_script_io import mnist_images, parse_args, save_samples

args = parse_args()
torch.manual_seed(0)

X_all = torch.from_numpy(mnist_images(args.data_dir).astype(np.float32) / 255.0)

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
save_samples(G, Z_dim, args.out)
