"""Differentiable optimizer steps for the unrolled GAN (Metz et al. 2017, sec. 2.2).

The unrolled generator loss is ``f_K(θ_G, θ_D) = f(θ_G, θ_D^K(θ_G, θ_D))`` where
``θ_D^{k+1} = θ_D^k + η^k df/dθ_D^k`` (eq. 5-7), with the paper's discriminator optimizer
(Adam) unrolled, moments included. Each function below is one step of a PyTorch optimizer
written out of place, so autograd differentiates through it: ``(p, g, state, h) -> (p', state')``
for one tensor ``p`` with gradient ``g``, optimizer state ``state`` (the tensors PyTorch keeps:
``exp_avg``, ``exp_avg_sq``, ``step``, ``momentum_buffer``, ``square_avg``; empty before the
first step) and hyper-parameters ``h`` (a param group: ``lr``, ``betas``, ``eps``, ...). The
values equal ``torch.optim``'s step (tests compare them); nothing is modified in place.
"""

from __future__ import annotations

import math

import torch

from gankit.errors import ConfigError


def _sqrt0(v: torch.Tensor) -> torch.Tensor:
    """sqrt(v) for v >= 0 whose gradient is 0 (not NaN) where v == 0: a parameter whose
    gradients were all exactly 0 so far (a dead unit) would otherwise poison G's gradient."""
    pos = v > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, v, torch.ones_like(v))), torch.zeros_like(v))


def bias_corrections(step, b1: float, b2: float, on_device: bool | None = None):
    """Adam's ``(t, 1 - b1^t, sqrt(1 - b2^t))`` at ``t = step + 1``.

    Fused Adam keeps ``step`` on the parameters' device; reading it (``float(step)``) would make
    every unrolled step wait for the GPU, so there the terms stay 0-dim float64 tensors on the
    device (the precision of the Python floats used for a CPU step). ``on_device``: force
    either way (default: whether ``step`` is a tensor off the CPU)."""
    if on_device is None:
        on_device = torch.is_tensor(step) and step.device.type != "cpu"
    if on_device:
        t = step.double() + 1
        return t, 1 - b1**t, (1 - b2**t).sqrt()
    t = float(step) + 1
    return t, 1 - b1**t, math.sqrt(1 - b2**t)


def adam_step(p, g, state, h):
    """``torch.optim.Adam`` (and AdamW; no amsgrad): m, v moving averages with bias correction at step t."""
    b1, b2 = h["betas"]
    t, bias1, sqrt_bias2 = bias_corrections(state.get("step", 0), b1, b2)
    if h.get("weight_decay") and h.get("decoupled_weight_decay"):  # AdamW
        p = p * (1 - h["lr"] * h["weight_decay"])
    elif h.get("weight_decay"):
        g = g + h["weight_decay"] * p
    m = b1 * state["exp_avg"] + (1 - b1) * g if "exp_avg" in state else (1 - b1) * g
    v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g if "exp_avg_sq" in state else (1 - b2) * g * g
    denom = _sqrt0(v) / sqrt_bias2 + h["eps"]
    p = p - (h["lr"] / bias1) * m / denom
    return p, {"exp_avg": m, "exp_avg_sq": v, "step": t}


def sgd_step(p, g, state, h):
    """``torch.optim.SGD``: ``p - lr * g``, with momentum (and dampening, nesterov) if set."""
    if h.get("weight_decay"):
        g = g + h["weight_decay"] * p
    mom = h.get("momentum", 0.0)
    if not mom:
        return p - h["lr"] * g, {}
    buf = state.get("momentum_buffer")
    buf = g if buf is None else mom * buf + (1 - h.get("dampening", 0.0)) * g
    step = g + mom * buf if h.get("nesterov") else buf
    return p - h["lr"] * step, {"momentum_buffer": buf}


def rmsprop_step(p, g, state, h):
    """``torch.optim.RMSprop`` (not centered): ``p - lr * g / (sqrt(E[g^2]) + eps)``."""
    if h.get("weight_decay"):
        g = g + h["weight_decay"] * p
    alpha = h["alpha"]
    sq = alpha * state["square_avg"] + (1 - alpha) * g * g if "square_avg" in state else (1 - alpha) * g * g
    step = g / (_sqrt0(sq) + h["eps"])
    new = {"square_avg": sq, "step": float(state.get("step", 0)) + 1}
    if h.get("momentum"):
        buf = state.get("momentum_buffer")
        step = step if buf is None else h["momentum"] * buf + step
        new["momentum_buffer"] = step
    return p - h["lr"] * step, new


STEPS = {"Adam": adam_step, "SGD": sgd_step, "RMSprop": rmsprop_step}
UNSUPPORTED = ("amsgrad", "centered", "maximize")


def step_function(kind: str, hyper: dict):
    """The differentiable step for optimizer class name ``kind`` with param group ``hyper``."""
    if kind not in STEPS:
        raise ConfigError(
            f"recipe.unrolled cannot unroll optimizer {kind}; use optimizer adam, sgd or rmsprop, "
            "or set recipe.unroll_inner=sgd"
        )
    for key in UNSUPPORTED:
        if hyper.get(key):
            raise ConfigError(f"recipe.unrolled cannot unroll {kind} with {key}=True; switch {key} off")
    return STEPS[kind]
