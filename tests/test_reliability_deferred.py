"""The GPU's deferred NaN/inf checks (``faults.DeferredChecks``), exercised on the CPU: a healthy
run is unchanged, a bad update is skipped and named by its step, huge finite gradients pass.
Tiny MLP runs on 8gaussians (helpers shared with test_reliability.py)."""

from __future__ import annotations

import pytest
import torch
from test_reliability import fast, tiny  # noqa: F401  (fast: fixture)

from gankit.errors import DivergenceError
from gankit.training import checkpoint as ckpt
from gankit.training import faults
from gankit.training.trainer import Trainer


def _deferred(t: Trainer) -> Trainer:
    """Switch ``t`` to the checks a CUDA trainer uses (fused Adam takes found_inf on CPU too)."""
    assert faults.DeferredChecks.can_skip(t.optimizers["D"])
    t.deferred = faults.DeferredChecks(t.recipe.players, t.device)
    return t


@pytest.mark.usefixtures("fast")
def test_deferred_checks_leave_healthy_training_unchanged(tmp_path):
    plain = Trainer(tiny(tmp_path / "a", steps=8))
    plain.fit(progress=False)
    deferred = _deferred(Trainer(tiny(tmp_path / "b", steps=8)))
    deferred.fit(progress=False)
    for (k, a), b in zip(plain.recipe.state_dict().items(), deferred.recipe.state_dict().values()):
        assert torch.equal(a, b), k


@pytest.mark.usefixtures("fast")
def test_deferred_check_skips_the_bad_update_and_names_its_step(tmp_path):
    t = _deferred(Trainer(tiny(tmp_path / "run", steps=20, eval_every=10, ckpt_every=10)))
    w = t.recipe.D.body[0].weight
    w.register_hook(lambda g: g * float("nan") if t.state.step == 4 else g)
    seen = {}
    orig_step = t.optimizers["D"].step

    def step(*a, **k):
        before = w.detach().clone()
        out = orig_step(*a, **k)
        if t.state.step == 4:
            seen["before"], seen["after"] = before, w.detach().clone()
        return out

    t.optimizers["D"].step = step
    with pytest.raises(DivergenceError, match=r"D loss or gradient became NaN/inf at step 4 \(on a GPU"):
        t.fit(progress=False)
    # the update of step 4 was skipped on the device: the weights did not move, and stay finite
    assert torch.equal(seen["before"], seen["after"])
    assert torch.isfinite(w).all()
    # the checkpoint of step 10 (the first one due) was not written
    assert ckpt.list_checkpoints(tmp_path / "run" / "checkpoints") == []


@pytest.mark.usefixtures("fast")
def test_deferred_check_lets_huge_finite_gradients_through(tmp_path):
    """Gradients whose norm overflows float32 but whose entries are finite are not a NaN/inf:
    the deferred check agrees with check_grads, raises nothing and skips no update."""
    t = _deferred(Trainer(tiny(tmp_path / "run", steps=4)))
    w = t.recipe.D.body[0].weight
    huge = torch.full((4,), 3e30)
    assert not torch.isfinite(torch._foreach_norm([huge])[0])  # what a norm-based check would see
    w.register_hook(lambda g: torch.full_like(g, 3e30) if t.state.step == 1 else g)
    t.fit(progress=False)
    assert t.state.step == 4 and t.deferred.first_bad_steps() == {"G": None, "D": None}
    # fused Adam counts only the updates it made (a skipped one is taken back): all 4 made
    assert float(t.optimizers["D"].state[w]["step"]) == 4.0


class _FusedStub:
    """Stands in for a fused optimizer: guard only sets ``found_inf`` on it."""

    found_inf = None


def test_deferred_guard_flags_a_nan_loss_with_finite_gradients_and_keeps_the_first_step():
    checks = faults.DeferredChecks(["G", "D"], torch.device("cpu"))
    w = torch.nn.Parameter(torch.ones(3))
    w.grad = torch.full((3,), 2.0)
    opt = _FusedStub()
    for step in (5, 6):  # good updates: nothing flagged, the loss value untouched
        loss = torch.tensor(0.25)
        checks.guard(opt, "D", loss, [w], step)
        assert float(opt.found_inf) == 0.0 and float(loss) == 0.25
    assert torch.equal(w.grad, torch.full((3,), 2.0))  # the check scales by exactly 1
    checks.guard(opt, "D", torch.tensor(float("nan")), [w], 7)  # only the loss is bad
    assert float(opt.found_inf) == 1.0
    checks.guard(opt, "D", torch.tensor(1.0), [w], 9)  # stays flagged: later updates skipped too
    assert float(opt.found_inf) == 1.0
    assert checks.first_bad_steps() == {"G": None, "D": 7}
    with pytest.raises(DivergenceError, match="D loss or gradient became NaN/inf at step 7"):
        checks.raise_if_bad()


def test_deferred_guard_names_the_step_after_a_clean_read_and_across_a_full_window():
    checks = faults.DeferredChecks(["D"], torch.device("cpu"))
    w = torch.nn.Parameter(torch.ones(2))
    w.grad = torch.ones(2)
    opt = _FusedStub()
    checks.guard(opt, "D", torch.tensor(0.0), [w], 3)
    checks.raise_if_bad()  # clean: a new window starts at the next update
    big = 3 + faults.DeferredChecks.WINDOW + 10  # float32 counts exactly only below 2**24
    checks.guard(opt, "D", torch.tensor(0.0), [w], big)
    w.grad = torch.tensor([1.0, float("inf")])
    checks.guard(opt, "D", torch.tensor(0.0), [w], big + 4)
    assert checks.first_bad_steps() == {"D": big + 4}
    # more than WINDOW steps without a read: the guard reads once itself, then names the step
    checks = faults.DeferredChecks(["D"], torch.device("cpu"))
    w.grad = torch.ones(2)
    checks.guard(opt, "D", torch.tensor(0.0), [w], 0)
    w.grad = torch.tensor([float("nan"), 1.0])
    checks.guard(opt, "D", torch.tensor(0.0), [w], faults.DeferredChecks.WINDOW + 123)
    assert checks.first_bad_steps() == {"D": faults.DeferredChecks.WINDOW + 123}
