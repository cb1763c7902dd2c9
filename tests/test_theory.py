"""Theory lab: SPEC parser, distributions and exact f-divergences against independent forms.

Every expected value here is computed in the test from textbook formulas (numpy, scipy.stats)
or from plain scipy quadrature of numpy densities, never from gankit.theory.
"""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from gankit.errors import ConfigError
from gankit.theory import Laplace, Mixture, Normal, Normal2D, Uniform, parse_spec
from gankit.theory.exact import exact_divergence, gauss_legendre_grid

# --- SPEC parser ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, cls, attrs",
    [
        ("normal(0,1)", Normal, {"mean": 0.0, "std": 1.0}),
        (" normal( -1.5 , 2e-1 ) ", Normal, {"mean": -1.5, "std": 0.2}),
        ("uniform(-1,3)", Uniform, {"a": -1.0, "b": 3.0}),
        ("laplace(.5,2)", Laplace, {"loc": 0.5, "scale": 2.0}),
        ("normal2d(1,-1,0.5,2)", Normal2D, {"mx": 1.0, "my": -1.0, "sx": 0.5, "sy": 2.0, "rho": 0.0}),
        ("normal2d(0,0,1,1,-0.3)", Normal2D, {"rho": -0.3}),
        ("mix(0.3*normal(-2,0.5),0.7*normal(1,1))", Mixture, {"weights": [0.3, 0.7]}),
    ],
)
def test_spec_parses_valid(spec, cls, attrs):
    d = parse_spec(spec)
    assert isinstance(d, cls)
    for k, v in attrs.items():
        assert getattr(d, k) == pytest.approx(v)
    assert parse_spec(d.spec()).spec() == d.spec()  # round trip


def test_spec_nested_mixture_components():
    d = parse_spec("mix(0.5*mix(0.5*normal(0,1),0.5*uniform(0,1)),0.5*laplace(0,1))")
    assert isinstance(d.components[0], Mixture) and isinstance(d.components[1], Laplace)
    assert isinstance(d.components[0].components[1], Uniform)


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("normal(0,)", "column 10"),
        ("normal(0,-1)", "std must be > 0"),
        ("uniform(2,1)", "a < b"),
        ("laplace(0,0)", "scale must be > 0"),
        ("gauss(0,1)", "unknown distribution 'gauss'"),
        ("normal(0,1", "expected ')'"),
        ("normal(0,1) extra", "unexpected text"),
        ("normal(1,2,3)", "takes (mean,std)"),
        ("normal2d(0,0,1,1,1)", "rho must be in (-1, 1)"),
        ("mix(0.3*normal(0,1),0.6*normal(1,1))", "sum to 0.9"),
        ("mix(0.5*normal(0,1),0.5*normal2d(0,0,1,1))", "same dimension"),
        ("mix(-0.5*normal(0,1),1.5*normal(1,1))", "weights must be > 0"),
        ("mix(normal(0,1))", "expected a number"),
        ("__import__('os')", "unknown distribution"),
        ("", "empty"),
    ],
)
def test_spec_rejects_invalid_with_pointer(spec, fragment):
    with pytest.raises(ConfigError) as e:
        parse_spec(spec)
    msg = str(e.value)
    assert fragment in msg and "\n" not in msg


# --- distributions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, mean, var",
    [
        ("normal(1,2)", 1.0, 4.0),
        ("uniform(-1,3)", 1.0, 16 / 12),
        ("laplace(0.5,2)", 0.5, 8.0),
        ("mix(0.3*normal(-2,0.5),0.7*normal(1,1))", 0.3 * -2 + 0.7, 0.3 * 4.25 + 0.7 * 2 - 0.1**2),
    ],
)
def test_density_integrates_and_samples_match_moments(spec, mean, var):
    d = parse_spec(spec)
    x, w = gauss_legendre_grid(d, panels=400)
    p = d.log_prob(x).exp()
    assert float((w * p).sum()) == pytest.approx(1.0, abs=1e-8)
    assert float((w * p * x[:, 0]).sum()) == pytest.approx(mean, abs=1e-8)
    s = d.sample(200_000, torch.Generator().manual_seed(0)).double()[:, 0]
    assert float(s.mean()) == pytest.approx(mean, abs=5 * math.sqrt(var / 200_000))
    assert float(s.var()) == pytest.approx(var, rel=0.03)


