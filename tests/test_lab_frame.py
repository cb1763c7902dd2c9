"""The lab's frames against independent computations: the generator's push by finite
differences, the heat map at grid nodes, D* = p/(p+q) from scipy, the exact KL in closed form."""

from __future__ import annotations

import copy
import math

import pytest
import torch

pytest.importorskip("starlette")

from gankit.lab import frame as F  # noqa: E402
from gankit.lab.session import History, LabSession  # noqa: E402


def small(**kw):
    return LabSession({"model_args": {"width": 16}, "batch_size": 64, **kw})


def fd_grad(fn, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Central finite differences of a scalar function of each row of x (N, d), in float64."""
    g = torch.zeros_like(x)
    for j in range(x.shape[1]):
        e = torch.zeros_like(x)
        e[:, j] = eps
        g[:, j] = (fn(x + e) - fn(x - e)) / (2 * eps)
    return g


@pytest.mark.parametrize(
    "loss, push_of",
    [
        # ns: G minimizes mean softplus(-v); -d/dx softplus(-v(x)) = sigmoid(-v) dv/dx
        ("ns", lambda v, dv: torch.sigmoid(-v)[:, None] * dv),
        # wgan: G minimizes -mean v; the push is dv/dx
        ("wgan", lambda v, dv: dv),
        # minimax: G minimizes mean log(1 - sigmoid(v)) = -mean softplus(v); push = sigmoid(v) dv/dx
        ("minimax", lambda v, dv: torch.sigmoid(v)[:, None] * dv),
    ],
)
def test_generator_push_matches_finite_differences(loss, push_of):
    s = small(loss=loss)
    s.control("step", steps=3)
    t = s.trainer
    gen = torch.Generator().manual_seed(3)
    real, fake = torch.randn(60, 2, generator=gen), torch.randn(60, 2, generator=gen)
    push = F.generator_push(t.recipe, real, fake).double()
    D = copy.deepcopy(t.recipe.D).double().eval()
    x = fake.double()
    with torch.no_grad():
        v = D(x).flatten()
        dv = fd_grad(lambda y: D(y).flatten(), x)
    expected = push_of(v, dv)
    assert torch.allclose(push, expected, rtol=1e-3, atol=1e-5 * float(expected.abs().max()))


def test_heat_map_rows_are_y_and_values_are_sigmoid_of_d():
    s = small()
    s.control("step", steps=2)
    lo, hi, res = [-2.0, -1.0], [2.0, 3.0], 9
    heat = F.heat_map(s.trainer, lo, hi, res)
    assert heat["meaning"] == "probability" and len(heat["values"]) == res * res
    D = s.trainer.recipe.D.eval()
    for row, col in [(0, 0), (0, 8), (8, 0), (3, 5)]:
        x = lo[0] + col * (hi[0] - lo[0]) / (res - 1)
        y = lo[1] + row * (hi[1] - lo[1]) / (res - 1)
        with torch.no_grad():
            want = torch.sigmoid(D(torch.tensor([[x, y]]))).item()
        assert heat["values"][row * res + col] == pytest.approx(want, abs=6e-4)


def test_theory_optimum_and_exact_kl_of_two_normals():
    from scipy.stats import norm

    s = small(data="dist:normal(1,0.5)", recipe="critic", loss="fgan-kl", recipe_args={"q": "normal(0,1)"})
    th = s.frame["theory"]
    # KL(N(1, 0.5) || N(0, 1)) = log(1/0.5) + (0.5^2 + 1^2) / 2 - 1/2
    assert th["exact"] == pytest.approx(math.log(2) + (0.25 + 1) / 2 - 0.5, rel=1e-9)
    xs = torch.tensor(th["xs"], dtype=torch.float64)
    p, q = norm.pdf(xs, 1, 0.5), norm.pdf(xs, 0, 1)
    # T* = f'(p/q) = 1 + log(p/q) for KL (x is sent to 4 decimals: |d T*/dx| < 15 on the box)
    t_star = 1 + torch.log(torch.as_tensor(p / q))
    assert torch.allclose(torch.tensor(th["optimum"], dtype=torch.float64), t_star, atol=1e-3)
    assert th["curve_label"].startswith("T(x)")
    # The variational bound never exceeds the divergence; training raises it.
    start = th["estimate"]
    s.control("step", steps=150)
    after = s.frame["theory"]["estimate"]
    assert start <= th["exact"] + 1e-6 and after <= th["exact"] + 1e-6
    assert after > start + 0.1


def test_bound_equals_sampled_bound():
    """The quadrature bound equals E_P[g(v)] - E_Q[f*(g(v))] estimated by sampling."""
    from gankit.objectives.fgan import DIVERGENCES, variational_bound
    from gankit.theory.spec import parse_spec

    s = small(data="dist:normal(1,0.5)", recipe="critic", loss="fgan-hellinger")
    s.control("step", steps=20)
    P, Q = parse_spec("normal(1,0.5)"), parse_spec("normal(0,1)")
    gen = torch.Generator().manual_seed(0)
    n = 400_000
    v_p = F.critic_values(s.trainer, P.sample(n, gen))
    v_q = F.critic_values(s.trainer, Q.sample(n, gen))
    sampled = float(variational_bound(DIVERGENCES["hellinger"], v_p, v_q))
    spread = float(
        DIVERGENCES["hellinger"].activation(v_p).std()
        + DIVERGENCES["hellinger"].conjugate_of_activation(v_q).std()
    )
    assert F.bound("hellinger", s.trainer, P, Q) == pytest.approx(sampled, abs=5 * spread / math.sqrt(n))


def test_gaussian_fit_optimum_uses_the_generators_gaussian():
    from scipy.stats import norm

    s = small(data="dist:normal(1,0.5)", recipe="gaussian-fit", loss="ns")
    s.control("step", steps=5)
    G = s.trainer.recipe.G
    mean, std = float(G.mean.detach()), float(G.log_std.detach().exp())
    th = s.frame["theory"]
    xs = torch.tensor(th["xs"], dtype=torch.float64)
    p, q = norm.pdf(xs, 1, 0.5), norm.pdf(xs, mean, std)
    d_star = torch.as_tensor(p / (p + q))
    assert torch.allclose(torch.tensor(th["optimum"], dtype=torch.float64), d_star, atol=1e-3)
    assert th["divergence"].startswith("GAN")  # ns's value is the bound of 2 JSD - log 4


def test_history_thins_and_rounded_is_json_safe():
    h = History(cap=10)
    for i in range(25):
        h.add(i, {"a": float(i)})
    assert len(h.rows) <= 10 and h.rows[0][0] == 0
    c = h.curves(n=4)
    assert len(c["step"]) <= 4 and c["a"] == [float(s) for s in c["step"]]
    assert F.rounded(torch.tensor([1.23456, float("nan"), float("inf")]), 2) == [1.23, None, None]


def _objectives():
    from gankit import registries

    return registries.OBJECTIVES.names()


@pytest.mark.parametrize("loss", _objectives())
def test_every_objective_draws_or_says_why(loss):
    from gankit.errors import ConfigError

    try:
        s = small(loss=loss)
    except ConfigError as e:  # a clear refusal is fine (e.g. an energy D has no points model)
        assert str(e) and "\n" not in str(e)
        return
    s.control("step", steps=2)
    f = s.frame
    assert f["step"] == 2 and f["objective"] == loss and f["error"] is None
    assert len(f["heat"]["values"]) == 48 * 48 and all(v is not None for v in f["heat"]["values"])
    assert len(f["arrows"]["push"]) == 2 * 60 and all(v is not None for v in f["arrows"]["push"])


@pytest.mark.parametrize(
    "tricks",
    [
        {"pack": 2},
        {"minibatch_disc": 4},
        {"mbstd": 4},
        {"feature_matching": "replace"},
        {"unrolled": True, "unroll_steps": 2},
        {"hist_avg_d": 0.1},
    ],
)
def test_anti_collapse_options_draw(tricks):
    s = small(recipe_args=tricks)
    s.control("step", steps=2)
    f = s.frame
    assert f["error"] is None and f["arrows"] is not None
    assert all(v is not None for v in f["arrows"]["push"]) and any(v != 0 for v in f["arrows"]["push"])
