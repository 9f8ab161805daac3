"""The grid solver: kernels against twins, convergence orders, Gibbs states, energy identities."""

import math

import numpy as np
import pytest
from convergence import ORDER_TOL, observed_orders
from scipy import special

import ddsolver as dd
from ddsolver.grid import Axis, TensorGrid
from ddsolver.models.analytic import GaussianLaw, HarmonicProblem
from ddsolver.operators.interaction import apply_interaction_ref, build_interaction
from ddsolver.operators.transport import (
    LIMITERS,
    bernoulli_pairs,
    flux_divergence,
    flux_divergence_ref,
    flux_work,
)
from ddsolver.pde import GridDD
from ddsolver.schedules import Schedule

TWIN_TOL = 1e-13
MASS_TOL = 1e-12  # mass conservation: round-off of O(M) additions
ROUNDOFF_NEGATIVE = 1e-14  # p may dip below 0 by round-off of the RK convex combination


def cell_averages(edges, mean, var):
    return np.diff(special.ndtr((edges - mean) / np.sqrt(var))) / np.diff(edges)


@pytest.mark.parametrize("shape", [(40,), (12, 9), (5, 6, 7)])
@pytest.mark.parametrize("diffusivity", [0.0, 0.3])
@pytest.mark.parametrize("limiter", sorted(LIMITERS))
def test_flux_kernel_matches_numpy_twin(shape, diffusivity, limiter, rng):
    p = rng.random(shape)
    phi = rng.random(shape)
    edges = [np.cumsum(np.r_[0, rng.uniform(0.5, 1.5, n)]) for n in shape]
    widths = [np.diff(e) for e in edges]
    dists = [np.diff(0.5 * (e[1:] + e[:-1])) for e in edges]
    ref, ref_rate = flux_divergence_ref(p, phi, widths, dists, 2.0, diffusivity, LIMITERS[limiter])
    shape3 = shape + (1,) * (3 - len(shape))
    out, rate = np.empty(shape3), np.empty(shape3)
    w3 = widths + [np.ones(1)] * (3 - len(shape))
    h3 = dists + [np.ones(0)] * (3 - len(shape))
    flux_divergence(
        p.reshape(shape3),
        phi.reshape(shape3),
        *w3,
        *h3,
        2.0,
        diffusivity,
        LIMITERS[limiter],
        out,
        rate,
        flux_work(shape3),
    )
    np.testing.assert_allclose(out.reshape(shape), ref, atol=TWIN_TOL)
    np.testing.assert_allclose(rate.reshape(shape), ref_rate, atol=TWIN_TOL)
    volumes = np.prod(np.meshgrid(*widths, indexing="ij"), axis=0)
    assert abs((out.reshape(shape) * volumes).sum()) < TWIN_TOL * p.size


def test_bernoulli_pairs_against_long_double(rng):
    """B(±δ) of the vectorised pass within 4 ulp of x/expm1(x) in long double, across the
    series/exponential switch at |δ| = ½, tiny and huge arguments (B(y) < 1e-304 may be 0)."""
    delta = np.concatenate([
        rng.uniform(-1, 1, 20000), rng.uniform(-40, 40, 20000), rng.uniform(-800, 800, 2000),
        10.0 ** rng.uniform(-20, 0, 2000) * rng.choice([-1, 1], 2000),
        [0.0, 0.5, -0.5, np.nextafter(0.5, 0), 708.0, -708.0, 709.0, 745.0, -745.0, 1e-300],
    ])  # fmt: skip
    b_pos, b_neg = np.empty_like(delta), delta.copy()
    bernoulli_pairs(delta.size, b_pos, b_neg, np.empty(delta.size, dtype=np.int64))
    x = delta.astype(np.longdouble)
    for got, arg in ((b_pos, x), (b_neg, -x)):
        exact = np.ones_like(arg)
        nonzero = arg != 0
        with np.errstate(over="ignore"):
            exact[nonzero] = arg[nonzero] / np.expm1(arg[nonzero])
        normal = exact > 1e-300
        rel = np.abs((got[normal] - exact[normal]) / exact[normal]).astype(float)
        assert rel.max() < 4 * np.finfo(float).eps
        assert np.all(np.abs(got[~normal]) < 1e-300)


