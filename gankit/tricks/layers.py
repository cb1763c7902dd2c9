"""Network-side remedies against mode collapse, as wrappers around any contract-following
network (``D.features(x, y) -> (N, F)``, ``D.head(h, y) -> (N,)``, ``D.feature_dim``).

- :func:`pack` / :class:`PackedD`: PacGAN (Lin et al. 2018, sec. 3), D judges m samples at once.
- :class:`MinibatchDiscrimination`: Salimans et al. 2016, sec. 3.2.
- :class:`MinibatchStdFeature`: Karras et al. 2018, sec. 3 (ProGAN's layer on D's features).
- :class:`BatchStatsD`: appends such batch statistics to D's features, with its own head term.
- :class:`VirtualBatchNorm` / :class:`VBNGenerator`: Salimans et al. 2016, sec. 3.4.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit.nets.layers import MinibatchStdDev


# --- PacGAN --------------------------------------------------------------------------------
def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """Concatenate each run of ``m`` consecutive samples along dim 1.

    (N, C, H, W) -> (N/m, m*C, H, W) for images, (N, d) -> (N/m, m*d) for vectors. Sample
    ``k*m + j`` supplies channels ``j*C .. (j+1)*C - 1`` of pack ``k``.
    """
    n = x.shape[0]
    if n % m:
        raise ValueError(f"cannot pack a batch of {n} samples into packs of {m}")
    return x.reshape(n // m, m * x.shape[1], *x.shape[2:])


class PackedD(nn.Module):
    """D over packs of ``m`` samples (Lin et al. 2018, eq. 2): ``inner`` was built for the packed
    sample shape; outputs are one per pack, (N/m,). Real and fake batches never share a pack
    because each batch size is a multiple of m."""

    def __init__(self, inner: nn.Module, m: int):
        super().__init__()
        self.inner, self.m = inner, m
        self.feature_dim = getattr(inner, "feature_dim", 0)
        self.d_output = getattr(inner, "d_output", "logit")

    def features(self, x, y=None):
        return self.inner.features(pack(x, self.m), None)  # (N/m, F)

    def head(self, h, y=None):
        return self.inner.head(h, None)

    def forward(self, x, y=None):
        return self.inner(pack(x, self.m), None)  # (N/m,)

    def per_sample(self, x, y=None):
        """One output per sample: D on a pack of ``m`` copies of each sample (for pictures)."""
        packs = pack(x.repeat_interleave(self.m, 0), self.m)  # (N, m*C, ...)
        return getattr(self.inner, "per_sample", self.inner)(packs, None)  # (N,)

    def penalty_view(self, real, fake, y=None):
        """(critic, real, fake) for the penalties: the inner D on packed batches, so a gradient
        penalty interpolates and takes gradient norms per pack."""
        return (lambda x: self.inner(x, None)), pack(real, self.m), pack(fake, self.m)


# --- minibatch statistics -----------------------------------------------------------------------
class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016, sec. 3.2: M_i = f(x_i) T (B x C), c_b(i, j) = exp(-||M_ib - M_jb||_1),
    o(x_i)_b = sum_{j != i} c_b(i, j) + bias_b. (N, A) -> (N, B).

    As the authors' code (openai/improved-gan, ``mnist_svhn_cifar10/nn.py``, ``MinibatchLayer``):
    T is weight-normalized, T[:, b, c] = exp(log_scale[b, c]) theta[:, b, c] / ||theta[:, b, c]||_2,
    with theta ~ N(0, 0.05^2), log_scale 0 and the bias -1 at the start; the sum leaves out j = i
    (its term is exp(0) = 1). Their data-dependent initialization pass (log_scale and bias set
    from a first batch) is not done here.
    """

    uses_batch_statistics = True

    def __init__(self, in_features: int, kernels: int, dims: int):
        super().__init__()
        self.kernels, self.dims = kernels, dims
        self.theta = nn.Parameter(0.05 * torch.randn(in_features, kernels * dims))
        self.log_scale = nn.Parameter(torch.zeros(kernels * dims))
        self.bias = nn.Parameter(torch.full((kernels,), -1.0))

    @property
    def T(self) -> torch.Tensor:
        """(A, B * C): each column theta[:, k] scaled to the length exp(log_scale[k])."""
        return self.theta * (self.log_scale.exp() / self.theta.norm(dim=0))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        n = h.shape[0]
        m = (h @ self.T).view(n, self.kernels, self.dims).transpose(0, 1)  # (B, N, C)
        # Broadcast, not torch.cdist(p=1): gradient penalties and the unrolled loss need a
        # double backward, which cdist lacks. Memory and time: O(B N^2 C).
        l1 = (m[:, :, None] - m[:, None]).abs().sum(3)  # (B, N, N)
        o = torch.exp(-l1).sum(2) - 1.0  # (B, N), self term removed
        return o.t() + self.bias  # (N, B)


