"""The augmentation contract and the recipe options that choose one.

An augmentation is an ``nn.Module`` mapping images (N, C, H, W) to images of the same shape,
differentiable in its input, drawing its random parameters per example from the global RNG
(which checkpoints carry). The recipes apply the same module to the real and to the generated
batch before every discriminator call of the adversarial loss and of the penalties
(Zhao et al. 2020, sec. 3, eq. 3-4: D(T(x)) and D(T(G(z))) in both players' losses). State,
such as ADA's probability p, lives in buffers; :meth:`Augment.update_state` advances it from a
discriminator update's detached outputs on real data, called by the recipe after that update.
"""

from __future__ import annotations

import dataclasses
import functools

import torch
from torch import nn

from gankit.errors import ConfigError, require
from gankit.registry import Registry

AUGMENTS = Registry("augment")


@dataclasses.dataclass
class AugmentOptions:
    # Augmentation of every image D sees: none | diffaugment | ada (``gankit list augment``).
    augment: str = "none"
    diffaugment_policy: str = "color,translation,cutout"  # DiffAugment's policies, comma-separated
    ada_target: float = 0.6  # ADA: target of r_t = E[sign(D(real))]
    ada_interval: int = 4  # ADA: D updates between adjustments of p
    # ADA: thousands of images over which p can move by 1 (the paper: 500; short CPU runs need
    # less, e.g. 20, to let p move at all within a few thousand steps).
    ada_kimg: float = 500.0
    ada_p: float = 0.0  # ADA: initial p

    def check(self):
        need = functools.partial(require, owner=self, prefix="recipe option ")
        names = ("none", *AUGMENTS.names())
        need(self.augment in names, "augment", " | ".join(names))
        from gankit.augment.diffaugment import POLICIES

        policies = [p.strip() for p in self.diffaugment_policy.split(",") if p.strip()]
        unknown = [p for p in policies if p not in POLICIES]
        if unknown or not policies:
            raise ConfigError(
                f"recipe option diffaugment_policy={self.diffaugment_policy!r}: choose a comma-separated "
                f"subset of {', '.join(POLICIES)}"
            )
        need(0.0 < self.ada_target < 1.0, "ada_target", "a number in (0, 1), e.g. 0.6")
        need(self.ada_interval >= 1, "ada_interval", "an integer >= 1")
        need(self.ada_kimg > 0, "ada_kimg", "a number > 0 (the paper: 500)")
        need(0.0 <= self.ada_p <= 1.0, "ada_p", "a number in [0, 1]")


class Augment(nn.Module):
    """Base class: ``forward(x)`` augments images (N, C, H, W) per example."""

    def update_state(self, d_real: torch.Tensor) -> None:
        """Advance explicit state from a discriminator update's detached outputs on real data."""

    def stats(self) -> dict[str, torch.Tensor]:
        return {}


def build_augment(opts: AugmentOptions, sample_shape: tuple[int, ...]) -> Augment | None:
    """The augmentation ``opts.augment`` names, or None for "none"; images only."""
    if opts.augment == "none":
        return None
    if len(sample_shape) != 3:
        raise ConfigError(
            f"recipe.augment={opts.augment} augments images (C, H, W); this dataset's samples have "
            f"shape {tuple(sample_shape)}: use an image dataset or recipe.augment=none"
        )
    return AUGMENTS.get(opts.augment).factory(opts)
