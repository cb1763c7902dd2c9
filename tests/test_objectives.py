"""Every registered objective against values worked out by hand from its formula.

The expected numbers are computed here with ``math`` on Python floats, from the papers'
formulas written the direct way (log of a sigmoid, exp, tanh), independent of the library's
stable forms (softplus, logsigmoid, expm1).
"""

from __future__ import annotations

import math

import pytest
import torch

from gankit.errors import ConfigError
from gankit.objectives import OBJECTIVES, build_objective

REAL = [0.5, -1.2, 2.0, 0.1]  # discriminator outputs on real samples
FAKE = [-0.3, 1.1, -2.5, 0.7]  # ... and on generated samples
# f-GAN activations below take exp(v); keep the hand values well inside float range.


def sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


def approx(x: float):
    return pytest.approx(x, rel=1e-6, abs=1e-9)


def losses(name: str, options: dict | None = None, real=REAL, fake=FAKE):
    obj = build_objective(name, options)
    r = torch.tensor(real, dtype=torch.float64)
    f = torch.tensor(fake, dtype=torch.float64)
    return float(obj.d_loss(r, f)), float(obj.g_loss(f, r))


# --- hand-worked values ------------------------------------------------------------------
# Each entry: name -> (expected d_loss, expected g_loss) on (REAL, FAKE) with default options.


def _logistic_d(real, fake, target=1.0):
    """-E_P[t log D + (1 - t) log(1 - D)] - E_Q[log(1 - D)], D = sigmoid(v)."""
    real_part = mean(-(target * math.log(sig(v)) + (1 - target) * math.log(1 - sig(v))) for v in real)
    return real_part + mean(-math.log(1 - sig(v)) for v in fake)


# f-GAN rows of Nowozin et al. 2016, Table 2: (activation g_f, conjugate f*).
FGAN_TABLE = {
    "kl": (lambda v: v, lambda t: math.exp(t - 1)),
    "rkl": (lambda v: -math.exp(-v), lambda t: -1 - math.log(-t)),
    "pearson": (lambda v: v, lambda t: t * t / 4 + t),
    "neyman": (lambda v: 1 - math.exp(-v), lambda t: 2 - 2 * math.sqrt(1 - t)),
    "hellinger": (lambda v: 1 - math.exp(-v), lambda t: t / (1 - t)),
    "js": (lambda v: math.log(2) - math.log(1 + math.exp(-v)), lambda t: -math.log(2 - math.exp(t))),
    "tv": (lambda v: 0.5 * math.tanh(v), lambda t: t),
    "gan": (lambda v: -math.log(1 + math.exp(-v)), lambda t: -math.log(1 - math.exp(t))),
}


def _fgan(key, generator="alt"):
    g, conj = FGAN_TABLE[key]
    bound = mean(g(v) for v in REAL) - mean(conj(g(v)) for v in FAKE)
    if generator == "alt":
        g_loss = -mean(g(v) for v in FAKE)
    else:
        g_loss = -mean(conj(g(v)) for v in FAKE)
    return -bound, g_loss


def _lsgan(a, b, c):
    d = 0.5 * mean((v - b) ** 2 for v in REAL) + 0.5 * mean((v - a) ** 2 for v in FAKE)
    return d, 0.5 * mean((v - c) ** 2 for v in FAKE)


HAND = {
    "minimax": (_logistic_d(REAL, FAKE), mean(math.log(1 - sig(v)) for v in FAKE)),
    "ns": (_logistic_d(REAL, FAKE), mean(-math.log(sig(v)) for v in FAKE)),
    "hinge": (
        mean(max(0.0, 1 - v) for v in REAL) + mean(max(0.0, 1 + v) for v in FAKE),
        -mean(FAKE),
    ),
    "wgan": (mean(FAKE) - mean(REAL), -mean(FAKE)),
    "wgan-gp": (mean(FAKE) - mean(REAL), -mean(FAKE)),
    "lsgan": _lsgan(0.0, 1.0, 1.0),
    **{f"fgan-{k}": _fgan(k) for k in FGAN_TABLE},
}


def test_hand_values_are_not_trivial():
    # Guards the fixtures: the hand (d_loss, g_loss) pairs differ between objectives, so a test
    # that swapped two objectives' formulas would fail. Two pairs coincide by design: wgan and
    # wgan-gp (same losses, different defaults), and fgan-gan with its default "alt" generator,
    # which is exactly the non-saturating game (Nowozin et al. 2016, sec. 3.2).
    pairs = {(round(d, 9), round(g, 9)) for d, g in HAND.values()}
    assert len(pairs) == len(HAND) - 2
    assert HAND["fgan-gan"][0] == approx(HAND["ns"][0])
    assert HAND["fgan-gan"][1] == approx(HAND["ns"][1])


