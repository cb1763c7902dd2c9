"""CycleGAN: image pool, cycle and identity losses by hand, network shapes, patch outputs with
every objective, the unpaired data, train/checkpoint/resume, and ``gankit translate``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from gankit import config as config_mod
from gankit.cli import main
from gankit.config import Config
from gankit.errors import ConfigError
from gankit.nets.base import ModelSpec, build_networks
from gankit.objectives.base import OBJECTIVES, build_objective
from gankit.recipes.cyclegan import CycleGAN, CycleGANRecipeOptions, ImagePool, Pair
from gankit.training.trainer import Trainer


def _ids(out: torch.Tensor) -> list[int]:
    return [int(v) for v in out.flatten()]


# --- the pool -------------------------------------------------------------------------------
def test_pool_stores_first_then_swaps_by_hand():
    pool = ImagePool(3, (1, 1, 1))
    img = lambda *ids: torch.tensor(ids, dtype=torch.float32).view(-1, 1, 1, 1)  # noqa: E731
    gen = torch.Generator().manual_seed(123)
    # While there is room every image is stored and returned unchanged.
    assert _ids(pool.query(img(1, 2, 3), gen)) == [1, 2, 3]
    assert int(pool.count) == 3 and _ids(pool.images) == [1, 2, 3]
    # Full pool, seed 0: u = [0.4963, 0.7682, 0.0885, 0.1320], j = [1, 0, 1, 1]; only image 5
    # has u > 0.5, so it is swapped with slot 0 (image 1), which is returned in its place.
    gen = torch.Generator().manual_seed(0)
    assert _ids(pool.query(img(4, 5, 6, 7), gen)) == [4, 1, 6, 7]
    assert _ids(pool.images) == [5, 2, 3]
    # Next draws: u = [0.4556, 0.6323, 0.3489, 0.4017], j = [0, 0, 1, 2]: image 9 swaps with
    # slot 0, returning image 5, stored by the previous call.
    assert _ids(pool.query(img(8, 9, 10, 11), gen)) == [8, 5, 10, 11]
    assert _ids(pool.images) == [9, 2, 3] and int(pool.count) == 3


def test_pool_returns_old_images_half_the_time_and_is_state():
    torch.manual_seed(0)
    pool = ImagePool(50, (1, 1, 1))
    old = total = 0
    for start in range(0, 4000, 10):
        batch = torch.arange(start, start + 10, dtype=torch.float32).view(-1, 1, 1, 1)
        out = pool.query(batch)
        if start >= 50:
            old += int((out != batch).sum())
            total += 10
        assert (out <= batch).all()  # what comes back is the new image or an older one
    assert 0.47 < old / total < 0.53  # Binomial(3950, 1/2): sd 0.008
    assert set(pool.state_dict()) == {"images", "count"} and int(pool.state_dict()["count"]) == 50
    same = ImagePool(0, (1, 1, 1))
    batch = torch.randn(4, 1, 1, 1)
    assert torch.equal(same.query(batch), batch)


# --- losses by hand -------------------------------------------------------------------------
class Shift(nn.Module):
    def __init__(self, c: float):
        super().__init__()
        self.c = c

    def forward(self, x):
        return x + self.c


class PatchMean(nn.Module):
    """A critic whose patch logits are 2x2 averages of the image: (N, 1, H/2, W/2)."""

    def forward(self, x):
        return F.avg_pool2d(x.mean(1, keepdim=True), 2)


def _recipe(g_ab, g_ba, **opts) -> CycleGAN:
    o = CycleGANRecipeOptions(**opts)
    return CycleGAN(
        Pair(g_ab, g_ba), Pair(PatchMean(), PatchMean()), build_objective("lsgan"), o, (1, 4, 4), (1, 4, 4)
    )


def test_identity_and_cycle_losses_zero_for_identity_generators():
    r = _recipe(nn.Identity(), nn.Identity())
    a, b = torch.rand(3, 1, 4, 4), torch.rand(3, 1, 4, 4)
    _, logs = r.loss("G", _batch(a, b), 0)
    assert float(logs["identity"]) == 0.0 and float(logs["cycle"]) == 0.0


def _batch(a, b):
    from gankit.data.base import Batch

    return Batch(a, None, b)


def test_losses_of_a_known_mapping_by_hand():
    # G_AB(x) = x + 0.1, G_BA(x) = x + 0.2, a = 0.5, b = -0.25 everywhere, LSGAN (0, 1, 1).
    r = _recipe(Shift(0.1), Shift(0.2))
    a, b = torch.full((2, 1, 4, 4), 0.5), torch.full((2, 1, 4, 4), -0.25)
    loss_g, logs = r.loss("G", _batch(a, b), 0)
    # cycle: |a + 0.3 - a| + |b + 0.3 - b|; identity: |G_AB(b) - b| + |G_BA(a) - a| = 0.1 + 0.2
    assert float(logs["cycle"]) == pytest.approx(0.6, abs=1e-6)
    assert float(logs["identity"]) == pytest.approx(0.3, abs=1e-6)
    # adversarial, Zhu et al.'s least squares without 1/2: (D_B(fake_b) - 1)^2 + (D_A(fake_a) - 1)^2,
    # fake_b = 0.6, fake_a = -0.05
    assert float(logs["gan_g"]) == pytest.approx(0.4**2 + 1.05**2, abs=1e-6)
    assert float(loss_g) == pytest.approx(1.2625 + 10 * 0.6 + 10 * 0.5 * 0.3, abs=1e-5)
    # g_adv_weight=1: LSGAN's own 1/2 (the behaviour before, cycle weights in effect doubled)
    halved, logs_h = _recipe(Shift(0.1), Shift(0.2), g_adv_weight=1.0).loss("G", _batch(a, b), 0)
    assert float(logs_h["gan_g"]) == pytest.approx(0.5 * 0.4**2 + 0.5 * 1.05**2, abs=1e-6)
    assert float(halved) == pytest.approx(0.63125 + 10 * 0.6 + 10 * 0.5 * 0.3, abs=1e-5)
    # D on the fakes of that G step (the pool is not yet full, so they pass through):
    # D_B: 1/2 (-0.25 - 1)^2 + 1/2 0.6^2; D_A: 1/2 (0.5 - 1)^2 + 1/2 (-0.05)^2
    loss_d, _ = r.loss("D", _batch(a, b), 0)
    assert float(loss_d) == pytest.approx(0.78125 + 0.18 + 0.125 + 0.00125, abs=1e-6)
    assert int(r.pool_a.count) == 2 and torch.allclose(r.pool_b.images[:2], a + 0.1)
    # lambda_identity = 0 drops the term; lambda_cycle scales both
    r0 = _recipe(Shift(0.1), Shift(0.2), lambda_cycle=2.0, lambda_identity=0.0)
    loss_g0, logs0 = r0.loss("G", _batch(a, b), 0)
    assert "identity" not in logs0 and float(loss_g0) == pytest.approx(1.2625 + 2 * 0.6, abs=1e-5)


# --- networks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("size, patch", [(28, 12), (32, 6), (64, 6)])
def test_network_shapes(size, patch):
    spec = ModelSpec(sample_shape=(1, size, size), z_dim=0, bounded=True, target_shape=(3, size, size))
    nets = build_networks("cyclegan", spec, {"width": 4, "n_blocks": 1, "d_width": 4})
    a, b = torch.rand(2, 1, size, size) * 2 - 1, torch.rand(2, 3, size, size) * 2 - 1
    out = nets["G"](a)
    assert out.shape == (2, 3, size, size) and out.abs().max() <= 1
    assert nets["G_BA"](b).shape == (2, 1, size, size)
    D = nets["D"]
    assert D(b).shape == (2, 1, patch, patch) and nets["D_A"](a).shape == (2, 1, patch, patch)
    h = D.features(b)
    assert h.shape == (2, D.feature_dim) and torch.allclose(D.head(h), D(b))


def test_bad_sizes_and_combinations_name_the_fix():
    spec = ModelSpec(sample_shape=(1, 30, 30), z_dim=0, target_shape=(1, 30, 30))
    with pytest.raises(ConfigError, match="divisible by 4"):
        build_networks("cyclegan", spec, {})
    with pytest.raises(ConfigError, match="--recipe cyclegan"):
        build_networks("cyclegan", ModelSpec(sample_shape=(1, 28, 28), z_dim=8), {})
    with pytest.raises(ConfigError, match="lambda_identity=0"):
        CycleGAN(
            Pair(nn.Identity(), nn.Identity()),
            Pair(PatchMean(), PatchMean()),
            build_objective("lsgan"),
            CycleGANRecipeOptions(),
            (1, 4, 4),
            (3, 4, 4),
        )


@pytest.mark.parametrize("name", [n for n in OBJECTIVES.names()])
def test_every_logit_objective_reduces_patch_outputs(name):
    objective = build_objective(name)
    if objective.d_output != "logit":
        pytest.skip(f"{name} works on {objective.d_output} outputs, not patch logits")
    g = torch.Generator().manual_seed(1)
    d_real, d_fake = torch.randn(3, 1, 5, 5, generator=g), torch.randn(3, 1, 5, 5, generator=g)
    flat_real, flat_fake = d_real.flatten(), d_fake.flatten()  # 75 logits as 75 "samples"
    d_loss = objective.d_loss(d_real, d_fake)
    g_loss = objective.g_loss(d_fake, d_real)
    assert d_loss.shape == () and g_loss.shape == ()
    assert float(d_loss) == pytest.approx(float(objective.d_loss(flat_real, flat_fake)), rel=1e-5, abs=1e-6)
    assert float(g_loss) == pytest.approx(float(objective.g_loss(flat_fake, flat_real)), rel=1e-5, abs=1e-6)


# --- data, training, resume, translate ------------------------------------------------------------
def _write_domain_folders(root, n=6, size=12):
    rng = np.random.default_rng(0)
    for sub, base in (("trainA", 40), ("trainB", 200), ("testA", 40), ("testB", 200)):
        (root / sub).mkdir(parents=True)
        for i in range(n if sub.startswith("train") else 3):
            arr = np.clip(base + rng.integers(-30, 30, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr, "RGB").save(root / sub / f"{i}.png")
    return root


def _cfg(data_root, out, steps) -> Config:
    return Config(
        recipe="cyclegan",
        data=f"unpaired:{data_root}",
        data_args={"image_size": 12},
        steps=steps,
        batch_size=2,
        model_args={"width": 4, "n_blocks": 1, "d_width": 4},
        recipe_args={"pool_size": 3},
        eval_every=100,
        ckpt_every=2,
        n_eval=3,
        out=str(out),
        progress="none",
    )


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    return _write_domain_folders(tmp_path / "horses2zebras")


def test_recommended_model_and_loss():
    cfg = config_mod.resolve(Config(recipe="cyclegan", data="8gaussians"))
    assert (cfg.model, cfg.loss) == ("cyclegan", "lsgan")
    plain = config_mod.resolve(Config())
    assert (plain.model, plain.loss) == ("mlp", "ns")
    explicit = config_mod.resolve(Config(recipe="cyclegan", loss="hinge"))
    assert explicit.loss == "hinge"
    with pytest.raises(ConfigError, match="unpaired two-domain data"):
        Trainer(Config(recipe="cyclegan", data="8gaussians", out="/nonexistent"))


def test_train_checkpoint_resume_bit_identical(folders, tmp_path):
    full = Trainer(_cfg(folders, tmp_path / "full", 4))
    row = full.fit(progress=False)
    assert {"cycle_l1_a", "cycle_l1_b", "loss_g", "loss_d"} <= set(row)
    assert (tmp_path / "full" / "pictures" / "latest.png").exists()
    Trainer(_cfg(folders, tmp_path / "half", 2)).fit(progress=False)
    resumed = Trainer.from_run(tmp_path / "half", overrides={"steps": 4})
    assert resumed.state.step == 2 and int(resumed.recipe.pool_a.count) == 3  # the pool came back
    resumed.fit(progress=False)
    a, b = full.recipe.state_dict(), resumed.recipe.state_dict()
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    rows_full = [r for r in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    rows_res = [r for r in (tmp_path / "half" / "metrics.jsonl").read_text().splitlines()]
    import json

    last_full, last_res = json.loads(rows_full[-1]), json.loads(rows_res[-1])
    assert last_full["step"] == last_res["step"] == 4
    assert (
        last_full["cycle_l1_a"] == last_res["cycle_l1_a"]
        and last_full["cycle_l1_b"] == last_res["cycle_l1_b"]
    )


def test_translate_cli_end_to_end(folders, tmp_path, capsys):
    run = tmp_path / "run"
    trainer = Trainer(_cfg(folders, run, 1))
    trainer.fit(progress=False)
    inputs = [str(folders / "testB" / "0.png"), str(folders / "testB" / "1.png")]
    out = tmp_path / "translated"
    assert main(["translate", str(run), *inputs, "-o", str(out), "--direction", "BtoA"]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["0-toA.png", "1-toA.png"]
    # The PNG holds G_BA of the input, quantized to 8 bits.
    x = (
        torch.from_numpy(np.asarray(Image.open(inputs[0]).convert("RGB"))).permute(2, 0, 1).float() / 127.5
        - 1
    )
    want = trainer.recipe.translate(x[None], "BtoA")[0]
    got = torch.from_numpy(np.asarray(Image.open(out / "0-toA.png"))).permute(2, 0, 1).float() / 127.5 - 1
    assert got.shape == (3, 12, 12) and (got - want).abs().max() <= 1 / 127.5 + 1e-6
    assert main(["translate", str(run), str(tmp_path / "missing.png"), "-o", str(out)]) == 2
    assert main(["sample", str(run), "-o", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err
    assert "missing.png does not exist" in err and "gankit translate" in err


def test_mnist_task_halves_and_metrics_of_known_translators(data_dir):
    from gankit.data import build_dataset
    from gankit.data.unpaired import halves

    ds = build_dataset("mnist2inverted", {"limit": 1000}, str(data_dir))
    assert len(ds.train_a) == len(ds.train_b) == 500 and len(ds.test_a) == 500
    ia = halves(torch.arange(10), torch.arange(10), 7)[0]
    ib = halves(torch.arange(10), torch.arange(10), 7)[2]
    assert sorted(torch.cat([ia, ib]).tolist()) == list(range(10))  # disjoint halves of the split
    # background of a: 0 (black), of b: 255 (white)
    assert ds.train_a[:, :, 0, 0].float().mean() < 5 and ds.train_b[:, :, 0, 0].float().mean() > 250
    try:
        from gankit.metrics.features import load_classifier

        load_classifier("mnist")
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"MNIST classifier weights unavailable: {e}")
    perfect = ds.evaluate_translation(lambda x, d: -x, 300)  # the true restyle both ways
    assert perfect["cycle_l1_a"] == 0.0 and perfect["cycle_l1_b"] == 0.0
    assert perfect["label_acc_ab"] > 0.95 and perfect["label_acc_ba"] > 0.95
    assert perfect["label_acc_ab"] == pytest.approx(perfect["label_acc_real_b"], abs=0.03)
    lazy = ds.evaluate_translation(lambda x, d: x, 300)  # no translation at all
    assert lazy["fid_ab"] > 10 * perfect["fid_ab"] and lazy["fid_ba"] > 10 * perfect["fid_ba"]
    assert lazy["label_acc_ab"] < perfect["label_acc_ab"] - 0.3  # inverted digits fool the classifier (0.52)


def test_options_dataclass_defaults_match_paper():
    o = CycleGANRecipeOptions()
    assert (o.lambda_cycle, o.lambda_identity, o.pool_size) == (10.0, 0.5, 50)
    assert dataclasses.is_dataclass(o)


# --- augmentation (recipe.augment) ------------------------------------------------------------------
class Doubling(nn.Module):
    """A stand-in augmentation T(x) = 2x that counts the rows it sees."""

    def __init__(self):
        super().__init__()
        self.rows = 0

    def forward(self, x):
        self.rows += x.shape[0]
        return 2 * x


def test_every_critic_call_goes_through_its_augmentation_by_hand():
    # As test_losses_of_a_known_mapping_by_hand, with T(x) = 2x before both critics.
    t_a, t_b = Doubling(), Doubling()
    o = CycleGANRecipeOptions()
    r = CycleGAN(
        Pair(Shift(0.1), Shift(0.2)),
        Pair(PatchMean(), PatchMean()),
        build_objective("lsgan"),
        o,
        (1, 4, 4),
        (1, 4, 4),
        augment_a=t_a,
        augment_b=t_b,
    )
    a, b = torch.full((2, 1, 4, 4), 0.5), torch.full((2, 1, 4, 4), -0.25)
    _, logs = r.loss("G", _batch(a, b), 0)
    # D_B(T(fake_b)) = 2 * 0.6, D_A(T(fake_a)) = 2 * -0.05: (1.2 - 1)^2 + (-0.1 - 1)^2
    assert float(logs["gan_g"]) == pytest.approx(0.04 + 1.21, abs=1e-6)
    assert float(logs["cycle"]) == pytest.approx(0.6, abs=1e-6)  # the cycle never meets a critic
    assert (t_a.rows, t_b.rows) == (2, 2)  # lsgan's G loss reads only D(fake)
    loss_d, _ = r.loss("D", _batch(a, b), 0)
    # D_B: 1/2 (2 * -0.25 - 1)^2 + 1/2 (1.2)^2; D_A: 1/2 (2 * 0.5 - 1)^2 + 1/2 (-0.1)^2
    assert float(loss_d) == pytest.approx(1.125 + 0.72 + 0.0 + 0.005, abs=1e-6)
    assert (t_a.rows, t_b.rows) == (6, 6)  # and D's loss: 2 real + 2 fake rows each


def _ada_args(**kw):
    return {"pool_size": 3, "augment": "ada", "ada_interval": 1, "ada_kimg": 0.05, "ada_p": 0.5, **kw}


def test_ada_adapts_each_critic_and_resumes_exactly(folders, tmp_path):
    def cfg(out, steps):
        return dataclasses.replace(_cfg(folders, out, steps), recipe_args=_ada_args())

    full = Trainer(cfg(tmp_path / "full", 4))
    row = full.fit(progress=False)
    s = full.recipe.state_dict()
    assert int(s["augment_a.updates"]) == int(s["augment_b.updates"]) == 4  # one per D update
    # 4 adjustments of +-2 images / 50: p moved on both critics, each by its own r_t
    for d in ("a", "b"):
        assert float(s[f"augment_{d}.p"]) != 0.5
        assert row[f"ada_p_{d}"] == pytest.approx(float(s[f"augment_{d}.p"]))
    Trainer(cfg(tmp_path / "half", 2)).fit(progress=False)
    resumed = Trainer.from_run(tmp_path / "half", overrides={"steps": 4})
    resumed.fit(progress=False)
    b = resumed.recipe.state_dict()
    assert set(s) == set(b) and [k for k in s if not torch.equal(s[k], b[k])] == []


def test_diffaugment_trains_and_changes_what_the_critics_see(folders, tmp_path):
    cfg = dataclasses.replace(
        _cfg(folders, tmp_path / "run", 2), recipe_args={"pool_size": 3, "augment": "diffaugment"}
    )
    t = Trainer(cfg)
    seen = []
    for aug in (t.recipe.augment_a, t.recipe.augment_b):
        aug.register_forward_hook(lambda m, inp, out: seen.append(not torch.equal(inp[0], out)))
    t.fit(progress=False)
    # per step: G's 2 adversarial calls + D's 4 (real and fake per critic); colour alone changes every image
    assert len(seen) == 2 * 6 and all(seen)
    with pytest.raises(ConfigError, match="recipe option augment='flip'"):
        config_mod.resolve(dataclasses.replace(cfg, recipe_args={"augment": "flip"}))
