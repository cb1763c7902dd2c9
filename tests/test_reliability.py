"""Faults inside one process: NaN/inf in losses, gradients and parameters, rollback, signals
at step boundaries, a full or unwritable disk, failing pictures and metrics, truncated
checkpoints. Tiny MLP runs on 8gaussians (a few steps each); the GPU's deferred checks are in
test_reliability_deferred.py, which shares these helpers."""

from __future__ import annotations

import errno
import json
import os
import signal
import warnings
from pathlib import Path

import pytest
import torch

from gankit.config import Config
from gankit.errors import DivergenceError, GankitError
from gankit.training import checkpoint as ckpt
from gankit.training import faults
from gankit.training.trainer import Trainer


def tiny(out: Path, **kw) -> Config:
    """A run that takes well under a second per few steps on one CPU thread."""
    base = dict(
        data="8gaussians",
        steps=6,
        lr_schedule="constant",  # the resumes below extend steps, which a decay over the steps would stretch
        batch_size=32,
        n_eval=64,
        eval_every=1000,
        ckpt_every=2,
        model_args={"width": 16, "depth": 1},
        device="cpu",
        progress="none",
        out=str(out),
    )
    base.update(kw)
    return Config(**base)


def same_state(a, b, where="state") -> None:
    """Assert two checkpoint states are equal bit for bit (tensors with torch.equal)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {set(a) ^ set(b)}"
        for k in a:
            same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def comparable(state: dict) -> dict:
    """The parts of a checkpoint that must match between two runs (not wall time)."""
    train = {k: v for k, v in state["train"].items() if k != "wall_s"}
    return {
        "train": train,
        "recipe": state["recipe"],
        "ema": state["ema"],
        "optimizers": state["optimizers"],
        "rng": state["rng"],
    }


@pytest.fixture
def fast(monkeypatch):
    """No pictures and no TensorBoard writer: the in-process runs only train and checkpoint."""
    import gankit.training.trainer as trainer_mod
    import gankit.viz.pictures as pictures

    monkeypatch.setattr(pictures, "draw_run_pictures", lambda trainer, folder: {})

    class NoBoard(trainer_mod.TensorBoard):
        def __init__(self, folder):
            self.writer = None

    monkeypatch.setattr(trainer_mod, "TensorBoard", NoBoard)


def poison_d_loss(trainer: Trainer, when) -> None:
    """Make D's loss NaN whenever ``when(trainer)`` holds."""
    obj = trainer.recipe.objective
    orig = obj.d_loss

    def d_loss(d_real, d_fake):
        loss = orig(d_real, d_fake)
        return loss * float("nan") if when(trainer) else loss

    obj.d_loss = d_loss


# --- NaN / inf --------------------------------------------------------------------------------
def test_nan_loss_stops_naming_step_player_quantity(tmp_path, fast):
    t = Trainer(tiny(tmp_path / "run"))
    poison_d_loss(t, lambda t: t.state.step == 3)
    with pytest.raises(DivergenceError) as e:
        t.fit(progress=False)
    msg = str(e.value)
    assert "D loss became nan at step 3" in msg
    assert "step-00000002.pt" in msg  # the last good checkpoint is named
    # Nothing was saved after the NaN: the last checkpoint is step 2 and verifies.
    path, state = ckpt.load_latest(tmp_path / "run")
    assert path.name == "step-00000002.pt" and state["train"]["step"] == 2


def test_nan_loss_stops_an_fp16_run_too(tmp_path, fast):
    """Under fp16 the loss scaler skips updates whose gradients overflow; a NaN loss is
    divergence, not overflow, and must still stop the run (not be skipped forever)."""
    t = Trainer(tiny(tmp_path / "run", precision="fp16"))
    assert t.scalers  # the scaled path is the one under test
    poison_d_loss(t, lambda t: t.state.step == 3)
    with pytest.raises(DivergenceError, match="D loss became nan at step 3"):
        t.fit(progress=False)