def test_interaction_representations_agree(rng):
    problem = dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8)
    points = np.sort(rng.uniform(0.01, 5, 300))[:, None]
    masses = rng.random(300)
    reps = {
        mode: build_interaction(problem, points, mode) for mode in ("lowrank", "matrix", "onthefly")
    }
    exact = problem.interaction_matrix(points) @ masses
    for mode, rep in reps.items():
        bound = rep.error_bound * masses.sum() + 1e-12 * np.abs(exact).max()
        np.testing.assert_allclose(rep.apply(masses), exact, atol=bound, err_msg=mode)
        np.testing.assert_allclose(
            rep.apply(masses), apply_interaction_ref(rep, masses), atol=1e-11
        )
    assert reps["lowrank"].factors.shape[1] == 66  # 2 (J + 1) with J = 32 at d = 40


@pytest.mark.parametrize("tolerance", [1e-13, 1e-6])
def test_auto_interaction_takes_the_cheaper_apply_of_the_same_factors(tolerance, rng):
    """``auto`` picks the factors when 2K < M and the matrix built from them otherwise, at any
    Mehler tolerance: the two are the same U (a loose tolerance once selected a dense matrix
    of 1600² built from 20 factors)."""
    problem = dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8, tolerance=tolerance)
    for m in (20, 400):
        points = np.sort(rng.uniform(0.01, 5, m))[:, None]
        auto = build_interaction(problem, points, "auto")
        rank = build_interaction(problem, points, "lowrank").factors.shape[1]
        assert auto.mode == ("lowrank" if 2 * rank < m else "matrix")
        masses = rng.random(m)
        other_mode = "matrix" if auto.mode == "lowrank" else "lowrank"
        other = build_interaction(problem, points, other_mode)
        np.testing.assert_allclose(auto.apply(masses), other.apply(masses), rtol=1e-12, atol=1e-14)
        assert auto.error_bound == other.error_bound


def test_eigen_factorisation_for_small_dimension(monkeypatch, rng):
    """Without a Mehler series (small d) the low rank comes from the matrix's eigenvalues."""
    import ddsolver.operators.interaction as inter

    problem = dd.IsotropicGaussians(dd.paper_ramp(), 6, 0.8)
    assert not problem.factorised
    points = np.linspace(0.05, 3, 60)[:, None]
    monkeypatch.setattr(inter, "MAX_MATRIX_CELLS", 10)
    rep = build_interaction(problem, points, "auto")
    assert rep.mode == "lowrank" and rep.factors.shape[1] < 60
    masses = rng.random(60)
    exact = problem.interaction_matrix(points) @ masses
    np.testing.assert_allclose(
        rep.apply(masses), exact, atol=rep.error_bound * masses.sum() + 1e-10
    )
    with pytest.raises(ValueError, match="onthefly"):
        build_interaction(problem, points, "onthefly")


def ou_error(n, tau, limiter="mc", t_end=0.5, ndim=1, schedule=None, order=3):
    problem = HarmonicProblem(ndim, stiffness=1.0, centre=0.3)
    grid = TensorGrid(tuple(Axis.uniform(name, -4, 4, n) for name in problem.coordinate_names))
    system = GridDD(
        problem, grid, schedule or Schedule("constant"), tau=tau, limiter=limiter, order=order
    )
    law = GaussianLaw((-0.5, 0.2, 0.0)[:ndim], (0.5, 0.4, 0.6)[:ndim])
    p3 = system.initial_density(law).reshape(grid.shape3).copy()
    system.advance(p3, 0.0, t_end)
    elapsed = t_end if schedule is None else schedule_integral(schedule, t_end)
    mean, var = problem.gaussian_moments(
        np.array(law.means), np.array(law.stds) ** 2, elapsed, 1.0, tau
    )
    exact = np.ones(())
    for k, axis in enumerate(grid.axes):
        exact = np.multiply.outer(exact, cell_averages(axis.edges, mean[k], var[k]))
    return float(np.abs(p3.reshape(grid.shape) - exact).ravel() @ grid.volumes.ravel())


def schedule_integral(schedule, t):
    x, w = np.polynomial.legendre.leggauss(40)
    s = 0.5 * t * (x + 1)
    return 0.5 * t * sum(wi * schedule(si) for wi, si in zip(w, s, strict=True))