# Objectives reading BEGAN-style reconstruction energies (>= 0): name -> (options, d, g).
E_REAL, E_FAKE = [0.5, 1.2, 2.0, 0.1], [0.3, 1.1, 2.5, 0.7]
HAND_ENERGY = {
    # L_D = L(x) - k L(G(z)), L_G = L(G(z)) (Berthelot et al. 2017, eq. 4) with k = 0.25.
    "began": ({"k_init": 0.25}, mean(E_REAL) - 0.25 * mean(E_FAKE), mean(E_FAKE)),
}


@pytest.mark.parametrize("name", OBJECTIVES.names())
def test_objective_matches_hand_value(name):
    if name in HAND_ENERGY:
        options, expect_d, expect_g = HAND_ENERGY[name]
        d_loss, g_loss = losses(name, options, real=E_REAL, fake=E_FAKE)
    elif name in HAND:
        (expect_d, expect_g), (d_loss, g_loss) = HAND[name], losses(name)
    else:
        pytest.skip(f"no hand-worked case for {name!r} in this file; its own tests must give one")
    assert d_loss == approx(expect_d)
    assert g_loss == approx(expect_g)


def test_began_k_update_by_hand():
    # k <- clip(k + lambda_k (gamma L(x) - L(G(z))), 0, 1), Berthelot et al. 2017, eq. 4.
    obj = build_objective("began", {"k_init": 0.25, "gamma": 0.5, "lambda_k": 0.1})
    obj.update_state(torch.tensor(E_REAL), torch.tensor(E_FAKE))
    k1 = 0.25 + 0.1 * (0.5 * mean(E_REAL) - mean(E_FAKE))  # 0.25 + 0.1 (0.475 - 1.15) = 0.1825
    assert float(obj.k) == pytest.approx(k1, rel=1e-6)
    obj.update_state(torch.tensor([0.0]), torch.tensor([10.0]))  # would go below 0: clipped
    assert float(obj.k) == 0.0


def test_minimax_and_ns_differ_only_in_generator_loss():
    d_mm, g_mm = losses("minimax")
    d_ns, g_ns = losses("ns")
    assert d_mm == approx(d_ns)
    # Both generator losses decrease as D(G(z)) rises, but only ns has a large gradient where
    # D rejects the fake (v -> -inf): d/dv log(1 - sigmoid(v)) = -sigmoid(v) -> 0 (saturates),
    # d/dv -log sigmoid(v) = -(1 - sigmoid(v)) -> -1.
    v = torch.tensor([-8.0], requires_grad=True)
    (grad_mm,) = torch.autograd.grad(build_objective("minimax").g_loss(v), v)
    (grad_ns,) = torch.autograd.grad(build_objective("ns").g_loss(v), v)
    assert float(grad_mm) == pytest.approx(-sig(-8.0), rel=1e-5)
    assert float(grad_ns) == pytest.approx(-(1 - sig(-8.0)), rel=1e-5)
    assert g_mm != approx(g_ns)


@pytest.mark.parametrize("name", ["minimax", "ns"])
def test_label_smoothing_changes_d_loss_by_hand_amount(name):
    d0, g0 = losses(name)
    d9, g9 = losses(name, {"label_smoothing": 0.9})
    assert d9 == approx(_logistic_d(REAL, FAKE, target=0.9))
    # -(0.9 log s + 0.1 log(1 - s)) + log s = 0.1 log(s / (1 - s)) = 0.1 v per real sample.
    assert d9 - d0 == pytest.approx(0.1 * mean(REAL), rel=1e-6, abs=1e-9)
    assert g9 == approx(g0)  # smoothing is one-sided: only D's real target moves


@pytest.mark.parametrize("value", [0.5, 1.01, -0.1])
def test_label_smoothing_out_of_range_is_refused(value):
    with pytest.raises(ConfigError, match="label_smoothing"):
        build_objective("ns", {"label_smoothing": value})


@pytest.mark.parametrize("v", [-50.0, 50.0])
@pytest.mark.parametrize("name", ["minimax", "ns"])
def test_logistic_losses_finite_for_extreme_logits(name, v):
    x = torch.full((3,), v, requires_grad=True)
    obj = build_objective(name, {"label_smoothing": 0.9})
    for loss in (obj.d_loss(x, x), obj.g_loss(x)):
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
    # D fully wrong: -log sigmoid(-50) = -log(1 - sigmoid(50)) = 50 + log(1 + e^-50), not inf.
    worst = build_objective(name).d_loss(torch.tensor([-50.0]), torch.tensor([50.0]))
    assert float(worst) == pytest.approx(2 * (50.0 + math.log1p(math.exp(-50.0))), rel=1e-6)