def test_nan_gradient_caught_before_the_optimizer_step(tmp_path, fast):
    t = Trainer(tiny(tmp_path / "run"))
    w = t.recipe.D.body[0].weight
    w.register_hook(lambda g: g * float("nan") if t.state.step == 4 else g)
    after = {}
    orig_step = t.optimizers["D"].step

    def step(*a, **k):
        out = orig_step(*a, **k)
        after["w"] = w.detach().clone()  # the weights after the last update that happened
        return out

    t.optimizers["D"].step = step
    with pytest.raises(DivergenceError, match=r"D gradient of D\.body\.0\.weight became NaN at step 4"):
        t.fit(progress=False)
    # The bad gradient never reached the weights.
    assert torch.isfinite(w).all()
    assert torch.equal(w.detach(), after["w"])


def test_inf_parameter_after_update_is_caught(tmp_path, fast):
    t = Trainer(tiny(tmp_path / "run"))
    orig_step = t.optimizers["G"].step

    def step(*a, **k):
        out = orig_step(*a, **k)
        if t.state.step == 1:
            with torch.no_grad():
                t.recipe.G.out.bias.fill_(float("inf"))
        return out

    t.optimizers["G"].step = step
    # parameters are checked at the check points: here the first checkpoint, at step 2
    with pytest.raises(DivergenceError, match=r"parameter G\.out\.bias became inf \(found at step 2\)"):
        t.fit(progress=False)
    # The first checkpoint would have been at step 2: none was written with the inf.
    assert ckpt.list_checkpoints(tmp_path / "run" / "checkpoints") == []


def test_huge_but_finite_values_are_not_reported():
    p = torch.nn.Parameter(torch.full((4,), 3e30))  # its norm overflows float32, values do not
    faults.check_params([p], torch.nn.Module(), 0)
    p.grad = torch.full((4,), 3e30)
    faults.check_grads([p], torch.nn.Module(), "D", 0)
    p.grad[2] = float("-inf")
    with pytest.raises(DivergenceError, match="became inf"):
        faults.check_grads([p], torch.nn.Module(), "D", 0)


def test_check_update_names_the_loss_or_the_first_bad_gradient():
    """One fused check for the loss and every gradient: the loss is named first, then the
    first parameter (in the owner's order) whose gradient holds a NaN/inf; huge finite values
    pass, and the gradients' values are left as they were."""
    owner = torch.nn.Linear(3, 2)
    params = list(owner.parameters())
    owner.weight.grad = torch.full((2, 3), 3e30)
    owner.bias.grad = torch.tensor([1.0, -2.0])
    before = [p.grad.clone() for p in params]
    faults.check_update(torch.tensor(3e38), params, owner, "D", 5)  # all finite: nothing raised
    assert all(torch.equal(p.grad, b) for p, b in zip(params, before))
    owner.bias.grad[1] = float("nan")
    with pytest.raises(DivergenceError, match=r"^G gradient of bias became NaN at step 6$"):
        faults.check_update(torch.tensor(0.5), params, owner, "G", 6)
    owner.weight.grad[0, 2] = float("-inf")  # an earlier parameter is named first
    with pytest.raises(DivergenceError, match=r"^G gradient of weight became inf at step 7$"):
        faults.check_update(None, params, owner, "G", 7)
    with pytest.raises(DivergenceError, match=r"^D loss became inf at step 8$"):
        faults.check_update(torch.tensor(float("inf")), params, owner, "D", 8)
    bf16 = [torch.nn.Parameter(torch.zeros(4, dtype=torch.bfloat16))]  # grouped by dtype
    bf16[0].grad = torch.tensor([0.0, float("nan"), 0.0, 0.0], dtype=torch.bfloat16)
    with pytest.raises(DivergenceError, match="became NaN"):
        faults.check_update(torch.tensor(1.0), bf16, torch.nn.Module(), "D", 0)


