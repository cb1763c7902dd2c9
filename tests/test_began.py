"""BEGAN: objective by hand, equilibrium control, autoencoder D, refusals, exact resume."""

import json

import pytest
import torch
from test_progan import assert_resume_exact, tiny_cfg

from gankit.errors import ConfigError
from gankit.nets.base import ModelSpec, build_networks
from gankit.objectives import build_objective
from gankit.training.trainer import Trainer

BEGAN = dict(model="began", loss="began", model_args={"width": 4, "h_dim": 4, "convs": 1})


def test_losses_and_k_update_by_hand():
    obj = build_objective("began", {"gamma": 0.5, "lambda_k": 0.1, "k_init": 0.2})
    d_real = torch.tensor([0.2, 0.4])  # L(x) = 0.3
    d_fake = torch.tensor([0.0, 0.1])  # L(G(z)) = 0.05
    assert float(obj.d_loss(d_real, d_fake)) == pytest.approx(0.3 - 0.2 * 0.05, abs=1e-7)
    assert float(obj.g_loss(d_fake)) == pytest.approx(0.05, abs=1e-7)
    obj.update_state(d_real, d_fake)
    assert float(obj.k) == pytest.approx(0.2 + 0.1 * (0.5 * 0.3 - 0.05), abs=1e-7)  # 0.21
    stats = obj.stats()
    assert float(stats["k"]) == pytest.approx(0.21, abs=1e-7)
    assert float(stats["m_global"]) == pytest.approx(0.3 + abs(0.15 - 0.05), abs=1e-7)
    # The update split for distributed use gives the same step from (all-reduced) means.
    obj.update_k(torch.tensor([0.3, 0.05]))
    assert float(obj.k) == pytest.approx(0.22, abs=1e-7)


def test_k_is_clipped_to_unit_interval():
    obj = build_objective("began", {"lambda_k": 0.5})
    big, small = torch.full((4,), 10.0), torch.zeros(4)
    obj.update_state(big, small)  # 0 + 0.5 * 5 -> clipped to 1
    assert float(obj.k) == 1.0
    obj.update_state(small, big)  # 1 - 0.5 * 10 -> clipped to 0
    assert float(obj.k) == 0.0
    # M_global of the last step: L(x) 0, |0 - 10| = 10.
    assert float(obj.stats()["m_global"]) == pytest.approx(10.0)
    with pytest.raises(ConfigError, match="gamma"):
        build_objective("began", {"gamma": 1.5})


def test_autoencoder_energy_and_shapes():
    torch.manual_seed(0)
    spec = ModelSpec(sample_shape=(1, 8, 8), z_dim=5, bounded=True, d_output="energy")
    nets = build_networks("began", spec, BEGAN["model_args"])
    G, D = nets["G"], nets["D"]
    z = torch.randn(3, 5)
    x = G(z)
    assert x.shape == (3, 1, 8, 8)
    torch.testing.assert_close(x, G.decoder(z))  # linear output by default, as in the paper
    G_tanh = build_networks("began", spec, {**BEGAN["model_args"], "tanh": True})["G"]
    assert torch.equal(G_tanh(z), torch.tanh(G_tanh.decoder(z)))
    rec = D.reconstruct(x)
    assert rec.shape == x.shape
    energy = D(x)
    assert energy.shape == (3,)
    manual = torch.stack([(x[i] - rec[i]).abs().sum() / 64 for i in range(3)])
    torch.testing.assert_close(energy, manual)
    assert D.features(x).shape == (3, 4)
    # 28x28 works too (base 7).
    spec28 = ModelSpec(sample_shape=(1, 28, 28), z_dim=5, d_output="energy")
    nets28 = build_networks("began", spec28, BEGAN["model_args"])
    assert nets28["G"](z).shape == (3, 1, 28, 28) and nets28["D"](nets28["G"](z)).shape == (3,)


def test_output_conventions_are_checked():
    logit_spec = ModelSpec(sample_shape=(1, 8, 8), z_dim=5)
    with pytest.raises(ConfigError, match="--loss began"):
        build_networks("began", logit_spec, BEGAN["model_args"])
    with pytest.raises(ConfigError, match="--model began"):
        build_networks("mlp", ModelSpec(sample_shape=(2,), z_dim=2, d_output="energy"))


def test_refusals_through_the_trainer(tmp_path):
    with pytest.raises(ConfigError, match="--model began"):
        Trainer(tiny_cfg(tmp_path, model="mlp", loss="began", steps=0))
    with pytest.raises(ConfigError, match="--loss began"):
        Trainer(tiny_cfg(tmp_path, model="began", loss="ns", steps=0))


def test_defaults_resolved():
    from gankit.config import Config, resolve

    cfg = resolve(Config(model="began", loss="began"))
    assert (cfg.optimizer, cfg.lr_g, cfg.lr_d, cfg.betas) == ("adam", 1e-4, 1e-4, (0.5, 0.999))
    assert cfg.loss_args == {"gamma": 0.5, "lambda_k": 0.001, "k_init": 0.0}
    assert cfg.penalties == {}


