"""CycleGAN's networks (Zhu et al. 2017, appendix 7.2): a ResNet-block generator and a
PatchGAN discriminator, both with instance normalization.

Generator (Johnson et al. 2016): c7s1-w, ``n_down`` stride-2 convs doubling the width,
``n_blocks`` residual blocks, ``n_down`` fractionally strided convs, c7s1-C, tanh; reflection
padding throughout. Paper sizes: w=64, 9 blocks for 256x256, 6 for 128x128.

Discriminator (Isola et al. 2017): C64 (no norm) then ``d_layers`` - 1 stride-2 convs and one
stride-1 conv, doubling the width up to 8w, then a 1-channel conv: one logit per overlapping
patch, output (N, 1, h, w). ``d_layers=3`` is the 70x70 PatchGAN; ``d_layers=0`` picks a size
that fits small images (1 for 28x28: 16x16 patches; 2 for 32..63; 3 from 64 up).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.nets.base import MODELS, ModelSpec


@dataclasses.dataclass
class CycleGANOptions:
    width: int = 32  # generator's first conv width (paper: 64)
    n_blocks: int = 6  # residual blocks (paper: 6 for 128x128, 9 for 256x256)
    n_down: int = 2  # stride-2 downsamplings in the generator
    d_width: int = 64  # discriminator's first conv width
    d_layers: int = 0  # PatchGAN depth; 3 is the 70x70 PatchGAN; 0: chosen from the image size

    def check(self):
        for key in ("width", "d_width"):
            if getattr(self, key) < 1:
                raise ConfigError(f"cyclegan {key}={getattr(self, key)}: must be >= 1")
        if self.n_blocks < 0 or self.n_down < 0 or self.d_layers < 0:
            raise ConfigError("cyclegan n_blocks, n_down and d_layers must be >= 0")


def patch_layers(opts: CycleGANOptions, size: int) -> int:
    """The PatchGAN depth: ``d_layers``, or for 0: 3 (70x70 patches) from 64 pixels up,
    2 (34x34) from 32, else 1 (16x16)."""
    if opts.d_layers:
        return opts.d_layers
    return 3 if size >= 64 else 2 if size >= 32 else 1


class ResidualBlock(nn.Module):
    """x + [reflect-pad, conv3x3, IN, ReLU, reflect-pad, conv3x3, IN](x); width kept."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(width, width, 3),
            nn.InstanceNorm2d(width),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(width, width, 3),
            nn.InstanceNorm2d(width),
        )

    def forward(self, x):
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Image (N, c_in, H, W) in [-1, 1] -> image (N, c_out, H, W) in [-1, 1]."""

    def __init__(self, c_in: int, c_out: int, width: int = 64, n_blocks: int = 9, n_down: int = 2):
        super().__init__()
        self.c_in, self.c_out = c_in, c_out
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(c_in, width, 7),
            nn.InstanceNorm2d(width),
            nn.ReLU(True),
        ]
        w = width
        for _ in range(n_down):  # (N, w, H, W) -> (N, 2w, H/2, W/2)
            layers += [nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.InstanceNorm2d(2 * w), nn.ReLU(True)]
            w *= 2
        layers += [ResidualBlock(w) for _ in range(n_blocks)]
        for _ in range(n_down):  # (N, w, h, w) -> (N, w/2, 2h, 2w)
            layers += [
                nn.ConvTranspose2d(w, w // 2, 3, stride=2, padding=1, output_padding=1),
                nn.InstanceNorm2d(w // 2),
                nn.ReLU(True),
            ]
            w //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, c_out, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """Image (N, C, H, W) -> patch logits (N, 1, h, w).

    ``features(x)`` is the body's output flattened, (N, feature_dim); ``head(h)`` maps it to
    the patch logits, so extra heads can share the body.
    """

    def __init__(self, c_in: int, img_size: tuple[int, int], width: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(c_in, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        w = width
        for i in range(1, n_layers + 1):  # n_layers - 1 stride-2 convs, then one stride-1 conv
            w_next = width * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [
                nn.Conv2d(w, w_next, 4, stride=stride, padding=1),
                nn.InstanceNorm2d(w_next),
                nn.LeakyReLU(0.2, True),
            ]
            w = w_next
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(w, 1, 4, stride=1, padding=1)
        with torch.no_grad():
            h = self.body(torch.zeros(2, c_in, *img_size))  # (2, C', h', w')
        if min(h.shape[-2:]) < 3:
            raise ConfigError(
                f"images of {img_size[0]}x{img_size[1]} are too small for a PatchGAN with "
                f"d_layers={n_layers}; lower model.d_layers"
            )
        self.body_shape = tuple(h.shape[1:])
        self.feature_dim = math.prod(self.body_shape)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(x).flatten(1)  # (N, feature_dim)

    def head(self, h: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(h.view(h.shape[0], *self.body_shape))  # (N, 1, h, w)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.body(x))


@MODELS.register("cyclegan", options=CycleGANOptions)
def build_cyclegan(spec: ModelSpec, opts: CycleGANOptions) -> dict[str, nn.Module]:
    """ResNet-block generators and PatchGAN discriminators for image-to-image translation."""
    target = spec.target_shape
    if target is None:
        raise ConfigError(
            "model cyclegan translates images between two domains; use it with --recipe cyclegan"
        )
    if len(spec.sample_shape) != 3 or len(target) != 3:
        raise ConfigError(
            f"model cyclegan needs images (C, H, W) in both domains, got samples shaped "
            f"{tuple(spec.sample_shape)} and {tuple(target)}"
        )
    (c_a, h, w), (c_b, h_b, w_b) = spec.sample_shape, target
    if (h, w) != (h_b, w_b):
        raise ConfigError(f"cyclegan needs both domains at one size, got {h}x{w} and {h_b}x{w_b}")
    step = 2**opts.n_down
    if h % step or w % step:
        raise ConfigError(
            f"cyclegan with n_down={opts.n_down} needs sizes divisible by {step}, got {h}x{w}; "
            "change model.n_down or the data's img_size"
        )
    n_layers = patch_layers(opts, min(h, w))
    return {
        "G": ResnetGenerator(c_a, c_b, opts.width, opts.n_blocks, opts.n_down),  # A -> B
        "G_BA": ResnetGenerator(c_b, c_a, opts.width, opts.n_blocks, opts.n_down),
        "D": PatchDiscriminator(c_b, (h, w), opts.d_width, n_layers),  # judges domain B
        "D_A": PatchDiscriminator(c_a, (h, w), opts.d_width, n_layers),
    }


build_cyclegan.image_to_image = True