def test_ou_with_noise_converges_at_second_order_1d():
    errors = [ou_error(n, tau=0.3) for n in (100, 200, 400, 800)]
    rates = observed_orders(errors)
    assert abs(rates[-1] - 2.0) < ORDER_TOL and abs(rates[-2] - 2.0) < ORDER_TOL, rates
    assert errors[-1] < 5e-5, errors


@pytest.mark.slow  # ~10 s: the 1-D case stays in the default suite
def test_ou_with_noise_converges_at_second_order_2d():
    errors = [ou_error(n, tau=0.3, ndim=2) for n in (24, 48, 96, 192)]
    rates = observed_orders(errors)
    assert abs(rates[-1] - 2.0) < ORDER_TOL and abs(rates[-2] - 2.0) < ORDER_TOL, rates
    assert errors[-1] < 1e-3, errors


def test_transport_along_characteristics_converges():
    """τ = 0, V quadratic: the bump contracts along z(t) = c + (z₀ − c)e^{−2t}."""
    errors = [ou_error(n, tau=0.0) for n in (100, 200, 400, 800)]
    rates = observed_orders(errors)
    # limited MUSCL: second order away from the peak, where the limiter clips (measured 1.94)
    assert abs(rates[-1] - 2.0) < ORDER_TOL, rates
    assert errors[-1] < 1e-3, errors


def test_transport_weno5_converges_at_fifth_order():
    """Same contracting bump: WENO-Z on uniform cells (measured 5.04, 5.00; MC 1.94)."""
    errors = [ou_error(n, tau=0.0, limiter="weno5") for n in (100, 200, 400, 800)]
    rates = observed_orders(errors)
    assert abs(rates[-1] - 5.0) < ORDER_TOL and abs(rates[-2] - 5.0) < ORDER_TOL, rates
    assert errors[-1] < 1e-7, errors


def test_transport_weno5_in_two_dimensions():
    """The 2-D bump (both axes strided and contiguous): fifth order once resolved (measured
    2.95 then 5.28 from 48² to 192²; MC 1.59 and 7.9e-3 at 192²)."""
    errors = [ou_error(n, tau=0.0, limiter="weno5", ndim=2) for n in (48, 96, 192)]
    rates = observed_orders(errors)
    assert rates[-1] > 4.5, rates
    assert errors[-1] < 2e-4, errors


@pytest.mark.parametrize("limiter", sorted(LIMITERS))
@pytest.mark.parametrize("shape", [(60,), (20, 16), (7, 8, 9)])
def test_an_euler_step_at_the_bound_keeps_the_density_nonnegative(shape, limiter, rng):
    """dt = 1/max rate on rough data with empty cells: the positivity claim of the fluxes."""
    p = rng.random(shape) * (rng.random(shape) < 0.5) * 10.0 ** rng.uniform(-3, 1, shape)
    phi = 3.0 * rng.standard_normal(shape)
    shape3 = shape + (1,) * (3 - len(shape))
    widths = [np.full(n, 0.1) for n in shape3]  # uniform, as weno5 needs
    dists = [np.full(n - 1, 0.1) for n in shape3]
    out, rate = np.empty(shape3), np.empty(shape3)
    flux_divergence(p.reshape(shape3), phi.reshape(shape3), *widths, *dists, 2.0, None,
                    LIMITERS[limiter], out, rate, flux_work(shape3))  # fmt: skip
    after = p.reshape(shape3) + out / rate.max()
    assert after.min() >= -ROUNDOFF_NEGATIVE * p.max(), after.min()
    assert abs(out.sum()) < TWIN_TOL * p.size  # equal volumes: the mass moves, none is lost


def test_weno5_refuses_a_stretched_axis():
    problem = HarmonicProblem(1, stiffness=1.0)
    grid = TensorGrid((Axis.stretched("x", 0.0, 4.0, 50, 2.0),))
    with pytest.raises(ValueError, match=r"weno5.*'x'"):
        GridDD(problem, grid, limiter="weno5")
    GridDD(problem, grid, limiter="mc")


def test_time_dependent_step_schedule_is_a_time_change():
    power = Schedule("power", value=1.5, t0=0.5, alpha=0.5)
    assert ou_error(400, tau=0.3, schedule=power) < 2e-4


