"""DiffAugment and ADA: the transforms by hand, differentiability, the same policy on real and
generated batches, identity at p = 0, ADA's adaptation of p, exact resume and two processes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from gankit.augment import ops
from gankit.augment.ada import ADA
from gankit.augment.base import AUGMENTS, AugmentOptions
from gankit.augment.diffaugment import DiffAugment
from gankit.config import Config, resolve
from gankit.data.base import Batch
from gankit.errors import ConfigError


def seeded(aug, seed=0):
    def f(x):
        torch.manual_seed(seed)
        return aug(x)

    return f


def ada_at(p: float, **kw) -> ADA:
    return ADA(p=p, **kw)


# --- the transforms by hand ------------------------------------------------------------------


def test_translate_by_hand():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    out = ops.translate(x, torch.tensor([1]), torch.tensor([-1]))  # right 1, up 1
    expect = torch.tensor([[0, 4, 5, 6], [0, 8, 9, 10], [0, 12, 13, 14], [0, 0, 0, 0]], dtype=torch.float32)
    assert torch.equal(out[0, 0], expect)


@pytest.mark.parametrize("dx, dy", [(1, -1), (-2, 3), (3, 0), (0, 0)])
def test_reflected_translation_is_numpys_reflect_padding_then_a_crop(dx, dy):
    import numpy as np

    x = torch.randn(1, 2, 5, 6)
    out = ops.translate(x, torch.tensor([dx]), torch.tensor([dy]), reflect=True)
    # pad by 4 on every side with numpy's "reflect", then take the window moved by (-dy, -dx)
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (4, 4), (4, 4)), mode="reflect")
    want = padded[:, :, 4 - dy : 4 - dy + 5, 4 - dx : 4 - dx + 6]
    assert np.array_equal(out.numpy(), want)


def test_cutout_by_hand_and_clipped():
    x = torch.ones(2, 1, 4, 4)
    out = ops.cutout(x, torch.tensor([1, -1]), torch.tensor([2, 3]), (2, 2))
    assert out[0, 0].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]]
    assert out[1, 0].tolist() == [[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]


def test_colour_ops_by_hand():
    x = torch.tensor([[[[0.0, 1.0]], [[2.0, 3.0]]]])  # (1, 2, 1, 2)
    assert ops.brightness(x, torch.tensor([0.5])).flatten().tolist() == [0.5, 1.5, 2.5, 3.5]
    # channel mean per pixel: 1, 2; deviations -1, -1 / +1, +1 scaled by 2
    assert ops.saturation(x, torch.tensor([2.0])).flatten().tolist() == [-1.0, 0.0, 3.0, 4.0]
    # image mean 1.5; deviations scaled by 0.5
    assert ops.contrast(x, torch.tensor([0.5])).flatten().tolist() == [0.75, 1.25, 1.75, 2.25]


def test_flip_and_rotate_per_example():
    x = torch.arange(8.0).view(2, 1, 2, 2)
    out = ops.xflip(x, torch.tensor([True, False]))
    assert torch.equal(out[0], x[0].flip(2)) and torch.equal(out[1], x[1])
    out = ops.rotate90(x, torch.tensor([1, 0]))
    assert torch.equal(out[0], torch.rot90(x[0], 1, dims=(1, 2))) and torch.equal(out[1], x[1])


def test_diffaugment_ranges():
    torch.manual_seed(0)
    x = torch.ones(256, 1, 16, 16)
    out = DiffAugment(["translation"])(x)
    # shifts of at most 16/8 = 2 pixels: the centre 12x12 is never vacated, some borders are
    assert torch.equal(out[:, :, 2:-2, 2:-2], x[:, :, 2:-2, 2:-2])
    assert (out[:, :, :2] == 0).any() and not (out[:, :, 3:-3, 3:-3] == 0).any()
    out = DiffAugment(["cutout"])(x)
    zeros = (out == 0).flatten(1).sum(1)  # an 8x8 box, clipped at the border
    assert zeros.max() == 64 and (zeros > 0).all() and zeros.min() >= 16


# --- differentiable, same policy, identity at p = 0 ----------------------------------------------


@pytest.mark.parametrize("name", ["diffaugment", "ada"])
def test_augmentations_are_differentiable(name):
    aug = AUGMENTS.get(name).factory(AugmentOptions(augment=name, ada_p=1.0))
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    # linear in x for fixed random parameters: the numerical Jacobian is exact
    assert torch.autograd.gradcheck(seeded(aug), (x,), eps=1e-6, atol=1e-6)
    (grad,) = torch.autograd.grad(seeded(aug)(x).pow(2).sum(), x)
    assert grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["diffaugment", "ada"])
def test_same_seed_same_output_and_changes_images(name):
    aug = AUGMENTS.get(name).factory(AugmentOptions(augment=name, ada_p=1.0))
    x = torch.randn(4, 3, 8, 8)
    a, b = seeded(aug, 3)(x), seeded(aug, 3)(x)
    assert torch.equal(a, b) and not torch.equal(a, x)


def test_ada_is_identity_at_p0_and_not_at_p1():
    x = torch.randn(16, 3, 8, 8)
    assert torch.equal(ada_at(0.0)(x), x)
    assert not torch.equal(ada_at(1.0)(x), x)


def _image_cfg(data_dir, **kw):
    base = dict(
        data="mnist",
        model="dcgan",
        batch_size=8,
        steps=4,
        eval_every=2,
        n_eval=16,
        progress="none",
        data_dir=str(data_dir),
        data_args={"limit": 64, "image_size": 16},
        model_args={"width": 4},
    )
    base.update(kw)
    return Config(**base)


@pytest.mark.parametrize("d_norm", ["batch", "layer"])  # two D calls, or one on cat(real, fake)
def test_recipe_sends_real_and_fake_through_the_same_augmentation(data_dir, d_norm):
    from gankit.training.trainer import build

    cfg = resolve(
        _image_cfg(
            data_dir,
            model_args={"width": 4, "d_norm": d_norm},
            loss="rsgan",
            recipe_args={"augment": "diffaugment"},
        )
    )
    _, recipe = build(cfg)
    seen = []
    recipe.augment.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach().clone()))
    real = torch.rand(8, 1, 16, 16) * 2 - 1
    recipe.begin_step()
    recipe.loss("D", Batch(real), 0)
    rows = torch.cat(seen)
    assert rows.shape[0] == 16  # the 8 real and the 8 fake rows, each once
    assert any(torch.equal(rows[i : i + 8], real) for i in range(0, 9, 8))
    seen.clear()
    recipe.loss("G", Batch(real), 0)  # rsgan's G loss reads D on real and on fake
    assert torch.cat(seen).shape[0] == 16


def test_augment_needs_images_and_a_known_name(data_dir):
    with pytest.raises(ConfigError, match="augments images"):
        from gankit.training.trainer import build

        build(resolve(Config(data="ring", recipe_args={"augment": "ada"})))
    with pytest.raises(ConfigError, match="augment='flip'.*none \\| ada \\| diffaugment"):
        resolve(Config(recipe_args={"augment": "flip"}))
    with pytest.raises(ConfigError, match="augment=ada adapts p"):
        build(
            resolve(
                Config(data="mnist", loss="began", data_dir=str(data_dir), recipe_args={"augment": "ada"})
            )
        )
    with pytest.raises(ConfigError, match="diffaugment_policy"):
        resolve(Config(recipe_args={"diffaugment_policy": "color,zoom"}))


def test_gankit_list_shows_the_augmentations():
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    out = subprocess.run(
        [sys.executable, "-m", "gankit", "list", "augment"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0
    names = [line.split()[1] for line in out.stdout.splitlines()]
    assert names == ["ada", "diffaugment"]


# --- ADA's adaptation -----------------------------------------------------------------------------


def test_ada_p_rises_when_d_is_overconfident_on_real_and_falls_otherwise():
    ada = ada_at(0.5, target=0.6, interval=2, kimg=1.0)  # 1,000 images move p by 1
    confident = torch.full((10,), 3.0)  # r_t = 1 > 0.6
    ada.update_state(confident)
    assert float(ada.p) == 0.5  # waits for the interval
    ada.update_state(confident)
    assert float(ada.p) == pytest.approx(0.5 + 20 / 1000)
    assert float(ada.r_t) == 1.0
    mixed = torch.tensor([1.0, 1.0, -1.0, 2.0, -3.0])  # r_t = 0.2 < 0.6
    ada.update_state(mixed)
    ada.update_state(mixed)
    assert float(ada.p) == pytest.approx(0.52 - 10 / 1000)
    assert float(ada.r_t) == pytest.approx(0.2)
    low = ada_at(0.001, interval=1, kimg=1.0)
    low.update_state(-torch.ones(10))
    assert float(low.p) == 0.0  # clipped at 0


def test_ada_p_rises_in_training_on_an_overconfident_d(data_dir):
    """D trained alone for a few steps tells real from fake (sign(D(real)) > 0): p rises."""
    from gankit.training.trainer import Trainer

    cfg = _image_cfg(
        data_dir,
        steps=8,
        lr_d=5e-3,
        lr_g=1e-9,
        recipe_args={"augment": "ada", "ada_interval": 1, "ada_kimg": 0.5},
        out=None,
    )
    t = Trainer(cfg)
    for _ in range(8):
        t.train_step()
    assert float(t.recipe.augment.r_t) > 0.6
    assert float(t.recipe.augment.p) > 0.0
    assert t.recipe.stats()["ada_p"] == pytest.approx(float(t.recipe.augment.p))


def test_ada_resume_is_exact(tmp_path, data_dir):
    from gankit.training.trainer import Trainer

    kw = dict(recipe_args={"augment": "ada", "ada_interval": 1, "ada_kimg": 0.2, "ada_p": 0.3}, ckpt_every=2)
    full = Trainer(_image_cfg(data_dir, out=str(tmp_path / "full"), **kw))
    full.fit(progress=False)
    half = Trainer(_image_cfg(data_dir, out=str(tmp_path / "half"), steps=2, **kw))
    half.fit(progress=False)
    resumed = Trainer.from_run(tmp_path / "half", overrides={"steps": 4})
    resumed.fit(progress=False)
    a, b = full.recipe.state_dict(), resumed.recipe.state_dict()
    assert float(a["augment.p"]) != 0.3  # p moved
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_ada_two_processes_keep_p_identical(tmp_path, data_dir):
    from test_distributed import run_world

    kw = dict(
        data="mnist",
        model="dcgan",
        batch_size=4,
        steps=3,
        data_dir=str(data_dir),
        data_args={"limit": 64, "image_size": 16},
        model_args={"width": 4},
        recipe_args={"augment": "ada", "ada_interval": 1, "ada_kimg": 0.1, "ada_p": 0.5},
    )
    states = run_world(tmp_path, 2, kw, tag="ada")
    # weights and ADA's state agree; batch-norm running statistics are each rank's own
    shared = [k for k in states[0] if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert "augment.p" in shared and "augment.r_t" in shared
    for k in shared:
        assert torch.equal(states[0][k], states[1][k]), k
    assert float(states[0]["augment.p"]) != 0.5
    assert int(states[0]["augment.updates"]) == 3


@pytest.mark.parametrize(
    "case",
    [
        dict(recipe_args={"conditional": True}),
        dict(recipe="infogan", recipe_args={"n_categorical": [10], "n_continuous": 1}),
        dict(
            recipe="progressive",
            model="progan",
            model_args={"fmap_base": 64, "fmap_max": 16},
            recipe_args={"fade_images": 8, "stable_images": 8},
        ),
    ],
    ids=["conditional", "infogan", "progressive"],
)
@pytest.mark.parametrize("aug", ["diffaugment", "ada"])
def test_every_image_recipe_trains_with_augmentation(data_dir, case, aug):
    from gankit.training.trainer import Trainer

    case = dict(case)
    recipe_args = {**case.pop("recipe_args"), "augment": aug, "ada_interval": 1, "ada_p": 0.5}
    t = Trainer(_image_cfg(data_dir, out=None, recipe_args=recipe_args, **case))
    calls = []
    t.recipe.augment.register_forward_hook(lambda m, inp, out: calls.append(inp[0].shape[0]))
    before = {k: v.clone() for k, v in t.recipe.state_dict().items()}
    for _ in range(3):
        t.train_step()
    assert sum(calls) >= 3 * 2 * 8  # real and fake rows of every D update at least
    assert any(not torch.equal(before[k], v) for k, v in t.recipe.state_dict().items())
    if aug == "ada":
        assert int(t.recipe.augment.updates) == 3


def test_cyclegan_ada_two_processes_keep_each_critics_p_identical(tmp_path, data_dir):
    """Two ranks: each critic's ADA state (p, r_t, the counts) is averaged over the ranks before
    every adjustment, so it stays identical on both, and p moved on both critics."""
    from conftest import tiny_recipe_cases
    from test_distributed import run_world

    kw = dict(
        tiny_recipe_cases()["cyclegan"],
        steps=3,
        recipe_args={"pool_size": 2, "augment": "ada", "ada_interval": 1, "ada_kimg": 0.02, "ada_p": 0.5},
    )
    states = run_world(tmp_path, 2, kw, tag="cyc-ada")
    for critic in ("augment_a", "augment_b"):
        for key in ("p", "r_t", "updates", "sign_sum", "count"):
            assert torch.equal(states[0][f"{critic}.{key}"], states[1][f"{critic}.{key}"]), (critic, key)
        assert float(states[0][f"{critic}.p"]) != 0.5 and int(states[0][f"{critic}.updates"]) == 3
