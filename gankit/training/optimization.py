"""The optimizers, the learning-rate schedule and the device a run trains with."""

from __future__ import annotations

import torch
from torch import nn

from gankit.config import Config
from gankit.errors import ConfigError


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} but CUDA is not available here; use --device cpu or auto")
    return torch.device(name)


def make_optimizer(cfg: Config, params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    # Fused kernels (one call for all parameters) where PyTorch has them: same update, less
    # per-parameter Python overhead, which dominates small GANs on CPU.
    fast = {"fused": True} if _fused_ok(params) else {}
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas), **fast)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, foreach=True)
    return torch.optim.SGD(params, lr=lr, momentum=cfg.betas[0], **fast)


def _fused_ok(params: list[nn.Parameter]) -> bool:
    return bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)


def lr_factor(cfg: Config, step: int, total: int | None = None) -> float:
    """Learning-rate multiplier at ``step`` of ``total`` (default ``cfg.steps``; a wall budget's
    horizon): constant, or linear decay to 0 after the fraction decay_start of ``total``."""
    total = cfg.steps if total is None else total
    if cfg.lr_schedule == "constant" or total == 0:
        return 1.0
    start = cfg.decay_start * total
    if step < start:
        return 1.0
    return max(0.0, 1.0 - (step - start) / max(total - start, 1))
