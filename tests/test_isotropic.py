"""The isotropic Gaussian problem: reduced quantities against the full d-dimensional model."""

import math

import numpy as np
import pytest

from ddsolver.models import integrals as I
from ddsolver.models.activations import Activation, paper_ramp
from ddsolver.models.angular import sample_cosines
from ddsolver.models.initial import GaussianInitial
from ddsolver.models.isotropic import IsotropicGaussians

SE_FACTOR = 4.0  # Monte-Carlo checks pass within 4 standard errors
PATH_TOL = 1e-12  # Mehler factorisation against angular quadrature (both ~1e-14 accurate)
FD_STEP = 1e-6
FD_TOL = 1e-7
DELTA = 0.8
PAPER_RISK_D40 = 1.7044817079144  # R(ρ₀), paper setting; converged to 1e-15 in the node count


@pytest.fixture(scope="module")
def paper():
    return IsotropicGaussians(paper_ramp(), 40, DELTA)


def sample_data(d, n, rng, delta=DELTA):
    y = rng.choice([-1.0, 1.0], size=n)
    x = rng.standard_normal((n, d)) * (1 + delta * y)[:, None]
    return x, y


def pair_at_angle(d, r1, r2, cos, rng):
    """Two vectors in R^d with the given radii and cosine."""
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    v = rng.standard_normal(d)
    v -= (v @ u) * u
    v /= np.linalg.norm(v)
    return r1 * u, r2 * (cos * u + math.sqrt(1 - cos * cos) * v)


def test_potential_against_full_dimensional_monte_carlo(paper, rng):
    d = 40
    for r in (0.3, 1.1, 2.5):
        w = rng.standard_normal(d)
        w *= r / np.linalg.norm(w)
        est, se = paper.population_potential_mc(w, 400_000, rng)
        v, _ = paper.radial_potential(np.array([r]))
        assert abs(v[0] - est) < SE_FACTOR * se


def test_interaction_at_given_angle_against_full_dimensional_monte_carlo(paper, rng):
    d, n = 40, 400_000
    act = paper.activation
    for r1, r2, cos in [(0.5, 1.4, 0.3), (2.0, 1.0, -0.6)]:
        w1, w2 = pair_at_angle(d, r1, r2, cos, rng)
        x, _ = sample_data(d, n, rng)
        vals = act(x @ w1) * act(x @ w2)
        exact = 0.5 * sum(
            I.pair(act, (1 + s * DELTA) * r1, (1 + s * DELTA) * r2, cos) for s in (1, -1)
        )
        assert abs(vals.mean() - exact) < SE_FACTOR * vals.std() / math.sqrt(n)


def test_averaged_interaction_against_random_directions(paper, rng):
    """ū_d(r, r') = E over uniformly random directions of the exact pair moment."""
    act = paper.activation
    c = sample_cosines(40, 200_000, rng)
    for r1, r2 in [(0.4, 1.6), (1.2, 1.2), (2.5, 0.9)]:
        vals = 0.5 * sum(
            I.pair(act, (1 + s * DELTA) * r1, (1 + s * DELTA) * r2, c) for s in (1, -1)
        )
        u = paper.radial_interaction(np.array([r1]), np.array([r2]))[0, 0]
        assert abs(vals.mean() - u) < SE_FACTOR * vals.std() / math.sqrt(c.size)


def test_mehler_and_quadrature_paths_agree():
    mehler = IsotropicGaussians(paper_ramp(), 40, DELTA)
    quad = IsotropicGaussians(paper_ramp(), 40, DELTA, tolerance=0.0)  # forces angular quadrature
    assert mehler.factorised and not quad.factorised
    r = np.linspace(0.02, 4.0, 9)
    np.testing.assert_allclose(
        mehler.radial_interaction(r, r), quad.radial_interaction(r, r), atol=PATH_TOL
    )
    np.testing.assert_allclose(
        mehler.radial_interaction(r, r, derivative=True),
        quad.radial_interaction(r, r, derivative=True),
        atol=1e-11,
    )
    assert mehler.radial_factors(r).error_bound <= 1e-13


