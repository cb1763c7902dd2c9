"""Conditional generation: D's label conditioning (projection or concatenation), training on
labeled MNIST with mlp and dcgan, and ``gankit sample --class K``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gankit.cli import main
from gankit.cli.sample_options import sample_labels
from gankit.config import Config
from gankit.errors import ConfigError, GankitError
from gankit.nets import ModelSpec, build_networks
from gankit.nets.conditioning import concat_label
from gankit.training.trainer import Trainer


def mnist_config(tmp_path, data_dir, model="mlp", cond_d="projection", **kw) -> Config:
    model_args = {"width": 32, "depth": 1} if model == "mlp" else {"width": 4}
    base = dict(
        data="mnist", data_dir=str(data_dir), data_args={"limit": 200}, model=model,
        model_args={**model_args, "cond_d": cond_d}, recipe_args={"conditional": True}, z_dim=8,
        steps=2, eval_every=2, batch_size=16, n_eval=32, device="cpu", progress="none",
        out=str(tmp_path / "run"),
    )  # fmt: skip
    return Config(**{**base, **kw})


def test_concat_label_vectors_and_images():
    y = torch.tensor([2, 0])
    x = torch.zeros(2, 5)
    out = concat_label(x, y, 3)
    assert torch.equal(out[:, 5:], torch.tensor([[0.0, 0, 1], [1, 0, 0]]))
    img = torch.randn(2, 1, 4, 4)
    out = concat_label(img, y, 3)  # (N, C + K, H, W)
    assert out.shape == (2, 4, 4, 4) and torch.equal(out[:, :1], img)
    assert torch.equal(out[0, 3], torch.ones(4, 4)) and torch.equal(out[0, 1:3], torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="pass labels"):
        concat_label(img, None, 3)


@pytest.mark.parametrize("model, shape", [("mlp", (6,)), ("dcgan", (1, 16, 16)), ("lucic", (1, 28, 28))])
def test_cond_d_concat_and_projection(model, shape):
    spec = ModelSpec(shape, z_dim=4, num_classes=3, bounded=True)
    torch.manual_seed(0)
    proj = build_networks(model, spec, {"cond_d": "projection"})["D"]
    torch.manual_seed(0)
    cat = build_networks(model, spec, {"cond_d": "concat"})["D"]
    x, y = torch.randn(4, *shape), torch.tensor([0, 1, 2, 0])
    first = next(m for m in cat.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    first_p = next(m for m in proj.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    # concat: 3 more inputs (features or channels) in the first layer, no label embedding in the head
    n_in = first.in_features if isinstance(first, torch.nn.Linear) else first.in_channels
    n_in_p = first_p.in_features if isinstance(first_p, torch.nn.Linear) else first_p.in_channels
    assert n_in == n_in_p + 3
    assert not any(isinstance(m, torch.nn.Embedding) for m in cat.modules())
    assert any(isinstance(m, torch.nn.Embedding) for m in proj.modules())
    for D in (proj, cat):
        D.eval()
        out = D(x, y)
        assert out.shape == (4,)
        assert not torch.allclose(out, D(x, (y + 1) % 3))  # the label matters
        torch.testing.assert_close(D.head(D.features(x, y), y), out)
    # concat: the label only enters through the body's input
    h = cat.features(x, y)
    assert not torch.allclose(h, cat.features(x, (y + 1) % 3))


def test_cond_d_option_is_checked():
    with pytest.raises(ConfigError, match="cond_d"):
        build_networks("mlp", ModelSpec((2,), z_dim=2, num_classes=2), {"cond_d": "film"})


def test_sample_labels():
    assert sample_labels(5, 0, None) is None
    assert sample_labels(5, 3, None).tolist() == [0, 1, 2, 0, 1]
    assert sample_labels(4, 10, 3).tolist() == [3] * 4
    with pytest.raises(GankitError, match="classes 0 to 9"):
        sample_labels(4, 10, 10)
    with pytest.raises(GankitError, match="conditional run"):
        sample_labels(4, 0, 3)


@pytest.mark.parametrize("model, cond_d", [("mlp", "projection"), ("mlp", "concat"), ("dcgan", "concat")])
def test_conditional_training_on_mnist(tmp_path, data_dir, model, cond_d):
    trainer = Trainer(mnist_config(tmp_path, data_dir, model, cond_d))
    seen = []
    G_forward = trainer.recipe.G.forward
    trainer.recipe.G.forward = lambda z, y=None: (seen.append(y), G_forward(z, y))[1]
    before = [p.detach().clone() for p in trainer.recipe.parameters()]
    for _ in range(2):
        logs = trainer.train_step()
        assert all(np.isfinite(float(v)) for v in logs.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.recipe.parameters()))
    # G always got the labels of the real batch it was matched with
    assert seen and all(y is not None and y.shape == (16,) and y.dtype == torch.int64 for y in seen)


def test_sample_class_cli(tmp_path, data_dir, capsys):
    trainer = Trainer(mnist_config(tmp_path, data_dir, "dcgan", "projection", steps=1))
    trainer.train_step()
    trainer.save_checkpoint()
    run = str(tmp_path / "run")
    out = tmp_path / "three.npy"
    assert main(["sample", run, "--class", "3", "-n", "12", "--seed", "5", "-o", str(out)]) == 0
    got = np.load(out)
    G = trainer.sampling_generator().eval()
    z = trainer.recipe.noise(12, "cpu", generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want3 = G(z, torch.full((12,), 3))
        want0 = G(z, torch.zeros(12, dtype=torch.int64))
    assert got.shape == (12, 1, 28, 28)
    np.testing.assert_allclose(got, want3.numpy(), atol=1e-5)
    assert not np.allclose(got, want0.numpy(), atol=1e-3)  # the label reached G
    # the same through an exported generator
    weights = tmp_path / "G.safetensors"
    assert main(["export", run, "-o", str(weights)]) == 0
    out2 = tmp_path / "three-exported.npy"
    assert (
        main(
            ["sample", "--weights", str(weights), "--class", "3", "-n", "12", "--seed", "5", "-o", str(out2)]
        )
        == 0
    )
    np.testing.assert_allclose(np.load(out2), got, atol=1e-5)
    png = tmp_path / "three.png"
    assert main(["sample", run, "--class", "3", "-n", "16", "-o", str(png)]) == 0 and png.stat().st_size > 0
    # without --class: the classes in turn
    assert main(["sample", run, "-n", "10", "--seed", "5", "-o", str(out)]) == 0
    z = trainer.recipe.noise(10, "cpu", generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        np.testing.assert_allclose(np.load(out), G(z, torch.arange(10)).numpy(), atol=1e-5)
    capsys.readouterr()
    assert main(["sample", run, "--class", "10", "-n", "4", "-o", str(out)]) == 2
    assert "classes 0 to 9" in capsys.readouterr().err
    assert main(["sample", run, "--traverse", "-o", str(png)]) == 2
    assert "infogan" in capsys.readouterr().err


def test_short_conditional_training_draws_the_asked_class(tmp_path, data_dir):
    """500 steps of a conditional MLP GAN on 5,000 MNIST digits (about 5 s of one core): the
    shipped LeNet labels most ``--class 3`` samples 3 and most samples of each class right
    (measured 0.87 for the classes in turn at this step; chance is 0.1)."""
    from gankit.metrics.features import load_classifier

    cfg = mnist_config(
        tmp_path, data_dir, "mlp", "projection", data_args={"limit": 5000}, z_dim=16,
        model_args={"width": 256, "depth": 2}, steps=500, batch_size=64,
    )  # fmt: skip
    torch.manual_seed(0)
    trainer = Trainer(cfg)
    for _ in range(cfg.steps):
        trainer.train_step()
    trainer.save_checkpoint()
    out = tmp_path / "threes.npy"
    assert main(["sample", str(tmp_path / "run"), "--class", "3", "-n", "200", "-o", str(out)]) == 0
    clf = load_classifier("mnist")
    with torch.no_grad():
        threes = clf.logits(torch.from_numpy(np.load(out))).argmax(1)
        ys = torch.arange(500) % 10
        pred = clf.logits(trainer.sample(500, seed=1, y=ys)).argmax(1)
    assert float((threes == 3).float().mean()) >= 0.6
    assert float((pred == ys).float().mean()) >= 0.6
