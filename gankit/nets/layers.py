"""Reusable layers of the progressive-growing GAN (Karras et al. 2018, sec. 3-4).

- :class:`MinibatchStdDev`: one extra feature map holding the average standard deviation of
  the features across a group of samples (sec. 3), so D can see a lack of variety.
- :class:`PixelNorm`: each pixel's feature vector scaled to unit RMS (sec. 4.2, eq. 2).
- :class:`EqualizedLinear` / :class:`EqualizedConv2d`: weights drawn from N(0, 1) and scaled
  at run time by He's constant ``gain / sqrt(fan_in)`` (sec. 4.1, "equalized learning rate").
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MinibatchStdDev(nn.Module):
    """Append ``n_features`` maps: the std over groups of samples, averaged over C, H, W.

    x (N, C, H, W) -> (N, C + n_features, H, W). Sample ``n`` is grouped with samples
    ``n + M, n + 2M, ...`` where ``M = N / group`` (the paper's reshape); ``group`` is the
    largest divisor of N that is at most ``group_size``. The std is the population std
    (divide by the group size) plus ``eps`` under the root.

    The layer mixes samples within a batch, like batch norm: real and fake must go through D in
    separate calls (``uses_batch_statistics`` tells the recipes so).
    """

    uses_batch_statistics = True

    def __init__(self, group_size: int = 4, n_features: int = 1, eps: float = 1e-8):
        super().__init__()
        self.group_size, self.n_features, self.eps = group_size, n_features, eps

    def group(self, n: int) -> int:
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        return g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, C, H, W = x.shape
        G, F_ = self.group(N), self.n_features
        y = x.reshape(G, N // G, F_, C // F_, H, W)  # (G, M, F, C/F, H, W)
        y = y - y.mean(0)
        y = (y.square().mean(0) + self.eps).sqrt()  # (M, F, C/F, H, W)
        y = y.mean((2, 3, 4))  # (M, F)
        y = y.reshape(-1, F_, 1, 1).repeat(G, 1, H, W)  # (N, F, H, W)
        return torch.cat([x, y], 1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, n_features={self.n_features}"


class PixelNorm(nn.Module):
    """b = a / sqrt(mean_c a_c^2 + eps) over the channel dimension (dim 1)."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(1, keepdim=True) + self.eps)


class EqualizedLinear(nn.Module):
    """Linear layer with weights ~ N(0, 1) used as ``w * gain / sqrt(in_features)``."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2.0), bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}, scale={self.scale:.4g}"


class EqualizedConv2d(nn.Module):
    """Conv2d with weights ~ N(0, 1) used as ``w * gain / sqrt(in_channels * k * k)``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        padding: int = 0,
        gain: float = math.sqrt(2.0),
        bias: bool = True,
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel_size={k}, padding={self.padding}, scale={self.scale:.4g}"
