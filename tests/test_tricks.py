"""The mode-collapse remedies (gankit/tricks): each trains through the Trainer, and their math
against hand-computed values."""

from __future__ import annotations

import copy
import math
import types

import pytest
import torch
from torch import nn

from gankit.config import Config
from gankit.errors import ConfigError
from gankit.nets.base import ModelSpec
from gankit.tricks import TrickOptions, build_with_tricks
from gankit.tricks.game import HistoricalAverage, feature_matching_loss
from gankit.tricks.layers import (
    MinibatchDiscrimination,
    MinibatchStdFeature,
    VBNGenerator,
    VirtualBatchNorm,
    pack,
)


def tiny(tmp_path, **kw) -> Config:
    base = {
        "data": "ring",
        "steps": 2,
        "lr_schedule": "constant",  # the resumes below extend steps, which a decay over the steps would stretch
        "eval_every": 2,
        "batch_size": 16,
        "n_eval": 64,
        "device": "cpu",
        "progress": "none",
        "lr": 1e-3,
        "model_args": {"width": 16, "depth": 2},
        "out": str(tmp_path / "run"),
    }
    return Config(**{**base, **kw})


def trainer_for(tmp_path, recipe_args=None, **kw):
    from gankit.training.trainer import Trainer

    return Trainer(tiny(tmp_path, recipe_args=recipe_args or {}, **kw))


OPTIONS = {
    "feature_matching_add": {"feature_matching": "add"},
    "feature_matching_replace": {"feature_matching": "replace", "fm_weight": 2.0},
    "minibatch_disc": {"minibatch_disc": 4, "mbd_dims": 3},
    "mbstd": {"mbstd": 4},
    "hist_avg": {"hist_avg_d": 1.0, "hist_avg_g": 1.0},
    "vbn": {"vbn": 8},
    "pack": {"pack": 4},
    "unrolled": {"unrolled": True, "unroll_steps": 2},
    "all_at_once": {
        "feature_matching": "add",
        "minibatch_disc": 4,
        "mbstd": 2,
        "hist_avg_d": 0.1,
        "pack": 2,
        "unrolled": True,
        "unroll_steps": 1,
    },
}


@pytest.mark.parametrize("name", OPTIONS)
def test_option_trains_two_steps(name, tmp_path):
    model_args = {"width": 16, "depth": 2, "g_norm": "batch" if name == "vbn" else "none"}
    tr = trainer_for(tmp_path, OPTIONS[name], model_args=model_args, penalties={"gp": 1.0})
    before = {p: [t.detach().clone() for t in tr.recipe.parameters_of(p)] for p in ("D", "G")}
    logs = [tr.train_step() for _ in range(2)]
    assert all(math.isfinite(float(v)) for row in logs for v in row.values()), logs
    for p, old in before.items():
        assert any(not torch.equal(a, b) for a, b in zip(old, tr.recipe.parameters_of(p), strict=True)), p
    x = tr.sample(5)
    assert x.shape == (5, 2) and torch.isfinite(x).all()


# --- packing -----------------------------------------------------------------------------
def _record_inputs(module: nn.Module) -> list[tuple[int, ...]]:
    seen = []
    module.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape)))
    return seen


def test_packed_d_sees_packed_points_and_penalties_see_packs(tmp_path):
    tr = trainer_for(tmp_path, {"pack": 4}, penalties={"gp": 1.0})
    seen = _record_inputs(tr.recipe.D.inner)
    tr.train_step()
    # D step: real and fake in one call (2N/m packs), the gradient penalty on N/m packs; G step.
    assert seen == [(8, 8), (4, 8), (4, 8)]
    batch = tr.stream.next()
    assert tr.recipe.D(batch.x).shape == (4,)
    assert tr.recipe.critic(batch.x[:5]).shape == (5,)  # pictures: one value per point


def test_pack_concatenates_consecutive_samples():
    x = torch.arange(8.0).view(4, 2)
    assert torch.equal(pack(x, 2), torch.tensor([[0.0, 1, 2, 3], [4, 5, 6, 7]]))
    img = torch.arange(4 * 3 * 2 * 2.0).view(4, 3, 2, 2)
    p = pack(img, 4)
    assert p.shape == (1, 12, 2, 2)
    assert torch.equal(p[0, 3:6], img[1]) and torch.equal(p[0, 9:12], img[3])


