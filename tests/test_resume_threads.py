"""Exact resume at the thread counts users run with: torch's default (the machine's cores) and 2.

conftest.py pins one intra-op thread for stable timings, which hides anything that depends on
how work is split between threads. Here every recipe trains n steps straight and k + (n - k)
with a resume at each thread count, and every tensor of the final checkpoints (networks,
optimizer moments, EMA, RNG and data-stream states, recipe state) must be equal bit for bit.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys

import pytest
import torch
from conftest import shared_data_dir, tiny_recipe_cases

from gankit.config import Config
from gankit.training import checkpoint as ckpt
from gankit.training import denormals, faults
from gankit.training.trainer import Trainer


@functools.cache
def default_threads() -> int:
    """torch's own intra-op thread count in a fresh process (conftest changed this one's)."""
    out = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


@pytest.fixture(params=["default", "2"])
def threads(request):
    n = default_threads() if request.param == "default" else int(request.param)
    if request.param == "2" and default_threads() == 2:
        pytest.skip("torch's default is 2 threads here: the 'default' case ran it")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    # Start the intra-op pool before any run, as a notebook or a resume does.
    (torch.ones(n * 65536) * 2).sum()
    yield n
    torch.set_num_threads(before)


TOY = dict(data="8gaussians", batch_size=32, n_eval=64, model_args={"width": 64, "depth": 2}, ema=0.9)
THEORY = dict(data="dist:normal(1,1)", batch_size=32, n_eval=64, model_args={"width": 16, "depth": 1})
CASES = {
    "plain": dict(TOY, loss="wgan-gp"),
    "critic": dict(THEORY, recipe="critic", recipe_args={"q": "normal(0,1)"}),
    "gaussian-fit": dict(THEORY, recipe="gaussian-fit"),
    **tiny_recipe_cases(),  # infogan, and began, progressive, cyclegan where MNIST is found
}
if shared_data_dir() is not None:  # the plain recipe's conditional form needs labels
    CASES["conditional"] = dict(
        data="mnist",
        data_dir=str(shared_data_dir()),
        data_args={"limit": 128},
        batch_size=16,
        n_eval=32,
        model="mlp",  # mnist's preset picks dcgan
        model_args={"width": 32, "depth": 1},
        recipe_args={"conditional": True},
    )


def tensors(obj, prefix=""):
    """Every tensor in a checkpoint's nested containers, by path."""
    if torch.is_tensor(obj):
        return {prefix: obj}
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list | tuple) else ()
    out = {}
    for k, v in items:
        out.update(tensors(v, f"{prefix}/{k}"))
    return out


def final_state(run) -> dict[str, torch.Tensor]:
    _, state = ckpt.load_latest(run)
    return tensors({k: v for k, v in state.items() if k != "config"})


@pytest.mark.parametrize("name", sorted(CASES))
def test_resume_equals_straight_run_at_default_and_two_threads(tmp_path, monkeypatch, threads, name):
    """n steps straight; the same run stopped by SIGTERM after step k (checkpoint at the step
    boundary), resumed and trained to n. Stopping the run itself, not training a shorter run,
    keeps everything that depends on the total steps (the learning-rate decay) the same."""
    import gankit.viz.pictures

    monkeypatch.setattr(gankit.viz.pictures, "draw_run_pictures", lambda trainer, folder: {})
    n, k = 6, 3
    # threads=n: gankit's own choice would follow the machine's load (threads.py)
    kw = dict(progress="none", device="cpu", eval_every=2, seed=5, steps=n, n_eval=16, threads=threads)
    kw.update(CASES[name])
    Trainer(Config(out=str(tmp_path / "full"), **kw)).fit(progress=False)
    part = Trainer(Config(out=str(tmp_path / "part"), **kw))
    step = part.train_step

    def stopped_after_k():
        logs = step()
        if part.state.step == k:
            os.kill(os.getpid(), signal.SIGTERM)
        return logs

    monkeypatch.setattr(part, "train_step", stopped_after_k)
    with pytest.raises(faults.TrainingStopped, match=f"SIGTERM received at step {k}"):
        part.fit(progress=False)
    resumed = Trainer.from_run(tmp_path / "part")
    assert resumed.state.step == k
    resumed.fit(progress=False)
    a, b = final_state(tmp_path / "full"), final_state(tmp_path / "part")
    assert a.keys() == b.keys()
    differing = [key for key in a if not torch.equal(a[key], b[key])]
    assert not differing, f"{len(differing)} of {len(a)} tensors differ at {threads} threads: {differing[:5]}"


def test_fit_flushes_denormals_in_every_intra_op_thread(tmp_path, monkeypatch):
    """The cause of the resumed runs that parted at 2 threads: ``torch.set_flush_denormal`` sets
    the calling thread's flag only, and intra-op threads started before ``fit`` kept theirs, so a
    fused Adam update flushed denormals in one half of a tensor and kept them in the other.
    Inside ``fit`` a multiply split between all threads must flush in every part, and after it
    no part may flush."""
    torch.set_num_threads(2)
    try:
        (torch.ones(1 << 18) * 2).sum()  # the pool starts before fit, as on resume
        tiny = torch.full((1 << 18,), 1e-30)
        seen = []
        trainer = Trainer(Config(out=str(tmp_path / "run"), steps=2, eval_every=2, **TOY, progress="none"))
        step = trainer.train_step

        def probed_step():
            seen.append(int(((tiny * 1e-10) != 0).sum()))  # denormals left unflushed, of 2**18
            return step()

        monkeypatch.setattr(trainer, "train_step", probed_step)
        trainer.fit(progress=False)
        assert seen == [0, 0]
        assert int(((tiny * 1e-10) != 0).sum()) == tiny.numel()  # switched off again, everywhere
    finally:
        torch.set_num_threads(1)


def test_set_flush_denormal_reports_what_it_set():
    torch.set_num_threads(2)
    try:
        assert denormals.set_flush_denormal(True) and denormals.flushes_everywhere(True)
        assert denormals.set_flush_denormal(False) and denormals.flushes_everywhere(False)
    finally:
        torch.set_num_threads(1)