def test_normal2d_density_matches_scipy_and_gradients_flow():
    d = parse_spec("normal2d(1,-1,0.5,2,0.4)")
    cov = [[0.25, 0.4 * 0.5 * 2], [0.4 * 0.5 * 2, 4.0]]
    pts = np.array([[0.0, 0.0], [1.0, -1.0], [2.0, 1.5]])
    expected = stats.multivariate_normal([1, -1], cov).logpdf(pts)
    x = torch.tensor(pts, requires_grad=True)
    lp = d.log_prob(x)
    np.testing.assert_allclose(lp.detach().numpy(), expected, rtol=1e-12)
    lp.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    s = d.sample(100_000, torch.Generator().manual_seed(1)).double()
    assert float(torch.corrcoef(s.T)[0, 1]) == pytest.approx(0.4, abs=0.01)


# --- exact divergences against independent closed forms -----------------------------------------

PAIRS = [(0.0, 1.0, 1.0, 1.1), (0.0, 1.1, 1.0, 1.0), (0.3, 0.8, -0.4, 1.0)]


def kl_normal(m1, s1, m2, s2):
    return math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


def bhattacharyya(m1, s1, m2, s2):
    return math.sqrt(2 * s1 * s2 / (s1**2 + s2**2)) * math.exp(-((m1 - m2) ** 2) / (4 * (s1**2 + s2**2)))


def chi2_normal(m1, s1, m2, s2):
    """integral p^2/q - 1 for p = N(m1, s1^2), q = N(m2, s2^2) (needs 2 s2^2 > s1^2)."""
    d = 2 * s2**2 - s1**2
    return s2**2 / (s1 * math.sqrt(d)) * math.exp((m1 - m2) ** 2 / d) - 1


def tv_normal(m1, s1, m2, s2):
    """1/2 integral |p - q|, from the crossing points of the two densities and normal cdfs."""
    a = 1 / (2 * s2**2) - 1 / (2 * s1**2)
    b = m1 / s1**2 - m2 / s2**2
    c = m2**2 / (2 * s2**2) - m1**2 / (2 * s1**2) + math.log(s2 / s1)
    roots = sorted(np.roots([a, b, c]).real) if abs(a) > 1e-15 else [-c / b]
    edges = [-math.inf, *roots, math.inf]
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        dp = stats.norm.cdf(hi, m1, s1) - stats.norm.cdf(lo, m1, s1)
        dq = stats.norm.cdf(hi, m2, s2) - stats.norm.cdf(lo, m2, s2)
        total += abs(dp - dq)
    return 0.5 * total


def two_jsd_normal(m1, s1, m2, s2):
    """2 JSD by plain scipy quadrature of numpy densities."""

    def h(x):
        p, q = stats.norm.pdf(x, m1, s1), stats.norm.pdf(x, m2, s2)
        m = (p + q) / 2
        return (p * math.log(p / m) if p > 0 else 0.0) + (q * math.log(q / m) if q > 0 else 0.0)

    return integrate.quad(h, -30, 30, points=[m1, m2], limit=200)[0]


@pytest.mark.parametrize("m1, s1, m2, s2, numerical", [(*pair, i == 0) for i, pair in enumerate(PAIRS)])
def test_exact_gaussian_divergences_match_independent_forms(m1, s1, m2, s2, numerical):
    P, Q = Normal(m1, s1), Normal(m2, s2)
    expected = {
        "kl": kl_normal(m1, s1, m2, s2),
        "rkl": kl_normal(m2, s2, m1, s1),
        "hellinger": 2 * (1 - bhattacharyya(m1, s1, m2, s2)),
        "pearson": chi2_normal(m1, s1, m2, s2),
        "neyman": chi2_normal(m2, s2, m1, s1),
        "tv": tv_normal(m1, s1, m2, s2),
        "js": two_jsd_normal(m1, s1, m2, s2),
        "gan": two_jsd_normal(m1, s1, m2, s2) - math.log(4),
    }
    for name, want in expected.items():
        got, method = exact_divergence(name, P, Q)
        assert got == pytest.approx(want, rel=1e-7, abs=1e-9), name
        if not numerical:
            continue
        # The numerical path (a one-component mixture is not recognized as Gaussian) agrees too.
        got_num, method_num = exact_divergence(name, Mixture([1.0], [P]), Q)
        assert method_num == "quad"
        assert got_num == pytest.approx(want, rel=1e-6, abs=1e-9), name


