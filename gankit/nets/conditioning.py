"""How a conditional discriminator sees the label (model option ``cond_d``).

- ``projection`` (Miyato & Koyama 2018, eq. 3): out = w^T h + <embed(y), h>, the body sees x
  alone.
- ``concat`` (Mirza & Osindero 2014): the body sees x with the one-hot label appended, as
  extra features for vectors (N, F + K) or as K constant channels for images
  (N, C + K, H, W); the head is unconditional.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gankit.errors import ConfigError

COND_D = ("projection", "concat")


def check_cond_d(value: str) -> None:
    if value not in COND_D:
        raise ConfigError(f"cond_d={value!r}; choose one of: {', '.join(COND_D)}")


def concat_label(x: torch.Tensor, y: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    """x (N, C, *rest) -> (N, C + K, *rest): the one-hot label broadcast over ``rest``."""
    if y is None:
        raise ValueError("this discriminator is conditional (cond_d=concat): pass labels y")
    onehot = F.one_hot(y, num_classes).to(x.dtype)  # (N, K)
    onehot = onehot.view(*onehot.shape, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:])
    return torch.cat([x, onehot], dim=1)
