"""Time-aware training: the step count fitted to a wall budget, the decay ending at it, exact resume."""

from __future__ import annotations

import shutil

import pytest

from gankit.config import Config
from gankit.training import budget as budget_mod
from gankit.training import trainer as trainer_mod
from gankit.training.budget import MARGIN, fit_steps
from gankit.training.trainer import Trainer, lr_factor


def _brute(step, elapsed, rate, eval_s, every, budget, max_steps):
    """The largest h whose training and evaluations fit, by trying every h."""
    best = step + 1
    for h in range(step + 1, max_steps + 1):
        evals = sum(1 for s in range(step + 1, h + 1) if s % every == 0 or s == h)
        if (h - step) / rate + evals * eval_s <= MARGIN * (budget - elapsed):
            best = h
    return best


@pytest.mark.parametrize(
    "args",
    [
        (0, 0.0, 100.0, 0.5, 100, 10.0, 5000),
        (0, 0.0, 100.0, 0.0, 100, 10.0, 5000),
        (37, 1.3, 55.0, 0.25, 40, 12.0, 5000),
        (0, 0.0, 100.0, 0.0, 100, 10.0, 300),  # steps caps the horizon
        (10, 20.0, 100.0, 0.0, 100, 10.0, 5000),  # already over: one more step
    ],
)
def test_fit_steps_is_the_largest_count_that_fits(args):
    assert fit_steps(*args) == _brute(*args)


class FakeClock:
    """10 ms per training step, evaluations free: the run's speed is known exactly."""

    def __init__(self):
        self.trainer = None

    def perf_counter(self):
        return 0.01 * self.trainer.state.step if self.trainer is not None else 0.0


