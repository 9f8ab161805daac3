"""Φ, φ, Φ₂ and ReLU moments: compiled kernels against their twins and quadrature."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from ddsolver.models import gaussian as g

TWIN_TOL = 5e-15  # two independent algorithms for Φ₂ (Genz, Owen's T) at double precision
# Owen's T formula divides by √(1 − c²): within 1e-6 of |c| = 1 it keeps only ~13 digits
# (Genz's branch for |c| > 0.925 agrees with scipy's mvn there to 1e-15)
TWIN_TOL_DEGENERATE = 5e-13
QUAD_TOL = 1e-10  # adaptive quadrature with epsabs 1e-13


def test_norm_cdf_and_pdf_match_scipy():
    x = np.linspace(-30, 30, 601)
    # libm's erfc and scipy's ndtr differ by a few 1e-13 relative deep in the lower tail
    np.testing.assert_allclose([g.norm_cdf(v) for v in x], stats.norm.cdf(x), rtol=5e-13, atol=0)
    np.testing.assert_allclose([g.norm_pdf(v) for v in x], stats.norm.pdf(x), rtol=1e-14, atol=0)


def test_bvn_cdf_agrees_with_owens_t_twin(rng):
    n = 4000
    h = rng.normal(0, 2.5, n)
    k = rng.normal(0, 2.5, n)
    c = rng.uniform(-1, 1, n)
    # push a quarter of the correlations to within 1e-10..1e-1 of ±1 (Genz's second branch)
    near = rng.random(n) < 0.25
    c[near] = np.sign(c[near]) * (1 - 10.0 ** rng.uniform(-10, -1, near.sum()))
    fast = np.array([g.bvn_cdf(a, b, r) for a, b, r in zip(h, k, c, strict=True)])
    ref = g.bvn_cdf_ref(h, k, c)
    regular = np.abs(c) < 1 - 1e-6
    np.testing.assert_allclose(fast[regular], ref[regular], rtol=0, atol=TWIN_TOL)
    np.testing.assert_allclose(fast[~regular], ref[~regular], rtol=0, atol=TWIN_TOL_DEGENERATE)


def test_bvn_cdf_near_degenerate_correlation_matches_scipy_mvn():
    for h, k, c in [(0.355, -0.355, -1 + 5e-10), (1.0, -2.0, -0.99), (0.3, 0.2, 1 - 1e-9)]:
        ref = stats.multivariate_normal(cov=[[1, c], [c, 1]]).cdf([h, k])
        assert abs(g.bvn_cdf(h, k, c) - ref) < 1e-14


@pytest.mark.parametrize("c", [-0.95, -0.5, 0.0, 0.3, 0.9, 0.999])
def test_bvn_cdf_against_quadrature(c):
    h, k = 0.4, -0.7
    s = math.sqrt(1 - c * c)
    # P(Z1 < h, Z2 < k) = ∫_{-∞}^h φ(z) Φ((k − c z)/s) dz
    val, _ = integrate.quad(
        lambda z: stats.norm.pdf(z) * stats.norm.cdf((k - c * z) / s),
        -40,
        h,
        epsabs=1e-14,
        epsrel=1e-13,
    )
    assert abs(g.bvn_cdf(h, k, c) - val) < QUAD_TOL


def test_bvn_special_values():
    for c in (-0.9, -0.3, 0.2, 0.8):
        assert g.bvn_cdf(0.0, 0.0, c) == pytest.approx(
            0.25 + math.asin(c) / (2 * math.pi), abs=1e-15
        )
    assert g.bvn_cdf(0.3, 1.2, 1.0) == pytest.approx(stats.norm.cdf(0.3), abs=1e-15)
    assert g.bvn_cdf(0.3, 1.2, -1.0) == pytest.approx(stats.norm.cdf(0.3) + stats.norm.cdf(1.2) - 1)
    assert g.bvn_cdf(math.inf, 0.5, 0.4) == pytest.approx(stats.norm.cdf(0.5), abs=1e-15)
    assert g.bvn_cdf(-math.inf, 0.5, 0.4) == 0.0


def test_relu_mean_against_quadrature():
    for b, s in [(0.3, 1.2), (-2.0, 0.5), (1.0, 0.0), (-1.0, 0.0)]:
        if s == 0:
            expected = max(b, 0.0)
        else:
            expected, _ = integrate.quad(
                lambda z, b=b, s=s: max(b + s * z, 0) * stats.norm.pdf(z),
                -40,
                40,
                points=[-b / s],
                epsabs=1e-14,
            )
        assert abs(g.relu_mean(b, s) - expected) < QUAD_TOL
        assert abs(g.relu_mean_ref(b, s) - expected) < QUAD_TOL


@pytest.mark.parametrize(("a1", "a2", "c"), [(0.2, -0.4, 0.3), (-1.5, 0.7, -0.8), (1.0, 1.0, 0.97)])
def test_biased_relu_product_against_quadrature_and_twin(a1, a2, c):
    s = math.sqrt(1 - c * c)

    def integrand(z):  # E[(a1 + Z1)+ (a2 + Z2)+ | Z1 = z] with Z2 | z ~ N(cz, s²)
        return max(a1 + z, 0.0) * g.relu_mean(a2 + c * z, s) * stats.norm.pdf(z)

    val, _ = integrate.quad(integrand, -a1, 40, epsabs=1e-14, epsrel=1e-13, limit=200)
    assert abs(g.biased_relu_product(a1, a2, c) - val) < QUAD_TOL * max(1.0, abs(val))
    assert abs(g.biased_relu_product_ref(a1, a2, c) - g.biased_relu_product(a1, a2, c)) < 1e-14


def test_biased_relu_product_degenerate_correlation_is_the_limit():
    for a1, a2 in [(0.3, -0.2), (-0.5, 0.4), (0.7, 0.7)]:
        exact = g.biased_relu_product(a1, a2, 1.0)
        near = g.biased_relu_product(a1, a2, 1.0 - 1e-12)
        assert abs(exact - near) < 1e-6
