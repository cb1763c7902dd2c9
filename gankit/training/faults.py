"""What the training loop does when something goes wrong: signals, NaN/inf, rollback.

- :class:`StopSignals` turns SIGINT and SIGTERM into a request the loop honours at the next
  step boundary (checkpoint, then :class:`TrainingStopped`), never in the middle of a step.
  A second SIGINT stops at once, without a checkpoint.
- :func:`check_grads` and :func:`check_params` find NaN/inf in gradients and parameters with
  one fused norm per call (``torch._foreach_norm``) and name the first bad tensor.
- :class:`DeferredChecks` does the same on a GPU without a host synchronization per update:
  each update's verdict stays on the device, a non-finite update is skipped there (the fused
  optimizers' ``found_inf``, as mixed-precision loss scaling does), and the verdicts are read
  at the loop's check points.
"""

from __future__ import annotations

import signal
import sys
import threading

import torch
from torch import nn

from gankit.errors import DivergenceError, GankitError

# Exit codes follow the shell convention 128 + signal number.
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
# Learning rates are multiplied by this after each rollback (``on_nan=rollback``).
ROLLBACK_LR_FACTOR = 0.5


class TrainingStopped(GankitError):
    """The run was stopped by a signal after saving a checkpoint; ``exit_code`` is 130 or 143."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class StopSignals:
    """Context manager: SIGINT/SIGTERM set ``self.signum`` instead of raising mid-step.

    Only the main thread can install handlers; elsewhere this does nothing (and a
    KeyboardInterrupt then behaves as Python's default).
    """

    def __init__(self, announce: bool = True):
        self.signum: int | None = None
        self._old: dict[int, object] = {}
        self.announce = announce  # say at once that the signal was received (the main rank)

    def _handle(self, signum, frame):
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: stop now
        first = self.signum is None
        self.signum = signum
        if first and self.announce:  # now, not when the step or evaluation under way ends
            again = " (Ctrl-C again to stop at once, without saving)" if signum == signal.SIGINT else ""
            sys.stderr.write(
                f"\ngankit: {self.name} received; stopping after the current step or evaluation "
                f"with a checkpoint{again}\n"
            )
            sys.stderr.flush()

    def install(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in EXIT_CODES:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def restore(self) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old.clear()

    __enter__ = install

    def __exit__(self, *exc) -> None:
        self.restore()

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 130)


# How allocators word running out: CUDA's OutOfMemoryError, the CPU allocator's RuntimeError
# ("DefaultCPUAllocator: not enough memory: you tried to allocate ..."), MPS, plain MemoryError.
OOM_WORDS = ("out of memory", "not enough memory", "cannot allocate memory", "can't allocate memory")


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation failing for lack of memory."""
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(error, RuntimeError) and any(w in str(error).lower() for w in OOM_WORDS)


def out_of_memory(error: BaseException, cfg, device: torch.device, step: int) -> GankitError:
    """One line for an allocation that failed: where, with which batch size, what to try."""
    said = next((ln.strip() for ln in str(error).splitlines() if ln.strip()), type(error).__name__)
    if len(said) > 160:
        said = said[:157] + "..."
    smaller = max(1, cfg.batch_size // 4)
    return GankitError(
        f"out of memory on {device} at step {step} with batch_size={cfg.batch_size} ({said}); "
        f"try a smaller --batch-size, e.g. --batch-size {smaller}"
    )


def _first_bad(tensors: list[torch.Tensor]) -> tuple[int, str] | None:
    """(index, "NaN" or "inf") of the first tensor holding NaN/inf, else None.

    The common all-finite case costs one fused norm and one device sync; the exact per-tensor
    scan runs only when a norm is not finite (which huge finite values can also cause).
    """
    if not tensors:
        return None
    if bool(torch.isfinite(torch.stack(torch._foreach_norm(tensors))).all()):
        return None
    for i, t in enumerate(tensors):
        if torch.isnan(t).any():
            return i, "NaN"
        if torch.isinf(t).any():
            return i, "inf"
    return None


def _names(module: nn.Module) -> dict[int, str]:
    return {id(p): n for n, p in module.named_parameters()}


def check_grads(params: list[nn.Parameter], owner: nn.Module, player: str, step: int) -> None:
    """Raise DivergenceError naming the first parameter of ``player`` whose gradient is NaN/inf."""
    with_grad = [p for p in params if p.grad is not None]
    bad = _first_bad([p.grad for p in with_grad])
    if bad is not None:
        name = _names(owner).get(id(with_grad[bad[0]]), "?")
        raise DivergenceError(f"{player} gradient of {name} became {bad[1]} at step {step}")


def flag_non_finite(tensors: list[torch.Tensor], found: torch.Tensor, one: torch.Tensor) -> None:
    """Set ``found`` (a 0-dim float tensor) to 1 when any entry of ``tensors`` is NaN/inf: the
    fused per-dtype kernel that loss scaling uses, at scale ``one`` (values unchanged), so huge
    but finite values are not flagged (a norm of them would overflow)."""
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for t in tensors:
        by_dtype.setdefault(t.dtype, []).append(t)
    for group in by_dtype.values():
        torch._amp_foreach_non_finite_check_and_unscale_(group, found, one)


def check_update(
    loss: torch.Tensor | None, params: list[nn.Parameter], owner: nn.Module, player: str, step: int
) -> None:
    """Raise DivergenceError when ``player``'s ``loss`` (None: not checked) or a gradient of
    ``params`` holds a NaN/inf, naming the loss or the first bad parameter.

    One fused kernel and one read for the loss and every gradient together (the all-finite
    case, every update of a run): about half the cost of a loss check plus :func:`check_grads`'s
    norms on a small MLP's step."""
    tensors = [p.grad for p in params if p.grad is not None]
    if loss is not None:
        tensors.append(loss.detach().reshape(1))
    if not tensors:
        return
    found = torch.zeros((), device=tensors[0].device)
    flag_non_finite(tensors, found, torch.ones((), device=found.device))
    if not bool(found):
        return
    if loss is not None and not torch.isfinite(loss.detach()):
        raise DivergenceError(f"{player} loss became {float(loss.detach())} at step {step}")
    check_grads(params, owner, player, step)


def check_params(params: list[nn.Parameter], owner: nn.Module, step: int) -> None:
    """Raise DivergenceError naming the first of ``params`` (of ``owner``) holding NaN/inf."""
    with torch.no_grad():
        bad = _first_bad([p.detach() for p in params])
    if bad is not None:
        name = _names(owner).get(id(params[bad[0]]), "?")
        raise DivergenceError(f"parameter {name} became {bad[1]} (found at step {step})")


class DeferredChecks:
    """NaN/inf checks that never wait for the GPU inside a step.

    Reading a flag back (``bool(t)``) stops the host until the device has caught up, so the next
    kernels cannot be queued ahead: on a GPU a per-update check costs far more than its
    arithmetic. Here each update sets a per-player flag ``found`` on the device when its loss or
    any gradient holds a NaN/inf; optimizers that accept ``found_inf`` (fused Adam and SGD) skip
    the update on the device while it is set. The flag stays set, so after a bad update the
    player's later ones are skipped too, until :meth:`raise_if_bad` reads the verdicts (one
    synchronization) at the loop's check points: every 25 steps and before every evaluation and
    checkpoint, so a checkpoint never holds a bad update.

    Cost per update: one fused check kernel per gradient dtype and two small kernels recording
    the first bad step (launch count is what a small GPU step pays for).
    """

    # The first bad update per player, kept so that one ``maximum`` records it:
    # code = WINDOW - (step - base) for a bad update, 0 for a good one; base is the step of the
    # first update after the last read. float32 holds these integers exactly below 2**24.
    WINDOW = 2**24

    def __init__(self, players, device: torch.device):
        self.found = {p: torch.zeros((), device=device) for p in players}  # 1.0 once bad
        self.code = {p: torch.zeros((), device=device) for p in players}
        self.one = torch.ones((), device=device)  # the check kernel's scale: values unchanged
        self.base: int | None = None

    @staticmethod
    def can_skip(opt: torch.optim.Optimizer) -> bool:
        """Whether ``opt`` skips its update on the device when given ``found_inf``."""
        return bool(opt.defaults.get("fused")) and isinstance(opt, torch.optim.Adam | torch.optim.SGD)

    def guard(self, opt: torch.optim.Optimizer, player: str, loss: torch.Tensor, params, step: int) -> None:
        """Flag this update of ``player`` on the device; ``opt.step()`` then skips it if bad.

        Loss and gradients are checked entry by entry with the fused kernel that loss scaling
        uses (scale 1: values unchanged), not by the finiteness of their norm, which overflows
        for huge but finite gradients that :func:`check_grads` lets through."""
        if self.base is None:
            self.base = step
        elif step - self.base >= self.WINDOW:  # never in practice: the loop reads every 25 steps
            self.raise_if_bad()
            self.base = step
        found = self.found[player]
        # (1,) float32 view of the loss; the kernel multiplies it by 1 in place (no change)
        grads = [p.grad for p in params if p.grad is not None]
        flag_non_finite([loss.detach().float().reshape(1), *grads], found, self.one)
        code = self.code[player]
        torch.maximum(code, found * float(self.WINDOW - (step - self.base)), out=code)
        opt.found_inf = found  # read by the fused kernels: no update while it is 1

    def first_bad_steps(self) -> dict[str, int | None]:
        """Per player, the step of its first flagged update since the last read, or None
        (one synchronization)."""
        codes = torch.stack(list(self.code.values())).tolist()
        return {p: None if c == 0 else self.base + self.WINDOW - int(c) for p, c in zip(self.code, codes)}

    def raise_if_bad(self) -> None:
        """Raise DivergenceError for the first flagged update; else start a new window."""
        for player, at in self.first_bad_steps().items():
            if at is not None:
                raise DivergenceError(
                    f"{player} loss or gradient became NaN/inf at step {at} (on a GPU the checks "
                    "are read every 25 steps and before evaluations and checkpoints; that update "
                    "and the player's later ones until then were skipped)"
                )
        self.base = None