@pytest.mark.parametrize("tolerance", [1e-4, 1e-6, 1e-8])
def test_a_looser_mehler_tolerance_keeps_its_stated_bound(tolerance):
    """problem.mehler_tolerance: a smaller rank, and the truncation stays within the bound."""
    quad = IsotropicGaussians(paper_ramp(), 40, DELTA, tolerance=0.0)
    loose = IsotropicGaussians(paper_ramp(), 40, DELTA, tolerance=tolerance)
    r = np.linspace(0.02, 6.0, 31)
    fac = loose.radial_factors(r)
    assert fac.error_bound <= tolerance
    full = IsotropicGaussians(paper_ramp(), 40, DELTA).radial_factors(r)
    assert fac.values.shape[1] < full.values.shape[1]
    error = np.abs(loose.radial_interaction(r, r) - quad.radial_interaction(r, r)).max()
    assert error <= fac.error_bound


def test_large_dimension_approaches_product_form():
    r = np.linspace(0.1, 3.0, 12)
    inf = IsotropicGaussians(paper_ramp(), math.inf, DELTA)
    q = inf.mean_activation(r)
    product = 0.5 * (np.outer(q[0], q[0]) + np.outer(q[1], q[1]))
    np.testing.assert_allclose(inf.radial_interaction(r, r), product, atol=1e-14)
    assert inf.radial_factors(r).rank == 2
    gaps = [
        np.abs(IsotropicGaussians(paper_ramp(), d, DELTA).radial_interaction(r, r) - product).max()
        for d in (40, 160, 640)
    ]
    # the leading correction is E[c²] f̂₂ f̂₂ = O(1/d): a factor 4 in d divides the gap by ≈ 4
    assert gaps[0] > gaps[1] > gaps[2]
    assert 3.5 < gaps[0] / gaps[1] < 4.5 and 3.5 < gaps[1] / gaps[2] < 4.5


def test_self_interaction_is_the_second_moment(paper, rng):
    r = np.array([0.7, 1.9])
    act = paper.activation
    g = rng.standard_normal(400_000)
    for ri, val in zip(r, paper.radial_self(r), strict=True):
        samples = 0.5 * (act((1 + DELTA) * ri * g) ** 2 + act((1 - DELTA) * ri * g) ** 2)
        assert abs(samples.mean() - val) < SE_FACTOR * samples.std() / math.sqrt(g.size)


def test_radial_derivatives_are_finite_differences(paper):
    r = np.array([0.3, 1.0, 2.2])
    h = FD_STEP
    _, dv = paper.radial_potential(r)
    fd = (paper.radial_potential(r + h)[0] - paper.radial_potential(r - h)[0]) / (2 * h)
    np.testing.assert_allclose(dv, fd, atol=FD_TOL)
    du = paper.radial_interaction(r, r, derivative=True)
    fd = (paper.radial_interaction(r + h, r) - paper.radial_interaction(r - h, r)) / (2 * h)
    np.testing.assert_allclose(du, fd, atol=FD_TOL)
    fac = paper.radial_factors(r)
    fd = (paper.radial_factors(r + h).values - paper.radial_factors(r - h).values) / (2 * h)
    np.testing.assert_allclose(fac.gradients[:, :, 0], fd, atol=FD_TOL)


def test_initial_radial_law_is_the_scaled_chi_law(rng):
    d, kappa = 40, 0.8
    law = GaussianInitial(kappa, d)
    r = np.linalg.norm(rng.standard_normal((200_000, d)) * kappa / math.sqrt(d), axis=1)
    for x in (0.6, 0.8, 0.95):
        p = law.radial_cdf(x)
        assert abs((r <= x).mean() - p) < SE_FACTOR * math.sqrt(p * (1 - p) / r.size)
    nodes, weights = law.radial_quadrature(60)
    assert weights.sum() == pytest.approx(1.0, abs=1e-14)
    # E r² = κ², E r⁴ = κ⁴(1 + 2/d): exact for the Gauss–Laguerre rule
    assert weights @ nodes**2 == pytest.approx(kappa**2, rel=1e-13)
    assert weights @ nodes**4 == pytest.approx(kappa**4 * (1 + 2 / d), rel=1e-13)


