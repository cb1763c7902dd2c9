"""Core behaviour: config, toy data and metrics, the loop, resume, run folder."""

import json
import math

import pytest
import torch

from gankit import config as config_mod
from gankit.config import Config
from gankit.data import build_dataset
from gankit.errors import CheckpointError, ConfigError
from gankit.metrics.toy import binned_divergences, curve_metrics, mode_metrics
from gankit.training.trainer import Trainer


def tiny(tmp_path, **kw):
    base = dict(
        data="8gaussians",
        steps=6,
        eval_every=3,
        lr_schedule="constant",  # the resumes below extend steps, which a decay over the steps would stretch
        batch_size=32,
        n_eval=200,
        out=str(tmp_path / "run"),
        progress="none",
        model_args={"width": 32, "depth": 2},
    )
    base.update(kw)
    return Config(**base)


# --- toy data ----------------------------------------------------------------------------
def test_toy_constants():
    ds = build_dataset("8gaussians")
    assert ds.centres.shape == (8, 2)
    assert torch.allclose(ds.centres.norm(dim=1), torch.full((8,), 2 / 1.414), atol=1e-6)
    assert ds.std == pytest.approx(0.02 / 1.414)
    ds = build_dataset("25gaussians")
    assert ds.centres.shape == (25, 2)
    assert ds.centres.max().item() == pytest.approx(4 / 2.828)
    assert ds.std == pytest.approx(0.05 / 2.828)
    ring = build_dataset("ring")
    angles = torch.atan2(ring.centres[:, 1], ring.centres[:, 0]) % (2 * math.pi)
    assert sorted(a.item() for a in angles) == pytest.approx(
        [2 * math.pi * k / 8 for k in range(8)], abs=1e-6
    )
    assert ring.std == 0.01
    grid = build_dataset("grid")
    assert sorted(set(grid.centres[:, 0].tolist())) == [-4, -2, 0, 2, 4]
    assert grid.std == 0.05


def test_toy_samples_follow_mixture():
    ds = build_dataset("grid")
    x = ds.reference(20000).x
    d = torch.cdist(x, ds.centres).min(1).values
    # radius of a 2-D isotropic Gaussian: P(r <= 3 std) = 1 - exp(-9/2)
    assert (d <= 3 * ds.std).float().mean().item() == pytest.approx(1 - math.exp(-4.5), abs=0.005)
    counts = torch.bincount(torch.cdist(x, ds.centres).argmin(1), minlength=25).float()
    assert counts.min() > 0.8 * 20000 / 25 and counts.max() < 1.2 * 20000 / 25


def test_swissroll_scale():
    x = build_dataset("swissroll").reference(5000).x
    # t in [1.5 pi, 4.5 pi]: radius t / 7.5 up to 4.5 pi / 7.5 = 1.885 (+ noise)
    r = x.norm(dim=1)
    assert 0.5 < r.min() and r.max() < 2.1


def test_curve_family_and_metric():
    ds = build_dataset("curve")
    x = ds.reference(500).x
    assert x.shape == (500, 15)
    m = curve_metrics(x, ds.xs)
    assert m["curve_rms"] == pytest.approx(0.0, abs=1e-6)
    assert m["a_coverage"] == 1.0
    assert m["a_ks"] < 0.08  # KS of 500 U[1,2] draws: 99% quantile ~ 1.63 / sqrt(500) = 0.073
    # a = 2 is the classic parabola y = 2 x^2 + 1
    one = (2 * ds.xs**2 + 1)[None]
    assert curve_metrics(one, ds.xs)["a_coverage"] == 0.1
    # a shifted curve: the residual is the part of the shift orthogonal to x^2 + 1 (lstsq)
    import numpy as np

    off = one + 0.3
    basis = (ds.xs.double() ** 2 + 1).numpy()[:, None]
    target = (off[0].double() + 1).numpy()
    coef, *_ = np.linalg.lstsq(basis, target, rcond=None)
    rms = float(np.sqrt(np.mean((target - basis[:, 0] * coef[0]) ** 2)))
    assert curve_metrics(off, ds.xs)["curve_rms"] == pytest.approx(rms, rel=1e-9)
    assert rms > 0.05