# --- lsgan -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, abc",
    [
        ({}, (0.0, 1.0, 1.0)),
        ({"preset": "01"}, (0.0, 1.0, 1.0)),
        ({"preset": "pearson"}, (-1.0, 1.0, 0.0)),
        ({"preset": "pearson", "a": -1.0}, (-1.0, 1.0, 0.0)),  # agrees with the preset
        ({"a": -0.5, "b": 2.0, "c": 0.25}, (-0.5, 2.0, 0.25)),
        ({"preset": "custom", "b": 3.0}, (0.0, 3.0, 1.0)),
    ],
)
def test_lsgan_targets(options, abc):
    obj = build_objective("lsgan", options)
    assert (obj.a, obj.b, obj.c) == abc
    d_loss, g_loss = losses("lsgan", options)
    expect_d, expect_g = _lsgan(*abc)
    assert d_loss == approx(expect_d)
    assert g_loss == approx(expect_g)


def test_lsgan_pearson_hand_numbers():
    # One sample each, worked on paper: D(x) = 0.5, D(G(z)) = -0.3, (a, b, c) = (-1, 1, 0):
    # d = 0.5 (0.5 - 1)^2 + 0.5 (-0.3 + 1)^2 = 0.125 + 0.245 = 0.37;  g = 0.5 (-0.3)^2 = 0.045.
    d_loss, g_loss = losses("lsgan", {"preset": "pearson"}, real=[0.5], fake=[-0.3])
    assert d_loss == approx(0.37)
    assert g_loss == approx(0.045)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"a": 1.0, "b": 1.0}, "equal"),
        ({"preset": "custom", "a": 0.5, "b": 0.5}, "equal"),
        ({"preset": "01", "a": -1.0}, "preset"),
        ({"preset": "pearson", "c": 1.0}, "preset"),
        ({"preset": "pearson", "a": 0.0, "b": 1.0, "c": 1.0}, "preset"),
        ({"preset": "lsq"}, "choose one of"),
    ],
)
def test_lsgan_refuses_bad_targets(options, match):
    with pytest.raises(ConfigError, match=match):
        build_objective("lsgan", options)


def test_lsgan_options_survive_a_resolved_config_round_trip():
    # The resolved config stores a, b, c with the preset; loading it again must be accepted.
    from gankit.config import Config, from_dict, resolve, to_dict

    cfg = resolve(Config(loss="lsgan", loss_args={"preset": "pearson"}))
    assert cfg.loss_args == {"preset": "pearson", "a": -1.0, "b": 1.0, "c": 0.0}
    again = resolve(from_dict(to_dict(cfg)))
    assert again.loss_args == cfg.loss_args


# --- f-GAN generator options and the Wasserstein defaults --------------------------------


@pytest.mark.parametrize("key", sorted(FGAN_TABLE))
def test_fgan_saddle_generator_loss(key):
    _, g_loss = losses(f"fgan-{key}", {"generator": "saddle"})
    assert g_loss == approx(_fgan(key, "saddle")[1])


def test_fgan_generator_option_is_checked():
    with pytest.raises(ConfigError, match="alt or saddle"):
        build_objective("fgan-kl", {"generator": "minimax"})


def test_wasserstein_recommended_defaults():
    wgan = OBJECTIVES.get("wgan").factory.defaults
    assert (wgan.optimizer, wgan.lr_d, wgan.lr_g, wgan.clip, wgan.n_critic) == (
        "rmsprop",
        5e-5,
        5e-5,
        0.01,
        5,
    )
    gp = OBJECTIVES.get("wgan-gp").factory.defaults
    assert gp.penalties == {"gp": 10.0}
    assert (gp.optimizer, gp.lr_d, gp.n_critic, gp.clip) == ("adam", 1e-4, 5, 0.0)
    assert gp.betas in ((0.0, 0.9), (0.5, 0.9))


def test_hinge_margins():
    # Outputs beyond the margins cost nothing: real v >= 1 and fake v <= -1.
    d_loss, _ = losses("hinge", real=[1.0, 3.0], fake=[-1.0, -7.0])
    assert d_loss == 0.0
    d_loss, _ = losses("hinge", real=[0.0], fake=[0.0])
    assert d_loss == approx(2.0)