def run_to(system, law, t_end, stops=1):
    p3 = system.initial_density(law).reshape(system.grid.shape3).copy()
    t = 0.0
    history = [system.observables(p3.reshape(system.grid.shape), 100)]
    for target in np.linspace(0, t_end, stops + 1)[1:]:
        report = system.advance(p3, t, target)
        t, status = report.t, report.status
        assert status == 0
        history.append(system.observables(p3.reshape(system.grid.shape), 100))
        assert p3.min() >= -ROUNDOFF_NEGATIVE * p3.max()
    return p3.reshape(system.grid.shape), history


def test_discrete_gibbs_state_is_the_steady_state_without_interaction():
    problem = HarmonicProblem(1, stiffness=2.0, centre=0.2, entropy_dimension=2.0)
    grid = TensorGrid((Axis.stretched("x", -3, 3, 120, 0.0),))
    system = GridDD(problem, grid, tau=0.4)
    p, history = run_to(system, GaussianLaw((-1.0,), (0.3,)), 30.0, stops=30)
    gibbs = np.exp(-system.base / system.diffusivity)
    gibbs /= gibbs @ system.volumes
    np.testing.assert_allclose(p, gibbs, atol=1e-10)
    # the continuous Gibbs state N(c, τ/(Dk)) to discretisation accuracy
    exact = cell_averages(grid.axes[0].edges, 0.2, 0.4 / 2.0 / 2.0)
    assert np.abs(p - exact) @ system.volumes < 2e-3
    assert abs(history[-1]["mass"] - 1) < MASS_TOL
    free = [h["free_energy"] for h in history]
    assert np.all(np.diff(free) <= 1e-13), np.diff(free).max()


def test_self_consistent_gibbs_state_with_interaction():
    """τ > 0 with U ≠ 0 (isotropic, d = 40, λ > 0): p ∝ exp(L − (D/τ)(Ψ(p) + λr²/2))."""
    problem = dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8)
    # the reference measure r^39 keeps the density off r < 0.2, where the entropic drift
    # ε(d − 1)/r would make explicit steps tiny
    grid = TensorGrid((Axis.uniform("r", 0.2, 3.2, 300, radial=True),))
    system = GridDD(problem, grid, tau=2.0, lam=1.0)
    p, history = run_to(system, dd.GaussianInitial(0.8, 40), 15.0, stops=15)
    gibbs = system.gibbs_map(p)
    assert np.abs(p - gibbs) @ system.volumes < 1e-8
    # and the initial law is far from it: the check can fail
    first = system.initial_state(dd.GaussianInitial(0.8, 40)).reshape(-1)
    assert np.abs(first - system.gibbs_map(first)) @ system.volumes > 0.1
    free = [h["free_energy"] for h in history]
    assert np.all(np.diff(free) <= 1e-12)


def test_energy_identity_and_positivity_on_the_paper_example():
    """τ = λ = 0: dR/dt = −4ξ ∫ |∂_r Ψ|² dρ; mass exact, density ≥ 0, F = R/2 decreasing."""
    problem = dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8)
    grid = TensorGrid((Axis.uniform("r", 0, 5, 1600, radial=True),))
    system = GridDD(problem, grid)
    law = dd.GaussianInitial(0.8, 40)
    p, history = run_to(system, law, 1.0, stops=10)
    masses = p * system.volumes
    factors = problem.radial_factors(grid.axes[0].centres)
    _, dv = problem.radial_potential(grid.axes[0].centres)
    dpsi = dv + (factors.gradients[:, :, 0] * factors.weights) @ (factors.values.T @ masses)
    dissipation = 4.0 * masses @ dpsi**2
    h = 1e-3
    p3 = p.reshape(grid.shape3).copy()
    system.advance(p3, 1.0, 1.0 + h)
    forward = system.observables(p3.reshape(grid.shape), 1)["risk"]
    slope = (forward - history[-1]["risk"]) / h
    assert slope == pytest.approx(-dissipation, rel=1e-2)
    risks = [o["risk"] for o in history]
    assert np.all(np.diff(risks) < 0)
    assert all(abs(o["mass"] - 1) < MASS_TOL for o in history)
    assert history[0]["risk"] == pytest.approx(
        1.7044817079144, abs=2e-4
    )  # midpoint rule, h = 1/320


