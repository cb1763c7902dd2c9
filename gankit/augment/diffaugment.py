"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The same differentiable transforms T on real and generated images, in D's and G's losses
(sec. 3, eq. 3-4). The three policies of the paper (sec. 3, Fig. 4; their official
DiffAugment_pytorch.py), each applied to every example with parameters drawn per example:

- color: brightness + U[-0.5, 0.5), saturation x U[0, 2), contrast x U[0.5, 1.5);
- translation: integer shifts up to 1/8 of the image size in each direction, zero padding;
- cutout: a zero box of half the image size at a uniformly drawn centre.
"""

from __future__ import annotations

import torch

from gankit.augment import ops
from gankit.augment.base import AUGMENTS, Augment, AugmentOptions

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def rand(x: torch.Tensor) -> torch.Tensor:
    """(N,) uniform [0, 1) values on x's device."""
    return torch.rand(x.shape[0], device=x.device, dtype=x.dtype)


def color(x: torch.Tensor) -> torch.Tensor:
    x = ops.brightness(x, rand(x) - 0.5)
    x = ops.saturation(x, rand(x) * 2.0)
    return ops.contrast(x, rand(x) + 0.5)


def translation(x: torch.Tensor, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (n,), device=x.device)
    dx = torch.randint(-sw, sw + 1, (n,), device=x.device)
    return ops.translate(x, dx, dy)


def cutout(x: torch.Tensor, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    n, _, h, w = x.shape
    size = (int(h * ratio + 0.5), int(w * ratio + 0.5))
    # centre uniform over the image (one more position for even sizes, as in the paper's code)
    cy = torch.randint(0, h + (1 - size[0] % 2), (n,), device=x.device)
    cx = torch.randint(0, w + (1 - size[1] % 2), (n,), device=x.device)
    return ops.cutout(x, cy - size[0] // 2, cx - size[1] // 2, size)


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


class DiffAugment(Augment):
    def __init__(self, policies: list[str]):
        super().__init__()
        self.policies = list(policies)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, C, H, W)
        for name in self.policies:
            x = TRANSFORMS[name](x)
        return x

    def extra_repr(self) -> str:
        return ",".join(self.policies)


@AUGMENTS.register("diffaugment")
def diffaugment(opts: AugmentOptions) -> DiffAugment:
    """DiffAugment (Zhao et al. 2020): color, translation 1/8, cutout 1/2 on real and fake alike."""
    return DiffAugment([p.strip() for p in opts.diffaugment_policy.split(",") if p.strip()])