def test_packed_dcgan_d_sees_channel_concatenated_images():
    cfg = types.SimpleNamespace(model="dcgan", model_args={"width": 4}, batch_size=8, lr_d=2e-4)
    spec = ModelSpec(sample_shape=(3, 28, 28), z_dim=8, bounded=True)
    G, D, tricks = build_with_tricks(cfg, spec, TrickOptions(pack=4))
    assert tricks is None
    seen = _record_inputs(D.inner)
    out = D(G(torch.randn(8, 8)))
    assert seen == [(2, 12, 28, 28)] and out.shape == (2,)


def test_pack_needs_divisible_batch(tmp_path):
    with pytest.raises(ConfigError, match="divisible by 3"):
        trainer_for(tmp_path, {"pack": 3})


# --- one-sided label smoothing -----------------------------------------------------------------
def test_label_smoothing_changes_recipe_d_loss_by_hand_amount(tmp_path):
    losses, d_reals = [], []
    for target in (1.0, 0.9):
        tr = trainer_for(tmp_path / str(target), loss="ns", loss_args={"label_smoothing": target})
        batch = tr.stream.next()
        tr.recipe.begin_step()
        torch.manual_seed(3)
        loss, _ = tr.recipe.d_step(batch)
        losses.append(float(loss.detach()))
        d_reals.append(tr.recipe.D(batch.x).detach())
    assert torch.equal(d_reals[0], d_reals[1])
    # -(0.9 log s(v) + 0.1 log(1 - s(v))) + log s(v) = 0.1 (log s(v) - log(1 - s(v))) = 0.1 v.
    assert losses[1] - losses[0] == pytest.approx(0.1 * float(d_reals[0].mean()), rel=1e-4, abs=1e-7)


def test_label_smoothing_refused_by_name_for_other_objectives(tmp_path):
    with pytest.raises(ConfigError, match=r"defined only for .*\(minimax, ns\).*'wgan'"):
        trainer_for(tmp_path, loss="wgan", loss_args={"label_smoothing": 0.9})


# --- historical averaging ---------------------------------------------------------------------
def test_historical_average_penalty_by_hand():
    p = torch.tensor([1.0, 2.0])
    q = torch.tensor([[0.5]])
    avg = HistoricalAverage([p, q])
    assert float(avg.penalty([p, q])) == 0.0  # at the average (the initial values)
    avg.update([torch.tensor([3.0, 2.0]), torch.tensor([[1.5]])])  # means: [2, 2], [[1]]
    assert int(avg.count) == 2
    assert float(avg.penalty([torch.tensor([2.0, 2.0]), torch.tensor([[1.0]])])) == 0.0
    # (4-2)^2 + (0-2)^2 + (3-1)^2 = 12
    assert float(avg.penalty([torch.tensor([4.0, 0.0]), torch.tensor([[3.0]])])) == pytest.approx(12.0)
    avg.update([torch.tensor([4.0, 8.0]), torch.tensor([[1.0]])])  # means of 3 values: [8/3, 4], [[1]]
    assert torch.allclose(avg.means[0], torch.tensor([8 / 3, 4.0])) and float(avg.means[1]) == pytest.approx(
        1.0
    )


def straight_and_resumed(tmp_path, monkeypatch, recipe_args):
    """Recipe states after 4 steps straight and after 2 steps, a checkpoint and 2 more."""
    from gankit.training.trainer import Trainer
    from gankit.viz import pictures

    monkeypatch.setattr(pictures, "draw_run_pictures", lambda trainer, folder: {})  # not under test
    straight = trainer_for(tmp_path / "a", recipe_args, steps=4)
    straight.fit(progress=False)
    first = trainer_for(tmp_path / "b", recipe_args, steps=2)
    first.fit(progress=False)
    resumed = Trainer.from_run(tmp_path / "b" / "run", overrides={"steps": 4})
    resumed.fit(progress=False)
    return straight.recipe.state_dict(), resumed.recipe.state_dict()


def test_historical_averaging_resume_is_bit_identical(tmp_path, monkeypatch):
    a, b = straight_and_resumed(tmp_path, monkeypatch, {"hist_avg_d": 1.0, "hist_avg_g": 0.5})
    hist_keys = [k for k in a if ".hist." in k]
    assert hist_keys and int(a["tricks.hist.D.count"]) == 5  # initial value + 4 updates
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- feature matching ------------------------------------------------------------------------
def test_feature_matching_loss_by_hand_for_linear_features():
    W = torch.tensor([[1.0, 1.0], [2.0, -1.0]])
    real = torch.tensor([[1.0, 0.0], [3.0, 2.0]])  # mean (2, 1)
    fake = torch.tensor([[0.0, 0.0], [0.0, 2.0]])  # mean (0, 1)
    # W (2, 0) = (2, 4): 4 + 16 = 20
    assert float(feature_matching_loss(real @ W.T, fake @ W.T)) == pytest.approx(20.0)