def test_rollback_reloads_last_good_and_halves_lr(tmp_path, fast):
    run = tmp_path / "run"
    t = Trainer(tiny(run, steps=8, on_nan="rollback", max_rollbacks=2))
    base = t.base_lr["D"][0]
    # NaN at step 5 only while the learning rate is unscaled: one rollback cures it.
    poison_d_loss(t, lambda t: t.state.step == 5 and t.state.lr_scale == 1.0)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        t.fit(progress=False)
    msgs = [str(x.message) for x in w]
    assert any("rolled back to step-00000004.pt (step 4) with learning rates x0.5" in m for m in msgs), msgs
    assert t.state.step == 8 and t.state.rollbacks == 1 and t.state.lr_scale == 0.5
    assert t.optimizers["D"].param_groups[0]["lr"] == pytest.approx(0.5 * base, rel=1e-12)
    # The factor is checkpointed, so a resume continues with the lowered rate.
    _, state = ckpt.load_latest(run)
    assert state["train"]["lr_scale"] == 0.5 and state["train"]["rollbacks"] == 1
    resumed = Trainer.from_run(run, overrides={"steps": 9})
    assert resumed.state.lr_scale == 0.5


def test_rollback_before_first_checkpoint_uses_step_zero(tmp_path, fast):
    t = Trainer(tiny(tmp_path / "run", steps=3, ckpt_every=100, on_nan="rollback", max_rollbacks=1))
    poison_d_loss(t, lambda t: t.state.step == 1 and t.state.lr_scale == 1.0)
    with pytest.warns(UserWarning, match=r"rolled back to step-00000000\.pt \(step 0\)"):
        t.fit(progress=False)
    assert t.state.step == 3 and t.state.rollbacks == 1


def test_rollback_gives_up_after_max_rollbacks(tmp_path, fast):
    t = Trainer(tiny(tmp_path / "run", on_nan="rollback", max_rollbacks=2))
    poison_d_loss(t, lambda t: t.state.step == 3)  # NaN whatever the learning rate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DivergenceError, match="gave up after 2 rollbacks") as e:
            t.fit(progress=False)
    assert "D loss became nan at step 3" in str(e.value)
    assert t.state.lr_scale == 0.25
    path, state = ckpt.load_latest(tmp_path / "run")  # the good checkpoint survived
    assert state["train"]["step"] == 2 and path.name == "step-00000002.pt"


# --- signals ----------------------------------------------------------------------------------
def test_sigterm_mid_step_checkpoints_at_the_step_boundary(tmp_path, fast):
    """SIGTERM arriving inside step 2's D update: the step finishes, then the checkpoint of
    step 3 is written; it equals an uninterrupted run's step-3 checkpoint bit for bit."""
    ref = Trainer(tiny(tmp_path / "ref", steps=3, ckpt_every=3))
    ref.fit(progress=False)
    _, ref_state = ckpt.load_latest(tmp_path / "ref")

    t = Trainer(tiny(tmp_path / "run", steps=6, ckpt_every=100))
    obj = t.recipe.objective
    orig = obj.d_loss

    def d_loss(d_real, d_fake):
        if t.state.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return orig(d_real, d_fake)

    obj.d_loss = d_loss
    handler_before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(faults.TrainingStopped) as e:
        t.fit(progress=False)
    assert e.value.exit_code == 143
    assert str(e.value) == (
        f"SIGTERM received at step 3; checkpoint saved. Resume with: gankit train --resume {tmp_path / 'run'}"
    )
    assert signal.getsignal(signal.SIGTERM) == handler_before  # handlers restored
    path, state = ckpt.load_latest(tmp_path / "run")
    assert path.name == "step-00000003.pt"
    state["config"] = ref_state["config"] = None  # steps and ckpt_every differ by design
    same_state(comparable(ref_state), comparable(state))


def test_second_sigint_stops_at_once_without_saving(tmp_path, fast):
    t = Trainer(tiny(tmp_path / "run", ckpt_every=100))
    obj = t.recipe.objective
    orig = obj.d_loss

    def d_loss(d_real, d_fake):
        if t.state.step == 1:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return orig(d_real, d_fake)

    obj.d_loss = d_loss
    with pytest.raises(faults.TrainingStopped, match="nothing saved; no checkpoint was saved") as e:
        t.fit(progress=False)
    assert e.value.exit_code == 130
    assert ckpt.list_checkpoints(tmp_path / "run" / "checkpoints") == []


