"""DCGAN and Lucic networks, image pictures, and a tiny end-to-end MNIST run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import Config
from gankit.errors import ConfigError
from gankit.nets import ModelSpec, build_networks
from gankit.viz.images import image_grid
from gankit.viz.samples import write_samples


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(
    "model, size, channels, classes",
    [
        ("dcgan", 28, 1, 0),
        ("dcgan", 32, 3, 10),
        ("dcgan", 64, 3, 0),
        ("dcgan", 16, 1, 3),
        ("lucic", 28, 1, 0),
        ("lucic", 32, 3, 10),
    ],
)
def test_shapes_and_contract(model, size, channels, classes):
    torch.manual_seed(0)
    spec = ModelSpec((channels, size, size), z_dim=16, num_classes=classes, bounded=True)
    nets = build_networks(model, spec, {})
    G, D = nets["G"], nets["D"]
    z = torch.randn(4, 16)
    y = torch.tensor([0, 1, 2, 0]) if classes else None
    x = G(z, y)
    assert x.shape == (4, channels, size, size) and G.z_dim == 16
    assert x.abs().max() <= 1  # tanh for bounded data
    h = D.features(x, y)
    assert h.shape == (4, D.feature_dim)
    out = D(x, y)
    assert out.shape == (4,)
    torch.testing.assert_close(D.head(h, y), out)
    out.sum().backward()
    assert all(p.grad is not None for p in D.parameters())
    if classes:  # the projection term makes D's output depend on the label
        assert not torch.allclose(D(x, y), D(x, (y + 1) % classes))


def test_dcgan_64_has_the_radford_layout():
    """Parameter counts worked out by hand for z_dim 100, width 64, RGB 64x64 (the PyTorch
    example's networks, plus biases where no norm follows and a linear head)."""
    nets = build_networks("dcgan", ModelSpec((3, 64, 64), z_dim=100, bounded=True), {})
    g = (
        (100 * 512 * 16 + 2 * 512)
        + (512 * 256 * 16 + 2 * 256)
        + (256 * 128 * 16 + 2 * 128)
        + (128 * 64 * 16 + 2 * 64)
        + (64 * 3 * 16 + 3)
    )
    d = (
        (3 * 64 * 16 + 64)
        + (64 * 128 * 16 + 2 * 128)
        + (128 * 256 * 16 + 2 * 256)
        + (256 * 512 * 16 + 2 * 512)
        + (512 * 4 * 4 + 1)
    )
    assert n_params(nets["G"]) == g == 3576707
    assert n_params(nets["D"]) == d
    assert nets["D"].feature_dim == 512 * 4 * 4
    convs = [m for m in nets["G"].modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [tuple(m.weight.shape[:2]) for m in convs] == [
        (100, 512),
        (512, 256),
        (256, 128),
        (128, 64),
        (64, 3),
    ]
    # DCGAN initialisation: N(0, 0.02)
    w = torch.cat([m.weight.flatten() for m in convs])
    assert w.std().item() == pytest.approx(0.02, rel=0.02) and abs(w.mean().item()) < 1e-3


def test_lucic_layout_matches_the_paper():
    nets = build_networks("lucic", ModelSpec((1, 28, 28), z_dim=64, bounded=True), {"d_norm": "none"})
    lin = [m for m in nets["G"].modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in lin] == [(64, 1024), (1024, 128 * 7 * 7)]
    convs = [m for m in nets["D"].modules() if isinstance(m, torch.nn.Conv2d)]
    assert [m.out_channels for m in convs] == [64, 128]
    assert nets["D"].feature_dim == 1024
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in nets["D"].modules())


def test_sizes_the_model_cannot_make_are_config_errors():
    with pytest.raises(ConfigError, match=r"cannot make 48x48.*allowed sizes: 16, 28, 32, 56, 64"):
        build_networks("dcgan", ModelSpec((1, 48, 48), z_dim=8), {})
    with pytest.raises(ConfigError, match="allowed sizes: 28, 32"):
        build_networks("lucic", ModelSpec((1, 64, 64), z_dim=8), {})
    with pytest.raises(ConfigError, match="square images"):
        build_networks("dcgan", ModelSpec((2,), z_dim=8), {})
    with pytest.raises(ConfigError, match="d_norm"):
        build_networks("dcgan", ModelSpec((1, 28, 28), z_dim=8), {"d_norm": "spectral"})


def test_spectral_norm_and_layer_norm_options():
    spec = ModelSpec((1, 32, 32), z_dim=8, bounded=True, spectral_norm=True)
    D = build_networks("dcgan", spec, {"d_norm": "layer", "width": 8})["D"]
    assert any(isinstance(m, torch.nn.GroupNorm) for m in D.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
    assert sum("parametrizations" in n for n, _ in D.named_modules()) >= 4
    assert D(torch.zeros(2, 1, 32, 32)).shape == (2,)


def test_image_grid_places_pixels():
    x = torch.stack([torch.full((1, 2, 2), -1.0), torch.full((1, 2, 2), 1.0)])
    im = image_grid(x, ncol=2, pad=1, scale=1)
    a = torch.from_numpy(np.asarray(im).copy())
    assert im.size == (7, 4) and im.mode == "L"
    assert a[1:3, 1:3].eq(0).all() and a[1:3, 4:6].eq(255).all()
    assert a[0].eq(128).all() and a[:, 3].eq(128).all()
    rgb = image_grid(torch.zeros(5, 3, 8, 8))  # 3 columns, 2 rows, doubled
    assert rgb.mode == "RGB" and rgb.size == ((3 * 10 + 2) * 2, (2 * 10 + 2) * 2)


def mnist_config(data_dir, out, **overrides) -> Config:
    """A tiny DCGAN run on the first MNIST images."""
    kw = dict(
        data="mnist", model="dcgan", data_dir=str(data_dir), batch_size=16, out=str(out), progress="none"
    )
    return Config(**{**kw, **overrides})


def test_three_step_mnist_run_end_to_end(data_dir, tmp_path):
    out = tmp_path / "run"
    from gankit.training.trainer import Trainer

    trainer = Trainer(mnist_config(data_dir, out, data_args={"limit": 512}, steps=3, eval_every=3, n_eval=64))
    trainer.fit()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 3] and rows[-1]["images_seen"] == 48
    assert all(torch.isfinite(torch.tensor([rows[-1]["loss_d"], rows[-1]["loss_g"]])))
    pics = out / "pictures"
    with Image.open(pics / "step-00000003.png") as im:
        assert im.size == ((8 * 30 + 2) * 2,) * 2  # 64 samples, 8 x 8 of 28 px + 2 px padding, doubled
    with Image.open(pics / "progress.gif") as gif:
        assert gif.n_frames == 2
    samples, _ = trainer.generate(10)
    assert samples.shape == (10, 1, 28, 28) and samples.abs().max() <= 1
    path = write_samples(samples, tmp_path / "s.png", "images")
    with Image.open(path) as im:
        assert im.size == ((4 * 30 + 2) * 2, (3 * 30 + 2) * 2)


def test_conditional_training_step_and_one_class_per_column(data_dir, tmp_path):
    from gankit.training.trainer import Trainer
    from gankit.viz.images import draw_image_grid

    cfg = mnist_config(
        data_dir,
        tmp_path,
        data_args={"limit": 256},
        model_args={"width": 8},
        loss="lsgan",
        recipe_args={"conditional": True},
        steps=1,
    )
    trainer = Trainer(cfg)
    logs = trainer.train_step()
    assert torch.isfinite(logs["loss_d"]) and torch.isfinite(logs["loss_g"])
    fake, labels = trainer.generate(20)
    assert labels.tolist() == [i % 10 for i in range(20)]
    path = draw_image_grid(trainer, tmp_path / "grid.png")
    with Image.open(path) as im:
        assert im.size == ((10 * 30 + 2) * 2,) * 2  # 10 classes x 10 samples