# --- toy metrics by hand -----------------------------------------------------------------
def test_mode_metrics_hand():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    std = 0.1
    samples = torch.tensor([[0.0, 0.05], [0.1, 0.0], [10.0, 0.29], [5.0, 5.0], [0.0, 10.4]])
    m = mode_metrics(samples, centres, std)
    # hq: 3 of 5 within 0.3 (the 4th is far from all, the 5th is 0.4 away)
    assert m["hq_fraction"] == pytest.approx(3 / 5)
    assert m["modes"] == 2 and m["modes_total"] == 4
    # histogram over centres of hq samples: (2/3, 1/3, 0, 0); KL to uniform = sum p log(4 p)
    expected = (2 / 3) * math.log(4 * 2 / 3) + (1 / 3) * math.log(4 / 3)
    assert m["mode_kl"] == pytest.approx(expected, rel=1e-9)


def test_mode_metrics_perfect_and_nan():
    ds = build_dataset("25gaussians")
    m = mode_metrics(ds.reference(2500).x, ds.centres, ds.std)
    assert m["modes"] == 25 and m["hq_fraction"] > 0.97 and m["mode_kl"] < 0.02
    bad = torch.full((10, 2), float("nan"))
    m = mode_metrics(bad, ds.centres, ds.std)
    assert m["modes"] == 0 and m["hq_fraction"] == 0.0 and m["mode_kl"] == pytest.approx(math.log(25))


def test_binned_divergences_hand():
    real = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    # identical sets: JS 0
    assert binned_divergences(real, real, bins=2, margin=0.0)["js_binned"] == pytest.approx(0.0, abs=1e-12)
    # disjoint bins: JS = log 2
    fake = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    d = binned_divergences(real, fake, bins=2, margin=0.0)
    assert d["js_binned"] == pytest.approx(math.log(2))
    # KL: real (1,0,0,1,0)/2 raw; fake (0,1,1,0,0) with one pseudo-sample over the 5 cells
    # (4 and the overflow cell): q = (0 + 1/5) / (2 + 1) at both real cells
    assert d["kl_binned"] == pytest.approx(math.log(0.5 / (0.2 / 3)))


# --- config ------------------------------------------------------------------------------
def test_resolve_applies_objective_defaults():
    cfg = config_mod.resolve(Config(loss="wgan-gp"))
    assert cfg.n_critic == 5 and cfg.lr_g == 1e-4 and tuple(cfg.betas) == (0.5, 0.9)
    assert cfg.penalties == {"gp": 10.0}
    cfg = config_mod.resolve(Config(loss="wgan"))
    assert cfg.optimizer == "rmsprop" and cfg.clip == 0.01 and cfg.lr_d == 5e-5 and cfg.n_critic == 5
    cfg = config_mod.resolve(Config(loss="wgan-gp", lr=3e-4, penalties={}, n_critic=2))
    assert cfg.lr_g == cfg.lr_d == 3e-4 and cfg.penalties == {} and cfg.n_critic == 2


@pytest.mark.parametrize(
    "d, needle",
    [
        ({"steps": "-1"}, "steps"),
        ({"lr": "0"}, "lr"),
        ({"lr": "nan"}, "lr"),
        ({"loss": "nope"}, "unknown objective 'nope'"),
        ({"data": "nope"}, "unknown dataset"),
        ({"batch_size": "abc"}, "batch_size"),
        ({"loss": "lsgan", "loss_args": {"a": "1", "b": "1"}}, "equal"),
        ({"clip": "-0.1"}, "clip"),
        ({"model_args": {"widht": 3}}, "widht"),
        ({"penalties": "gq=1"}, "unknown penalty"),
        ({"optimizer": "adamw"}, "optimizer"),
    ],
)
def test_bad_config_names_the_problem(d, needle):
    with pytest.raises(ConfigError, match=needle):
        config_mod.resolve(config_mod.from_dict(d))


def test_set_and_unknown_key():
    d = {}
    config_mod.apply_set(d, "model.width=64")
    config_mod.apply_set(d, "steps=10")
    assert d == {"model_args": {"width": "64"}, "steps": "10"}
    cfg = config_mod.resolve(config_mod.from_dict(d))
    assert cfg.model_args["width"] == 64 and cfg.steps == 10
    with pytest.raises(ConfigError, match="unknown config key"):
        config_mod.apply_set(d, "stepz=1")


