"""Binned divergences count the generator's mass outside the real data's box (and non-finite
samples) in an overflow cell, and kl_binned's smoothing keeps the value on the raw histograms'
scale. Expected values by hand from the histograms."""

from __future__ import annotations

import math

import pytest
import torch

from gankit.data.base import build_dataset
from gankit.metrics.toy import binned_divergences

REAL = torch.tensor([[0.0, 0.0], [1.0, 1.0]])  # bins=2, margin=0: cells 0 and 3


def js_of_moved_fraction(f: float) -> float:
    """JS between P and (1 - f) P + f (mass where P has none), for any P."""
    m_p, m_out = 0.5 * (1 + (1 - f)), 0.5 * f
    kl_p = math.log(1 / m_p)
    kl_q = (1 - f) * math.log((1 - f) / m_p) + f * math.log(f / m_out)
    return 0.5 * kl_p + 0.5 * kl_q


@pytest.mark.parametrize("elsewhere", [[100.0, 100.0], [-5.0, 0.5], [float("nan"), 0.0], [float("inf")] * 2])
def test_mass_outside_the_box_or_non_finite_counts_in_full(elsewhere):
    # 2 of 20 samples on the real points, 18 (90%) outside the box or not finite
    fake = torch.cat([REAL, torch.tensor([elsewhere]).repeat(18, 1)])
    d = binned_divergences(REAL, fake, bins=2, margin=0.0)
    assert d["js_binned"] == pytest.approx(js_of_moved_fraction(0.9), rel=1e-12)
    # q over the 5 cells: (1 + 1/5) / 21 at each real cell
    assert d["kl_binned"] == pytest.approx(math.log(0.5 / (1.2 / 21)), rel=1e-12)


def test_kl_uses_one_pseudo_sample_over_all_cells():
    fake = torch.tensor([[0.0, 0.0]] * 3 + [[float("nan"), float("nan")]])
    d = binned_divergences(REAL, fake, bins=2, margin=0.0)
    q0, q3 = (3 + 0.2) / 5, 0.2 / 5  # 4 samples + 1 pseudo-sample; cell 3 got none
    assert d["kl_binned"] == pytest.approx(0.5 * math.log(0.5 / q0) + 0.5 * math.log(0.5 / q3), rel=1e-12)
    everything_outside = binned_divergences(REAL, torch.full((4, 2), 9.0), bins=2, margin=0.0)
    assert everything_outside["js_binned"] == pytest.approx(math.log(2), rel=1e-12)


def test_25gaussians_scale():
    """2,500 samples as the trainer evaluates. A generator whose samples are the real ones with
    9 more copies moved far away: JS and KL take their closed forms (KL(P || 0.1 P + 0.9 R) =
    log 10 when R is disjoint from P, up to the smoothing's 1e-4). Total collapse onto one mode
    must read far above that (the exact KL is infinite), a fresh sample of the data near 0."""
    ds = build_dataset("25gaussians")
    real = ds.reference(2500).x
    moved = torch.cat([real, (real + 100.0).repeat(9, 1)])
    d = binned_divergences(real, moved)
    assert d["js_binned"] == pytest.approx(js_of_moved_fraction(0.9), rel=1e-9)
    assert d["kl_binned"] == pytest.approx(math.log(10), rel=1e-3)
    g = torch.Generator().manual_seed(1)
    fresh = ds.centres[torch.randint(25, (2500,), generator=g)] + ds.std * torch.randn(2500, 2, generator=g)
    collapsed = ds.centres[12] + ds.std * torch.randn(2500, 2, generator=g)
    good, bad = binned_divergences(real, fresh), binned_divergences(real, collapsed)
    assert good["kl_binned"] < 0.1 and good["js_binned"] < 0.02
    assert bad["kl_binned"] > 2 * math.log(25)