def test_exact_non_gaussian_cases():
    # KL between Laplaces: log(b2/b1) + |dm|/b2 + (b1/b2) exp(-|dm|/b1) - 1.
    kl = exact_divergence("kl", Laplace(0, 1), Laplace(1, 2))[0]
    assert kl == pytest.approx(math.log(2) + 0.5 + 0.5 * math.exp(-1) - 1, rel=1e-8)
    # Disjoint halves of two uniforms: TV 1/2, 2 JSD = log 2, squared Hellinger 1, KL infinite.
    U1, U2 = Uniform(0, 1), Uniform(0.5, 1.5)
    assert exact_divergence("tv", U1, U2)[0] == pytest.approx(0.5, abs=1e-9)
    assert exact_divergence("js", U1, U2)[0] == pytest.approx(math.log(2), abs=1e-9)
    assert exact_divergence("hellinger", U1, U2)[0] == pytest.approx(1.0, abs=1e-8)
    assert exact_divergence("kl", U1, U2)[0] == math.inf
    # KL(U(0,1) || N(0,1)) = -H(U) - E_U[log phi] = 0.5 log(2 pi) + E[x^2]/2 = 0.5 log(2 pi) + 1/6.
    assert exact_divergence("kl", U1, Normal(0, 1))[0] == pytest.approx(
        0.5 * math.log(2 * math.pi) + 1 / 6, rel=1e-8
    )
    # Pearson chi^2 diverges when 2 s_q^2 <= s_p^2, on the numerical path too.
    assert exact_divergence("pearson", Mixture([1.0], [Normal(0, 1)]), Normal(0, 0.7))[0] == math.inf
    assert exact_divergence("pearson", Mixture([1.0], [Normal(0, 1)]), Normal(0, 0.75))[0] == pytest.approx(
        chi2_normal(0, 1, 0, 0.75), rel=1e-6
    )


def test_exact_2d_gaussians():
    P, Q = Normal2D(0, 0, 1, 1.2, 0.3), Normal2D(1, 0.5, 1.2, 1, 0)
    m1, m2 = np.zeros(2), np.array([1.0, 0.5])
    S1 = np.array([[1, 0.36], [0.36, 1.44]])
    S2 = np.diag([1.44, 1.0])
    S2i = np.linalg.inv(S2)
    kl = 0.5 * (
        np.trace(S2i @ S1) + (m2 - m1) @ S2i @ (m2 - m1) - 2 + math.log(np.linalg.det(S2) / np.linalg.det(S1))
    )
    assert exact_divergence("kl", P, Q) == (pytest.approx(kl, rel=1e-10), "closed-form")
    # Same y-marginal, independent coordinates: p/q depends on x only, so the 2-D f-divergence
    # equals the 1-D one of the x-marginals (here 2 JSD, by scipy quad of numpy densities).
    got, method = exact_divergence("js", Normal2D(0, 0, 1, 1), Normal2D(1, 0, 1.2, 1))
    assert method == "gauss-legendre-grid"
    assert got == pytest.approx(two_jsd_normal(0, 1, 1, 1.2), rel=1e-7)


def test_unknown_divergence_and_dimension_mismatch():
    with pytest.raises(ConfigError, match="choose one of"):
        exact_divergence("wasserstein", Normal(0, 1), Normal(1, 1))
    with pytest.raises(ConfigError, match="same dimension"):
        exact_divergence("kl", Normal(0, 1), Normal2D(0, 0, 1, 1))
