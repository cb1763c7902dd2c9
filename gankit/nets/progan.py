"""Progressively growing generator and discriminator (Karras et al. 2018, sec. 2-4, table 2).

Both networks hold every block up to the target size from the start, so the state_dict never
changes while they grow; blocks above the current level are simply not run and get no
gradients. ``level`` 0 is 4x4 and level ``n_levels - 1`` the target size; while a new level
fades in, its output is blended with the previous level's by ``alpha`` (fig. 2):

    G: rgb = lerp(upsample(toRGB_{l-1}(h_{l-1})), toRGB_l(h_l), alpha)
    D: h   = lerp(fromRGB_{l-1}(avgpool(x)), block_l(fromRGB_l(x)), alpha)

The networks keep the stage they run at as plain attributes (``level``, ``alpha``, set with
:meth:`set_stage`; default: the full size, alpha 1) so any recipe can call ``G(z)`` and
``D(x)``; the ``progressive`` recipe owns the schedule and sets the stage before each step.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import ConfigError
from gankit.nets.base import MODELS, ModelSpec
from gankit.nets.layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm


@dataclasses.dataclass
class ProGANOptions:
    fmap_base: int = 2048  # channels at resolution r: min(fmap_max, 2 * fmap_base // r)
    fmap_max: int = 128  # the paper (table 2): fmap_base 8192, fmap_max 512
    mbstd_group: int = 4  # minibatch standard deviation group size
    pixel_norm: bool = True  # in G, after every conv (sec. 4.2)
    # G's toRGB output through tanh for data in [-1, 1]. Off by default: the official code's
    # toRGB is linear (tkarras/progressive_growing_of_gans, networks.py, G_paper: torgb is a 1x1
    # conv with gain 1 and no activation); images are clipped only when they are written out.
    tanh: bool = False

    def check(self):
        if self.fmap_base < 1 or self.fmap_max < 1 or self.mbstd_group < 1:
            raise ConfigError("progan fmap_base, fmap_max and mbstd_group must be >= 1")


def channels(opts: ProGANOptions, res: int) -> int:
    return max(1, min(opts.fmap_max, 2 * opts.fmap_base // res))


def image_levels(spec: ModelSpec) -> tuple[int, int]:
    """(channels, number of levels) for square images of a power-of-two size >= 4."""
    shape = tuple(spec.sample_shape)
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] < 4 or shape[1] & (shape[1] - 1):
        raise ConfigError(
            f"model progan needs square images whose size is a power of two >= 4, got samples of "
            f"shape {shape}; pad or resize the data (e.g. --set data.image_size=32)"
        )
    if spec.num_classes:
        raise ConfigError("model progan is unconditional; drop recipe.conditional")
    return shape[0], int(math.log2(shape[1])) - 1


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class _Staged(nn.Module):
    """Holds the stage (level, alpha) a growing network runs at."""

    def __init__(self, n_levels: int):
        super().__init__()
        self.n_levels = n_levels
        self.level, self.alpha = n_levels - 1, 1.0

    def set_stage(self, level: int, alpha: float) -> None:
        if not 0 <= level < self.n_levels or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"stage level={level}, alpha={alpha} outside 0..{self.n_levels - 1}, [0, 1]")
        self.level, self.alpha = int(level), float(alpha)

    def _stage(self, level, alpha) -> tuple[int, float]:
        level = self.level if level is None else int(level)
        alpha = self.alpha if alpha is None else float(alpha)
        return level, (1.0 if level == 0 else alpha)


class ProGANGenerator(_Staged):
    """z (N, z_dim) -> image (N, C, r, r) with r = 4 * 2^level."""

    def __init__(self, spec: ModelSpec, opts: ProGANOptions):
        c_img, n_levels = image_levels(spec)
        super().__init__(n_levels)
        self.z_dim = spec.z_dim
        self.bounded = spec.bounded and opts.tanh
        ch = [channels(opts, 4 * 2**i) for i in range(n_levels)]
        self.norm = PixelNorm() if opts.pixel_norm else nn.Identity()
        # 4x4 block: dense z -> 4x4 maps (the paper's 4x4 "conv" on a 1x1 input), then a 3x3 conv.
        self.dense = EqualizedLinear(spec.z_dim, ch[0] * 16, gain=math.sqrt(2.0) / 4)
        self.blocks = nn.ModuleList([EqualizedConv2d(ch[0], ch[0], 3, padding=1)])
        for i in range(1, n_levels):
            self.blocks.append(
                nn.ModuleList(
                    [
                        EqualizedConv2d(ch[i - 1], ch[i], 3, padding=1),
                        EqualizedConv2d(ch[i], ch[i], 3, padding=1),
                    ]
                )
            )
        self.to_rgb = nn.ModuleList([EqualizedConv2d(c, c_img, 1, gain=1.0) for c in ch])

    def _block(self, i: int, h: torch.Tensor) -> torch.Tensor:
        if i == 0:
            return self.norm(lrelu(self.blocks[0](h)))
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        for conv in self.blocks[i]:
            h = self.norm(lrelu(conv(h)))
        return h

    def forward(
        self, z: torch.Tensor, y=None, level: int | None = None, alpha: float | None = None
    ) -> torch.Tensor:
        level, alpha = self._stage(level, alpha)
        h = self.norm(z)  # (N, z_dim)
        h = self.norm(lrelu(self.dense(h)).view(z.shape[0], -1, 4, 4))  # (N, ch0, 4, 4)
        prev = None
        for i in range(level + 1):
            if i == level and alpha < 1.0:
                prev = h
            h = self._block(i, h)  # (N, ch_i, 4 * 2^i, 4 * 2^i)
        x = self.to_rgb[level](h)
        if prev is not None:
            low = F.interpolate(self.to_rgb[level - 1](prev), scale_factor=2, mode="nearest")
            x = torch.lerp(low, x, alpha)
        return torch.tanh(x) if self.bounded else x


class ProGANDiscriminator(_Staged):
    """image (N, C, r, r) -> one score per sample (N,); minibatch std before the last block."""

    def __init__(self, spec: ModelSpec, opts: ProGANOptions):
        c_img, n_levels = image_levels(spec)
        super().__init__(n_levels)
        ch = [channels(opts, 4 * 2**i) for i in range(n_levels)]
        self.from_rgb = nn.ModuleList([EqualizedConv2d(c_img, c, 1) for c in ch])
        self.blocks = nn.ModuleList([nn.Identity()])  # level 0 is the final block below
        for i in range(1, n_levels):
            self.blocks.append(
                nn.ModuleList(
                    [
                        EqualizedConv2d(ch[i], ch[i], 3, padding=1),
                        EqualizedConv2d(ch[i], ch[i - 1], 3, padding=1),
                    ]
                )
            )
        self.mbstd = MinibatchStdDev(opts.mbstd_group)
        self.conv = EqualizedConv2d(ch[0] + 1, ch[0], 3, padding=1)
        self.conv4 = EqualizedConv2d(ch[0], ch[0], 4)  # 4x4 -> 1x1
        self.linear = EqualizedLinear(ch[0], 1, gain=1.0)
        self.feature_dim = ch[0]

    def features(
        self, x: torch.Tensor, y=None, level: int | None = None, alpha: float | None = None
    ) -> torch.Tensor:
        level, alpha = self._stage(level, alpha)
        h = lrelu(self.from_rgb[level](x))  # (N, ch_l, r, r)
        for i in range(level, 0, -1):
            for conv in self.blocks[i]:
                h = lrelu(conv(h))
            h = F.avg_pool2d(h, 2)  # (N, ch_{i-1}, r/2, r/2)
            if i == level and alpha < 1.0:
                low = lrelu(self.from_rgb[level - 1](F.avg_pool2d(x, 2)))
                h = torch.lerp(low, h, alpha)
        h = self.mbstd(h)  # (N, ch0 + 1, 4, 4)
        h = lrelu(self.conv(h))
        return lrelu(self.conv4(h)).flatten(1)  # (N, ch0)

    def head(self, h: torch.Tensor, y=None) -> torch.Tensor:
        return self.linear(h).squeeze(1)

    def forward(
        self, x: torch.Tensor, y=None, level: int | None = None, alpha: float | None = None
    ) -> torch.Tensor:
        return self.head(self.features(x, y, level, alpha))


@MODELS.register("progan", options=ProGANOptions)
def build_progan(spec: ModelSpec, opts: ProGANOptions) -> dict[str, nn.Module]:
    """Progressively growing G and D (pixel norm, equalized lr, minibatch std), 4x4 to the data size."""
    return {"G": ProGANGenerator(spec, opts), "D": ProGANDiscriminator(spec, opts)}