def test_began_trains_logs_k_and_resumes_exactly(tmp_path, monkeypatch):
    kw = dict(BEGAN, loss_args={"lambda_k": 0.05})
    resumed = assert_resume_exact(tmp_path, monkeypatch, n=6, k=3, **kw)
    k = float(resumed.recipe.objective.k)
    assert 0.0 < k <= 1.0  # moved off k_0 = 0 and stayed in range
    rows = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 3, 6]
    for r in rows:
        assert 0.0 <= r["k"] <= 1.0
    assert rows[-1]["k"] == pytest.approx(k, abs=1e-6)
    assert rows[-1]["m_global"] > 0
    # The k buffer is in the checkpoint.
    state = torch.load(tmp_path / "full" / "checkpoints" / "step-00000006.pt", weights_only=True)
    assert float(state["recipe"]["objective.k"]) == pytest.approx(k, abs=0)


def test_metric_picture_shows_k_and_m_global(tmp_path, monkeypatch):
    import gankit.viz.pictures as pictures

    panels = {}
    real = pictures.draw_metric_curves

    def spy(rows, path, title=""):
        panels["keys"] = set(rows[-1])
        return real(rows, path, title)

    monkeypatch.setattr(pictures, "draw_metric_curves", spy)
    Trainer(tiny_cfg(tmp_path, steps=1, eval_every=1, **BEGAN)).fit(progress=False)
    assert {"k", "m_global"} <= panels["keys"]
    assert (tmp_path / "run" / "pictures" / "metrics.png").stat().st_size > 1000


def test_no_m_global_before_the_first_step():
    obj = build_objective("began")
    assert set(obj.stats()) == {"k"}
    assert all(torch.isfinite(t).all() for t in obj.state_dict().values())  # checkpoints refuse NaN


def _began_nets(init: str, **opts):
    torch.manual_seed(0)
    spec = ModelSpec(sample_shape=(1, 32, 32), z_dim=64, bounded=True, d_output="energy")
    return build_networks("began", spec, {"width": 16, "h_dim": 32, "convs": 1, "init": init, **opts})


def test_initialization_keeps_z_and_input_dependence():
    """The cause of the MNIST collapse: with PyTorch's default init G(z) hardly depended on z and
    AE(x) not at all on x, so every G(z) was pulled onto the AE's one constant output."""
    G, D = _began_nets("xavier").values()
    # Zero biases and ELU(0) = 0: the zero code decodes to the zero image, exactly.
    assert torch.equal(G(torch.zeros(1, 64)), torch.zeros(1, 1, 32, 32))
    assert torch.equal(D.reconstruct(torch.zeros(1, 1, 32, 32)), torch.zeros(1, 1, 32, 32))
    # Glorot-uniform dense layer, z ~ N(0, I): Var = fan_in * a^2 / 3 with a^2 = 6 / (fan_in + fan_out),
    # i.e. 2 * 64 / (64 + 16 * 4 * 4) = 0.4, std 0.632.
    with torch.no_grad():
        h0 = G.decoder.dense(torch.randn(4096, 64))
    assert float(h0.std()) == pytest.approx(0.4**0.5, rel=0.03)
    with torch.no_grad():
        x = G(torch.randn(256, 64))  # (256, 1, 32, 32)
        rec = D.reconstruct(x)
    spread = float(x.std(0).mean())  # per-pixel std across z
    mean_rms = float(x.mean(0).pow(2).mean().sqrt())  # the part shared by all z
    assert spread > 2 * mean_rms  # measured 0.37 vs 0.09; PyTorch's default: 0.021 vs 0.029
    assert float(rec.std(0).mean()) > 1e-3  # measured 0.024; PyTorch's default: 2e-6
    G_t, D_t = _began_nets("torch").values()
    with torch.no_grad():
        x_t = G_t(torch.randn(256, 64))
        assert float(x_t.std(0).mean()) < float(x_t.mean(0).pow(2).mean().sqrt())  # the failure mode
        assert float(D_t.reconstruct(x_t).std(0).mean()) < 1e-4


def test_skip_connections_feed_h0_to_every_block():
    G = _began_nets("xavier", skip=True)["G"]
    dec = G.decoder
    assert [b[0].in_channels for b in dec.blocks] == [32, 32, 32, 32]  # n maps + n maps of h0
    z = torch.randn(3, 64)
    with torch.no_grad():
        h0 = dec.dense(z).view(3, 16, 4, 4)
        x = dec.blocks[0](torch.cat([h0, h0], 1))
        for i, size in enumerate((8, 16, 32), start=1):
            x = x.repeat_interleave(2, 2).repeat_interleave(2, 3)  # nearest-neighbour x2
            up = h0.repeat_interleave(size // 4, 2).repeat_interleave(size // 4, 3)
            x = dec.blocks[i](torch.cat([x, up], 1))
        torch.testing.assert_close(G(z), dec.to_image(x))
    with pytest.raises(ConfigError, match="init"):
        build_networks("began", ModelSpec(sample_shape=(1, 8, 8), z_dim=2, d_output="energy"), {"init": "he"})
