"""The pure metrics against closed forms, independent computations and hand-worked cases."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from gankit.metrics import (
    classifier_score,
    density_coverage,
    distances,
    frechet_distance,
    frechet_distance_from_stats,
    kernel_distance,
    precision_recall,
)
from gankit.metrics.distances import histogram_kl_to_uniform


def correlated_gaussian(rng, n, mean, d=4):
    a = rng.normal(size=(d, d))
    return rng.normal(size=(n, d)) @ a.T + mean  # covariance a a^T


# --- FID ---------------------------------------------------------------------------------------
def test_fid_identical_sets_is_zero():
    x = correlated_gaussian(np.random.default_rng(0), 500, 0.0, d=6)
    assert abs(frechet_distance(x, x)) < 1e-9


def test_fid_of_a_shifted_copy_is_the_squared_shift():
    # Same noise shifted by delta: identical covariances, means exactly delta apart.
    rng = np.random.default_rng(1)
    x = correlated_gaussian(rng, 300, 0.0)
    delta = np.array([3.0, -1.0, 0.5, 2.0])
    assert frechet_distance(x, x + delta) == pytest.approx(delta @ delta, rel=1e-9)


def test_fid_of_independent_gaussians_with_equal_covariance_is_the_squared_mean_distance():
    # Closed form: FID(N(m1, S), N(m2, S)) = |m1 - m2|^2 = 9. Sampling error at n = 20,000 with
    # S = I: the cross term 2 delta.(e1 - e2) has std 2 sqrt(9 * 2 / n) = 0.06, the mean and
    # covariance biases are O(d / n) = 4e-4, so 0.25 is a 4-sigma band.
    rng = np.random.default_rng(2)
    n, d = 20_000, 4
    delta = np.array([3.0, 0.0, 0.0, 0.0])
    a = rng.normal(size=(n, d))
    b = rng.normal(size=(n, d)) + delta
    assert frechet_distance(a, b) == pytest.approx(9.0, abs=0.25)


def test_fid_one_dimensional_closed_form():
    # W2^2 between N(m1, s1^2) and N(m2, s2^2) is (m1 - m2)^2 + (s1 - s2)^2.
    got = frechet_distance_from_stats([1.0], [[4.0]], [-2.0], [[0.25]])
    assert got == pytest.approx(9.0 + (2.0 - 0.5) ** 2, rel=1e-12)


def test_fid_matches_an_independent_symmetric_square_root():
    # Tr sqrt(S1 S2) = Tr sqrt(sqrt(S1) S2 sqrt(S1)), the latter symmetric PSD: eigh only.
    rng = np.random.default_rng(3)
    a = correlated_gaussian(rng, 400, 0.0, d=5)
    b = correlated_gaussian(rng, 300, 1.0, d=5) * 0.7
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(w)) @ v.T
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ s2 @ root1), 0, None)).sum()
    expected = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-9)


def test_fid_retries_with_an_offset_when_the_root_is_not_finite(monkeypatch):
    calls, real_sqrtm = [], scipy.linalg.sqrtm

    def fake_sqrtm(m):
        calls.append(m)
        return np.full_like(m, np.nan) if len(calls) == 1 else real_sqrtm(m)

    monkeypatch.setattr(distances.scipy.linalg, "sqrtm", fake_sqrtm)
    s1, s2 = np.diag([1.0, 2.0]), np.diag([3.0, 4.0])
    got = frechet_distance_from_stats(np.zeros(2), s1, np.zeros(2), s2, eps=1e-3)
    assert len(calls) == 2
    np.testing.assert_allclose(calls[1], (s1 + 1e-3 * np.eye(2)) @ (s2 + 1e-3 * np.eye(2)))
    # Tr(S1 + S2) - 2 Tr sqrt((S1 + eps)(S2 + eps)) with diagonal matrices
    expected = 10.0 - 2 * (math.sqrt(1.001 * 3.001) + math.sqrt(2.001 * 4.001))
    assert got == pytest.approx(expected, rel=1e-12)


def test_fid_imaginary_part_of_the_root(monkeypatch):
    s = np.eye(2)
    monkeypatch.setattr(distances.scipy.linalg, "sqrtm", lambda m: m + 1e-6j)
    assert frechet_distance_from_stats(np.zeros(2), s, np.zeros(2), s) == pytest.approx(0.0, abs=1e-12)
    monkeypatch.setattr(distances.scipy.linalg, "sqrtm", lambda m: m + 0.1j)
    with pytest.raises(ValueError, match="imaginary"):
        frechet_distance_from_stats(np.zeros(2), s, np.zeros(2), s)


# --- KID ---------------------------------------------------------------------------------------
def brute_force_mmd2(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written as explicit loops."""
    m, d = len(x), x.shape[1]

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / m**2