# --- disk full, unwritable folders, failing pictures -------------------------------------------
@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EACCES])
@pytest.mark.parametrize("where", ["replace", "open"])
def test_disk_full_or_unwritable_keeps_last_good_checkpoint(tmp_path, fast, monkeypatch, err, where):
    run = tmp_path / "run"
    Trainer(tiny(run, steps=4)).fit(progress=False)
    good = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}

    real = os.replace if where == "replace" else open

    def fail(*a, **k):  # only writes into checkpoints/ fail; config.json is written fine
        if Path(a[0]).parent.name == "checkpoints":
            raise OSError(err, os.strerror(err))
        return real(*a, **k)

    if where == "replace":
        monkeypatch.setattr(ckpt.os, "replace", fail)
    else:
        monkeypatch.setattr(ckpt, "open", fail, raising=False)
    t = Trainer.from_run(run, overrides={"steps": 6})
    with pytest.raises(GankitError) as e:
        t.fit(progress=False)
    msg = str(e.value)
    assert msg.startswith(f"cannot write checkpoint to {run / 'checkpoints'}: {os.strerror(err)}")
    assert "the last good checkpoint is intact" in msg
    monkeypatch.undo()
    # Byte for byte the same files (no temp file left), and the newest still loads.
    assert {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()} == good
    path, state = ckpt.load_latest(run)
    assert state["train"]["step"] == 4


def test_full_disk_when_resuming_is_one_clear_error(tmp_path, fast, monkeypatch):
    run = tmp_path / "run"
    Trainer(tiny(run, steps=2)).fit(progress=False)

    def fail(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ckpt.os, "replace", fail)  # config.json cannot be rewritten
    t = Trainer.from_run(run, overrides={"steps": 4})
    with pytest.raises(GankitError, match=f"cannot write to run folder {run}: No space left on device"):
        t.fit(progress=False)
    monkeypatch.undo()
    assert ckpt.load_latest(run)[1]["train"]["step"] == 2


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_run_folder(tmp_path, fast):
    run = tmp_path / "run"
    Trainer(tiny(run, steps=2)).fit(progress=False)
    t = Trainer.from_run(run, overrides={"steps": 4})
    (run / "checkpoints").chmod(0o555)
    try:
        with pytest.raises(GankitError, match="cannot write|the last good checkpoint is intact"):
            t.fit(progress=False)
    finally:
        (run / "checkpoints").chmod(0o755)
    assert ckpt.load_latest(run)[1]["train"]["step"] == 2


def test_failing_pictures_and_metrics_only_warn(tmp_path, fast, monkeypatch):
    import gankit.viz.pictures as pictures
    from gankit.training.runfolder import MetricsLog

    def broken_drawer(trainer, folder):
        raise RuntimeError("plotting exploded")

    def full_disk(self, row):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pictures, "draw_run_pictures", broken_drawer)
    monkeypatch.setattr(MetricsLog, "append", full_disk)
    t = Trainer(tiny(tmp_path / "run", steps=4, eval_every=2))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        t.fit(progress=False)
    msgs = [str(x.message) for x in w]
    assert t.state.step == 4
    # Evaluations at steps 0, 2 and 4: each warns once for pictures and once for metrics.
    assert sum("pictures failed" in m and "plotting exploded" in m for m in msgs) == 3
    assert sum("logging metrics failed" in m and "No space left" in m for m in msgs) == 3
    assert ckpt.load_latest(tmp_path / "run")[1]["train"]["step"] == 4


# --- corrupt checkpoints ----------------------------------------------------------------------
def test_truncated_checkpoint_falls_back_to_previous(tmp_path, fast):
    run = tmp_path / "run"
    Trainer(tiny(run, steps=4)).fit(progress=False)
    newest = run / "checkpoints" / "step-00000004.pt"
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])
    with pytest.warns(
        UserWarning,
        match=r"step-00000004\.pt is corrupt or truncated.*using the previous good checkpoint step-00000002\.pt",
    ):
        t = Trainer.from_run(run)
    assert t.state.step == 2
    # Set aside, with the manifest that records what the file should be.
    assert not newest.exists() and ckpt.list_checkpoints(run / "checkpoints")[-1].name == "step-00000002.pt"
    manifest = json.loads((run / "checkpoints" / "step-00000004.json.corrupt").read_text())
    assert manifest["bytes"] == len(data) and manifest["step"] == 4
    assert (run / "checkpoints" / "step-00000004.pt.corrupt").read_bytes() == data[: len(data) // 2]
