"""The original GAN game and its common variants, written on logits.

``log sigmoid(v) = -softplus(-v)`` and ``log(1 - sigmoid(v)) = -softplus(v)``, so no loss
here takes the log of a sigmoid and all stay finite for logits of any size.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from gankit.objectives.base import OBJECTIVES, Objective


@dataclasses.dataclass
class SmoothingOptions:
    label_smoothing: float = 1.0  # target for real samples; 0.9 is one-sided smoothing

    def check(self):
        if not 0.5 < self.label_smoothing <= 1.0:
            from gankit.errors import ConfigError

            raise ConfigError(f"label_smoothing={self.label_smoothing}: allowed values are in (0.5, 1]")


def bce_real(d_real: torch.Tensor, target: float = 1.0) -> torch.Tensor:
    """Mean binary cross-entropy of real logits against target ``target`` (1: no smoothing).

    -[t log s(v) + (1-t) log(1-s(v))] = t softplus(-v) + (1-t) softplus(v).
    """
    loss = target * F.softplus(-d_real)
    if target != 1.0:
        loss = loss + (1.0 - target) * F.softplus(d_real)
    return loss.mean()


class _LogisticD(Objective):
    """Discriminator of Goodfellow et al. 2014, eq. 1: max E_P[log D(x)] + E_Q[log(1 - D(G(z)))].

    d_loss = E_P[softplus(-v)] + E_Q[softplus(v)] with D = sigmoid(v) (optionally one-sided
    smoothing of the real target, Salimans et al. 2016 sec. 3.4).
    """

    supports_label_smoothing = True

    def __init__(self, opts: SmoothingOptions | None = None):
        super().__init__()
        self.real_target = opts.label_smoothing if opts else 1.0

    def d_loss(self, d_real, d_fake):
        return bce_real(d_real, self.real_target) + F.softplus(d_fake).mean()


@OBJECTIVES.register("minimax", options=SmoothingOptions)
class Minimax(_LogisticD):
    """Original saturating game (Goodfellow et al. 2014): G minimizes E[log(1 - D(G(z)))].

    g_loss = E_Q[log(1 - sigmoid(v))] = -E_Q[softplus(v)].
    """

    def g_loss(self, d_fake, d_real=None):
        return -F.softplus(d_fake).mean()


@OBJECTIVES.register("ns", options=SmoothingOptions)
class NonSaturating(_LogisticD):
    """Non-saturating game (Goodfellow et al. 2014, sec. 3): G minimizes -E[log D(G(z))].

    g_loss = E_Q[softplus(-v)].
    """

    def g_loss(self, d_fake, d_real=None):
        return F.softplus(-d_fake).mean()


@OBJECTIVES.register("hinge")
class Hinge(Objective):
    """Hinge game (Lim & Ye 2017; Miyato et al. 2018, eq. 16-17).

    d_loss = E_P[relu(1 - v)] + E_Q[relu(1 + v)];  g_loss = -E_Q[v].
    """

    def d_loss(self, d_real, d_fake):
        return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()

    def g_loss(self, d_fake, d_real=None):
        return -d_fake.mean()