def test_d_infinity_noise_is_the_entropic_drift():
    """d = ∞, τ > 0: transport with potential Ψ − τ log r; F = R/2 − τ∫log r dρ decreases."""
    problem = dd.IsotropicGaussians(dd.paper_ramp(), math.inf, 0.8)
    grid = TensorGrid((Axis.uniform("r", 0, 4, 400, radial=True),))
    system = GridDD(problem, grid, tau=0.05)
    assert system.diffusivity == 0 and system.reference_coefficient == 0.05
    law = dd.GaussianInitial(0.8, 40)  # a spread start, so that the density is not a point
    _, history = run_to(system, law, 2.0, stops=20)
    free = [h["free_energy"] for h in history]
    assert np.all(np.diff(free) < 1e-12)


def test_second_layer_grid_runs_and_dissipates():
    problem = dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8, second_layer=True)
    grid = TensorGrid((Axis.uniform("a", -1, 3, 40), Axis.uniform("r", 0, 4, 80, radial=True)))
    system = GridDD(problem, grid)
    _, history = run_to(system, dd.GaussianInitial(0.8, 40, a_mean=1.0, a_std=0.3), 0.5, stops=5)
    risks = [h["risk"] for h in history]
    assert np.all(np.diff(risks) < 0)
    assert all(abs(h["mass"] - 1) < MASS_TOL for h in history)


def test_grid_and_problem_coordinates_must_match():
    problem = dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8)
    with pytest.raises(ValueError, match="do not match"):
        GridDD(problem, TensorGrid((Axis.uniform("x", 0, 1, 10),)))
    with pytest.raises(ValueError, match="misses"):
        GridDD(problem, TensorGrid((Axis.uniform("r", 0, 0.5, 10, radial=True),))).initial_density(
            dd.GaussianInitial(0.8, 40)
        )


def test_embedded_error_control_bounds_the_time_error():
    """With rtol > 0 the Heun/SSPRK3 pair shrinks steps until the local error meets rtol."""
    problem = HarmonicProblem(1, stiffness=1.0)
    grid = TensorGrid((Axis.uniform("x", -4, 4, 200),))
    law = GaussianLaw((-0.5,), (0.5,))

    def solve(**kwargs):
        system = GridDD(problem, grid, tau=0.0, limiter="none", **kwargs)
        p3 = system.initial_density(law).reshape(grid.shape3).copy()
        report = system.advance(p3, 0.0, 1.0)
        steps, rejected, status = report.steps, report.rejected, report.status
        assert status == 0
        return p3.ravel(), steps, rejected

    reference, _, _ = solve(cfl=0.02)
    plain, plain_steps, _ = solve(cfl=1.0)
    controlled, steps, _ = solve(cfl=1.0, rtol=1e-9, atol=1e-12)
    plain_error = np.abs(plain - reference).max()
    controlled_error = np.abs(controlled - reference).max()
    assert steps > plain_steps
    assert controlled_error < 0.1 * plain_error, (controlled_error, plain_error)


@pytest.mark.parametrize(("limiter", "order"), [("none", 1), ("minmod", 2), ("mc", 2),
                                                ("weno5", 5)])  # fmt: skip
def test_periodic_faces_reach_their_order(limiter, order):
    """The reconstructions on a periodic axis (the circle flow's): face values of the cell
    averages of 1.5 + sin 2ψ against the function at the faces, every row alike (measured
    1.00, 2.00, 2.00, 4.997 on 128 → 256 cells)."""
    from ddsolver.operators.transport import periodic_faces

    errors = []
    for n in (32, 64, 128, 256):
        e = np.linspace(0.0, 2.0 * math.pi, n + 1)
        h = e[1] - e[0]
        averages = 1.5 + (np.cos(2.0 * e[:-1]) - np.cos(2.0 * e[1:])) / (2.0 * h)
        p = np.vstack([averages, 2.0 * averages])
        east, west = np.empty_like(p), np.empty_like(p)
        periodic_faces(p, LIMITERS[limiter], east, west)
        exact = 1.5 + np.sin(2.0 * e)
        assert np.array_equal(east[1], 2.0 * east[0]) and np.array_equal(west[1], 2.0 * west[0])
        errors.append(max(np.abs(east[0] - exact[1:]).max(), np.abs(west[0] - exact[:-1]).max()))
    rates = observed_orders(errors)
    assert abs(rates[-1] - order) < ORDER_TOL and abs(rates[-2] - order) < ORDER_TOL, rates