# --- the loop and resume -----------------------------------------------------------------
def _params(trainer):
    return {k: v.clone() for k, v in trainer.recipe.state_dict().items()}


@pytest.mark.parametrize("loss", ["ns", "wgan-gp", "wgan"])
def test_resume_is_bit_identical(tmp_path, loss):
    full = Trainer(tiny(tmp_path, loss=loss, out=str(tmp_path / "full"), steps=8, eval_every=4))
    full.fit(progress=False)
    part = Trainer(tiny(tmp_path, loss=loss, out=str(tmp_path / "part"), steps=4, eval_every=4))
    part.fit(progress=False)
    resumed = Trainer.from_run(tmp_path / "part", overrides={"steps": 8})
    assert resumed.state.step == 4
    resumed.fit(progress=False)
    a, b = _params(full), _params(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    for p in full.optimizers:
        sa, sb = full.optimizers[p].state_dict()["state"], resumed.optimizers[p].state_dict()["state"]
        for i in sa:
            for key in sa[i]:
                assert torch.equal(torch.as_tensor(sa[i][key]), torch.as_tensor(sb[i][key]))


def test_same_seed_same_numbers(tmp_path):
    a = Trainer(tiny(tmp_path, out=str(tmp_path / "a"))).fit(progress=False)
    b = Trainer(tiny(tmp_path, out=str(tmp_path / "b"))).fit(progress=False)
    for k in ("loss_d", "loss_g", "hq_fraction", "js_binned"):
        assert a[k] == b[k]


def test_resume_refuses_changed_config(tmp_path):
    Trainer(tiny(tmp_path)).fit(progress=False)
    with pytest.raises(ConfigError, match="batch_size"):
        Trainer.from_run(tmp_path / "run", overrides={"batch_size": 64})


def test_run_folder_contents(tmp_path):
    Trainer(tiny(tmp_path)).fit(progress=False)
    run = tmp_path / "run"
    saved = json.loads((run / "config.json").read_text())
    # the saved config is complete and accepted back as a config
    again = config_mod.resolve(config_mod.from_dict(saved))
    assert config_mod.diff(saved, config_mod.to_dict(again)) == []
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 3, 6]
    for key in (
        "wall_s",
        "modes",
        "modes_total",
        "hq_fraction",
        "mode_kl",
        "kl_binned",
        "js_binned",
        "loss_d",
        "loss_g",
    ):
        assert key in rows[-1]
    assert (run / "pictures" / "latest.png").stat().st_size > 1000
    assert len(list((run / "checkpoints").glob("step-*.pt"))) == 2  # keep_ckpts


def test_eval_on_start_off_skips_step_0_and_leaves_training_alone(tmp_path):
    """Evaluation draws from its own generator: skipping the step-0 one leaves every weight
    bit for bit as it was, and the log starts at the first evaluation."""
    with_start = Trainer(tiny(tmp_path, out=str(tmp_path / "a")))
    with_start.fit(progress=False)
    without = Trainer(tiny(tmp_path, out=str(tmp_path / "b"), eval_on_start=False))
    without.fit(progress=False)
    rows = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 6]
    a, b = _params(with_start), _params(without)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a --steps 0 run is its step-0 evaluation, whatever the flag
    Trainer(tiny(tmp_path, out=str(tmp_path / "c"), steps=0, eval_on_start=False)).fit(progress=False)
    rows = (tmp_path / "c" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows] == [0]


def test_refuses_to_overwrite_a_run(tmp_path):
    from gankit.errors import GankitError

    Trainer(tiny(tmp_path)).fit(progress=False)
    with pytest.raises(GankitError, match="already holds a run"):
        Trainer(tiny(tmp_path)).fit(progress=False)


def test_corrupt_checkpoint_falls_back(tmp_path):
    Trainer(tiny(tmp_path)).fit(progress=False)
    ckpts = sorted((tmp_path / "run" / "checkpoints").glob("step-*.pt"))
    data = ckpts[-1].read_bytes()
    ckpts[-1].write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="corrupt or truncated"):
        t = Trainer.from_run(tmp_path / "run")
    assert t.state.step == 3
    ckpts[0].write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="no earlier good checkpoint"):
        Trainer.from_run(tmp_path / "run")


