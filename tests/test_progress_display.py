"""The progress display: fresh values, a sane first ETA, Ctrl-C acknowledged at once."""

import os
import signal

import pytest

from gankit.config import from_dict
from gankit.training import progress as progress_mod
from gankit.training.faults import StopSignals
from gankit.training.progress import Progress, resolve_mode
from gankit.training.trainer import Trainer


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(progress_mod.time, "perf_counter", c)
    return c


def lines_of(capsys) -> list[str]:
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def test_first_eta_ignores_warm_up_and_later_ones_follow_the_steady_rate(clock, capsys):
    # A 50-step run: the first step takes 100 s (compilation, the step-0 evaluation), then 0.5 s
    # a step, and step 20 holds a 30 s evaluation.
    bar = Progress(50, 0, "lines", images_per_step=64)
    for step in range(1, 51):
        clock.t += 100.0 if step == 1 else (30.5 if step == 20 else 0.5)
        bar.update(step, {"loss_d": float(step)})
    lines = lines_of(capsys)
    assert lines[0].startswith("train step 1/50") and "eta" not in lines[0]  # too early to say
    for line in lines[1:]:
        step = int(line.split()[2].split("/")[0])
        eta = line.split("eta ")[1]
        assert eta == progress_mod.format_seconds(0.5 * (50 - step)), line  # steady 0.5 s/step
        assert "img/s=128" in line  # 64 images per 0.5 s
        assert f"loss_d={float(step):.4g}" in line  # the value of that step, not an older one
    assert lines[-1].startswith("train step 50/50")


def test_values_are_read_only_when_the_display_refreshes(clock, capsys):
    calls = []

    def values():
        calls.append(bar.step)
        return {"loss_d": 0.25 * bar.step}

    bar = Progress(100, 0, "lines")
    for step in range(1, 101):
        clock.t += 1.0
        bar.update(step, values)
    lines = lines_of(capsys)
    # one line (and one read of the values) per 10 s, plus the last step
    assert calls == [1, 11, 21, 31, 41, 51, 61, 71, 81, 91, 100]
    assert len(lines) == len(calls)
    for line, step in zip(lines, calls, strict=True):
        assert f"train step {step}/100 loss_d={0.25 * step:.4g}" in line


def test_main_metric_carries_the_step_of_its_evaluation(tmp_path, capsys):
    cfg = dict(data="25gaussians", steps=3, eval_every=2, n_eval=100, batch_size=16, progress="lines")
    trainer = Trainer(
        from_dict({**cfg, "out": str(tmp_path / "run"), "model_args": {"width": 8, "depth": 1}})
    )
    trainer.fit()
    err = capsys.readouterr().err
    last = [ln for ln in err.splitlines() if ln.startswith("train step 3/3")][0]
    assert "modes@2=" in last  # the step-3 line shows the step-2 evaluation's value, marked so


def test_gankit_progress_env_sets_auto(monkeypatch):
    monkeypatch.setenv("GANKIT_PROGRESS", "none")
    assert resolve_mode("auto") == "none" and resolve_mode("lines") == "lines"
    monkeypatch.setenv("GANKIT_PROGRESS", "lines")
    assert resolve_mode("auto") == "lines"


def test_ctrl_c_is_acknowledged_at_once(capsys):
    stop = StopSignals().install()
    try:
        os.kill(os.getpid(), signal.SIGINT)
        err = capsys.readouterr().err  # nothing else ran: the handler itself said it
        assert "SIGINT received; stopping after the current step or evaluation" in err
        assert stop.signum == signal.SIGINT
        os.kill(os.getpid(), signal.SIGTERM)  # a later signal is not announced twice
        assert capsys.readouterr().err == ""
    finally:
        stop.restore()


def test_ctrl_c_during_an_evaluation_is_acknowledged_before_it_ends(tmp_path, capsys, monkeypatch):
    from gankit.cli import main

    seen = {}
    real = Trainer.evaluate

    def evaluate(self, n=None):
        if self.state.step == 2:
            os.kill(os.getpid(), signal.SIGINT)
            seen["err"] = capsys.readouterr().err  # still inside the evaluation
        return real(self, n)

    monkeypatch.setattr(Trainer, "evaluate", evaluate)
    argv = ["train", "--data", "8gaussians", "--steps", "6", "--eval-every", "2", "--n-eval", "100"]
    argv += ["--batch-size", "16", "--progress", "none", "--out", str(tmp_path / "run")]
    assert main(argv) == 130
    assert "SIGINT received" in seen["err"]
    assert "SIGINT received at step 3; checkpoint saved" in capsys.readouterr().err  # next step
