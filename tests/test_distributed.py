"""Multi-process training: 2 CPU processes with gloo on this machine."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from gankit.config import Config
from gankit.data.base import Batch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GlobalBatchStream:
    """Step-indexed global batches; each rank takes its contiguous slice."""

    def __init__(self, rank, world, global_batch):
        self.rank, self.world, self.global_batch = rank, world, global_batch
        self.calls = 0

    def next(self):
        gen = torch.Generator().manual_seed(1000 + self.calls)
        self.calls += 1
        x = torch.randn(self.global_batch, 2, generator=gen)
        per = self.global_batch // self.world
        return Batch(x[self.rank * per : (self.rank + 1) * per])

    def state_dict(self):
        return {"calls": self.calls}

    def load_state_dict(self, s):
        self.calls = s["calls"]


def _pin_noise(trainer, rank, world):
    """Noise drawn as one global batch per call, sliced per rank, so 1 and N processes match."""
    calls = [0]
    recipe = trainer.recipe

    def noise(n, device, generator=None):
        if generator is not None:
            return torch.randn(n, recipe.G.z_dim, device=device, generator=generator)
        gen = torch.Generator().manual_seed(5000 + calls[0])
        calls[0] += 1
        z = torch.randn(n * world, recipe.G.z_dim, generator=gen)
        return z[rank * n : (rank + 1) * n].to(device)

    recipe.noise = noise


def _cfg(out, **kw):
    base = dict(
        data="8gaussians",
        steps=4,
        lr_schedule="constant",  # the resumes below extend steps, which a decay over the steps would stretch
        eval_every=4,
        n_eval=100,
        progress="none",
        out=out,
        model_args={"width": 16, "depth": 2},
        # one thread per rank, as the worker sets: the thread rule samples the load, which two
        # ranks starting together see differently, and another count changes float sums
        threads=1,
    )
    base.update(kw)
    return Config(**base)


def _worker(rank, world, port, out, cfg_kw, pin, result_path):
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    from gankit.training import distributed
    from gankit.training.trainer import Trainer

    if cfg_kw.get("fit"):  # a whole run with checkpoints, or its resume to resume_steps
        kw = {k: v for k, v in cfg_kw.items() if k not in ("fit", "run", "resume_steps")}
        run = cfg_kw["run"]
        if cfg_kw.get("resume_steps"):
            trainer = Trainer.from_run(run, overrides={"steps": cfg_kw["resume_steps"]})
        else:
            trainer = Trainer(_cfg(run, **kw))
        trainer.fit(progress=False)
        state = {k: v.detach().clone() for k, v in trainer.recipe.state_dict().items()}
        torch.save(state, f"{result_path}.{rank}")
        Path(f"{result_path}.{rank}.threads").write_text(str(trainer.threads))
        distributed.finish()
        return
    trainer = Trainer(_cfg(out, **cfg_kw))
    if world > 1:  # host-side flags travel over a gloo group of their own (beside NCCL, too)
        assert torch.distributed.get_backend(distributed.host_group()) == "gloo"
        assert distributed.any_flags(rank == 1, False) == [True, False]
    if pin:
        trainer.stream = GlobalBatchStream(rank, world, cfg_kw["batch_size"] * world)
        _pin_noise(trainer, rank, world)
    for _ in range(cfg_kw.get("steps", 4)):
        trainer.train_step()
    torch.save(
        {k: v.detach().clone() for k, v in trainer.recipe.state_dict().items()}, f"{result_path}.{rank}"
    )
    distributed.finish()  # both ranks saved before either tears the group down


def run_world(tmp_path, world, cfg_kw, pin=False, tag="w"):
    result = str(tmp_path / f"{tag}-state")
    for attempt in range(3):
        # A free port found here can be taken by another process before the group binds it:
        # retry on a fresh port and folder (the training itself is deterministic).
        try:
            mp.start_processes(
                _worker,
                args=(world, free_port(), str(tmp_path / f"{tag}-{attempt}"), cfg_kw, pin, result),
                nprocs=world,
                start_method="spawn",
                join=True,
            )
            break
        except mp.ProcessRaisedException as e:
            if "address already in use" not in str(e).lower() or attempt == 2:
                raise
    return [torch.load(f"{result}.{r}", weights_only=True) for r in range(world)]


def test_two_processes_match_one_process_on_the_global_batch(tmp_path):
    # No penalty: the toy preset's gp draws interpolation points from each rank's own stream,
    # which one process cannot reproduce.
    kw = dict(loss="ns", batch_size=16, steps=4, penalties={})
    two = run_world(tmp_path, 2, kw, pin=True, tag="two")
    one = run_world(tmp_path, 1, dict(kw, batch_size=32), pin=True, tag="one")
    for k in two[0]:
        assert torch.equal(two[0][k], two[1][k]), f"ranks differ in {k}"
        torch.testing.assert_close(two[0][k], one[0][k], rtol=1e-5, atol=1e-6, msg=f"1 vs 2 processes: {k}")
    # and training moved the weights (the comparison is not vacuous)
    fresh = run_world(tmp_path, 1, dict(kw, batch_size=32, steps=0), tag="zero")
    assert any(not torch.equal(fresh[0][k], one[0][k]) for k in one[0])


@pytest.mark.parametrize("loss", ["wgan-gp", "wgan"])
def test_ranks_stay_identical(tmp_path, loss):
    states = run_world(tmp_path, 2, dict(loss=loss, batch_size=16, steps=2), tag=loss)
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k


def test_torchrun_cli_only_rank0_writes_and_resume_checks_world(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port",
        str(free_port()),
        "-m",
        "gankit",
        "train",
        "--steps",
        "4",
        "--eval-every",
        "2",
        "--n-eval",
        "100",
        "--batch-size",
        "16",
        "--out",
        str(out),
        "--progress",
        "none",
        "--set",
        "model.width=16",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = (out / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 3  # steps 0, 2, 4 written once (by rank 0 only)
    assert '"images_seen": 128' in rows[-1]  # 4 steps x 16 x 2 processes
    state = torch.load(sorted((out / "checkpoints").glob("*.pt"))[-1], weights_only=True)
    assert state["world_size"] == 2 and len(state["rng_ranks"]) == 2
    # resuming with one process is refused with a clear message
    r = subprocess.run(
        [sys.executable, "-m", "gankit", "train", "--resume", str(out), "--steps", "6"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2 and "trained with 2 process(es)" in r.stderr


def _recipe_cases():
    from conftest import tiny_recipe_cases

    steps = {"infogan": 2, "began": 3, "progressive": 2, "cyclegan": 2}
    return {name: dict(kw, steps=steps[name]) for name, kw in tiny_recipe_cases().items()}


@pytest.mark.parametrize("name", ["infogan", "began", "progressive", "cyclegan"])
def test_every_recipe_keeps_ranks_identical(tmp_path, name):
    cases = _recipe_cases()
    if name not in cases:
        pytest.skip("MNIST files not found: set GANKIT_TEST_DATA or place shared/data beside the repo")
    states = run_world(tmp_path, 2, cases[name], tag=name)
    moved = run_world(tmp_path, 1, dict(cases[name], steps=0), tag=name + "-init")
    # CycleGAN's image pools hold each rank's own past fakes (per-rank state, like per-GPU pools);
    # everything else (weights, BEGAN's k, ProGAN's schedule, EMA) must agree.
    shared = [k for k in states[0] if not k.startswith(("pool_a.", "pool_b."))]
    for k in shared:
        assert torch.equal(states[0][k], states[1][k]), f"{name}: ranks differ in {k}"
    assert any(not torch.equal(states[0][k], moved[0][k]) for k in shared), "training changed nothing"


def test_cyclegan_two_process_resume_restores_each_ranks_pools(tmp_path):
    """Each rank's image pools are its own; checkpoints keep every rank's, so a 2-process
    resume ends bit-identical to the uninterrupted 2-process run, pools included."""
    cases = _recipe_cases()
    if "cyclegan" not in cases:
        pytest.skip("MNIST files not found: set GANKIT_TEST_DATA or place shared/data beside the repo")
    kw = dict(cases["cyclegan"], steps=4, eval_every=2, n_eval=8, fit=True)
    kw["recipe_args"] = {"pool_size": 6}  # fills after 2 steps of 4 per rank: swaps happen
    full = run_world(tmp_path, 2, dict(kw, run=str(tmp_path / "full")), tag="full")
    run_world(tmp_path, 2, dict(kw, steps=2, run=str(tmp_path / "part")), tag="part")
    resumed = run_world(tmp_path, 2, dict(kw, run=str(tmp_path / "part"), resume_steps=4), tag="resumed")
    assert not torch.equal(full[0]["pool_a.images"], full[1]["pool_a.images"])  # per-rank pools
    for rank in (0, 1):
        for k in full[rank]:
            assert torch.equal(full[rank][k], resumed[rank][k]), f"rank {rank}: {k}"


def test_two_nodes_on_loopback_train_as_one_world(tmp_path):
    """Two torchrun groups (``--nnodes 2``, one process each) meeting at a c10d rendezvous on
    127.0.0.1: the way two machines run; one world of 2, identical weights, one run folder."""
    port = free_port()
    script = tmp_path / "node.py"
    script.write_text(
        "import torch\n"
        "from gankit.config import Config\n"
        "from gankit.training.trainer import Trainer\n"
        "torch.set_num_threads(1)\n"
        "cfg = Config(steps=3, eval_every=3, n_eval=64, progress='none', batch_size=16,\n"
        f"             out={str(tmp_path / 'run')!r}, model_args={{'width': 16, 'depth': 2}})\n"
        "t = Trainer(cfg)\n"
        "assert t.world_size == 2\n"
        "t.fit(progress=False)\n"
        "flat = torch.cat([p.detach().flatten() for p in t.recipe.parameters()])\n"
        f"torch.save(flat, {str(tmp_path)!r} + f'/rank{{t.rank}}.pt')\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    nodes = [
        subprocess.Popen(
            [
                sys.executable, "-m", "torch.distributed.run",
                "--nnodes=2", f"--node_rank={node}", "--nproc_per_node=1",
                "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}", "--rdzv_id=loopback",
                str(script),
            ],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for node in (0, 1)
    ]  # fmt: skip
    errors = [n.communicate(timeout=300)[1] for n in nodes]
    r0, r1 = tmp_path / "rank0.pt", tmp_path / "rank1.pt"
    assert r0.exists() and r1.exists(), errors[0][-2000:] + errors[1][-2000:]
    assert torch.equal(torch.load(r0), torch.load(r1))
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 2 and '"images_seen": 96' in rows[-1]  # 3 steps x 16 x 2 nodes, written once


def test_ranks_choose_one_thread_count_by_the_rule(tmp_path, data_dir):
    """threads=0 on a convolutional model: the ranks on this machine share its cores and take
    the smallest count any rank chose, so their float sums (and weights) stay identical."""
    from gankit.training import threads

    kw = dict(
        fit=True,
        run=str(tmp_path / "run"),
        data="mnist",
        model="dcgan",
        batch_size=4,
        steps=2,
        threads=0,
        data_dir=str(data_dir),
        data_args={"limit": 64, "image_size": 16},
        model_args={"width": 4},
    )
    states = run_world(tmp_path, 2, kw, tag="threads")
    counts = [int((tmp_path / f"threads-state.{r}.threads").read_text()) for r in range(2)]
    assert counts[0] == counts[1] <= max(1, threads.available_cores() // 2)
    shared = [k for k in states[0] if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert all(torch.equal(states[0][k], states[1][k]) for k in shared)
