"""PacGAN's 2-D networks and presets (gankit/nets/pacgan.py), and DCGAN's smaller-D option."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit import config as config_mod
from gankit.errors import ConfigError
from gankit.nets.base import ModelSpec, build_networks
from gankit.nets.pacgan import LinearMaxout
from gankit.recipes.base import RECIPES
from gankit.tricks.build import build_with_tricks

POINTS = ModelSpec(sample_shape=(2,), z_dim=2)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- architecture against PacGAN's, counted by hand ------------------------------------------------
def test_generator_is_four_hidden_layers_of_400_with_batch_norm_and_relu():
    G = build_networks("pacgan", POINTS)["G"]
    linears = [m for m in G.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (2, 400),
        (400, 400),
        (400, 400),
        (400, 400),
        (400, 2),
    ]
    assert [m.bias is not None for m in linears] == [False, False, False, False, True]
    norms = [m for m in G.modules() if isinstance(m, nn.BatchNorm1d)]
    assert len(norms) == 4 and all(m.momentum == 0.05 for m in norms)
    assert sum(isinstance(m, nn.ReLU) for m in G.modules()) == 4
    # 2*400 + 3*400*400 (no biases) + 4 * (400 gamma + 400 beta) + 400*2 + 2
    assert n_params(G) == 800 + 480_000 + 3_200 + 802 == 484_802


@pytest.mark.parametrize("m", [1, 4])
def test_discriminator_is_three_maxout_layers_of_200_units_with_5_pieces(m):
    D = build_networks("pacgan", ModelSpec(sample_shape=(2 * m,), z_dim=2))["D"]
    maxouts = [x for x in D.modules() if isinstance(x, LinearMaxout)]
    assert [(x.linear.in_features, x.units, x.pieces) for x in maxouts] == [
        (2 * m, 200, 5),
        (200, 200, 5),
        (200, 200, 5),
    ]
    assert not any(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in D.modules())
    # first layer (2m*1000 + 1000), two of (200*1000 + 1000), output 200 + 1
    assert n_params(D) == (2 * m * 1000 + 1000) + 2 * 201_000 + 201
    assert n_params(D) == {1: 405_201, 4: 411_201}[m]


def test_weights_start_normal_002_and_biases_zero():
    torch.manual_seed(0)
    nets = build_networks("pacgan", POINTS)
    big = nets["G"].body[3].weight  # (400, 400): 160,000 draws
    assert big.std().item() == pytest.approx(0.02, rel=0.02)
    assert abs(big.mean().item()) < 3 * 0.02 / 400
    for net in nets.values():
        for mod in net.modules():
            if isinstance(mod, nn.Linear) and mod.bias is not None:
                assert torch.count_nonzero(mod.bias) == 0


def test_maxout_takes_the_maximum_of_each_units_consecutive_pieces():
    layer = LinearMaxout(2, units=2, pieces=3)
    w = torch.tensor([[1.0, 0], [0, 1], [-1, 0], [2, 0], [0, -1], [0, 0]])  # outputs (units, pieces)
    b = torch.tensor([0.0, 0, 0, 0, 0, 0.5])
    with torch.no_grad():
        layer.linear.weight.copy_(w)
        layer.linear.bias.copy_(b)
    x = torch.tensor([[3.0, -1.0], [-2.0, 4.0]])
    # unit 0: max(x1, x2, -x1); unit 1: max(2 x1, -x2, 0.5)
    expected = torch.tensor([[3.0, 6.0], [4.0, 0.5]])
    torch.testing.assert_close(layer(x), expected)


def test_pacgan_model_refuses_labels():
    with pytest.raises(ConfigError, match="unconditional"):
        build_networks("pacgan", ModelSpec(sample_shape=(2,), z_dim=2, num_classes=3))


# --- packing: D sees m samples concatenated ------------------------------------------------------
def test_packed_d_judges_m_consecutive_samples_concatenated():
    cfg = config_mod.resolve(
        config_mod.Config(
            data="grid", model="pacgan", recipe_args={"pack": 3}, model_args={"width": 8, "d_width": 6}
        )
    )
    assert cfg.batch_size == 300
    opts = RECIPES.resolve_options("plain", cfg.recipe_args)
    torch.manual_seed(0)
    _, D, _ = build_with_tricks(cfg, POINTS, opts)
    assert D.inner.body[0].linear.in_features == 6  # 3 samples of 2 coordinates
    x = torch.randn(6, 2)
    packs = torch.stack([torch.cat([x[0], x[1], x[2]]), torch.cat([x[3], x[4], x[5]])])  # (2, 6)
    torch.testing.assert_close(D(x), D.inner(packs))
    assert D(x).shape == (2,)


# --- presets ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_preset_is_pacgans_protocol_with_100_packs(m):
    d = {"data": "grid", "model": "pacgan"}
    config_mod.apply_set(d, f"recipe.pack={m}")  # as the CLI and the arena pass it: a string
    cfg, sources = config_mod.resolve_with_sources(config_mod.from_dict(d))
    assert cfg.batch_size == 100 * m
    assert (cfg.lr_g, cfg.lr_d, tuple(cfg.betas)) == (1e-4, 1e-4, (0.8, 0.999))
    assert cfg.lr_schedule == "constant" and cfg.penalties == {} and cfg.ema == 0.0
    assert cfg.loss == "ns" and cfg.n_critic == 1 and cfg.optimizer == "adam"
    assert "model pacgan preset" in sources["batch_size"] and "pacgan_table1" in sources["batch_size"]


def test_a_flag_overrides_the_pacgan_preset():
    d = {"data": "ring", "model": "pacgan", "batch_size": 60, "lr": 3e-4}
    config_mod.apply_set(d, "recipe.pack=3")
    cfg, sources = config_mod.resolve_with_sources(config_mod.from_dict(d))
    assert (cfg.batch_size, cfg.lr_g, tuple(cfg.betas)) == (60, 3e-4, (0.8, 0.999))
    assert sources["batch_size"] == "flag"


def test_an_unmeasured_pack_gets_no_pacgan_preset():
    d = {"data": "grid", "model": "pacgan"}
    config_mod.apply_set(d, "recipe.pack=5")
    cfg, sources = config_mod.resolve_with_sources(config_mod.from_dict(d))
    assert "pacgan" not in sources["batch_size"] and "pacgan" not in sources["lr_g"]


def test_the_arena_runs_the_preset(tmp_path):
    from gankit.arena import ArenaSpec
    from gankit.arena.runner import check_configs, run_config

    spec = ArenaSpec(
        data="grid",
        losses=["ns"],
        seeds=[0],
        steps=10,
        out=str(tmp_path),
        model="pacgan",
        sets=["recipe.pack=2"],
    )
    assert check_configs(spec) == ["ns"]
    cfg = config_mod.resolve(config_mod.from_dict(run_config(spec, "ns", 0)))
    assert (cfg.batch_size, cfg.lr_g, cfg.steps) == (200, 1e-4, 10)


def test_trains_packed_and_resumes_exactly(tmp_path, monkeypatch):
    import gankit.viz.pictures
    from gankit.training.trainer import Trainer

    monkeypatch.setattr(gankit.viz.pictures, "draw_run_pictures", lambda trainer, folder: {})
    kw = dict(
        data="grid", model="pacgan", model_args={"width": 16, "d_width": 8}, recipe_args={"pack": 2},
        batch_size=8, n_eval=50, progress="none", device="cpu", threads=1,
    )  # fmt: skip
    full = Trainer(config_mod.Config(**kw, steps=4, eval_every=2, out=str(tmp_path / "full")))
    full.fit(progress=False)
    Trainer(config_mod.Config(**kw, steps=2, eval_every=2, out=str(tmp_path / "part"))).fit(progress=False)
    resumed = Trainer.from_run(tmp_path / "part", overrides={"steps": 4})
    resumed.fit(progress=False)
    a, b = full.recipe.state_dict(), resumed.recipe.state_dict()
    assert a.keys() == b.keys() and any("running_mean" in k for k in a)
    for name in a:
        assert torch.equal(a[name], b[name]), name


# --- DCGAN with a smaller D (PacGAN table 3) ------------------------------------------------------
def test_dcgan_d_width_shrinks_only_d():
    spec = ModelSpec(sample_shape=(3, 28, 28), z_dim=16, bounded=True)
    full = build_networks("dcgan", spec, {"width": 16})
    small = build_networks("dcgan", spec, {"width": 16, "d_width": 4})
    assert n_params(small["G"]) == n_params(full["G"])
    first = [m for m in small["D"].modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in first] == [4, 8]  # 28 -> 14 -> 7: two doublings from d_width
    # conv1 3*4*16 + 4 bias; conv2 4*8*16 (no bias, batch norm 2*8); projection head 8*7*7 + 1
    assert n_params(small["D"]) == (3 * 4 * 16 + 4) + (4 * 8 * 16 + 16) + (8 * 49 + 1)
    assert small["D"](torch.randn(2, 3, 28, 28)).shape == (2,)
