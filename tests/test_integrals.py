"""Gaussian integrals of activations: closed forms against quadrature, twins, derivatives."""

import math

import numpy as np
import pytest
from scipy import integrate

from ddsolver.models import integrals as I
from ddsolver.models.activations import Activation, paper_ramp

#: A non-monotone piecewise-linear σ: the ramp with a dip (notebook 03's activation).
DIP = Activation.from_mapping(
    {"kind": "piecewise", "knots": [0.25, 0.6, 1.8], "values": [-2.5, -3.5, 7.5]}
)
CLOSED = [paper_ramp(), Activation("relu"), Activation("erf"), DIP, Activation("square")]
KINKED = ("ramp", "relu", "piecewise")
QUADRATURE_ONLY = [Activation("tanh"), Activation("sigmoid")]
CLOSED_FORM_REL_TOL = 1e-10  # the accuracy target for closed forms against quadrature
GH_TOL = 1e-8  # accuracy of the Gauss–Hermite fallback at scales ≤ 1.5 (2-D) and ≤ 3 (mean)
FD_STEP = 1e-6
FD_TOL = 2e-7  # central differences, step 1e-6, on functions with second derivatives O(10)

CASES = [(0.5, 1.2, 0.3), (2.0, 0.3, -0.9), (1.8, 1.8, 0.999), (0.2, 0.2, 0.1), (1.1, 0.6, -0.2)]


def normal_pdf(z: float) -> float:
    """φ(z) for the quadrature integrands (scipy.stats' pdf costs ~50 µs a call)."""
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def mean_by_quadrature(act, mu, s):
    kinks = list(act.kink_structure()[0]) if act.kind in KINKED else [0.0]
    pts = [(k - mu) / s for k in kinks]
    val, _ = integrate.quad(
        lambda z: act(mu + s * z) * normal_pdf(z),
        -40,
        40,
        points=pts,
        epsabs=1e-14,
        epsrel=1e-13,
        limit=400,
    )
    return val


def pair_by_quadrature(act, a, b, c):
    """K(a, b, c) = ∫ σ(a z) E[σ(b(cz + sZ₃))] φ(z) dz, both integrals adaptive quadrature."""
    s = math.sqrt(1 - c * c)
    kinks = list(act.kink_structure()[0]) if act.kind in KINKED else [0.0]

    def inner(z):
        return mean_by_quadrature(act, b * c * z, b * s)

    pts = [k / a for k in kinks]
    val, _ = integrate.quad(
        lambda z: act(a * z) * inner(z) * normal_pdf(z),
        -12,
        12,
        points=pts,
        epsabs=1e-13,
        epsrel=1e-12,
        limit=400,
    )
    return val


@pytest.mark.parametrize("act", CLOSED + QUADRATURE_ONLY, ids=lambda a: a.kind)
def test_gaussian_mean_against_quadrature(act):
    for mu, s in [(0.0, 0.7), (0.8, 1.3), (-0.4, 2.5)]:
        expected = mean_by_quadrature(act, mu, s)
        tol = CLOSED_FORM_REL_TOL if act.has_closed_form else GH_TOL
        assert abs(I.mean(act, mu, s) - expected) <= tol * max(1, abs(expected))
        assert abs(I.gaussian_mean_ref(act, mu, s) - expected) <= tol * max(1, abs(expected))


@pytest.mark.parametrize(
    ("act", "a", "b", "c"),
    [pytest.param(act, *case, id=f"{act.kind}-{case}") for act in CLOSED for case in CASES[:3]],
)
def test_pair_moment_closed_form_against_quadrature(act, a, b, c):
    expected = pair_by_quadrature(act, a, b, c)
    assert abs(I.pair(act, a, b, c) - expected) <= CLOSED_FORM_REL_TOL * max(1, abs(expected))


@pytest.mark.parametrize("act", QUADRATURE_ONLY, ids=lambda a: a.kind)
def test_pair_moment_fallback_against_quadrature(act):
    for a, b, c in [(0.5, 1.2, 0.3), (1.1, 0.6, -0.2)]:
        assert abs(I.pair(act, a, b, c) - pair_by_quadrature(act, a, b, c)) < GH_TOL


@pytest.mark.parametrize("act", CLOSED + QUADRATURE_ONLY, ids=lambda a: a.kind)
def test_pair_moment_matches_numpy_twin(act):
    a, b, c = (np.array(x) for x in zip(*CASES, strict=True))
    np.testing.assert_allclose(
        I.pair(act, a, b, c), I.pair_moment_ref(act, a, b, c), rtol=1e-13, atol=1e-14
    )