@pytest.mark.parametrize("a", [0.5, 1.0, 2.5, 20.0, 160.0, 640.0])
def test_regularised_lower_gamma_against_scipy(a):
    """The chi law's cdf without SciPy at start-up: P(a, x) to within its stated error,
    4ε (a|ln x| + x + |ln Γ(a)| + 10), across both branches and their switch at x = a + 1
    (measured: at most 0.46 of it)."""
    from scipy import special

    from ddsolver.models.initial import regularised_lower_gamma

    x = np.concatenate([[0.0, 1e-300, 1e-10, a + 1 - 1e-9, a + 1, 1e4 * a],
                        np.linspace(0.0, 3 * a + 30, 2001)[1:]])  # fmt: skip
    log_x = np.abs(np.log(np.where(x > 0, x, 1.0)))
    bound = 4 * np.finfo(float).eps * (a * log_x + x + abs(math.lgamma(a)) + 10)
    error = np.abs(regularised_lower_gamma(a, x) - special.gammainc(a, x))
    assert np.all(error <= bound), (error / bound).max()


@pytest.mark.parametrize("dof", [2001.0, 1e6, 1e12])
def test_the_chi_cdf_of_a_huge_dimension_meets_its_normal_limit(dof):
    """κχ_d/√d → N(κ, κ²/(2d)): at κ(1 + z/√(2d)) the cdf is Φ(z) up to the skewness term
    O(1/√d) (a few 1e-3 at d = 2001, below 1e-6 at d = 10¹²), in well under a second
    (the sums took 54 s at d = 10¹²)."""
    import time

    from scipy import special

    from ddsolver.models.initial import scaled_chi_cdf

    kappa, z = 0.8, np.linspace(-4.0, 4.0, 17)
    started = time.monotonic()
    cdf = scaled_chi_cdf(kappa * (1 + z / np.sqrt(2 * dof)), dof, kappa / np.sqrt(dof))
    assert time.monotonic() - started < 0.5
    assert np.max(np.abs(cdf - special.ndtr(z))) < 0.5 / np.sqrt(dof)
    assert scaled_chi_cdf(np.array([np.inf, 1e300]), dof, kappa / np.sqrt(dof)).tolist() == [1, 1]


def test_the_chi_cdf_at_d_1e30_is_the_point_mass_to_double_precision():
    """At d = 10³⁰ the spread κ/√(2d) ≈ 6e-16 κ is below one ulp of κ: the cdf steps from 0
    to 1 across a few ulps of κ (it did not end before)."""
    from ddsolver.models.initial import scaled_chi_cdf

    kappa, dof = 0.8, 1e30
    x = kappa * np.array([0.0, 1 - 1e-12, 1 - 1e-14, 1 + 1e-14, 1 + 1e-12, 2.0])
    cdf = scaled_chi_cdf(x, dof, kappa / np.sqrt(dof))
    np.testing.assert_allclose(cdf, [0, 0, 0, 1, 1, 1], rtol=0, atol=1e-30)


def test_the_chi_cdf_is_continuous_where_scipy_takes_over():
    from ddsolver.models.initial import SERIES_MAX_SHAPE, regularised_lower_gamma

    a = SERIES_MAX_SHAPE
    x = a * np.linspace(0.9, 1.1, 41)
    below, above = regularised_lower_gamma(a, x), regularised_lower_gamma(a * (1 + 1e-12), x)
    assert np.max(np.abs(below - above)) < 1e-10


