"""Relativistic objectives, the R2 penalty and R3GAN's gamma schedule against hand values.

The expected numbers are worked out with ``math`` from the papers' formulas written the direct
way (log of a sigmoid, explicit means), independent of the library's softplus forms.
"""

from __future__ import annotations

import math

import pytest
import torch
from test_objectives import mean, sig
from torch import nn

from gankit.config import Config, resolve
from gankit.errors import ConfigError
from gankit.objectives import build_objective
from gankit.penalties import PENALTIES, GammaSchedule, GammaScheduleOptions, cosine_decay

REAL = [0.5, -1.2, 2.0, 0.1]
FAKE = [-0.3, 1.1, -2.5, 0.7]


def approx(x: float):
    return pytest.approx(x, rel=1e-9, abs=1e-12)


def losses(name, options=None, real=REAL, fake=FAKE):
    obj = build_objective(name, options)
    r, f = torch.tensor(real, dtype=torch.float64), torch.tensor(fake, dtype=torch.float64)
    return float(obj.d_loss(r, f)), float(obj.g_loss(f, r))


def ra_hand(form: str):
    """RaGAN (Jolicoeur-Martineau 2018, sec. 4.2, appendix A) by hand."""
    mr, mf = mean(REAL), mean(FAKE)
    rr = [v - mf for v in REAL]  # C~(x_r)
    rf = [v - mr for v in FAKE]  # C~(x_f)
    if form == "standard":
        d = mean(-math.log(sig(v)) for v in rr) + mean(-math.log(1 - sig(v)) for v in rf)
        g = mean(-math.log(sig(v)) for v in rf) + mean(-math.log(1 - sig(v)) for v in rr)
    elif form == "lsgan":
        d = mean((v - 1) ** 2 for v in rr) + mean((v + 1) ** 2 for v in rf)
        g = mean((v - 1) ** 2 for v in rf) + mean((v + 1) ** 2 for v in rr)
    else:
        d = mean(max(0.0, 1 - v) for v in rr) + mean(max(0.0, 1 + v) for v in rf)
        g = mean(max(0.0, 1 - v) for v in rf) + mean(max(0.0, 1 + v) for v in rr)
    return d, g


def test_rsgan_hand_values():
    # L_D = -E log sigmoid(C(x_r) - C(x_f)), L_G = -E log sigmoid(C(x_f) - C(x_r)), i-th with i-th
    d = mean(-math.log(sig(r - f)) for r, f in zip(REAL, FAKE))
    g = mean(-math.log(sig(f - r)) for r, f in zip(REAL, FAKE))
    assert losses("rsgan") == (approx(d), approx(g))
    assert d != pytest.approx(g)


def test_rpgan_is_r3gans_eq2_with_softplus():
    # L_D = E f(C(x_f) - C(x_r)), L_G = E f(C(x_r) - C(x_f)), f(t) = log(1 + e^t)
    d = mean(math.log(1 + math.exp(f - r)) for r, f in zip(REAL, FAKE))
    g = mean(math.log(1 + math.exp(r - f)) for r, f in zip(REAL, FAKE))
    assert losses("rpgan") == (approx(d), approx(g))
    assert losses("rpgan") == pytest.approx(losses("rsgan"), rel=1e-12)


def test_pairing_uses_rows_not_all_pairs():
    # Swapping the order of the fake rows changes a paired loss (it is not E over all pairs).
    swapped = [FAKE[1], FAKE[0], *FAKE[2:]]
    assert losses("rsgan")[0] != pytest.approx(losses("rsgan", fake=swapped)[0])
    # ... while the average form only sees the other side's mean.
    assert losses("ragan")[0] == pytest.approx(losses("ragan", fake=swapped)[0], rel=1e-12)


@pytest.mark.parametrize("form", ["standard", "lsgan", "hinge"])
def test_ragan_forms_hand_values(form):
    d, g = ra_hand(form)
    got = losses("ragan", {"form": form})
    assert got == (approx(d), approx(g))


