"""What the loop keeps between evaluations without waiting for the device: the losses summed as
tensors (read at evaluations and display refreshes), and the generator's weight average."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def update_ema(ema: AveragedModel, model: nn.Module) -> None:
    """``ema.update_parameters(model)`` without its wait for the GPU.

    AveragedModel keeps its update count ``n_averaged`` on the CPU and copies it to the
    parameters' device at every update, a blocking copy (the host waits until the GPU has caught
    up), although the EMA function ignores the count. Here the same function gets the same
    tensors in the same groups (by device and dtype), so the update is the same bit for bit, and
    the count is read where it lives."""
    ema_tensors = [*ema.module.parameters(), *ema.module.buffers()]
    model_tensors = [*model.parameters(), *model.buffers()]
    with torch.no_grad():
        if int(ema.n_averaged) == 0:  # the first update copies
            for e, m in zip(ema_tensors, model_tensors, strict=True):
                e.copy_(m)
        else:
            groups: dict[tuple, tuple[list, list]] = {}
            for e, m in zip(ema_tensors, model_tensors, strict=True):
                es, ms = groups.setdefault((e.device, e.dtype), ([], []))
                es.append(e.detach())
                ms.append(m.detach())
            for es, ms in groups.values():
                ema.multi_avg_fn(es, ms, ema.n_averaged)
        ema.n_averaged += 1


class LogSums:
    """Sums of the step logs since the last reset, read as means.

    With ``keep_tensors`` (on a GPU) a tensor is only kept: the step then adds no kernel and no
    synchronization for its logs; the kept values are summed on the device and read back
    together, one synchronization per read. Otherwise each value becomes a float at once.
    """

    def __init__(self, keep_tensors: bool = False):
        self.keep_tensors = keep_tensors
        self.reset()

    def reset(self) -> None:
        self.values: dict[str, list] = {}
        self.count = 0  # steps added since the reset

    def add(self, logs: dict[str, Any]) -> None:
        for k, v in logs.items():
            keep = self.keep_tensors and torch.is_tensor(v)
            self.values.setdefault(k, []).append(v.detach() if keep else float(v))
        self.count += 1

    def means(self, keys=None) -> dict[str, float]:
        """Means over the steps added of ``keys`` (default: all) that were logged."""
        keys = [k for k in (self.values if keys is None else keys) if k in self.values]
        totals = {}
        for k in keys:  # fold each list into one value so repeated reads stay short
            floats = [v for v in self.values[k] if not torch.is_tensor(v)]
            tensors = [v for v in self.values[k] if torch.is_tensor(v)]
            total = math.fsum(floats)
            if tensors:
                total = torch.stack(tensors).sum() + total
            self.values[k] = totals[k] = [total]
        on_device = [k for k in keys if torch.is_tensor(totals[k][0])]
        read = (
            dict(zip(on_device, torch.stack([totals[k][0] for k in on_device]).tolist())) if on_device else {}
        )
        n = max(self.count, 1)
        return {k: read.get(k, totals[k][0]) / n for k in keys}