def test_kid_matches_a_brute_force_computation_on_whole_sets():
    x = np.array([[0.0, 1.0], [1.0, 2.0], [-1.0, 0.0], [2.0, 2.0]])
    y = np.array([[1.0, 1.0], [0.0, -2.0], [3.0, 1.0], [1.0, 0.0]])
    mean, std = kernel_distance(x, y, subsets=7, subset_size=10)
    assert mean == pytest.approx(brute_force_mmd2(x, y), rel=1e-9)
    assert std == 0.0


def test_kid_subsets_match_brute_force_mean_and_std():
    rng = np.random.default_rng(4)
    x = rng.integers(-3, 4, size=(7, 3)).astype(float)
    y = rng.integers(-2, 5, size=(9, 3)).astype(float)
    draws = np.random.RandomState(11)
    values = []
    for _ in range(5):
        ix = draws.choice(7, 4, replace=False)
        iy = draws.choice(9, 4, replace=False)
        values.append(brute_force_mmd2(x[ix], y[iy]))
    mean, std = kernel_distance(x, y, subsets=5, subset_size=4, seed=11)
    assert mean == pytest.approx(np.mean(values), rel=1e-9)
    assert std == pytest.approx(np.std(values), rel=1e-9)


def test_kid_from_full_kernels_matches_brute_force_per_subset():
    # Subsets of 20 of 24 and 22 rows, 30 of them: the full kernel matrices once cost fewer
    # operations than each subset's own, so kernel_distance reads the subsets' sums off them.
    rng = np.random.default_rng(6)
    x = rng.integers(-3, 4, size=(24, 2)).astype(float)
    y = rng.integers(-2, 5, size=(22, 2)).astype(float)
    assert (24 * 24 + 22 * 22 + 24 * 22) * (2 + 30) < 30 * 3 * 20 * 20 * 2  # the full-kernel path
    draws = np.random.RandomState(3)
    values = []
    for _ in range(30):
        ix = draws.choice(24, 20, replace=False)
        iy = draws.choice(22, 20, replace=False)
        values.append(brute_force_mmd2(x[ix], y[iy]))
    mean, std = kernel_distance(x, y, subsets=30, subset_size=20, seed=3)
    assert mean == pytest.approx(np.mean(values), rel=1e-9)
    assert std == pytest.approx(np.std(values), rel=1e-9)


def test_kid_paths_agree_on_a_large_problem():
    # 800 samples of 16 features, 50 subsets of 400 (the shape of the MNIST evaluation's 2,500 x
    # 128, 100 x 1,000, smaller): the full-kernel path against each subset's own MMD^2, as
    # computed before that path existed.
    from gankit.metrics.distances import mmd2_unbiased

    g = torch.Generator().manual_seed(0)
    x = torch.randn(800, 16, dtype=torch.float64, generator=g)
    y = torch.randn(800, 16, dtype=torch.float64, generator=g) * 1.1 + 0.05
    draws = np.random.RandomState(0)
    values = []
    for _ in range(50):
        ix = torch.from_numpy(draws.choice(800, 400, replace=False))
        iy = torch.from_numpy(draws.choice(800, 400, replace=False))
        values.append(mmd2_unbiased(x[ix], y[iy]))
    mean, std = kernel_distance(x, y, subsets=50, subset_size=400)
    assert mean == pytest.approx(np.mean(values), rel=1e-10)
    assert std == pytest.approx(np.std(values), rel=1e-8)


def test_kid_is_near_zero_for_one_distribution_where_the_biased_estimate_is_not():
    # Same distribution: the unbiased estimator has mean 0. Its spread at m = 500, d = 8 is a
    # few 1e-3; keeping the diagonal adds 2 (E k(x,x) - E k(x,y)) / m, 0.037 on these sets.
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8))
    mean, std = kernel_distance(a, b, subsets=20, subset_size=500)
    assert abs(mean) < 0.01
    assert 0 < std < 0.02
    x, y = a[:500], b[:500]
    diag = (((x * x).sum(1) / 8 + 1) ** 3).mean() + (((y * y).sum(1) / 8 + 1) ** 3).mean()
    off = ((x @ x.T / 8 + 1) ** 3).sum() + ((y @ y.T / 8 + 1) ** 3).sum() - 500 * diag
    biased = (off + 500 * diag) / 500**2 - 2 * ((x @ y.T / 8 + 1) ** 3).mean()
    assert biased > 0.03
    assert brute_force_mmd2(x[:20], y[:20]) == pytest.approx(kernel_distance(x[:20], y[:20])[0], rel=1e-9)