def _budgeted(tmp_path, name, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(trainer_mod, "time", clock)
    cfg = Config(
        data="8gaussians",
        steps=10**6,
        max_wall_s=20.0,
        lr_schedule="linear-decay",
        decay_start=0.5,
        batch_size=16,
        eval_every=500,
        keep_ckpts=10,
        n_eval=50,
        model_args={"width": 8, "depth": 1},
        out=str(tmp_path / name),
        progress="none",
    )
    t = Trainer(cfg)
    clock.trainer = t
    return t, clock


def test_the_budgeted_schedule_ends_its_decay_at_the_budget(tmp_path, monkeypatch):
    monkeypatch.setattr("gankit.viz.pictures.draw_run_pictures", lambda trainer, folder: {})
    t, _ = _budgeted(tmp_path, "a", monkeypatch)
    row = t.fit(progress=False)
    # Calibrated after 5 s of training (500 steps at 100 steps/s), the horizon fills the rest:
    # 500 + 0.97 * (20 - 5) * 100 steps. Re-estimated at every 500-step checkpoint and every
    # h // 20 steps while s < h / 2, each plan 0.97 of what is left: h = s + 0.97 (2000 - s).
    h = fit_steps(500, 5.0, 100.0, 0.0, 500, 20.0, 10**6)
    assert budget_mod.CALIBRATE_S == 5.0 and abs(h - (500 + MARGIN * 15.0 * 100)) <= 1
    s = 500
    while s + 1 < h / 2:
        s += 1
        if s % 500 == 0 or s % (h // budget_mod.REESTIMATES) == 0:
            h = max(s + 1, fit_steps(s, 0.01 * s, 100.0, 0.0, 500, 20.0, 10**6))
    assert h == t.state.horizon and h > 1955
    assert t.state.step == row["step"] == h  # ended at the horizon, not at the hard stop
    assert row["wall_s"] == pytest.approx(0.01 * h) and row["wall_s"] <= 20.0
    # The last update ran at the decay's last factor: linear from h/2 to 0 at h.
    last = lr_factor(t.cfg, h - 1, h)
    assert last == pytest.approx(1 - (h - 1 - h / 2) / (h - h / 2)) == pytest.approx(2 / h)
    assert lr_factor(t.cfg, h, h) == 0.0  # the decay reaches 0 exactly at the horizon
    assert t.optimizers["G"].param_groups[0]["lr"] == pytest.approx(t.cfg.lr_g * last, rel=1e-12)


def test_a_budgeted_run_resumes_exactly(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr("gankit.viz.pictures.draw_run_pictures", lambda trainer, folder: {})
    full, _ = _budgeted(tmp_path, "full", monkeypatch)
    full.fit(progress=False)
    # The same run stopped at its step-1000 checkpoint (past calibration) and resumed.
    part = tmp_path / "part"
    shutil.copytree(tmp_path / "full", part)
    for p in (part / "checkpoints").iterdir():
        if "step-00001000" not in p.name:
            p.unlink()
    clock = FakeClock()
    monkeypatch.setattr(trainer_mod, "time", clock)
    resumed = Trainer.from_run(part)
    clock.trainer = resumed
    assert resumed.state.step == 1000 and resumed.state.horizon == full.state.horizon
    resumed.fit(progress=False)
    assert resumed.state.step == full.state.step
    a, b = full.recipe.state_dict(), resumed.recipe.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_without_a_budget_the_run_follows_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(budget_mod, "CALIBRATE_S", 0.0)  # past calibration after 20 steps
    monkeypatch.setattr("gankit.viz.pictures.draw_run_pictures", lambda trainer, folder: {})
    cfg = Config(
        data="8gaussians", steps=30, batch_size=8, n_eval=20, out=str(tmp_path / "r"), progress="none"
    )
    t = Trainer(cfg)
    assert t.state.horizon == 0 and t.budget.total(t.state) == 30
    row = t.fit(progress=False)
    assert t.state.step == row["step"] == 30 and t.state.horizon == 0


def test_minutes_flag_sets_the_budget(tmp_path, capsys):
    import json

    from gankit.cli import main

    assert (
        main(["train", "--data", "grid", "--minutes", "1.5", "--dry-run", "--out", str(tmp_path / "x")]) == 0
    )
    assert json.loads(capsys.readouterr().out)["max_wall_s"] == 90.0
    assert main(["train", "--minutes", "0", "--dry-run"]) == 2
    assert "--minutes 0: must be a number of minutes > 0" in capsys.readouterr().err


def test_the_step_zero_evaluation_is_not_taken_out_of_the_training_time():
    """A 10 s step-0 evaluation before training, then 1 step per second: calibrated at step 20
    (30 s into a 100 s budget), the rate is 1 step/s, not 2 (20 steps over 20 s of training,
    not over 20 - 10 s), so the horizon is 20 + (0.97 * 70 - 10) steps."""
    import types

    cfg = types.SimpleNamespace(max_wall_s=100.0, steps=10**6, eval_every=1000, ckpt_every=0)
    state = types.SimpleNamespace(step=0, horizon=0, horizon_of=[])
    b = budget_mod.WallBudget(cfg)
    b.prepare(state)
    b.add_overhead(10.0)  # step 0's evaluation, 0 s to 10 s
    b.start(10.0, 0)
    state.step = 20
    assert b.after_step(state, now=30.0, elapsed_s=30.0)
    assert state.horizon == fit_steps(20, 30.0, 1.0, 10.0, 1000, 100.0, 10**6) == 20 + int(0.97 * 70 - 10)


class SpeedUpClock(FakeClock):
    """30 ms per step for the first 150 steps (the machine shared), 10 ms after."""

    def perf_counter(self):
        s = self.trainer.state.step if self.trainer is not None else 0
        return 0.03 * min(s, 150) + 0.01 * max(0, s - 150)


@pytest.mark.parametrize("between_checkpoints", [True, False])
def test_the_horizon_follows_a_faster_machine_between_checkpoints(tmp_path, monkeypatch, between_checkpoints):
    """Calibrated while slow (5 s at step 200: 40 steps/s), the first horizon is about 780 steps,
    shorter than the 5,000-step checkpoint interval. Re-estimated every 1/20 of the horizon, it
    grows with the measured rate until the decay starts, and the run uses most of its 20 s; with
    re-estimation at checkpoints only, the run ended at the first horizon after 10.8 s."""
    monkeypatch.setattr("gankit.viz.pictures.draw_run_pictures", lambda trainer, folder: {})
    if not between_checkpoints:
        monkeypatch.setattr(budget_mod.WallBudget, "due", lambda self, state: False)
    t, _ = _budgeted(tmp_path, "r", monkeypatch)
    clock = SpeedUpClock()
    monkeypatch.setattr(trainer_mod, "time", clock)
    t.cfg.eval_every = 5000
    clock.trainer = t
    first = fit_steps(200, 5.0, 40.0, 0.0, 5000, 20.0, 10**6)
    assert abs(first - (200 + 0.97 * 15 * 40)) <= 1
    row = t.fit(progress=False)
    assert t.state.step == row["step"] == t.state.horizon
    if between_checkpoints:
        assert t.state.horizon > 1.5 * first and 15.0 < row["wall_s"] <= 20.0
        assert lr_factor(t.cfg, t.state.horizon, t.state.horizon) == 0.0
    else:
        assert t.state.horizon == first and row["wall_s"] < 11.0  # 4.5 + 0.01 * (781 - 150)


def test_a_budgeted_run_says_its_step_count_depends_on_the_machine(tmp_path, capsys):
    from gankit.cli import main

    out = str(tmp_path / "b")
    args = ["train", "--data", "8gaussians", "--steps", "3", "--minutes", "1", "--progress", "lines"]
    assert main([*args, "--out", out, "--set", "n_eval=100"]) == 0
    err = capsys.readouterr().err
    line = "wall budget 60 s: the step count (at most 3) is fitted to it once the speed is measured"
    assert line in err and "--steps N --set max_wall_s=0" in err
    assert (
        main(["train", "--data", "8gaussians", "--steps", "3", "--progress", "lines", "--out", out + "2"])
        == 0
    )
    assert "wall budget" not in capsys.readouterr().err  # no budget: nothing to say
