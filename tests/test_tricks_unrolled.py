"""The unrolled GAN's inner optimizer (gankit/tricks/unroll.py): the unrolled steps equal
torch.optim's steps from the D optimizer's current state, G's gradient through them equals
finite differences, the real D and its optimizer are untouched, and resume stays exact."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from test_tricks import straight_and_resumed, trainer_for  # tests/ is on sys.path under pytest

from gankit.tricks.unroll import adam_step, rmsprop_step, sgd_step


def _state_copy(opt):
    return copy.deepcopy(opt.state_dict())


def test_unrolled_adam_steps_equal_torch_adam_from_the_d_optimizers_state(tmp_path):
    k = 3
    tr = trainer_for(tmp_path, {"unrolled": True, "unroll_steps": k}, lr=2e-3)
    for _ in range(3):
        tr.train_step()  # D's Adam now holds moments and step 3
    recipe, opt = tr.recipe, tr.optimizers["D"]
    before_opt, before_d = _state_copy(opt), copy.deepcopy(recipe.D.state_dict())
    assert float(next(iter(opt.state.values()))["step"]) == 3
    real = tr.stream.next().x
    fake = recipe.G(recipe.noise(real.shape[0], "cpu")).detach()
    unrolled, _ = recipe.tricks.unroll(recipe, real, fake, None)

    # Independently: torch.optim.Adam, loaded with the trainer's D optimizer state, on a copy of D.
    D = copy.deepcopy(recipe.D)
    ref = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999), foreach=False)
    ref.load_state_dict(copy.deepcopy(before_opt))  # load shares tensors
    for _ in range(k):
        ref.zero_grad()
        recipe.objective.d_loss(D(real), D(fake)).backward()
        ref.step()
    moved = 0.0
    for name, p in D.named_parameters():
        assert torch.allclose(unrolled[name], p, rtol=1e-5, atol=1e-7), name
        moved += float((p - recipe.D.get_parameter(name)).detach().abs().max())
    assert moved > 1e-3  # the steps matter, so the comparison is not vacuous
    # The real D and its optimizer are untouched.
    after = opt.state_dict()
    for i, st in before_opt["state"].items():
        assert all(torch.equal(st[key], after["state"][i][key]) for key in st)
    assert all(torch.equal(before_d[n], v) for n, v in recipe.D.state_dict().items())


def test_unrolled_loss_follows_the_optimizers_current_learning_rate(tmp_path):
    tr = trainer_for(tmp_path, {"unrolled": True, "unroll_steps": 1})
    recipe = tr.recipe
    real = tr.stream.next().x
    fake = recipe.G(recipe.noise(real.shape[0], "cpu")).detach()
    first = recipe.tricks.unroll(recipe, real, fake, None)[0]
    for group in tr.optimizers["D"].param_groups:
        group["lr"] *= 0.5  # what the loop's schedule does
    half = recipe.tricks.unroll(recipe, real, fake, None)[0]
    for name, p in recipe.D.named_parameters():
        # the first Adam step from zero moments is lr * g / (|g| + eps): halving lr halves it
        assert torch.allclose(half[name] - p, 0.5 * (first[name] - p), rtol=1e-4, atol=1e-9)


def test_g_gradient_through_unrolled_adam_equals_finite_differences():
    """f_K's gradient w.r.t. θ_G through 3 Adam steps with moments (float64 gradcheck), with
    one D coordinate whose gradient is always 0 (second moment 0: no NaN)."""
    torch.manual_seed(0)
    A = torch.randn(4, 2, dtype=torch.float64)
    state0 = {
        "exp_avg": 0.1 * torch.randn(4, dtype=torch.float64),
        "exp_avg_sq": torch.rand(4, dtype=torch.float64) * 0.01,
        "step": 5,
    }
    state0["exp_avg"][3] = 0.0
    state0["exp_avg_sq"][3] = 0.0
    h = {"lr": 0.05, "betas": (0.5, 0.999), "eps": 1e-8}
    mask = torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    theta_d0 = torch.randn(4, dtype=torch.float64)

    def f_k(theta_g):
        d, state = theta_d0.clone().requires_grad_(True), dict(state0)
        for _ in range(3):
            loss_d = F.softplus(-(mask * d) @ (A @ theta_g)) + 0.5 * (mask * d).square().sum()
            (g,) = torch.autograd.grad(loss_d, d, create_graph=True)
            d, state = adam_step(d, g, state, h)
        return F.softplus(-(mask * d) @ (A @ theta_g).tanh())

    theta_g = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f_k, (theta_g,), eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize(
    "make, step",
    [
        (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.5, dampening=0.1, weight_decay=0.01), sgd_step),
        (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.5, nesterov=True), sgd_step),
        (lambda ps: torch.optim.RMSprop(ps, lr=0.01, momentum=0.3), rmsprop_step),
        (lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.5, 0.9), weight_decay=0.1), adam_step),
        (lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.5, 0.9), weight_decay=0.1), adam_step),
    ],
)
def test_differentiable_steps_equal_torch_optim(make, step):
    torch.manual_seed(1)
    p = torch.nn.Parameter(torch.randn(5))
    opt = make([p])
    q, state = p.detach().clone(), {}
    h = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    for _ in range(3):
        g = torch.randn(5)
        p.grad = g.clone()
        opt.step()
        q, state = step(q, g, state, h)
        assert torch.allclose(q, p.detach(), rtol=1e-6, atol=1e-7)


def test_unrolled_adam_resume_is_bit_identical(tmp_path, monkeypatch):
    a, b = straight_and_resumed(tmp_path, monkeypatch, {"unrolled": True, "unroll_steps": 2})
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_unrolled_outside_the_loop_starts_adam_fresh_at_lr_d(tmp_path):
    tr = trainer_for(tmp_path, {"unrolled": True, "unroll_steps": 2}, lr_d=3e-3)
    recipe = tr.recipe
    real = tr.stream.next().x
    fake = recipe.G(recipe.noise(real.shape[0], "cpu")).detach()
    with_view = recipe.tricks.unroll(recipe, real, fake, None)[0]  # the optimizer has no state yet
    recipe.set_optimizer_views({})  # as if built outside the Trainer
    assert recipe.optimizer_view("D") is None
    without = recipe.tricks.unroll(recipe, real, fake, None)[0]
    for name, p in recipe.D.named_parameters():
        assert torch.equal(with_view[name], without[name])
        assert float((with_view[name] - p).detach().abs().max()) > 1e-4


def test_adam_bias_corrections_on_the_device_equal_the_host_floats():
    """A GPU-resident step (fused Adam's state) is used without reading it back; the 0-dim
    float64 terms equal the Python floats of the CPU path (here forced on a CPU tensor)."""
    from gankit.tricks.unroll import bias_corrections

    for step in (0, 1, 7, 1234):
        t, b1c, b2c = bias_corrections(torch.tensor(float(step)), 0.5, 0.999)
        td, b1d, b2d = bias_corrections(torch.tensor(float(step)), 0.5, 0.999, on_device=True)
        assert torch.is_tensor(td) and td.dtype == torch.float64
        assert (float(td), float(b1d), float(b2d)) == pytest.approx((t, b1c, b2c), rel=1e-15)
        assert b1c == pytest.approx(1 - 0.5 ** (step + 1), rel=1e-15)
        assert b2c == pytest.approx((1 - 0.999 ** (step + 1)) ** 0.5, rel=1e-15)
