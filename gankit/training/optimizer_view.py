"""A read-only view of one of the loop's optimizers, for recipes whose losses look ahead at a
player's next updates (the unrolled GAN unrolls D's optimizer from its current state).

The loop owns the optimizers and alone calls ``step()``; a recipe gets an :class:`OptimizerView`
through ``Recipe.set_optimizer_views`` and can only read: the optimizer's class name, each
parameter's hyper-parameters (its param group, with the learning rate of this step's schedule)
and detached state tensors. State is what the optimizer holds now, so checkpoints (which carry
the optimizer state) make a resumed run see the same values.
"""

from __future__ import annotations

import torch


class OptimizerView:
    def __init__(self, optimizer: torch.optim.Optimizer):
        self._opt = optimizer

    @property
    def kind(self) -> str:
        """The optimizer's class name: "Adam", "SGD", "RMSprop", ..."""
        return type(self._opt).__name__

    def hyper(self, param: torch.Tensor) -> dict:
        """A copy of ``param``'s group settings (lr, betas, eps, ...), without the parameters."""
        for group in self._opt.param_groups:
            if any(p is param for p in group["params"]):
                return {k: (float(v) if torch.is_tensor(v) else v) for k, v in group.items() if k != "params"}
        raise KeyError("parameter not handled by this optimizer")

    def state(self, param: torch.Tensor) -> dict:
        """``param``'s optimizer state, tensors detached (empty before the first step). The
        tensors share memory with the optimizer's: read them, never write into them."""
        return {
            k: (v.detach() if torch.is_tensor(v) else v) for k, v in self._opt.state.get(param, {}).items()
        }
