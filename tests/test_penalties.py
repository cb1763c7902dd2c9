"""Discriminator penalties against hand values.

A linear critic D(x) = <w, x> has the same gradient w at every point, so every
gradient-norm penalty has an exact value: gp = (||w|| - 1)^2, r1 = ||w||^2 / 2, whatever the
interpolation coefficients drawn.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gankit import penalties
from gankit.penalties import PENALTIES

SHAPES = [(2,), (3, 4, 4)]  # 2-D points and (C, H, W) images


def linear_critic(shape, norm: float, seed: int = 0):
    """D(x) = <w, x> with ||w||_2 = norm over the whole sample (flattened)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=g)
    w = w * (norm / w.norm())
    return (lambda x: (x * w).flatten(1).sum(1)), w


def batch(shape, n=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randn(n, *shape, generator=g)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "norm, gp, gp_one_sided, r1",
    [
        (1.0, 0.0, 0.0, 0.5),
        (3.0, 4.0, 4.0, 4.5),  # (3 - 1)^2 = 4, 9 / 2
        (0.5, 0.25, 0.0, 0.125),  # one-sided: no penalty below norm 1
    ],
)
def test_linear_critic_hand_values(shape, norm, gp, gp_one_sided, r1):
    critic, _ = linear_critic(shape, norm)
    real, fake = batch(shape)
    tol = dict(rel=1e-5, abs=1e-6)
    assert float(PENALTIES.get("gp").factory(critic, real, fake)) == pytest.approx(gp, **tol)
    assert float(PENALTIES.get("gp-one-sided").factory(critic, real, fake)) == pytest.approx(
        gp_one_sided, **tol
    )
    assert float(PENALTIES.get("r1").factory(critic, real, fake)) == pytest.approx(r1, **tol)
    # DRAGAN perturbs around the real data; a linear critic's gradient is w everywhere.
    assert float(PENALTIES.get("dragan").factory(critic, real, fake)) == pytest.approx(gp, **tol)


@pytest.mark.parametrize("shape", SHAPES)
def test_gradient_is_flattened_per_example_before_the_norm(shape):
    # D(x) = 0.5 ||x||^2 has gradient x, so the norm is each example's own ||x_hat||. With
    # real == fake the interpolate is the example itself whatever eps is drawn.
    norms = torch.tensor([1.0, 2.0, 3.0, 0.5])
    x = torch.randn(len(norms), *shape, dtype=torch.float64)
    x = (x / x.flatten(1).norm(dim=1).view(-1, *[1] * len(shape)) * norms.view(-1, *[1] * len(shape))).float()
    critic = lambda t: 0.5 * t.flatten(1).pow(2).sum(1)
    gp = penalties.gradient_penalty(critic, x, x.clone()).item()
    assert gp == pytest.approx(mean_of([(n - 1) ** 2 for n in norms.tolist()]), rel=1e-5)  # 0 + 1 + 4 + .25
    one = penalties.one_sided_gradient_penalty(critic, x, x.clone()).item()
    assert one == pytest.approx(mean_of([0.0, 1.0, 4.0, 0.0]), rel=1e-5)
    assert penalties.r1_penalty(critic, x).item() == pytest.approx(
        0.5 * mean_of([n * n for n in norms.tolist()]), rel=1e-5
    )


def mean_of(xs):
    return sum(xs) / len(xs)


@pytest.mark.parametrize("shape", SHAPES)
def test_one_interpolation_coefficient_per_example(shape):
    # real = 1, fake = 0 everywhere: x_hat = eps, so the critic's input shows every eps.
    n = 64
    real, fake = torch.ones(n, *shape), torch.zeros(n, *shape)
    seen = []

    def critic(x):
        seen.append(x.detach().clone())
        return x.flatten(1).sum(1)

    torch.manual_seed(0)
    penalties.gradient_penalty(critic, real, fake)
    (x_hat,) = seen
    flat = x_hat.flatten(1)  # (N, D)
    eps = flat[:, 0]
    assert torch.equal(flat, eps[:, None].expand_as(flat))  # one value within each example
    assert len(torch.unique(eps)) == n  # a fresh value for every example
    assert 0.0 <= float(eps.min()) and float(eps.max()) <= 1.0
    # U[0, 1]: mean 1/2, std 1/sqrt(12) ~ 0.289; 64 draws: mean within ~4.5 standard errors.
    assert float(eps.mean()) == pytest.approx(0.5, abs=4.5 * 0.289 / math.sqrt(n))