def test_critic_steps_and_fresh_batches(tmp_path):
    t = Trainer(tiny(tmp_path, loss="wgan-gp", steps=1))
    seen = []
    orig = t.stream.next

    def spy():
        b = orig()
        seen.append(b.x.clone())
        return b

    t.stream.next = spy
    t.train_step()
    assert len(seen) == 5 + 1  # 5 critic updates + 1 generator update, each a fresh batch
    assert not any(torch.equal(seen[0], s) for s in seen[1:])


def test_generator_forward_reused_once(tmp_path):
    t = Trainer(tiny(tmp_path, loss="ns"))
    calls = []
    t.recipe.G.register_forward_hook(lambda *a: calls.append(1))
    t.train_step()
    assert len(calls) == 1  # one G forward serves both the D and the G update


def test_log_sums_average_floats_and_tensors_and_fold_on_read():
    from gankit.training.trainer import LogSums

    sums = LogSums(keep_tensors=True)
    sums.add({"loss_d": torch.tensor(1.0), "loss_g": 2})
    sums.add({"loss_d": torch.tensor(3.0), "loss_g": 4.0, "extra": 10.0})
    assert sums.means(("loss_d", "missing")) == {"loss_d": 2.0}
    sums.add({"loss_d": 5.0, "loss_g": torch.tensor(6.0)})
    # over the 3 steps added; "extra" logged once counts over all 3 steps as before
    assert sums.means() == pytest.approx({"loss_d": 3.0, "loss_g": 4.0, "extra": 10.0 / 3})
    assert all(len(v) == 1 for v in sums.values.values())  # folded: repeated reads stay short
    assert sums.values["loss_d"][0].shape == ()  # kept as a tensor: no read per step
    floats = LogSums()  # the CPU loop: each value a float at once
    floats.add({"loss_d": torch.tensor(1.5)})
    assert floats.values["loss_d"] == [1.5] and floats.means() == {"loss_d": 1.5}


def test_ema_update_equals_averaged_model_bit_for_bit():
    """gankit's EMA step (no blocking copy of the update count to the GPU) gives exactly what
    torch's AveragedModel.update_parameters gives, batch-norm buffers (float and int64) included."""
    import copy

    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from gankit.training.trainer import update_ema

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    ours, theirs = (
        AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True) for _ in range(2)
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(4):
        model(torch.randn(8, 3)).square().mean().backward()
        opt.step()
        opt.zero_grad()
        update_ema(ours, model)
        theirs.update_parameters(model)
        for (k, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
            assert torch.equal(a, b), k
    assert int(ours.n_averaged) == 4 and ours.n_averaged.device.type == "cpu"
    # and it is an average, not a copy: the EMA lags the trained weights
    assert not torch.equal(ours.module[0].weight, model[0].weight)
    before = copy.deepcopy(ours.module[0].weight)
    update_ema(ours, model)
    expected = torch.lerp(before, model[0].weight.detach(), 0.1)
    assert torch.equal(ours.module[0].weight, expected)


def test_mlp_scale_is_the_same_networks_in_other_units():
    """With scale s, the MLP on data x / s is the scale-1 MLP on x, its samples divided by s:
    G_s(z) = G_1(z) / s and D_s(x / s) = D_1(x) for the same weights."""
    from gankit.nets.base import ModelSpec
    from gankit.nets.mlp import MLPOptions, build_mlp

    spec = ModelSpec(sample_shape=(2,), z_dim=2)
    torch.manual_seed(0)
    one = build_mlp(spec, MLPOptions())
    torch.manual_seed(0)
    scaled = build_mlp(spec, MLPOptions(scale=2.828))
    z, x = torch.randn(16, 2), torch.randn(16, 2)
    torch.testing.assert_close(scaled["G"](z), one["G"](z) / 2.828)
    torch.testing.assert_close(scaled["D"](x / 2.828), one["D"](x))
    with pytest.raises(ConfigError, match="scale"):
        MLPOptions(scale=0.0).check()