def test_a_run_of_the_quickstart_does_not_import_scipy_special(tmp_path):
    """0.16–0.28 s of every start-up: the quickstart needs none of scipy.special."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from ddsolver.cli import main\n"
        "try:\n"
        f"    main(['run', 'grids/quickstart.toml', '--set', 'time.t_end=0.002', '--set',"
        f" 'time.save_every=0.002', '-q', '-o', r'{tmp_path / 'q.h5'}'])\n"
        "except SystemExit as stop:\n"
        "    assert not stop.code, stop.code\n"
        "print('scipy.special' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr


def test_paper_initial_risk_value(paper):
    points, weights = GaussianInitial(0.8, 40).quadrature(second_layer=False, nodes=80)
    assert paper.risk(points, weights) == pytest.approx(PAPER_RISK_D40, abs=1e-12)


@pytest.mark.parametrize("second_layer", [False, True])
def test_finite_n_risk_against_full_dimensional_networks(rng, second_layer):
    """E R_N over networks of N i.i.d. neurons = R(ρ₀) + (1/N)(∫U(θ,θ)dρ₀ − ∫∫U dρ₀dρ₀)."""
    d, kappa, neurons, nets, samples = 40, 0.8, 25, 120, 20_000
    law = GaussianInitial(kappa, d, a_mean=0.5, a_std=0.4)
    problem = IsotropicGaussians(paper_ramp(), d, DELTA, second_layer=second_layer)
    points, weights = law.quadrature(second_layer, nodes=60)
    predicted = problem.risk_finite_n(points, weights, neurons)
    act = problem.activation
    per_net = np.empty(nets)
    for i in range(nets):
        w = rng.standard_normal((d, neurons)) * kappa / math.sqrt(d)
        a = law.a_mean + law.a_std * rng.standard_normal(neurons) if second_layer else 1.0
        x, y = sample_data(d, samples, rng)
        yhat = (act(x @ w) * a).mean(axis=1)
        per_net[i] = np.mean((y - yhat) ** 2)
    se = per_net.std(ddof=1) / math.sqrt(nets)
    assert abs(per_net.mean() - predicted) < SE_FACTOR * se
    # the 1/N term is resolved: without it the estimate would be many standard errors away
    assert abs(problem.risk(points, weights) - predicted) > 3 * SE_FACTOR * se


def test_second_layer_reduces_to_first_layer_at_unit_weight():
    one = IsotropicGaussians(paper_ramp(), 40, DELTA)
    two = IsotropicGaussians(paper_ramp(), 40, DELTA, second_layer=True)
    r = np.array([0.4, 1.3])
    pts2 = np.column_stack([np.ones(2), r])
    np.testing.assert_allclose(two.interaction_matrix(pts2), one.interaction_matrix(r[:, None]))
    v2, g2 = two.potential(pts2)
    v1, g1 = one.potential(r[:, None])
    np.testing.assert_allclose(v2, v1)
    np.testing.assert_allclose(g2[:, 1], g1[:, 0])
    fac = two.interaction_factors(np.column_stack([[2.0, -1.0], r]))
    approx = (fac.values * fac.weights) @ fac.values.T
    np.testing.assert_allclose(
        approx, two.interaction_matrix(np.column_stack([[2.0, -1.0], r])), atol=1e-12
    )
    assert two.entropy_dimension == 41


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [({"delta": 1.2}, "delta"), ({"dimension": 1}, "dimension"), ({"dimension": 2.5}, "dimension")],
)
def test_bad_parameters_are_refused(kwargs, needle):
    base = {"activation": Activation("relu"), "dimension": 40, "delta": 0.5}
    with pytest.raises(ValueError, match=needle):
        IsotropicGaussians(**{**base, **kwargs})


@pytest.mark.parametrize("kind", ["relu", "square"])
def test_an_unbounded_activation_on_particles_at_finite_d_is_refused(kind):
    """The particles need ū_d's Mehler factorisation, which has no error bound for an unbounded
    σ: refused before compute naming the key (it used to fail inside the run); d = ∞ and the
    grid take it."""
    from ddsolver.config import ConfigError, load_config

    table = f'problem.activation={{kind = "{kind}"}}'
    with pytest.raises(ConfigError) as err:
        load_config("grids/isotropic_d40_particles.toml", [table])
    assert err.value.key == "problem.activation.kind" and "bounded" in str(err.value)
    load_config("grids/isotropic_d40_particles.toml", [table, "problem.dimension=inf"])
    load_config("grids/isotropic_d40.toml", [table])