@pytest.mark.parametrize("shape", SHAPES)
def test_interpolation_draws_shape_n_1_1(monkeypatch, shape):
    requested = []
    real_rand = torch.rand

    def spy(*size, **kw):
        requested.append(list(size[0]) if len(size) == 1 and not isinstance(size[0], int) else list(size))
        return real_rand(*size, **kw)

    monkeypatch.setattr(torch, "rand", spy)
    real, fake = batch(shape, n=6)
    out = penalties.interpolate(real, fake)
    assert requested == [[6] + [1] * len(shape)]
    assert out.shape == real.shape


def test_interpolate_lies_on_segment():
    real, fake = batch((3, 2, 2), n=4)
    torch.manual_seed(3)
    x_hat = penalties.interpolate(real, fake)
    torch.manual_seed(3)
    eps = torch.rand(4, 1, 1, 1)
    torch.testing.assert_close(x_hat, eps * real + (1 - eps) * fake)


@pytest.mark.parametrize("name", ["gp", "gp-one-sided", "r1", "dragan"])
def test_penalty_gradient_reaches_critic_weights_exactly(name):
    # Linear critic with ||w|| = 3: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 4/3 w;
    # d/dw ||w||^2 / 2 = w. The double backward must reproduce these.
    torch.manual_seed(0)
    D = nn.Linear(4, 1, bias=True)
    with torch.no_grad():
        D.weight.mul_(3.0 / D.weight.norm())
    real, fake = batch((4,), n=8)
    value = PENALTIES.get(name).factory(lambda x: D(x).squeeze(1), real, fake)
    value.backward()
    w = D.weight.detach()
    expected = w if name == "r1" else 4.0 / 3.0 * w
    torch.testing.assert_close(D.weight.grad, expected, rtol=1e-5, atol=1e-6)
    assert D.bias.grad is None or float(D.bias.grad.abs().max()) == 0.0


@pytest.mark.parametrize("name", ["gp", "gp-one-sided", "r1", "dragan"])
def test_penalty_gradient_reaches_nonlinear_critic(name):
    torch.manual_seed(0)
    D = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 8), nn.Tanh(), nn.Linear(8, 1))
    with torch.no_grad():
        D[-1].weight.mul_(20.0)  # make gradient norms > 1 so the one-sided penalty is active
    real, fake = batch((3, 4, 4), n=6)
    value = PENALTIES.get(name).factory(lambda x: D(x).squeeze(1), real, fake)
    assert torch.isfinite(value) and value.item() > 0
    value.backward()
    for p in D.parameters():
        if p.dim() > 1:
            assert p.grad is not None and torch.isfinite(p.grad).all() and float(p.grad.abs().sum()) > 0


def test_dragan_finite_on_constant_and_large_data():
    critic, _ = linear_critic((2,), 2.0)
    real = torch.full((8, 2), 1e4)  # std 0: no perturbation, still finite
    assert torch.isfinite(penalties.dragan_penalty(critic, real))
    D = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    value = penalties.dragan_penalty(lambda x: D(x).squeeze(1), torch.randn(16, 2) * 100)
    value.backward()
    assert torch.isfinite(value)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in D.parameters())
    assert float(D[0].weight.grad.abs().sum()) > 0


def test_dragan_perturbs_within_c_std_of_real():
    real = torch.randn(256, 2)
    seen = []

    def critic(x):
        seen.append(x.detach().clone())
        return x.sum(1)

    penalties.dragan_penalty(critic, real, c=0.5)
    delta = seen[0] - real
    # delta = alpha * 0.5 * std(x) * U[0, 1]: between 0 and 0.5 std, not all zero.
    assert float(delta.min()) >= 0.0
    assert float(delta.max()) <= 0.5 * float(real.std()) + 1e-6
    assert float(delta.max()) > 0.25 * float(real.std())


def test_drift_is_mean_squared_critic_output():
    d_real = torch.tensor([1.0, -2.0, 3.0])
    assert float(penalties.drift_penalty(None, None, None, d_real)) == pytest.approx(14.0 / 3.0)
    critic, w = linear_critic((2,), 1.0)
    real = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    expected = mean_of([float(w[0]) ** 2, (2 * float(w[1])) ** 2])
    assert float(PENALTIES.get("drift").factory(critic, real, None)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", ["gp", "gp-one-sided", "r1", "dragan"])
def test_zero_gradient_critic_keeps_finite_gradients(name):
    # Dead ReLUs: grad_x D = 0 everywhere, where the derivative of ||.|| is undefined. The
    # penalty must be its limit value (gp: (0 - 1)^2 = 1) with finite parameter gradients.
    D = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
    with torch.no_grad():
        D[0].bias.fill_(-100.0)
    real, fake = batch((2,), n=5)
    value = PENALTIES.get(name).factory(lambda x: D(x).squeeze(1), real, fake)
    assert value.item() == pytest.approx({"gp": 1.0, "dragan": 1.0}.get(name, 0.0), abs=1e-7)
    value.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in D.parameters())