def test_pair_moment_special_cases():
    relu = Activation("relu")
    # arc-cosine kernel at c = 1 is E[(aZ)+ (bZ)+] = ab/2; at c = 0 it is ab/(2π)
    assert I.pair(relu, 1.3, 0.7, 1.0) == pytest.approx(1.3 * 0.7 / 2, rel=1e-15)
    assert I.pair(relu, 1.3, 0.7, 0.0) == pytest.approx(1.3 * 0.7 / (2 * math.pi), rel=1e-15)
    ramp = paper_ramp()
    # zero scale: σ(0) times the mean of the other factor
    assert I.pair(ramp, 0.0, 0.9, 0.4) == pytest.approx(-2.5 * I.mean(ramp, 0.0, 0.9), rel=1e-15)
    # c = 0 factorises
    assert I.pair(ramp, 0.9, 1.7, 0.0) == pytest.approx(
        I.mean(ramp, 0.0, 0.9) * I.mean(ramp, 0.0, 1.7), rel=1e-13
    )
    # c = 1 and a = b: the second moment E σ(aG)²
    assert I.pair(ramp, 1.2, 1.2, 1.0) == pytest.approx(
        integrate.quad(
            lambda z: ramp(1.2 * z) ** 2 * normal_pdf(z),
            -40,
            40,
            points=[0.5 / 1.2, 1.5 / 1.2],
            epsabs=1e-13,
        )[0],
        rel=1e-11,
    )


@pytest.mark.parametrize(
    ("act", "a", "b", "c"),
    [(act, *case) for act in CLOSED for case in (CASES[0], CASES[1], CASES[4])]
    # the Gauss–Hermite fallback is checked inside its accurate range (scales ≤ 1.5)
    + [(act, *case) for act in QUADRATURE_ONLY for case in (CASES[0], CASES[4])],
    ids=str,
)
def test_pair_derivatives_are_finite_differences(act, a, b, c):
    h = FD_STEP
    fd_a = (I.pair(act, a + h, b, c) - I.pair(act, a - h, b, c)) / (2 * h)
    fd_c = (I.pair(act, a, b, c + h) - I.pair(act, a, b, c - h)) / (2 * h)
    assert I.pair_da(act, a, b, c) == pytest.approx(fd_a, abs=FD_TOL * max(1, abs(fd_a)))
    assert I.pair_dc(act, a, b, c) == pytest.approx(fd_c, abs=FD_TOL * max(1, abs(fd_c)))


@pytest.mark.parametrize("act", [paper_ramp(), DIP], ids=lambda a: a.kind)
def test_kinked_derivative_matches_numpy_twin(act):
    a, b, c = (np.array(x) for x in zip(*CASES, strict=True))
    np.testing.assert_allclose(
        I.pair_da(act, a, b, c), I.pair_moment_da_ref(act, a, b, c), rtol=1e-12, atol=1e-13
    )


def test_matrix_kernel_matches_scalar_kernel(rng):
    act = paper_ramp()
    a = rng.uniform(0, 3, 7)
    b = rng.uniform(0, 3, 5)
    c = rng.uniform(-1, 1, (7, 5))
    out = np.empty((7, 5))
    I.pair_moment_matrix(act.code, act.param_array, a, b, c, out)
    np.testing.assert_array_equal(out, I.pair(act, a[:, None], b[None, :], c))


def test_two_knot_piecewise_is_the_ramp():
    """The piecewise σ through (0.5, −2.5), (1.5, 7.5) is the paper's ramp: same integrals."""
    twin = Activation.from_mapping(
        {"kind": "piecewise", "knots": [0.5, 1.5], "values": [-2.5, 7.5]}
    )
    ramp = paper_ramp()
    a, b, c = (np.array(x) for x in zip(*CASES, strict=True))
    for family in (I.pair, I.pair_da, I.pair_dc):
        np.testing.assert_allclose(
            family(twin, a, b, c), family(ramp, a, b, c), rtol=1e-13, atol=1e-13
        )
    np.testing.assert_allclose(I.mean(twin, 0.2, a), I.mean(ramp, 0.2, a), rtol=1e-14)


@pytest.mark.parametrize(
    "activation",
    [
        paper_ramp(),
        Activation.from_mapping({"kind": "relu"}),
        Activation.from_mapping(
            {"kind": "piecewise", "knots": [-1.0, 0.5, 2.0], "values": [-1.0, 0.0, 3.0]}
        ),
    ],
    ids=lambda a: a.kind,
)
def test_second_moment_by_pieces_against_quadrature_and_the_pair_moment(activation):
    """E σ(sG)² by pieces (the PDE's self-interaction) = adaptive quadrature = K(s, s, 1)."""
    kinks = activation.kink_structure()[0]
    scales = np.array([0.0, 1e-9, 0.05, 0.3, 1.0, 2.7, 8.0, 20.0])
    ours = I.second_moment(activation, scales)
    for s, value in zip(scales, ours, strict=True):
        if s < 1e-6:  # the kinks are out of reach: σ(0)²
            expected = float(activation(np.zeros(1))[0]) ** 2
        else:
            points = sorted(k / s for k in kinks if abs(k / s) < 30)
            expected, _ = integrate.quad(
                lambda g, s=s: float(activation(np.array([s * g]))[0]) ** 2 * normal_pdf(g),
                -40.0,
                40.0,
                points=points or None,
                epsabs=1e-14,
                epsrel=1e-13,
                limit=200,
            )
        assert abs(value - expected) <= 1e-12 * max(1.0, abs(expected)), (s, value, expected)
    pair = I.pair(activation, scales, scales, 1.0)
    np.testing.assert_allclose(ours, pair, rtol=1e-12, atol=1e-14)