class MinibatchStdFeature(nn.Module):
    """ProGAN's minibatch standard deviation (``gankit.nets.layers.MinibatchStdDev``) on feature
    vectors: (N, F) -> (N, 1), the std over groups of ``group_size`` samples averaged over F."""

    uses_batch_statistics = True

    def __init__(self, group_size: int):
        super().__init__()
        self.layer = MinibatchStdDev(group_size, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.layer(h[:, :, None, None])[:, -1:, 0, 0]  # (N, 1)


class BatchStatsD(nn.Module):
    """D whose head also reads batch statistics of its features.

    features(x) = [h, stat(h)] with h = inner.features(x) (N, F); head = inner.head(h) +
    w^T stat(h). For the linear heads of mlp and dcgan this is exactly the paper's
    "concatenate, then the next (linear) layer"; ``w`` starts at zero so the wrapped D starts
    as the plain one.
    """

    def __init__(self, inner: nn.Module, stat: nn.Module, n_stats: int):
        super().__init__()
        self.inner, self.stat = inner, stat
        self.extra = nn.Linear(n_stats, 1, bias=False)
        nn.init.zeros_(self.extra.weight)
        self.base_dim = inner.feature_dim
        self.feature_dim = inner.feature_dim + n_stats
        self.d_output = getattr(inner, "d_output", "logit")

    def features(self, x, y=None):
        h = self.inner.features(x, y)  # (N, F)
        return torch.cat([h, self.stat(h)], 1)  # (N, F + n_stats)

    def head(self, h, y=None):
        return self.inner.head(h[:, : self.base_dim], y) + self.extra(h[:, self.base_dim :]).squeeze(1)

    def forward(self, x, y=None):
        return self.head(self.features(x, y), y)

    def per_sample(self, x, y=None, chunk: int = 256):
        """Outputs for a large set of points (D-field pictures) in batches of ``chunk``: the
        statistics are batch-sized, and minibatch discrimination's cost grows with N^2."""
        ys = [None] * math.ceil(x.shape[0] / chunk) if y is None else torch.split(y, chunk)
        return torch.cat([self(xc, yc) for xc, yc in zip(torch.split(x, chunk), ys, strict=True)])


# --- virtual batch normalization --------------------------------------------------------------
class VirtualBatchNorm(nn.Module):
    """Batch norm whose statistics come from a fixed reference batch and the example itself
    (Salimans et al. 2016, sec. 3.4; the authors' code weights the example 1/(R+1)).

    Reference pass (``collecting``): plain batch norm of the reference batch, whose mean and
    mean square (over batch and spatial dims) are kept. Other passes: per example,
    mean = c m_x + (1 - c) m_ref with c = 1/(R+1) and m_x the example's own mean over the
    spatial dims (itself for vectors); the same for the mean square. Takes over the affine
    weight and bias of the batch norm it replaces.
    """

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm):
        super().__init__()
        self.eps = bn.eps
        self.weight, self.bias = bn.weight, bn.bias
        self.collecting = False
        self.ref: tuple[torch.Tensor, torch.Tensor, int] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = list(range(2, x.dim()))
        if self.collecting:
            dims = [0, *spatial]
            mean, mean_sq = x.mean(dims, keepdim=True), x.square().mean(dims, keepdim=True)
            self.ref = (mean, mean_sq, x.shape[0])
        else:
            if self.ref is None:
                raise RuntimeError(
                    "VirtualBatchNorm needs a reference pass first (use it inside VBNGenerator)"
                )
            ref_mean, ref_sq, r = self.ref
            c = 1.0 / (r + 1)
            own = x.mean(spatial, keepdim=True) if spatial else x
            own_sq = x.square().mean(spatial, keepdim=True) if spatial else x.square()
            mean, mean_sq = c * own + (1 - c) * ref_mean, c * own_sq + (1 - c) * ref_sq
        out = (x - mean) * torch.rsqrt((mean_sq - mean.square()).clamp_min(0) + self.eps)
        if self.weight is not None:
            shape = [1, -1] + [1] * len(spatial)
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def replace_batchnorm(module: nn.Module) -> int:
    """Swap every batch norm layer in ``module`` for a :class:`VirtualBatchNorm`; the count."""
    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, VirtualBatchNorm(child))
            count += 1
        else:
            count += replace_batchnorm(child)
    return count


class VBNGenerator(nn.Module):
    """G with virtual batch norm: every call first runs G on the fixed reference noise
    ``z_ref`` (a buffer, so checkpoints keep it), then on ``z``. Cost: one extra G forward
    (and backward) of ``ref_size`` samples per call; samples no longer depend on the rest of
    their batch, and train and eval mode agree."""

    def __init__(self, G: nn.Module, ref_size: int, num_classes: int = 0):
        super().__init__()
        self.G, self.z_dim = G, G.z_dim
        self.register_buffer("z_ref", torch.randn(ref_size, G.z_dim))
        self.register_buffer("y_ref", torch.arange(ref_size) % num_classes if num_classes else None)

    def forward(self, z, y=None):
        layers = [m for m in self.modules() if isinstance(m, VirtualBatchNorm)]  # also in copies
        for m in layers:
            m.collecting = True
        try:
            self.G(self.z_ref, None if y is None else self.y_ref)
        finally:
            for m in layers:
                m.collecting = False
        try:
            return self.G(z, y)
        finally:
            for m in layers:
                m.ref = None
