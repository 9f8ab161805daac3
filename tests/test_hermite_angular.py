"""Hermite coefficients (Mehler) and the law of the cosine between random directions."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from ddsolver.models import integrals as I
from ddsolver.models.activations import Activation, paper_ramp
from ddsolver.models.angular import cosine_quadrature, even_moments, sample_cosines
from ddsolver.models.hermite import hermite_coefficients, normalised_hermite

DIP = Activation.from_mapping(
    {"kind": "piecewise", "knots": [0.25, 0.6, 1.8], "values": [-2.5, -3.5, 7.5]}
)
MEHLER_TOL = 1e-13  # |c| ≤ 0.6 with 200 terms: the series remainder is below 0.6^200
FD_STEP = 1e-6
FD_TOL = 1e-7
SE_FACTOR = 4.0  # Monte-Carlo checks pass within 4 standard errors


def test_normalised_hermite_is_orthonormal():
    x, w = np.polynomial.hermite_e.hermegauss(120)
    h = normalised_hermite(x, 60)
    gram = (h * (w / w.sum())[:, None]).T @ h
    np.testing.assert_allclose(gram, np.eye(61), atol=1e-12)


@pytest.mark.parametrize(
    "act",
    [paper_ramp(), Activation("relu"), Activation("erf"), Activation("tanh"), DIP],
    ids=lambda a: a.kind,
)
def test_mehler_series_reproduces_pair_moment(act):
    a = np.array([0.0, 0.1, 0.5, 1.3, 2.5])
    b = np.full_like(a, 0.7)
    fa, _ = hermite_coefficients(act, a, 200)
    fb, _ = hermite_coefficients(act, b, 200)
    for c in (-0.6, 0.2, 0.6):
        series = (fa * fb * c ** np.arange(201)).sum(axis=1)
        tol = MEHLER_TOL if act.has_closed_form else 1e-5  # the tanh pair moment is GH-limited
        np.testing.assert_allclose(series, I.pair(act, a, b, c), atol=tol)


@pytest.mark.parametrize("act", [paper_ramp(), Activation("sigmoid"), DIP], ids=lambda a: a.kind)
def test_hermite_coefficients_against_quadrature(act):
    a = 1.7
    coef, _ = hermite_coefficients(act, np.array([a]), 12)
    for k in (0, 1, 2, 5, 12):
        hk = lambda z, k=k: normalised_hermite(np.array([z]), k)[0, k]  # noqa: E731
        kinked = act.kind in ("ramp", "piecewise")
        pts = [t / a for t in act.kink_structure()[0]] if kinked else None
        val, _ = integrate.quad(
            lambda z, hk=hk: act(a * z) * hk(z) * stats.norm.pdf(z),
            -40,
            40,
            points=pts,
            epsabs=1e-14,
            limit=400,
        )
        assert abs(coef[0, k] - val) < 1e-11


@pytest.mark.parametrize(
    "act", [paper_ramp(), Activation("relu"), Activation("erf"), DIP], ids=lambda a: a.kind
)
def test_hermite_coefficient_derivatives(act):
    a = np.array([0.3, 0.9, 2.2])
    _, d = hermite_coefficients(act, a, 40)
    up, _ = hermite_coefficients(act, a + FD_STEP, 40)
    down, _ = hermite_coefficients(act, a - FD_STEP, 40)
    np.testing.assert_allclose(d, (up - down) / (2 * FD_STEP), atol=FD_TOL)


def test_even_moments_closed_form_and_quadrature():
    for d in (3, 5, 40, 320):
        m = even_moments(d, 8)
        assert m[1] == pytest.approx(1 / d, rel=1e-15)
        c, w = cosine_quadrature(d, 40)
        np.testing.assert_allclose([(w * c ** (2 * j)).sum() for j in range(9)], m, rtol=1e-12)
    np.testing.assert_array_equal(even_moments(math.inf, 4), [1, 0, 0, 0, 0])


def test_even_moments_against_sampled_directions(rng):
    d = 7
    c = sample_cosines(d, 400_000, rng)
    for j, m in enumerate(even_moments(d, 3)[1:], start=1):
        x = c ** (2 * j)
        assert abs(x.mean() - m) < SE_FACTOR * x.std() / math.sqrt(x.size)


BELOW_ZERO = Activation.from_mapping(  # kinks on both sides of 0: c₀ ≠ σ(0)
    {"kind": "piecewise", "knots": [-1.0, 0.5, 2.0], "values": [-1.0, 0.0, 3.0]}
)


@pytest.mark.parametrize(
    "act", [paper_ramp(), Activation("relu"), DIP, BELOW_ZERO], ids=["ramp", "relu", "dip", "pw"]
)
def test_compiled_even_tables_match_numpy_coefficients(act):
    """Compiled Mehler tables (what the solvers use) against the NumPy ones, a → 0 included."""
    from ddsolver.models.isotropic import IsotropicGaussians

    problem = IsotropicGaussians(act, math.inf, 0.8)
    a = np.array([0.0, 1e-9, 0.01, 0.3, 1.2, 5.0, 30.0])
    vals, grads = problem._even_coefficients(a, 40)
    f, df = hermite_coefficients(act, a, 80)
    np.testing.assert_allclose(vals, f[:, ::2], atol=1e-14)
    np.testing.assert_allclose(grads, df[:, ::2], atol=1e-14)
