"""The CPU thread choice: the model's best count, the cores other trainers leave, --threads wins."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from gankit.config import Config
from gankit.training import threads
from gankit.training.threads import choose_threads, threads_of_others


@pytest.mark.parametrize(
    "want, cores, others, explicit, expected",
    [
        (1, 2, 0, 0, 1),  # a small MLP: one thread
        (1, 16, 0, 0, 1),
        (2, 2, 0, 0, 2),  # a convnet or a large MLP: every core
        (16, 16, 0, 0, 16),
        (2, 2, 1, 0, 1),  # another trainer holds one of the two cores
        (16, 16, 6, 0, 10),
        (2, 2, 2, 0, 1),  # all cores taken: still one thread, never zero
        (1, 2, 5, 0, 1),
        (1, 2, 2, 3, 3),  # --threads wins over everything
        (16, 16, 0, 1, 1),
    ],
)
def test_choice_follows_the_rule(want, cores, others, explicit, expected):
    assert choose_threads(want, cores, others, explicit) == expected


def _networks(*layers: nn.Module) -> nn.Module:
    return nn.ModuleDict({f"n{i}": layer for i, layer in enumerate(layers)})


@pytest.mark.parametrize(
    "networks, batch, expected",
    [
        # the toy defaults' MLP (largest layer 256 x 256) at batch 256: 16.8M multiply-adds
        (lambda: _networks(nn.Linear(2, 256), nn.Linear(256, 256), nn.Linear(256, 1)), 256, 4),
        # the seed article's MLP at batch 64: 64 x 784 x 128 = 6.4M
        (lambda: _networks(nn.Linear(10, 128), nn.Linear(128, 784), nn.Linear(784, 128)), 64, 4),
        # width 128 at batch 128: exactly 2^21, the threshold (measured 3.90 -> 3.28 ms per step)
        (lambda: _networks(nn.Linear(2, 128), nn.Linear(128, 128)), 128, 4),
        (lambda: _networks(nn.Linear(2, 128), nn.Linear(128, 128)), 127, 1),
        # width 64 at batch 64 (262k) and width 32 at batch 256: one thread was faster
        (lambda: _networks(nn.Linear(2, 64), nn.Linear(64, 64)), 64, 1),
        (lambda: _networks(nn.Linear(2, 32), nn.Linear(32, 32)), 256, 1),
        # any convolution: every core, whatever its size
        (lambda: _networks(nn.Conv2d(1, 1, 3), nn.Linear(2, 2)), 1, 4),
        (lambda: _networks(nn.ConvTranspose2d(1, 1, 3)), 1, 4),
    ],
)
def test_wanted_threads_follow_the_largest_layers_work(networks, batch, expected):
    assert threads.wanted(networks(), batch, 4) == expected


def test_registry_counts_live_trainers_only(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / str(sleeper.pid)).write_text("2")
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
        dead_pid = int(dead.stdout)
        (tmp_path / str(dead_pid)).write_text("4")
        (tmp_path / str(os.getpid())).write_text("8")  # this process's own file does not count
        assert threads_of_others(tmp_path) == 2
        assert not (tmp_path / str(dead_pid)).exists()  # the gone process's file is removed
    finally:
        sleeper.kill()
        sleeper.wait()
    assert threads_of_others(tmp_path) == 0


def test_busy_cores_is_the_larger_of_registry_and_load(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "threads_of_others", lambda folder=None: 1)
    monkeypatch.setattr(threads, "cpu_load", lambda: 3.7)
    assert threads.busy_cores(tmp_path) == 4
    monkeypatch.setattr(threads, "cpu_load", lambda: 0.2)
    assert threads.busy_cores(tmp_path) == 1


def _stat_file(path, per_cpu):
    # /proc/stat's layout: the aggregate line, then one line per CPU (user nice system idle ...)
    lines = ["cpu  9 0 0 9 0 0 0 0 0 0"]
    lines += [f"cpu{i} {user} 0 0 {idle} 0 0 0 0 0 0" for i, (user, idle) in enumerate(per_cpu)]
    path.write_text("\n".join(lines + ["intr 1 2 3", "ctxt 5"]) + "\n")


def test_cpu_load_is_the_busy_share_of_the_sample_times_the_cpu_count(tmp_path, monkeypatch):
    """Between two reads 150 jiffies passed on 2 CPUs, 75 of them busy: one core busy."""
    stat = tmp_path / "stat"
    reads = iter([(1000, 6000, 2), (1075, 6150, 2)])
    monkeypatch.setattr(threads, "_cpu_times", lambda path, cpus=None: next(reads))
    assert threads.cpu_load(0.0, stat) == pytest.approx(1.0)
    monkeypatch.undo()
    # the parser: busy = all fields but idle and iowait, over the CPUs asked for only
    _stat_file(stat, [(100, 400), (300, 200), (50, 950)])
    assert threads._cpu_times(stat) == (450, 2000, 3)
    assert threads._cpu_times(stat, {0, 1}) == (400, 1000, 2)  # a process allowed CPUs 0 and 1
    # no /proc/stat: the load average
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.7, 0.0, 0.0))
    assert threads.cpu_load(0.0, tmp_path / "missing") == 0.7


def test_cpu_load_sees_a_busy_process_at_once():
    """A process spinning on one core counts as (about) one busy core within the sample, where
    the 1-minute load average would still be near its old value."""
    if not Path("/proc/stat").exists():
        pytest.skip("needs Linux's /proc/stat")
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert threads.cpu_load(0.5) >= 0.7
    finally:
        spin.kill()
        spin.wait()


def test_claim_sets_torch_threads_registers_and_restores(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    monkeypatch.setattr(threads, "cpu_load", lambda: 0.0)
    before = torch.get_num_threads()
    with threads.claimed(2, folder=tmp_path) as n:
        assert n == 2 and torch.get_num_threads() == 2
        assert (tmp_path / str(os.getpid())).read_text() == "2"
    assert torch.get_num_threads() == before and not (tmp_path / str(os.getpid())).exists()
    with threads.claimed(2, explicit=1, folder=tmp_path) as n:
        assert n == 1 and torch.get_num_threads() == 1


def test_a_trainer_holds_one_thread_while_it_measures(tmp_path, monkeypatch):
    """Two trainers starting together: each registers one thread before sampling the load, so
    each sees the other and neither claims both cores."""
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    mine = tmp_path / str(os.getpid())
    seen = []

    def load():
        seen.append(mine.read_text())
        return 0.0

    monkeypatch.setattr(threads, "cpu_load", load)
    with threads.claimed(2, folder=tmp_path) as n:
        assert seen == ["1"] and n == 2 and mine.read_text() == "2"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / str(sleeper.pid)).write_text("1")  # another trainer, still measuring
        with threads.claimed(2, folder=tmp_path) as n:
            assert n == 1
    finally:
        sleeper.kill()
        sleeper.wait()


def test_trainer_uses_the_rule_and_the_flag(tmp_path, monkeypatch):
    from gankit.training.trainer import Trainer

    monkeypatch.setenv("GANKIT_TRAINERS_DIR", str(tmp_path / "reg"))
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    kw = dict(data="8gaussians", steps=2, eval_every=2, n_eval=20, progress="none")
    t = Trainer(Config(**kw, batch_size=8, out=str(tmp_path / "a")))
    t.fit(progress=False)
    assert t.threads == 1  # the toy MLP (256 x 256) at batch 8: 524k multiply-adds
    t = Trainer(Config(**kw, batch_size=8, threads=2, out=str(tmp_path / "b")))
    t.fit(progress=False)
    assert t.threads == 2
    t = Trainer(Config(**kw, batch_size=32, out=str(tmp_path / "c")))
    t.fit(progress=False)
    assert t.threads == 2  # at batch 32: 2.1M, both (idle) cores


def test_resume_keeps_the_runs_thread_count_when_the_load_changed(tmp_path, monkeypatch):
    """A run chose 2 threads on an idle machine; resumed while another job holds a core it keeps
    2 (the split of work between threads changes float sums, so exactness needs the
    same count); --threads on the resume still wins."""
    from gankit.training.trainer import Trainer

    monkeypatch.setenv("GANKIT_TRAINERS_DIR", str(tmp_path / "reg"))
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    monkeypatch.setattr(threads, "cpu_load", lambda: 0.0)
    kw = dict(data="8gaussians", steps=1, eval_every=1, n_eval=8, batch_size=32, lr_schedule="constant")
    t = Trainer(Config(**kw, progress="none", out=str(tmp_path / "r")))
    t.fit(progress=False)
    assert t.threads == 2 and t.state.threads == 2
    monkeypatch.setattr(threads, "cpu_load", lambda: 1.0)  # a core now busy
    assert threads.choose_threads(2, 2, threads.busy_cores(tmp_path / "reg")) == 1
    t = Trainer.from_run(tmp_path / "r", overrides={"steps": 2})
    t.fit(progress=False)
    assert t.threads == 2
    t = Trainer.from_run(tmp_path / "r", overrides={"steps": 3, "threads": 1})
    t.fit(progress=False)
    assert t.threads == 1


def test_threads_flag_reaches_the_config(tmp_path, capsys):
    import json

    from gankit.cli import main

    assert main(["train", "--threads", "3", "--dry-run", "--out", str(tmp_path / "x")]) == 0
    assert json.loads(capsys.readouterr().out)["threads"] == 3
    assert main(["train", "--threads", "-1", "--dry-run"]) == 2
    assert "threads" in capsys.readouterr().err


@pytest.mark.parametrize(
    "cores, others, share, expected",
    [(2, 0, 2, 1), (16, 0, 4, 4), (16, 6, 4, 2), (2, 1, 2, 1), (3, 0, 2, 1)],
)
def test_ranks_of_one_job_share_the_free_cores(cores, others, share, expected):
    assert threads.choose_threads(cores, cores, others, share=share) == expected
    assert threads.choose_threads(1, cores, others, share=share) == 1
    assert threads.choose_threads(cores, cores, others, explicit=3, share=share) == 3


def test_claim_takes_the_agreed_count(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(threads, "cpu_load", lambda: 0.0)
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    seen = []

    def agree(n):  # another rank chose 3
        seen.append(n)
        return min(n, 3)

    with threads.claimed(8, folder=tmp_path, share=2, agree=agree) as n:
        assert seen == [4] and n == 3 == torch.get_num_threads()


def test_a_running_trainer_gives_a_core_back_and_takes_it_again(tmp_path, monkeypatch):
    """Trainer A holds both cores; B starts, finds them taken and registers 1; A's next look at
    the registry drops it to 1 (no oversubscription), and when B ends A takes 2 again."""
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    monkeypatch.setattr(threads.Sharing, "others_load", lambda self: 0.0)  # no other program
    before = torch.get_num_threads()
    changes = []
    sharing = threads.Sharing(2, 2, say=changes.append, folder=tmp_path)
    mine = tmp_path / str(os.getpid())
    t = sharing.next_check
    assert sharing.poll(t - 0.1) == 2  # not due yet: no look at the registry
    b = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / str(b.pid)).write_text("1")
        assert sharing.poll(t) == 1 and torch.get_num_threads() == 1 and mine.read_text() == "1"
        assert sharing.poll(t + 1) == 1  # the next look is REBALANCE_S later
    finally:
        b.kill()
        b.wait()
    assert sharing.poll(t + threads.REBALANCE_S) == 2 and torch.get_num_threads() == 2
    assert [c.split(" after")[0] for c in changes] == ["CPU threads: 1", "CPU threads: 2"]
    torch.set_num_threads(before)


def test_an_mlps_numbers_do_not_depend_on_the_thread_count(tmp_path):
    """Why an MLP may change its count mid-run: 30 steps of the grid default (rpgan, R1 and R2's
    double backwards, batch 256) at 1 and at 2 threads give bit-identical weights."""
    from gankit.training.trainer import Trainer

    before, weights = torch.get_num_threads(), {}
    for n in (1, 2):
        torch.set_num_threads(n)
        t = Trainer(Config(data="grid", steps=100, progress="none", out=str(tmp_path / str(n))))
        for _ in range(30):
            t.train_step()
        weights[n] = t.recipe.state_dict()
    torch.set_num_threads(before)
    assert all(torch.equal(weights[1][k], weights[2][k]) for k in weights[1])


def test_a_running_trainer_counts_other_programs_cpu_time(tmp_path, monkeypatch):
    """Between two looks 1 s passed on 2 CPUs (200 jiffies at 100 per second), 150 of them busy,
    and this process used 0.5 CPU-s of it: another program kept 1.5 - 0.5 = 1 core busy."""
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    monkeypatch.setattr(threads.os, "sysconf", lambda name: 100)
    samples = iter([(1000, 5000, 2, 10.0), (1150, 5200, 2, 10.5), (1250, 5400, 2, 11.5)])
    monkeypatch.setattr(threads.Sharing, "_sample", staticmethod(lambda: next(samples)))
    before = torch.get_num_threads()
    sharing = threads.Sharing(2, 2, folder=tmp_path)
    assert sharing.poll(sharing.next_check) == 1
    # the next second: 100 busy jiffies, all of them this process's (1.0 CPU-s): others idle
    assert sharing.poll(sharing.next_check) == 2
    torch.set_num_threads(before)


def test_a_trainer_says_when_it_gives_a_core_back(tmp_path, monkeypatch, capsys):
    """A run on 2 idle cores (grid's MLP at batch 32 wants both) sees another trainer appear
    mid-run: it drops to 1 thread and says so in one line; then takes 2 again when it is gone."""
    from gankit.training.trainer import Trainer

    monkeypatch.setenv("GANKIT_TRAINERS_DIR", str(tmp_path / "reg"))
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    monkeypatch.setattr(threads, "cpu_load", lambda: 0.0)
    monkeypatch.setattr(threads.Sharing, "others_load", lambda self: 0.0)
    monkeypatch.setattr(threads, "REBALANCE_S", 0.0)  # look at every step
    others = iter([0, 0, 1, 1, 0])  # at the claim, then at steps 1-4
    monkeypatch.setattr(threads, "threads_of_others", lambda folder=None: next(others, 0))
    before = torch.get_num_threads()
    kw = dict(data="grid", steps=4, eval_every=4, n_eval=20, batch_size=32, progress="lines")
    t = Trainer(Config(**kw, out=str(tmp_path / "r")))
    t.fit(progress=True)
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("CPU threads")]
    assert lines == [
        "CPU threads: 1 after step 2 (other programs use the rest)",
        "CPU threads: 2 after step 4 (the cores it wants are free again)",
    ]
    assert t.threads == 2
    torch.set_num_threads(before)
