"""Progressive growing: layers, networks, schedule, recipe and exact resume (tiny, CPU)."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from gankit.config import Config
from gankit.data.base import DATASETS, Batch, Dataset, TensorStream
from gankit.errors import ConfigError
from gankit.nets.base import ModelSpec, build_networks
from gankit.nets.layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm
from gankit.recipes.progressive import stage_at
from gankit.training.trainer import Trainer

TINY_IMAGES = "_tiny-images-8"


class TinyImages(Dataset):
    """64 deterministic 8x8 one-channel images in [-1, 1]: a bright square at varying places."""

    kind = "images"
    sample_shape = (1, 8, 8)
    default_z_dim = 8

    def __init__(self, opts=None, data_dir=None):
        x = torch.full((64, 1, 8, 8), -1.0)
        for i in range(64):
            r, c = (i // 8) % 5, i % 5
            x[i, 0, r : r + 4, c : c + 4] = 1.0
        self.x = x

    def stream(self, batch_size, seed, rank=0, world_size=1):
        return TensorStream({"x": self.x}, batch_size, seed, rank, world_size)

    def reference(self, n, seed=0):
        return Batch(self.x[:n])

    def evaluate(self, fake, labels=None):
        return {"mean_pixel": float(fake.mean())}


if TINY_IMAGES not in DATASETS:
    DATASETS.register(TINY_IMAGES)(TinyImages)


def tiny_cfg(tmp_path, **kw) -> Config:
    base = dict(
        data=TINY_IMAGES,
        steps=6,
        batch_size=4,
        eval_every=3,
        n_eval=8,
        progress="none",
        device="cpu",
        out=str(tmp_path / "run"),
    )
    base.update(kw)
    return Config(**base)


def params(trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.recipe.state_dict().items()}


def assert_resume_exact(tmp_path, monkeypatch, n: int, k: int, **kw) -> Trainer:
    """Training n steps equals training k, checkpointing, resuming and training n - k.

    Pictures are switched off: they cost most of the time and are tested elsewhere."""
    import gankit.viz.pictures

    monkeypatch.setattr(gankit.viz.pictures, "draw_run_pictures", lambda trainer, folder: {})
    full = Trainer(tiny_cfg(tmp_path, out=str(tmp_path / "full"), steps=n, eval_every=k, **kw))
    full.fit(progress=False)
    Trainer(tiny_cfg(tmp_path, out=str(tmp_path / "part"), steps=k, eval_every=k, **kw)).fit(progress=False)
    resumed = Trainer.from_run(tmp_path / "part", overrides={"steps": n})
    assert resumed.state.step == k
    resumed.fit(progress=False)
    a, b = params(full), params(resumed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    if full.ema is not None:
        for pa, pb in zip(full.ema.state_dict().values(), resumed.ema.state_dict().values(), strict=True):
            assert torch.equal(pa, pb)
    return resumed


# --- layers ------------------------------------------------------------------------------
def test_equalized_layers_scale_weights_by_he_constant():
    torch.manual_seed(0)
    conv = EqualizedConv2d(3, 40, 3, padding=1)
    fan_in = 3 * 3 * 3
    assert conv.scale == pytest.approx(math.sqrt(2 / fan_in), rel=1e-12)
    x = torch.randn(2, 3, 5, 5)
    expected = F.conv2d(x, conv.weight * math.sqrt(2 / 27), conv.bias, padding=1)
    torch.testing.assert_close(conv(x), expected, rtol=1e-6, atol=1e-6)
    # Stored weights are N(0, 1): 1080 draws, std within 10% of 1.
    assert 0.9 < float(conv.weight.detach().std()) < 1.1
    lin = EqualizedLinear(50, 7)
    assert lin.scale == pytest.approx(math.sqrt(2 / 50), rel=1e-12)
    h = torch.randn(4, 50)
    torch.testing.assert_close(lin(h), h @ (lin.weight * math.sqrt(2 / 50)).T, rtol=1e-6, atol=1e-6)


def test_minibatch_stddev_hand_example():
    # Four samples, one channel, 1x2 pixels. Group 4: per pixel, population std over the batch.
    x = torch.tensor([1.0, 2.0, 4.0, 8.0]).view(4, 1, 1, 1).repeat(1, 1, 1, 2)
    x[:, :, :, 1] *= 3  # second pixel: 3, 6, 12, 24 (std three times as large)
    layer = MinibatchStdDev(group_size=4, eps=0.0)
    out = layer(x)
    assert out.shape == (4, 2, 1, 2)
    torch.testing.assert_close(out[:, :1], x)
    std = math.sqrt(((1 - 3.75) ** 2 + (2 - 3.75) ** 2 + (4 - 3.75) ** 2 + (8 - 3.75) ** 2) / 4)
    torch.testing.assert_close(out[:, 1], torch.full((4, 1, 2), (std + 3 * std) / 2))
    # Group 2: sample n is grouped with n + 2 -> {1, 4} (std 1.5) and {2, 8} (std 3).
    out2 = MinibatchStdDev(group_size=2, eps=0.0)(x[:, :, :, :1])
    torch.testing.assert_close(out2[:, 1, 0, 0], torch.tensor([1.5, 3.0, 1.5, 3.0]))
    # A batch of 3 with group 4 falls back to the largest divisor (3).
    assert MinibatchStdDev(4).group(3) == 3 and MinibatchStdDev(4).group(6) == 3


def test_pixel_norm_unit_rms():
    x = torch.randn(3, 16, 4, 4) * 7 + 2
    y = PixelNorm()(x)
    torch.testing.assert_close(y.square().mean(1), torch.ones(3, 4, 4), rtol=1e-5, atol=1e-5)
    # Direction unchanged: y is a positive multiple of x at every pixel.
    ratio = y / x
    assert (ratio > 0).all()
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))


# --- networks ----------------------------------------------------------------------------
def _progan(size=16, bounded=True):
    torch.manual_seed(0)
    spec = ModelSpec(sample_shape=(1, size, size), z_dim=8, bounded=bounded)
    return build_networks("progan", spec, {"fmap_base": 64, "fmap_max": 8})


def test_progan_shapes_and_fade_endpoints():
    nets = _progan(16)
    G, D = nets["G"], nets["D"]
    assert G.n_levels == 3
    z = torch.randn(4, 8)
    for level in range(3):
        x = G(z, level=level, alpha=1.0)
        assert x.shape == (4, 1, 4 * 2**level, 4 * 2**level)
        assert D(x, level=level, alpha=1.0).shape == (4,)
    # alpha = 0: the new level's output is the previous level's, nearest-upsampled.
    low = G(z, level=1, alpha=1.0)
    torch.testing.assert_close(G(z, level=2, alpha=0.0), F.interpolate(low, scale_factor=2, mode="nearest"))
    # ... and D at alpha = 0 sees the image average-pooled at the previous level.
    x = torch.randn(4, 1, 16, 16)
    torch.testing.assert_close(D(x, level=2, alpha=0.0), D(F.avg_pool2d(x, 2), level=1, alpha=1.0))
    # alpha in between interpolates G's pre-tanh outputs linearly.
    G.bounded = False
    a0, a1, ah = (G(z, level=2, alpha=a) for a in (0.0, 1.0, 0.25))
    torch.testing.assert_close(ah, 0.75 * a0 + 0.25 * a1, rtol=1e-5, atol=1e-5)


def test_progan_torgb_is_linear_as_in_the_official_code():
    """G ends in the 1x1 toRGB conv, no tanh (tkarras/progressive_growing_of_gans); ``tanh=true``
    keeps the tanh for data in [-1, 1]."""
    spec = ModelSpec(sample_shape=(1, 16, 16), z_dim=8, bounded=True)
    torch.manual_seed(0)
    G = build_networks("progan", spec, {"fmap_base": 64, "fmap_max": 8})["G"]
    torch.manual_seed(0)
    G_tanh = build_networks("progan", spec, {"fmap_base": 64, "fmap_max": 8, "tanh": True})["G"]
    z = torch.randn(4, 8)
    with torch.no_grad():
        for net in (G, G_tanh):
            net.to_rgb[2].bias.fill_(3.0)  # push the output past 1
        x, x_tanh = G(z), G_tanh(z)
    assert float(x.max()) > 1.0  # linear: nothing squashes it
    torch.testing.assert_close(x_tanh, torch.tanh(x))


def test_progan_refuses_bad_sizes_and_began_loss():
    with pytest.raises(ConfigError, match="power of two"):
        build_networks("progan", ModelSpec(sample_shape=(1, 28, 28), z_dim=8))
    with pytest.raises(ConfigError, match="--model began"):
        build_networks("progan", ModelSpec(sample_shape=(1, 8, 8), z_dim=8, d_output="energy"))


# --- schedule ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "images, expected",
    [
        (0, (0, 1.0)),
        (99, (0, 1.0)),  # stable 4x4 for 100 images
        (100, (1, 0.0)),
        (150, (1, 0.25)),
        (299, (1, 0.995)),  # 8x8 fades in over 200
        (300, (1, 1.0)),
        (399, (1, 1.0)),  # stable 8x8
        (400, (2, 0.0)),
        (500, (2, 0.5)),  # 16x16 fades in
        (600, (2, 1.0)),
        (10**9, (2, 1.0)),  # the last level stays
    ],
)
def test_schedule_hand_points(images, expected):
    level, alpha = stage_at(images, 0, 3, fade=200, stable=100)
    assert level == expected[0]
    assert alpha == pytest.approx(expected[1], abs=1e-12)


def test_schedule_start_res_and_no_fade():
    assert stage_at(0, 1, 3, fade=200, stable=100) == (1, 1.0)
    assert stage_at(100, 1, 3, fade=200, stable=100) == (2, 0.0)
    assert stage_at(5, 0, 3, fade=0, stable=5) == (1, 1.0)


# --- recipe ------------------------------------------------------------------------------
PROGAN = dict(
    model="progan",
    recipe="progressive",
    loss="wgan-gp",
    n_critic=1,
    ema=0.9,
    model_args={"fmap_base": 32, "fmap_max": 8},
    recipe_args={"fade_images": 16, "stable_images": 8},
)


def test_progressive_follows_schedule_and_blends_real(tmp_path):
    t = Trainer(tiny_cfg(tmp_path, steps=0, **PROGAN))
    r = t.recipe
    assert r.penalties.keys() == {"gp", "drift"} and r.penalties["drift"][1] == pytest.approx(0.001)
    seen = []
    for _ in range(9):  # batch 4: stable 2 steps, fade 4 steps, then 8x8
        t.train_step()
        seen.append((r.resolution, float(r.alpha)))
    # set_progress runs at the start of a step with the images seen before it.
    assert seen == [
        (4, 1.0),
        (4, 1.0),
        (8, 0.0),
        (8, 0.25),
        (8, 0.5),
        (8, 0.75),
        (8, 1.0),
        (8, 1.0),
        (8, 1.0),
    ]
    assert t.recipe.stats()["resolution"] == 8.0
    # Real batch at 8x8, alpha 0.25: lerp(upsample(avgpool(x)), x, 0.25), by hand on one image.
    r.set_progress(0, 8 + 4)
    assert (r.resolution, float(r.alpha)) == (8, 0.25)
    x = torch.arange(64.0).view(1, 1, 8, 8)
    coarse = x.view(1, 1, 4, 2, 4, 2).mean((3, 5)).repeat_interleave(2, 2).repeat_interleave(2, 3)
    torch.testing.assert_close(r.real_at_stage(x), 0.75 * coarse + 0.25 * x)
    # Samples are upsampled to the data size.
    r.set_progress(0, 0)
    assert r.sample(torch.randn(2, 8)).shape == (2, 1, 8, 8)


def test_unused_blocks_get_no_gradient(tmp_path):
    t = Trainer(tiny_cfg(tmp_path, steps=0, **PROGAN))
    before = params(t)
    t.train_step()  # 4x4 only
    after = params(t)
    assert torch.equal(before["G.to_rgb.1.weight"], after["G.to_rgb.1.weight"])
    assert torch.equal(before["D.from_rgb.1.weight"], after["D.from_rgb.1.weight"])
    assert not torch.equal(before["G.to_rgb.0.weight"], after["G.to_rgb.0.weight"])
    assert not torch.equal(before["D.from_rgb.0.weight"], after["D.from_rgb.0.weight"])


def test_progressive_resume_mid_fade_is_exact(tmp_path, monkeypatch):
    # Checkpoint at step 3: 12 images seen, 8x8 fading in at alpha 0.25.
    resumed = assert_resume_exact(tmp_path, monkeypatch, n=6, k=3, **PROGAN)
    assert (resumed.recipe.resolution, float(resumed.recipe.alpha)) == (8, 0.75)
    # The step-3 checkpoint holds the stage its last step trained at (step 2: 8 images, alpha 0).
    state = torch.load(tmp_path / "full" / "checkpoints" / "step-00000003.pt", weights_only=True)
    assert int(state["recipe"]["level"]) == 1 and float(state["recipe"]["alpha"]) == 0.0
    rows = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["resolution"], r["alpha"]) for r in rows] == [
        (0, 4.0, 1.0),
        (3, 8.0, 0.0),
        (6, 8.0, 0.75),
    ]


def test_progressive_refusals(tmp_path):
    with pytest.raises(ConfigError, match="growing model"):
        Trainer(tiny_cfg(tmp_path, model="began", loss="began", recipe="progressive", steps=0))
    with pytest.raises(ConfigError, match="start_res"):
        Trainer(tiny_cfg(tmp_path, **{**PROGAN, "recipe_args": {"start_res": 6}}, steps=0))
    # Explicit penalties win over the recipe's drift default.
    t = Trainer(tiny_cfg(tmp_path, **PROGAN, penalties={"gp": 10.0, "drift": 0.0}, steps=0))
    assert set(t.recipe.penalties) == {"gp"}


def test_growth_picture_rows_and_resume_truncation(tmp_path):
    from gankit.viz.growth import append_row, pick_rows

    store = tmp_path / "growth.npz"
    imgs = torch.zeros(2, 1, 8, 8)
    for step, res in [(0, 4), (3, 4), (6, 8), (9, 8)]:
        rows = append_row(store, step, res, 1.0, imgs)
    assert rows["step"].tolist() == [0, 3, 6, 9]
    rows = append_row(store, 6, 8, 0.5, imgs)  # resumed from step 3: rows 6 and 9 are replaced
    assert rows["step"].tolist() == [0, 3, 6] and rows["alpha"].tolist() == [1.0, 1.0, 0.5]
    res = torch.tensor([4] * 10 + [8] * 10 + [16] * 10).numpy()
    chosen = pick_rows(res, max_rows=5)
    assert len(chosen) == 5 and {9, 19, 29} <= set(chosen) and chosen == sorted(chosen)


def test_progressive_run_draws_growth(tmp_path, monkeypatch):
    import gankit.viz.pictures

    monkeypatch.setattr(gankit.viz.pictures, "draw_metric_curves", lambda *a, **k: None)  # saves time
    Trainer(tiny_cfg(tmp_path, steps=4, eval_every=2, **PROGAN)).fit(progress=False)
    pics = tmp_path / "run" / "pictures"
    from PIL import Image

    with Image.open(pics / "growth.png") as im:
        assert im.height > 3 * 16  # three evaluations: steps 0, 2, 4
    import numpy as np

    with np.load(pics / "growth.npz") as rows:
        assert rows["step"].tolist() == [0, 2, 4]
        assert rows["res"].tolist() == [4, 4, 8]
        assert rows["alpha"].tolist() == [1.0, 1.0, 0.25]


def test_minibatch_std_makes_plain_recipe_call_d_separately(tmp_path):
    t = Trainer(
        tiny_cfg(
            tmp_path, model="progan", loss="wgan-gp", steps=0, model_args={"fmap_base": 32, "fmap_max": 8}
        )
    )
    assert t.recipe.joint_d_call is False  # real and fake must not share minibatch-std groups
    assert t.recipe.sample(torch.randn(2, 8)).shape == (2, 1, 8, 8)  # full size under plain


def test_channels_match_the_papers_table_2():
    from gankit.nets.progan import ProGANOptions, channels

    opts = ProGANOptions(fmap_base=8192, fmap_max=512)
    got = [channels(opts, 4 * 2**i) for i in range(9)]  # 4 ... 1024
    assert got == [512, 512, 512, 512, 256, 128, 64, 32, 16]


def test_exported_generator_samples_at_the_runs_resolution(tmp_path, monkeypatch):
    import gankit.viz.pictures
    from gankit.export import export_generator, load_generator

    monkeypatch.setattr(gankit.viz.pictures, "draw_run_pictures", lambda trainer, folder: {})
    t = Trainer(tiny_cfg(tmp_path, steps=3, eval_every=3, **PROGAN))
    t.fit(progress=False)
    gen = load_generator(export_generator(t, tmp_path / "G.safetensors"))
    assert gen.recipe.stage() == (1, 0.25)  # the stage of the next step: 12 images seen
    assert gen.sample(2).shape == (2, 1, 8, 8)