def test_ragan_forms_differ_and_bad_form_is_refused():
    assert len({round(ra_hand(f)[0], 9) for f in ("standard", "lsgan", "hinge")}) == 3
    with pytest.raises(ConfigError, match="form='wgan'"):
        build_objective("ragan", {"form": "wgan"})


def test_pairing_refuses_unequal_batches():
    obj = build_objective("rsgan")
    with pytest.raises(ConfigError, match="as many real as fake"):
        obj.d_loss(torch.zeros(4), torch.zeros(3))


@pytest.mark.parametrize("name", ["rsgan", "rpgan", "ragan"])
def test_generator_gradient_flows_through_fake_only(name):
    """In the G update D is frozen and real data carries no gradient: G's gradient comes from
    C(x_f) alone, and equals the hand derivative of the G loss in C(x_f)."""
    obj = build_objective(name)
    r = torch.tensor(REAL, dtype=torch.float64)
    f = torch.tensor(FAKE, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(obj.g_loss(f, r), f)
    n = len(REAL)
    if name == "ragan":  # d/df_i [E softplus(-(f - mean r)) + E softplus(r - mean f)], mean f has 1/n
        mr, mf = mean(REAL), mean(FAKE)
        expect = [-(1 - sig(fi - mr)) / n - mean(sig(rj - mf) for rj in REAL) / n for fi in FAKE]
    else:  # d/df_i softplus(r_i - f_i) / n = -sigmoid(r_i - f_i) / n
        expect = [-sig(ri - fi) / n for ri, fi in zip(REAL, FAKE)]
    assert grad.tolist() == pytest.approx(expect, rel=1e-9)


def test_rpgan_defaults_are_r3gans_recipe():
    cfg = resolve(Config(loss="rpgan"))
    assert cfg.penalties == {"r1": 0.1, "r2": 0.1}
    assert cfg.betas == (0.0, 0.99) and cfg.optimizer == "adam"
    assert resolve(Config(loss="rpgan", penalties={})).penalties == {}


# --- R2 ------------------------------------------------------------------------------------


def test_r2_is_zero_where_the_critic_is_flat_on_fake_data():
    # C(x) = relu(x_0): gradient (1, 0) on x_0 > 0 (real here), 0 where x_0 < 0 (fake here)
    critic = lambda x: torch.relu(x[:, 0])  # noqa: E731
    real = torch.tensor([[1.0, 2.0], [0.5, -1.0]])
    fake = torch.tensor([[-1.0, 3.0], [-2.0, 0.0], [-0.1, 5.0]])
    r2 = PENALTIES.get("r2").factory(critic, real, fake)
    assert float(r2.detach()) == 0.0
    assert float(PENALTIES.get("r1").factory(critic, real, fake).detach()) == pytest.approx(0.5)


def test_r2_quadratic_critic_hand_value():
    # C(x) = 1/2 x^T A x + b^T x: grad = A x + b, R2 = 1/2 mean ||A x + b||^2 over the fake rows
    A = torch.tensor([[2.0, 1.0], [1.0, 3.0]])  # (penalties run in float32)
    b = torch.tensor([0.5, -1.0])
    critic = lambda x: 0.5 * ((x @ A) * x).sum(1) + x @ b  # noqa: E731
    fake = [[1.0, -1.0], [0.0, 2.0], [-0.5, 0.5]]
    grads = [[2 * x + y + 0.5, x + 3 * y - 1.0] for x, y in fake]
    expect = 0.5 * mean(gx * gx + gy * gy for gx, gy in grads)
    got = PENALTIES.get("r2").factory(critic, torch.zeros(3, 2), torch.tensor(fake))
    assert got.item() == pytest.approx(expect, rel=1e-6)


def test_r2_matches_r1_on_swapped_batches():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    critic = lambda x: D(x).squeeze(1)  # noqa: E731
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    r1 = PENALTIES.get("r1").factory(critic, a, b)
    r2 = PENALTIES.get("r2").factory(critic, b, a)
    assert r1.item() == pytest.approx(r2.item(), rel=1e-6) and r1.item() > 0


# --- gamma schedule ------------------------------------------------------------------------


def test_cosine_decay_matches_r3gans_formula():
    # R3GAN training_loop.cosine_decay_with_warmup (no warm-up): base + (1 - d)(final - base),
    # d = (1 + cos(pi t / T)) / 2; final after T
    for t in (0, 250, 500, 999, 1000, 5000):
        d = 0.5 * (1 + math.cos(math.pi * min(t, 1000) / 1000))
        assert cosine_decay(t, 2.0, 0.2, 1000) == pytest.approx(2.0 + (1 - d) * (0.2 - 2.0))
    assert cosine_decay(500, 2.0, 0.2, 1000) == pytest.approx(1.1)


def test_gamma_schedule_factor_and_whole_run_default():
    sched = GammaSchedule(GammaScheduleOptions(gamma_schedule="cosine"), run_images=1000)
    assert sched.factor(0) == 1.0 and sched.factor(1000) == pytest.approx(0.1)
    assert sched.factor(500) == pytest.approx(0.55)
    const = GammaSchedule(GammaScheduleOptions(), run_images=1000)
    assert const.factor(700) == 1.0
    with pytest.raises(ConfigError, match="gamma_schedule='linear'"):
        resolve(Config(loss="rpgan", recipe_args={"gamma_schedule": "linear"}))


def test_gamma_schedule_scales_r1_and_r2_in_the_d_loss():
    """The D loss with the cosine schedule halfway equals the loss with r1, r2 weights scaled
    by the factor by hand."""
    from gankit.data.base import Batch
    from gankit.training.trainer import build

    def d_loss(recipe_args, images):
        cfg = resolve(
            Config(
                data="ring",
                loss="rpgan",
                batch_size=8,
                steps=10,
                penalties={"r1": 2.0, "r2": 3.0, "drift": 0.5},
                model_args={"width": 8, "depth": 1},
                recipe_args=recipe_args,
            )
        )
        torch.manual_seed(0)
        _, recipe = build(cfg)
        recipe.set_progress(0, images)
        recipe.begin_step()
        torch.manual_seed(1)
        loss, logs = recipe.loss("D", Batch(torch.randn(8, 2)), 0)
        return loss.item(), {k: float(v) for k, v in logs.items()}

    cos = {"gamma_schedule": "cosine", "gamma_decay_images": 1000}
    base, logs = d_loss({}, 500)
    halfway, logs_h = d_loss(cos, 500)
    assert logs == pytest.approx(logs_h)  # same batch, same penalty values
    factor = 0.1 + 0.9 * 0.5
    expect = logs["loss_d"] + factor * (2.0 * logs["r1"] + 3.0 * logs["r2"]) + 0.5 * logs["drift"]
    assert halfway == pytest.approx(expect, rel=1e-6)
    assert base == pytest.approx(
        logs["loss_d"] + 2.0 * logs["r1"] + 3.0 * logs["r2"] + 0.5 * logs["drift"], rel=1e-6
    )


def test_gamma_schedule_resume_is_exact(tmp_path):
    from gankit.training.trainer import Trainer

    def cfg(out, steps):
        return Config(
            data="ring",
            loss="rpgan",
            batch_size=16,
            steps=steps,
            eval_every=3,
            n_eval=50,
            progress="none",
            out=str(out),
            model_args={"width": 8, "depth": 1},
            recipe_args={"gamma_schedule": "cosine", "gamma_decay_images": 64},
            lr_schedule="constant",  # the toy preset decays over `steps`, which the two halves differ in
        )

    full = Trainer(cfg(tmp_path / "full", 6))
    full.fit(progress=False)
    half = Trainer(cfg(tmp_path / "half", 3))
    half.fit(progress=False)
    resumed = Trainer.from_run(tmp_path / "half", overrides={"steps": 6})
    resumed.fit(progress=False)
    assert resumed.recipe._gamma_factor == full.recipe._gamma_factor == pytest.approx(0.1)
    a, b = full.recipe.state_dict(), resumed.recipe.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
