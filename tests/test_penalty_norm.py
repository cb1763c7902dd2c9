"""A gradient penalty meets a batch-norm critic: the critic defaults to layer norm, batch norm
asked for by name is refused, and the penalized gradient is then per example."""

from __future__ import annotations

import pytest
import torch

from gankit import config as config_mod
from gankit.config import Config
from gankit.errors import ConfigError
from gankit.nets.base import ModelSpec, build_networks
from gankit.penalties import PER_EXAMPLE_GRADIENT, critic_grad_norm


def resolved(**kw) -> Config:
    return config_mod.resolve(Config(data="mnist", **kw))


def example_zero_grad_norm(cfg: Config, x: torch.Tensor) -> float:
    torch.manual_seed(0)  # the same critic for every batch
    D = build_networks(cfg.model, ModelSpec((1, 28, 28), z_dim=8, bounded=True), cfg.model_args)["D"]
    D.train()
    return float(critic_grad_norm(lambda v: D(v).flatten(), x)[0].detach())


@pytest.mark.parametrize("model", ["dcgan", "lucic"])
def test_wgan_gp_critic_gradient_is_per_example(model):
    """Example 0's gradient norm must not change when only the other rows change."""
    cfg = resolved(model=model, loss="wgan-gp", model_args={"width": 8} if model == "dcgan" else {})
    assert cfg.penalties["gp"] > 0 and cfg.model_args["d_norm"] == "layer"
    g = torch.Generator().manual_seed(1)
    x = torch.rand(4, 1, 28, 28, generator=g) * 2 - 1
    y = x.clone()
    y[1:] = torch.rand(3, 1, 28, 28, generator=g) * 2 - 1
    a, b = example_zero_grad_norm(cfg, x), example_zero_grad_norm(cfg, y)
    assert b == pytest.approx(a, rel=1e-5)
    # the check can fail: with batch norm the same change moves example 0's gradient
    bn = Config(**{**config_mod.to_dict(cfg), "model_args": {**cfg.model_args, "d_norm": "batch"}})
    assert abs(example_zero_grad_norm(bn, x) - example_zero_grad_norm(bn, y)) > 1e-3 * a


@pytest.mark.parametrize("penalty", PER_EXAMPLE_GRADIENT)
def test_batch_norm_asked_for_by_name_is_refused(penalty):
    with pytest.raises(ConfigError) as e:
        resolved(model="dcgan", loss="wgan", penalties={penalty: 1.0}, model_args={"d_norm": "batch"})
    message = str(e.value)
    assert "\n" not in message and f"'{penalty}'" in message and "d_norm=layer" in message
    with pytest.raises(ConfigError, match="d_norm=batch"):
        resolved(model="mlp", loss="ns", penalties={penalty: 1.0}, model_args={"d_norm": "batch"})


def test_batch_norm_stays_without_a_gradient_penalty():
    assert resolved(model="dcgan", loss="ns").model_args["d_norm"] == "batch"
    assert resolved(model="dcgan", loss="wgan-gp", penalties={"gp": 0.0}).model_args["d_norm"] == "batch"
    assert resolved(model="dcgan", loss="ns", penalties={"drift": 0.001}).model_args["d_norm"] == "batch"
    assert (
        resolved(model="dcgan", loss="wgan-gp", model_args={"d_norm": "none"}).model_args["d_norm"] == "none"
    )
    # resolving again (the trainer does) keeps layer norm and does not count it as asked for
    cfg = resolved(model="dcgan", loss="wgan-gp")
    assert config_mod.resolve(cfg).model_args["d_norm"] == "layer"