# --- precision / recall (closed balls) -----------------------------------------------------------
REAL_1D = [0.0, 1.0, 2.0, 3.0, 10.0]


@pytest.mark.parametrize(
    "k, precision, recall",
    [
        # real k-NN radii: k=1 [1,1,1,1,7], k=2 [2,1,1,2,8], k=3 [3,2,2,3,9]
        # fake {-1.5, .5, 4.5, 5} radii: k=1 [2,2,.5,.5], k=2 [6,4,4,4.5], k=3 [6.5,4.5,6,6.5]
        (1, 0.75, 0.6),  # -1.5 outside every real ball; 3 and 10 outside every fake ball
        (2, 1.0, 0.8),  # -1.5 in [-2, 2]; 10 still outside (largest fake ball ends at 9.5)
        (3, 1.0, 1.0),
    ],
)
def test_precision_recall_hand_worked_1d(k, precision, recall):
    fake = [-1.5, 0.5, 4.5, 5.0]
    assert precision_recall(REAL_1D, fake, k=k) == (pytest.approx(precision), pytest.approx(recall))


def test_precision_counts_points_on_a_ball_boundary():
    # k=1: the ball of 0 is [-1, 1]; -1 is on its boundary (the authors' code uses <=).
    assert precision_recall(REAL_1D, [-1.0, -1.0001], k=1)[0] == pytest.approx(0.5)


def test_precision_recall_identical_sets():
    x = np.random.default_rng(6).normal(size=(300, 16))
    assert precision_recall(x, x, k=3) == (1.0, 1.0)


def test_precision_recall_disjoint_sets():
    x = np.random.default_rng(7).normal(size=(100, 4))
    assert precision_recall(x, x + 100.0, k=3) == (0.0, 0.0)


# --- density / coverage (open balls) -------------------------------------------------------------
@pytest.mark.parametrize(
    "k, density, coverage",
    [
        # k=1, radii [1,1,1,1,7]: .5 in balls of 0,1; 2.5 in balls of 2,3; 18 (8 from 10) in none
        # -> 4 / (1 * 4); 10's nearest fake is 8 away > 7 -> coverage 4/5
        (1, 1.0, 0.8),
        # k=2, radii [2,1,1,2,8]: .5 in 0,1; 2.5 in 2,3,10 (7.5 < 8); 18 sits ON 10's ball
        # boundary (8), which is open -> out -> 5 / (2 * 4); every real has a fake within its radius
        (2, 0.625, 1.0),
    ],
)
def test_density_coverage_hand_worked_1d(k, density, coverage):
    fake = [0.5, 2.5, 18.0, 20.0]
    assert density_coverage(REAL_1D, fake, k=k) == (pytest.approx(density), pytest.approx(coverage))


def test_density_coverage_identical_sets():
    # Each real point's open ball holds itself and its k-1 nearer neighbours: k per point.
    x = np.random.default_rng(8).normal(size=(500, 32))
    assert density_coverage(x, x, k=5) == (1.0, 1.0)


def test_knn_metrics_need_more_samples_than_k():
    from gankit.errors import ConfigError

    with pytest.raises(ConfigError, match="k="):
        precision_recall([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], k=3)


# --- classifier score ----------------------------------------------------------------------------
def test_classifier_score_confident_uniform_predictions_equal_the_class_count():
    probs = np.tile(np.eye(10), (10, 1))  # 100 one-hot rows, each split holds every class once
    mean, std = classifier_score(probs, splits=10)
    assert mean == pytest.approx(10.0, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_classifier_score_single_class_is_one():
    probs = np.zeros((50, 10))
    probs[:, 3] = 1.0
    assert classifier_score(probs, splits=5) == (pytest.approx(1.0), pytest.approx(0.0))


def test_classifier_score_hand_worked():
    # p(y) = [.75, .25]; KL1 = log(4/3), KL2 = .5 log(2/3) + .5 log 2 = .5 log(4/3)
    mean, _ = classifier_score(np.array([[1.0, 0.0], [0.5, 0.5]]), splits=1)
    assert mean == pytest.approx((4 / 3) ** 0.75, rel=1e-12)


def test_histogram_kl_to_uniform():
    assert histogram_kl_to_uniform([5, 5, 0, 0]) == pytest.approx(math.log(2))
    assert histogram_kl_to_uniform([3, 3, 3]) == pytest.approx(0.0, abs=1e-15)
    assert histogram_kl_to_uniform([7, 0, 0, 0, 0]) == pytest.approx(math.log(5))