def test_feature_matching_replace_is_the_features_distance(tmp_path):
    tr = trainer_for(tmp_path, {"feature_matching": "replace", "fm_weight": 3.0})
    batch = tr.stream.next()
    tr.recipe.begin_step()
    torch.manual_seed(5)
    loss, logs = tr.recipe.g_step(batch)
    torch.manual_seed(5)
    fake = tr.recipe.G(tr.recipe.noise(16, "cpu"))
    D = tr.recipe.D
    by_hand = (D.features(batch.x).mean(0) - D.features(fake).mean(0)).square().sum()
    assert float(loss.detach()) == pytest.approx(3.0 * float(by_hand.detach()), rel=1e-5)


# --- unrolled GAN ----------------------------------------------------------------------------
def _g_grads(recipe, loss):
    return torch.autograd.grad(loss, list(recipe.G.parameters()))


def test_unrolled_keeps_real_d_and_changes_g_gradient(tmp_path):
    tr = trainer_for(tmp_path, {"unrolled": True, "unroll_steps": 3, "unroll_lr": 0.05})
    recipe, batch = tr.recipe, tr.stream.next()
    d_before = {k: v.clone() for k, v in recipe.D.state_dict().items()}
    recipe.begin_step()
    torch.manual_seed(7)
    unrolled, _ = recipe.g_step(batch)
    g_unrolled = _g_grads(recipe, unrolled)
    assert all(torch.equal(d_before[k], v) for k, v in recipe.D.state_dict().items())
    assert all(p.grad is None for p in recipe.D.parameters())
    torch.manual_seed(7)
    fake = recipe.G(recipe.noise(16, "cpu"))
    plain, _ = recipe.g_adversarial(batch.x, fake, None)
    g_plain = _g_grads(recipe, plain)
    diff = sum(float((a - b).abs().sum()) for a, b in zip(g_unrolled, g_plain, strict=True))
    assert diff > 1e-4 * sum(float(b.abs().sum()) for b in g_plain)


def test_unrolled_one_sgd_step_matches_a_manual_d_update(tmp_path):
    lr = 0.1
    tr = trainer_for(tmp_path, {"unrolled": True, "unroll_steps": 1, "unroll_inner": "sgd", "unroll_lr": lr})
    recipe, batch = tr.recipe, tr.stream.next()
    recipe.begin_step()
    torch.manual_seed(11)
    loss, _ = recipe.g_step(batch)
    torch.manual_seed(11)
    fake = recipe.G(recipe.noise(16, "cpu")).detach()
    before = float(recipe.objective.g_loss(recipe.D(fake)).detach())
    D = copy.deepcopy(recipe.D)
    d_loss = recipe.objective.d_loss(D(batch.x), D(fake))
    grads = torch.autograd.grad(d_loss, list(D.parameters()))
    with torch.no_grad():
        for p, g in zip(D.parameters(), grads, strict=True):
            p -= lr * g
    after = float(recipe.objective.g_loss(D(fake)).detach())
    assert abs(after - before) > 1e-3  # the update matters, so the comparison is not vacuous
    assert float(loss.detach()) == pytest.approx(after, rel=1e-5)


# --- minibatch statistics and virtual batch norm -----------------------------------------------
def test_minibatch_discrimination_by_hand():
    layer = MinibatchDiscrimination(1, 1, 1)
    with torch.no_grad():
        layer.theta.fill_(-3.0)  # T = exp(0) * theta / |theta| = -1
        layer.bias.zero_()
    h = torch.tensor([[0.0], [1.0], [3.0]])
    e = math.exp
    want = [e(-1) + e(-3), e(-1) + e(-2), e(-3) + e(-2)]  # sum over j != i of exp(-|h_i - h_j|)
    assert layer(h).squeeze(1).tolist() == pytest.approx(want, rel=1e-6)
    with torch.no_grad():
        layer.log_scale.fill_(math.log(2.0))  # T = -2: distances double
    want = [e(-2) + e(-6), e(-2) + e(-4), e(-6) + e(-4)]
    assert layer(h).squeeze(1).tolist() == pytest.approx(want, rel=1e-6)


