"""InfoGAN: the mutual-information term by hand, Q on D's body, gradients, resume, the code
accuracy, and the sample CLI's traversal and interpolation grids."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli import main
from gankit.cli.sample_options import interpolation_latent, lerp, slerp
from gankit.config import Config
from gankit.recipes.infogan import best_permutation_accuracy, categorical_nll, gaussian_nll
from gankit.training.trainer import Trainer

LOG_2PI = math.log(2 * math.pi)


def toy_config(tmp_path, **kw) -> Config:
    base = dict(
        data="8gaussians", recipe="infogan", recipe_args={"n_categorical": [3, 2], "n_continuous": 2},
        steps=2, eval_every=2, batch_size=16, n_eval=64, device="cpu", progress="none",
        model_args={"width": 16, "depth": 2}, out=str(tmp_path / "run"),
    )  # fmt: skip
    return Config(**{**base, **kw})


def mnist_config(tmp_path, data_dir, **kw) -> Config:
    base = dict(
        data="mnist", data_dir=str(data_dir), data_args={"limit": 200}, model="dcgan",
        model_args={"width": 4}, recipe="infogan", recipe_args={"code_eval": 100}, z_dim=8,
        steps=1, eval_every=1, batch_size=16, n_eval=32, device="cpu", progress="none",
        out=str(tmp_path / "run"),
    )  # fmt: skip
    return Config(**{**base, **kw})


# --- the mutual-information term ---------------------------------------------------------------
def test_categorical_nll_by_hand():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, -1.0]])
    codes = torch.tensor([0, 2])
    # -log softmax: row 0 code 0: -(2 - log(e^2 + 2)); row 1 code 2: -(-1 - log(1 + e + e^-1))
    want = ((-2 + math.log(math.e**2 + 2)) + (1 + math.log(1 + math.e + math.exp(-1)))) / 2
    assert float(categorical_nll(logits, codes)) == pytest.approx(want, rel=1e-6)


def test_gaussian_nll_by_hand():
    mean = torch.tensor([[0.5, 0.0], [0.0, 0.0]])
    codes = torch.tensor([[1.5, 0.0], [-1.0, 2.0]])
    # std 1: per dim (c - m)^2 / 2 + log(2 pi) / 2; summed over dims, averaged over rows
    sq = (1.0 + 0.0) + (1.0 + 4.0)
    want = (sq / 2 + 4 * LOG_2PI / 2) / 2
    assert float(gaussian_nll(mean, codes)) == pytest.approx(want, rel=1e-6)
    # learned std 2 everywhere: (c - m)^2 / 8 + log 2 + log(2 pi) / 2
    log_std = torch.full_like(mean, math.log(2.0))
    want2 = (sq / 8 + 4 * (math.log(2.0) + LOG_2PI / 2)) / 2
    assert float(gaussian_nll(mean, codes, log_std)) == pytest.approx(want2, rel=1e-6)
    # and it is the density's negative log: compare with torch.distributions
    ref = -torch.distributions.Normal(mean, 2.0).log_prob(codes).sum(1).mean()
    assert float(gaussian_nll(mean, codes, log_std)) == pytest.approx(float(ref), rel=1e-6)


def test_best_permutation_accuracy_on_hand_made_confusions():
    # codes x labels; the best matching is code0->label1, code1->label0, code2->label2: 5 + 4 + 9
    c = [[0, 5, 1], [4, 0, 0], [0, 1, 9]]
    assert best_permutation_accuracy(c) == pytest.approx(18 / 20, abs=1e-12)
    assert best_permutation_accuracy(np.eye(4) * 7) == pytest.approx(1.0, abs=1e-12)
    # 2 codes, 3 labels: code0->label2 (6), code1->label0 (3); 9 of 14
    assert best_permutation_accuracy([[1, 0, 6], [3, 2, 2]]) == pytest.approx(9 / 14, abs=1e-12)
    assert best_permutation_accuracy(np.zeros((3, 3))) == 0.0


# --- the recipe --------------------------------------------------------------------------------
def test_latent_layout_and_noise(tmp_path):
    recipe = Trainer(toy_config(tmp_path)).recipe
    assert recipe.G.z_dim == recipe.noise_dim + 3 + 2 + 2
    latent = recipe.noise(500, "cpu", generator=torch.Generator().manual_seed(0))
    z, cats, cont = recipe.split_latent(latent)
    blocks = latent[:, recipe.noise_dim :]
    assert torch.equal(blocks[:, :3].sum(1), torch.ones(500)) and torch.equal(
        blocks[:, 3:5].sum(1), torch.ones(500)
    )
    assert set(cats[0].tolist()) == {0, 1, 2} and set(cats[1].tolist()) == {0, 1}
    assert cont.min() >= -1 and cont.max() <= 1 and cont.shape == (500, 2)
    assert abs(float(cont.mean())) < 0.1 and float(cont.var()) == pytest.approx(1 / 3, abs=0.05)  # U(-1, 1)
    assert torch.equal(recipe.latent(z, cats, cont), latent)


def test_q_shares_the_discriminator_body(tmp_path):
    trainer = Trainer(toy_config(tmp_path))
    recipe = trainer.recipe
    seen = {}
    head, q = recipe.D.head, recipe.Q.forward
    recipe.D.head = lambda h, y=None: (seen.setdefault("head", h), head(h, y))[1]
    recipe.Q.forward = lambda h: (seen.setdefault("q", h), q(h))[1]
    recipe.begin_step()
    batch = trainer.stream.next()
    recipe.loss("D", batch, 0)
    # MLP D has no batch norm: one D call on cat(real, fake); Q reads the fake rows of that
    # very feature tensor (a view, no second pass through D's body)
    n = batch.x.shape[0]
    assert seen["head"].shape == (2 * n, recipe.D.feature_dim)
    assert seen["q"]._base is seen["head"] or seen["q"]._base is seen["head"]._base
    assert seen["q"].data_ptr() == seen["head"][n:].data_ptr()
    # parameters: Q is in player D only (the reference code), D's body only in D's, Q owns no
    # copy of D's layers
    ids = {p: {id(t) for t in recipe.parameters_of(p)} for p in ("D", "G")}
    q_ids = {id(t) for t in recipe.Q.parameters()}
    body_ids = {id(t) for t in recipe.D.body.parameters()}
    assert q_ids <= ids["D"] and not q_ids & ids["G"] and body_ids <= ids["D"]
    assert not body_ids & ids["G"] and not q_ids & {id(t) for t in recipe.D.parameters()}
    # the loop freezes D's weights and Q during G updates, and never Q during D's
    frozen_g = {id(t) for t in trainer.frozen["G"]}
    assert body_ids <= frozen_g and q_ids <= frozen_g
    assert not q_ids & {id(t) for t in trainer.frozen["D"]}
    opt_ids = {p: {id(t) for g in o.param_groups for t in g["params"]} for p, o in trainer.optimizers.items()}
    assert q_ids <= opt_ids["D"] and not q_ids & opt_ids["G"]


def test_q_in_g_puts_q_in_both_players(tmp_path):
    trainer = Trainer(toy_config(tmp_path, recipe_args={"q_in_g": True}))
    q_ids = {id(t) for t in trainer.recipe.Q.parameters()}
    opt_ids = {p: {id(t) for g in o.param_groups for t in g["params"]} for p, o in trainer.optimizers.items()}
    assert q_ids <= opt_ids["D"] and q_ids <= opt_ids["G"]
    assert not q_ids & {id(t) for t in trainer.frozen["G"]}


def test_a_g_update_leaves_q_unchanged(tmp_path):
    """G's loss carries the information term, but only D's optimizer moves Q."""
    trainer = Trainer(toy_config(tmp_path))
    recipe = trainer.recipe
    before = [p.detach().clone() for p in recipe.Q.parameters()]
    recipe.begin_step()
    loss, _ = recipe.loss("G", trainer.stream.next(), 0)
    trainer._freeze("G")
    trainer.optimizers["G"].zero_grad(set_to_none=True)
    loss.backward()
    trainer.optimizers["G"].step()
    trainer._freeze(None)
    assert all(torch.equal(a, b) for a, b in zip(before, recipe.Q.parameters(), strict=True))


def test_info_loss_gradient_reaches_g_q_and_d_body(tmp_path):
    recipe = Trainer(toy_config(tmp_path)).recipe
    latent = recipe.noise(16, "cpu")
    h = recipe.D.features(recipe.G(latent))
    loss, parts = recipe.info_loss(h, latent)
    assert float(loss.detach()) == pytest.approx(float(parts["info_cat"] + parts["info_cont"]), rel=1e-6)
    loss.backward()

    def nonzero(module):
        return all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())

    assert nonzero(recipe.G) and nonzero(recipe.Q) and nonzero(recipe.D.body)
    assert all(p.grad is None for p in recipe.D.linear.parameters())  # D's own head is not involved


def test_info_term_is_added_to_both_players(tmp_path):
    trainer = Trainer(toy_config(tmp_path, recipe_args={"n_categorical": [3], "lambda_info": 0.5,
                                                        "lambda_cont": 0.1}))  # fmt: skip
    recipe = trainer.recipe
    recipe.begin_step()
    for player in ("D", "G"):
        batch = trainer.stream.next()
        loss, logs = recipe.loss(player, batch, 0)
        base = logs["loss_d" if player == "D" else "loss_g"]
        want = 0.5 * (logs["info_cat"] + 0.1 * logs["info_cont"])
        assert float(logs["info_loss"]) == pytest.approx(float(want), rel=1e-5)
        assert float(loss.detach()) == pytest.approx(float(base + want), rel=1e-5)


@pytest.mark.parametrize("q_norm", ["none", "batch"])
def test_resume_is_bit_identical(tmp_path, q_norm):
    args = {"n_categorical": [3, 2], "n_continuous": 2, "q_norm": q_norm}
    full = Trainer(toy_config(tmp_path, steps=4, out=str(tmp_path / "full"), recipe_args=args))
    has_bn = any(isinstance(m, torch.nn.BatchNorm1d) for m in full.recipe.Q.modules())
    assert has_bn == (q_norm == "batch")
    for _ in range(4):
        full.train_step()
    half = Trainer(toy_config(tmp_path, steps=4, out=str(tmp_path / "half"), recipe_args=args))
    for _ in range(2):
        half.train_step()
    half.save_checkpoint()
    resumed = Trainer.from_run(tmp_path / "half")
    assert resumed.state.step == 2
    for _ in range(2):
        resumed.train_step()
    a, b = full.recipe.state_dict(), resumed.recipe.state_dict()
    assert a.keys() == b.keys() and any(k.startswith("Q.") for k in a)
    assert any(k.startswith("Q.") and "running_mean" in k for k in a) == (q_norm == "batch")
    for k in a:
        assert torch.equal(a[k], b[k]), k


# --- code accuracy with the shipped classifier -----------------------------------------------
class DigitLookup(torch.nn.Module):
    """A stand-in G: the first categorical code c -> a real test image of digit perm[c]."""

    def __init__(self, recipe, images, labels, perm):
        super().__init__()
        self.split, self.perm = recipe.split_latent, perm
        self.by_digit = [images[labels == d] for d in range(10)]
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, latent, y=None):
        _, cats, _ = self.split(latent)
        return torch.stack([self.by_digit[self.perm[c]][i % 10] for i, c in enumerate(cats[0].tolist())])


def test_code_accuracy_finds_the_permutation(tmp_path, data_dir):
    trainer = Trainer(mnist_config(tmp_path, data_dir))
    recipe = trainer.recipe
    assert recipe.classifier == "mnist"
    ref = trainer.dataset.reference(1000)
    perm = [3, 1, 4, 0, 5, 9, 2, 6, 8, 7]
    recipe.G = DigitLookup(recipe, ref.x, ref.y, perm)
    # the shipped LeNet labels real test digits right ~99% of the time, whatever the permutation
    assert recipe.code_accuracy(200) >= 0.95
    assert recipe.stats()["code_accuracy"] >= 0.95
    recipe.G = DigitLookup(recipe, ref.x, ref.y, [3] * 10)  # every code draws a 3
    assert recipe.code_accuracy(200) == pytest.approx(0.1, abs=0.02)


def test_no_code_accuracy_without_a_classifier(tmp_path):
    recipe = Trainer(toy_config(tmp_path)).recipe
    assert recipe.classifier is None and "code_accuracy" not in recipe.stats()


# --- the sample CLI --------------------------------------------------------------------------
def grid_size(rows: int, cols: int, side: int = 28, pad: int = 2, scale: int = 2) -> tuple[int, int]:
    """(width, height) of gankit.viz.images.image_grid's picture."""
    return ((cols * (side + pad) + pad) * scale, (rows * (side + pad) + pad) * scale)


