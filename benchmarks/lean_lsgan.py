"""The ceiling for ``benchmarks/speed_whole_process.py``: the seed article's LSGAN, hand-written
with every per-step saving gankit makes and nothing else.

Same networks and settings as ``gankit train`` in that benchmark (G 10-128-784 with a tanh
output for data in [-1, 1], D 784-128-1, least squares a=0, b=c=1, Adam 1e-3 (0.9, 0.999)
fused, batch 64), and gankit's algorithm: one G forward per iteration reused by both updates,
D called once on real and fake together, D's weights frozen during G's update (no weight
gradients computed for them), batches drawn from a shuffled uint8 tensor, denormals flushed.
Missing on purpose: NaN/inf checks, learning-rate schedule, checkpoints, metrics, pictures
(it writes 16 samples as the seed does). A whole process of it is what a loop of this algorithm
costs in eager PyTorch, so seed / lean bounds the whole-process ratio gankit can reach.

    python benchmarks/lean_lsgan.py --data-dir ../shared/data --steps 6000 --out /tmp/lean
"""

import torch
from lsgan_script_io import mnist_images, parse_args, save_samples
from torch import nn

args = parse_args()
torch.set_flush_denormal(True)
torch.manual_seed(0)

images = torch.from_numpy(mnist_images(args.data_dir).copy())  # (60000, 784) uint8

n, z_dim = args.batch, 10
G = nn.Sequential(nn.Linear(z_dim, 128), nn.ReLU(), nn.Linear(128, 784), nn.Tanh())
D = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 1))
opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.9, 0.999), fused=True)
opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.9, 0.999), fused=True)
order, pos = torch.randperm(len(images)), 0

for _ in range(args.steps):
    if pos + n > len(order):
        order, pos = torch.randperm(len(images)), 0
    real = images.index_select(0, order[pos : pos + n]).div(127.5).sub_(1.0)  # (n, 784) in [-1, 1]
    pos += n
    fake = G(torch.randn(n, z_dim))  # (n, 784), its graph kept for G's update
    scores = D(torch.cat([real, fake.detach()]))  # (2n, 1): real rows first
    loss_d = 0.5 * ((scores[:n] - 1).pow(2).mean() + scores[n:].pow(2).mean())
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    D.requires_grad_(False)
    loss_g = 0.5 * (D(fake) - 1).pow(2).mean()
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    D.requires_grad_(True)

print(f"Iter-{args.steps}; D_loss: {loss_d.item():.4}; G_loss: {loss_g.item():.4}")
save_samples(G, z_dim, args.out)