def test_minibatch_discrimination_starts_as_the_authors_layer():
    """openai/improved-gan's MinibatchLayer: theta ~ N(0, 0.05^2), T's columns of unit length
    (log scale 0), bias -1."""
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(200, 10, 5)
    assert torch.equal(layer.bias, torch.full((10,), -1.0))
    assert torch.equal(layer.log_scale, torch.zeros(50))
    torch.testing.assert_close(layer.T.norm(dim=0), torch.ones(50), rtol=1e-6, atol=0)
    assert 0.045 < layer.theta.std().item() < 0.055  # 10,000 draws
    # with one identical pair in a batch of far-apart rows: o = exp(0) - 1 for those, -1 others
    h = torch.zeros(3, 200)
    h[2] = 1000.0
    out = layer(h).detach()  # (3, 10)
    torch.testing.assert_close(out[:2], torch.zeros(2, 10), rtol=0, atol=1e-6)
    torch.testing.assert_close(out[2], torch.full((10,), -1.0), rtol=0, atol=1e-6)


def test_minibatch_std_feature_by_hand():
    h = torch.tensor([[0.0, 2.0], [1.0, 2.0], [2.0, 6.0], [5.0, 6.0]])
    # group 2 pairs sample n with n + 2: (0, 2) and (1, 3); population std per feature,
    # averaged: pair (0,2): std(0,2)=1, std(2,6)=2 -> 1.5; pair (1,3): std(1,5)=2, std(2,6)=2 -> 2.
    out = MinibatchStdFeature(2)(h)
    assert out.squeeze(1).tolist() == pytest.approx([1.5, 2.0, 1.5, 2.0], rel=1e-5)


def test_virtual_batch_norm_uses_reference_statistics():
    bn = nn.BatchNorm1d(1, affine=False)
    vbn = VirtualBatchNorm(bn)
    vbn.collecting = True
    vbn(torch.tensor([[1.0], [3.0]]))  # reference: mean 2, mean square 5
    vbn.collecting = False
    x = torch.tensor([[5.0]])
    c = 1 / 3
    mean, mean_sq = c * 5 + (1 - c) * 2, c * 25 + (1 - c) * 5
    want = (5 - mean) / math.sqrt(mean_sq - mean**2 + bn.eps)
    assert float(vbn(x)) == pytest.approx(want, rel=1e-6)


def test_vbn_generator_output_does_not_depend_on_the_batch():
    class TinyG(nn.Module):
        z_dim = 3

        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))

        def forward(self, z, y=None):
            return self.net(z)

    torch.manual_seed(0)
    G = TinyG()
    from gankit.tricks.layers import replace_batchnorm

    assert replace_batchnorm(G) == 1
    wrapped = VBNGenerator(G, ref_size=16)
    z = torch.randn(6, 3)
    assert torch.allclose(wrapped(z)[:2], wrapped(z[:2]), atol=1e-6)
    assert "z_ref" in wrapped.state_dict()


def test_vbn_needs_batch_norm_in_g(tmp_path):
    with pytest.raises(ConfigError, match="g_norm=batch"):
        trainer_for(tmp_path, {"vbn": 8})


def test_options_are_listed_with_defaults():
    from gankit.recipes.base import RECIPES

    opts = RECIPES.default_options("plain")
    assert opts["pack"] == 1 and opts["unroll_steps"] == 5 and opts["feature_matching"] == "off"
    with pytest.raises(ConfigError, match="feature_matching"):
        RECIPES.resolve_options("plain", {"feature_matching": "sometimes"})


def test_all_options_keep_ranks_identical_under_two_processes(tmp_path):
    from test_distributed import run_world  # tests/ is on sys.path under pytest

    recipe_args = {**OPTIONS["all_at_once"], "hist_avg_g": 0.1, "vbn": 8}
    kw = dict(
        loss="ns",
        batch_size=16,
        steps=2,
        recipe_args=recipe_args,
        model_args={"width": 16, "depth": 2, "g_norm": "batch"},
    )
    states = run_world(tmp_path, 2, kw, tag="tricks")
    assert any(".hist.G.mean_" in k for k in states[0]) and "G.z_ref" in states[0]
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), f"ranks differ in {k}"


def test_batch_statistics_d_scores_many_points_in_batches(tmp_path):
    tr = trainer_for(tmp_path, {"minibatch_disc": 2, "pack": 2})
    pts = torch.randn(600, 2)
    with torch.no_grad():
        out = tr.recipe.critic(pts)
        first = tr.recipe.D.inner(pack(pts[:256].repeat_interleave(2, 0), 2))
    assert out.shape == (600,) and torch.allclose(out[:256], first)