def test_traversal_latent(tmp_path):
    recipe = Trainer(toy_config(tmp_path)).recipe
    latent, ncol = recipe.traversal_latent(steps=5, code=1)
    z, cats, cont = recipe.split_latent(latent)
    assert ncol == 5 and latent.shape[0] == 3 * 5
    assert cats[0].tolist() == [r for r in range(3) for _ in range(5)]
    assert len(set(cats[1].tolist())) == 1 and torch.equal(z, z[:1].expand_as(z))
    assert torch.allclose(cont[:, 1], torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]).repeat(3))
    assert torch.equal(cont[:, 0], cont[:1, 0].expand(15))


def test_slerp_and_lerp():
    a, b = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    t = torch.tensor([0.0, 0.5, 1.0])
    s = slerp(a, b, t)[0]
    torch.testing.assert_close(s[0], a[0])
    torch.testing.assert_close(s[2], b[0])
    torch.testing.assert_close(s[1], torch.tensor([math.sqrt(2), math.sqrt(2)]))  # on the circle of radius 2
    torch.testing.assert_close(lerp(a, b, t)[0][1], torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(slerp(a, 3 * a, t)[0][1], 2 * a[0])  # parallel: linear


def test_sample_cli_traverse_and_interpolate(tmp_path, data_dir, capsys):
    trainer = Trainer(mnist_config(tmp_path, data_dir))
    trainer.fit(progress=False)
    run = str(tmp_path / "run")
    assert (tmp_path / "run" / "pictures" / "traverse.png").exists()
    assert (tmp_path / "run" / "pictures" / "progress.gif").exists()
    out = tmp_path / "t.png"
    assert main(["sample", run, "--traverse", "-o", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size == grid_size(10, 9)
    out = tmp_path / "i.png"
    assert main(["sample", run, "--interpolate", "--rows", "3", "--steps", "4", "-o", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size == grid_size(3, 4)
    # the .npy of an interpolation is G on the interpolated latents
    out = tmp_path / "i.npy"
    assert main(["sample", run, "--interpolate", "lerp", "--rows", "2", "--steps", "3", "-o", str(out)]) == 0
    latent = interpolation_latent(trainer.recipe, 2, 3, 0, "lerp")
    G = trainer.sampling_generator().eval()
    with torch.no_grad():
        want = G(latent)
    np.testing.assert_allclose(np.load(out), want.numpy(), atol=1e-5)
    capsys.readouterr()
    assert main(["sample", run, "--traverse", "--code", "5", "-o", str(out)]) == 2
    assert "--code 5" in capsys.readouterr().err


def test_unknown_q_norm_is_a_config_error(tmp_path):
    from gankit.errors import ConfigError

    with pytest.raises(ConfigError, match="q_norm='layer'; allowed: none, batch"):
        Trainer(toy_config(tmp_path, recipe_args={"q_norm": "layer"}))
