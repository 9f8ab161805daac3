"""The particle (Lagrangian) solver: placement, convergence in M, agreement with the grid."""

import math

import h5py
import numpy as np
import pytest
from convergence import ORDER_TOL, observed_orders
from scipy import optimize

import ddsolver as dd
from ddsolver.config import load_config
from ddsolver.grid import Axis, TensorGrid
from ddsolver.integrate import run_grid
from ddsolver.lagrangian import ParticleDD
from ddsolver.models.step_noise import StepNoise
from ddsolver.pde import GridDD
from ddsolver.schedules import Schedule
from ddsolver.status import STATUS_NAN

PAPER_RISK_D40 = 1.7044817079144043
GRID_AGREEMENT = 2e-3  # the tolerance between the two solvers


@pytest.fixture(scope="module")
def paper():
    return dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8)


def output_grid(r_max=8.0, cells=400):
    return TensorGrid((Axis.uniform("r", 0, r_max, cells, radial=True),))


def test_initial_risk_converges_at_first_order(paper):
    law = dd.GaussianInitial(0.8, 40)
    errors = []
    for m in (100, 200, 400, 800):
        system = ParticleDD(paper, output_grid(), (m,))
        errors.append(
            abs(system.observables(system.initial_state(law), 800)["risk"] - PAPER_RISK_D40)
        )
    rates = observed_orders(errors)
    assert np.all(np.abs(rates - 1.0) < ORDER_TOL), rates
    assert errors[-1] < 3e-5


def test_particles_follow_the_grid_and_converge_in_m(paper):
    law = dd.GaussianInitial(0.8, 40)
    grid_system = GridDD(paper, output_grid(6.0, 2400))
    p3 = grid_system.initial_state(law)
    grid_system.advance(p3, 0.0, 2.0)
    grid_risk = grid_system.observables(p3, 800)["risk"]
    risks = {}
    for m in (250, 500, 1000):
        system = ParticleDD(paper, output_grid(), (m,), rtol=1e-9)
        z = system.initial_state(law)
        status = system.advance(z, 0.0, 2.0).status
        assert status == 0
        risks[m] = system.observables(z, 800)["risk"]
    assert abs(risks[1000] - grid_risk) < GRID_AGREEMENT / 10  # measured 1e-5
    # successive differences shrink by about 2 per doubling of M (first order)
    d1, d2 = abs(risks[250] - risks[500]), abs(risks[500] - risks[1000])
    assert 1.6 < d1 / d2 < 2.6, (d1, d2)


def test_d_infinity_single_radius_stays_single_and_finds_the_best_radius():
    problem = dd.IsotropicGaussians(dd.paper_ramp(), math.inf, 0.8)
    system = ParticleDD(problem, output_grid(), (5,))
    z = system.initial_state(dd.GaussianInitial(0.8, math.inf))  # a point mass at κ
    best = optimize.minimize_scalar(
        lambda r: problem.risk(np.array([[r]]), np.array([1.0])),
        bounds=(0.1, 50),
        method="bounded",
        options={"xatol": 1e-10},
    )
    t, risks = 0.0, []
    for target in (1.0, 10.0, 100.0):
        t, *_ = system.advance(z, t, target)
        assert np.ptp(z) == 0.0  # one radius
        risks.append(system.observables(z, 800)["risk"])
    assert np.all(np.diff(risks) < 0)
    assert best.x > 4.0  # the optimum lies far out in r
    assert risks[-1] == pytest.approx(best.fun, abs=1e-10)
    assert z[0, 0] == pytest.approx(best.x, abs=1e-5)


@pytest.mark.parametrize("tau", [0.0, 0.05])
def test_free_energy_decreases_and_mass_is_exact(tau):
    dim = 40 if tau == 0 else math.inf
    problem = dd.IsotropicGaussians(dd.paper_ramp(), dim, 0.8)
    system = ParticleDD(problem, output_grid(), (300,), tau=tau)
    z = system.initial_state(dd.GaussianInitial(0.8, 40))
    t, free = 0.0, []
    for target in np.linspace(0.25, 3.0, 12):
        t, *_ = system.advance(z, t, target)
        obs = system.observables(z, 800)
        free.append(obs["free_energy"])
        assert obs["mass"] == pytest.approx(1.0, abs=1e-15)
    assert np.all(np.diff(free) < 0)


def test_density_estimate_keeps_all_mass_at_the_origin():
    problem = dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8)
    grid = output_grid(4.0, 200)
    system = ParticleDD(problem, grid, (400,))
    z = np.abs(np.random.default_rng(2).normal(0.05, 0.05, (400, 1)))  # mass piled at r ≈ 0
    dens = system.density(z)
    assert (dens * grid.volumes).sum() == pytest.approx(1.0, abs=1e-12)
    assert dens.min() >= 0


def test_particle_run_through_the_config_and_resume_is_bitwise(tmp_path):
    text = """
[discretisation]
method = "particles"
[particles]
r_count = 200
[time]
t_end = 1.0
save_every = 0.25
[grid]
r_max = 4.0
r_cells = 100
"""
    (tmp_path / "c.toml").write_text(text)
    cfg = load_config(tmp_path / "c.toml")
    assert run_grid(cfg, tmp_path / "full.h5", quiet=True).ok
    half = load_config(tmp_path / "c.toml", ["time.t_end=0.5"])
    assert run_grid(half, tmp_path / "part.h5", quiet=True).ok
    assert run_grid(cfg, tmp_path / "part.h5", resume=True, quiet=True).ok
    with h5py.File(tmp_path / "full.h5") as a, h5py.File(tmp_path / "part.h5") as b:
        assert a["snapshots/particles"].shape == (5, 200, 1)
        for name in ("snapshots/particles", "snapshots/density", "observables/risk"):
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)


def test_blob_kernel_matches_numpy_twin(rng):
    from ddsolver.operators.blob import blob_velocity, blob_velocity_ref

    z = rng.normal(size=(60, 2))
    masses = np.full(60, 1 / 60)
    widths = np.array([0.3, 0.5])
    out = np.empty_like(z)
    blob_velocity(z, masses, widths, out)
    np.testing.assert_allclose(out, blob_velocity_ref(z, masses, widths), atol=1e-13)


@pytest.mark.slow  # ~9 s: the blob method's own tests stay in the default suite
def test_noisy_particles_reach_the_grid_gibbs_state(tmp_path):
    """τ = 2, λ = 1, d = 40 (grids/noisy.toml): the blob particles dissipate F_h and relax to
    the state the grid reaches (measured: risk within 6e-5, mean r within 1e-4)."""
    grid_cfg = load_config("grids/noisy.toml")
    part_cfg = load_config(
        "grids/noisy.toml", ['discretisation.method="particles"', "particles.r_count=200"]
    )
    assert run_grid(grid_cfg, tmp_path / "g.h5", quiet=True).ok
    assert run_grid(part_cfg, tmp_path / "p.h5", quiet=True).ok
    with h5py.File(tmp_path / "g.h5") as g, h5py.File(tmp_path / "p.h5") as p:
        assert abs(g["observables/risk"][-1] - p["observables/risk"][-1]) < 1e-3
        assert abs(g["observables/mean_r"][-1] - p["observables/mean_r"][-1]) < 1e-3
        free = p["observables/free_energy"][()]
        assert np.all(np.diff(free) < 0)


@pytest.mark.slow
def test_paper_example_particles_against_grid_to_t10(tmp_path):
    """M = 2000 particles against the 3200-cell grid: risk within 2e-3 at every observation,
    and the particles' law within W1 = 0.01 of the grid density at every snapshot."""
    from ddsolver.comparison import wasserstein1

    base = ["time.t_end=10", "time.save_every=1.0", "time.observe_every=0.25"]
    grid_cfg = load_config("grids/isotropic_d40.toml", base)
    part_cfg = load_config(
        "grids/isotropic_d40.toml",
        [*base, 'discretisation.method="particles"', "particles.r_count=2000"],
    )
    assert run_grid(grid_cfg, tmp_path / "grid.h5", quiet=True).ok
    assert run_grid(part_cfg, tmp_path / "part.h5", quiet=True).ok
    with h5py.File(tmp_path / "grid.h5") as g, h5py.File(tmp_path / "part.h5") as p:
        gap = np.abs(g["observables/risk"][()] - p["observables/risk"][()])
        assert gap.max() < GRID_AGREEMENT, gap.max()
        edges = g["grid/r/edges"][()]
        w1 = [
            wasserstein1(edges, dens * np.diff(edges), parts[:, 0])
            for dens, parts in zip(
                g["snapshots/density"][()], p["snapshots/particles"][()], strict=True
            )
        ]
        assert max(w1) < 0.01, w1


def test_four_reduced_coordinates_follow_the_characteristics():
    """n = 4 (beyond the grid solver): V = ½|z − c|², U = 0 moves every particle along
    z(t) = c + (z₀ − c)e^{−2t}; the density estimate on a 4-D output grid keeps the mass."""
    from ddsolver.models.analytic import GaussianLaw, HarmonicProblem

    problem = HarmonicProblem(4, stiffness=1.0, centre=0.3)
    grid = TensorGrid(tuple(Axis.uniform(n, -3, 3, 12) for n in ("x", "y", "z", "w")))
    system = ParticleDD(problem, grid, (3, 4, 2, 5), rtol=1e-10, atol=1e-12)
    law = GaussianLaw((0.1, -0.2, 0.5, 0.0), (0.5, 0.4, 0.3, 0.6))
    z0 = system.initial_state(law)
    z = z0.copy()
    system.advance(z, 0.0, 0.7)
    np.testing.assert_allclose(z, 0.3 + (z0 - 0.3) * math.exp(-1.4), atol=1e-8)
    dens = system.density(z)
    assert dens.shape == (12, 12, 12, 12)
    assert (dens * grid.volumes).sum() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="1 to 3"):
        GridDD(problem, grid)


@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_density_tensor_sum_equals_the_direct_sum(ndim, rng):
    from ddsolver.lagrangian import _tensor_sum

    per_axis = [rng.random((40, n)) for n in (3, 4, 5, 6)[:ndim]]
    masses = rng.random(40)
    axes = "abcd"[:ndim]
    direct = np.einsum("m," + ",".join(f"m{c}" for c in axes) + "->" + axes, masses, *per_axis)
    np.testing.assert_allclose(_tensor_sum(masses, per_axis), direct.ravel(), rtol=1e-14)


# ------------------------------------------------- the compiled step loop against its NumPy twin


def _twins(problem, names, counts, **kw):
    grid = TensorGrid(tuple(Axis.uniform(n, -3.0 if n == "a" else 0.0, 6.0, 8) for n in names))
    fast = ParticleDD(problem, grid, counts, **kw)
    slow = ParticleDD(problem, grid, counts, compiled=False, **kw)
    assert fast.kernel is not None and slow.kernel is None
    return fast, slow


TWIN_CASES = {
    "r, ramp, d = 40": (dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8), {}),
    "r, piecewise, d = 12, λ, power schedule": (
        dd.IsotropicGaussians(
            dd.Activation.from_mapping(
                {"kind": "piecewise", "knots": [-1.0, 0.5, 2.0], "values": [-1.0, 0.0, 3.0]}
            ),
            12,
            0.5,
            tolerance=1e-8,
        ),
        {"lam": 0.3, "schedule": Schedule("power", value=2.0, t0=1.0, alpha=0.5)},
    ),
    "r, ramp, d = inf, τ > 0": (
        dd.IsotropicGaussians(dd.paper_ramp(), math.inf, 0.6),
        {"tau": 0.05},
    ),
    "(a, r), ramp, d = 40, λ": (
        dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8, second_layer=True),
        {"lam": 0.1},
    ),
}


@pytest.mark.parametrize("case", TWIN_CASES)
def test_compiled_velocity_risk_and_steps_match_the_numpy_twin(case, rng):
    from ddsolver.operators.isotropic_particles import velocity

    problem, kw = TWIN_CASES[case]
    names = problem.coordinate_names
    counts = (5, 40) if len(names) == 2 else (60,)
    fast, slow = _twins(problem, names, counts, **kw)
    z = np.column_stack(
        [rng.normal(0.5, 1.0, fast.count)] * (len(names) - 1) + [rng.uniform(0.05, 3.0, fast.count)]
    )
    out = np.empty_like(z)
    velocity(fast.kernel, z, fast.masses, 0.7, out)
    expected = slow.velocity(z, 0.7)
    assert np.abs(out - expected).max() <= 1e-12 * np.abs(expected).max()
    np.testing.assert_allclose(fast.risk_terms(z), slow.risk_terms(z), rtol=1e-12, atol=1e-14)
    za, zb = z.copy(), z.copy()
    got = fast.advance(za, 0.0, 0.5)
    want = slow.advance(zb, 0.0, 0.5)
    assert got[0] == want[0] == 0.5 and got[4] == want[4] == 0
    assert got[2:4] == want[2:4]  # the same accepted and rejected steps
    assert np.abs(za - zb).max() < 1e-11 * np.abs(zb).max()


def test_compiled_loop_reports_a_nan_and_stops_where_the_numpy_loop_does():
    problem, _ = TWIN_CASES["r, ramp, d = 40"]
    fast, slow = _twins(problem, ("r",), (10,))
    for system in (fast, slow):
        z = np.linspace(0.5, 2.0, 10)[:, None]
        z[3] = np.nan
        t, _, steps, _, status, _ = system.advance(z, 0.0, 1.0)
        assert (t, steps, status) == (0.0, 0, STATUS_NAN)


def test_the_compiled_loop_is_used_only_where_it_applies():
    grid = output_grid()
    tanh = dd.IsotropicGaussians(dd.Activation.from_mapping({"kind": "tanh"}), 40, 0.8)
    ramp = dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8)
    assert ParticleDD(ramp, grid, (10,)).kernel is not None
    assert ParticleDD(tanh, grid, (10,)).kernel is None  # no closed-form Hermite tables
    noisy = ParticleDD(ramp, grid, (10,), tau=0.1, blob_widths=np.ones(1))
    assert noisy.kernel is None  # the blob term stays in the NumPy loop
    noise = ParticleDD(ramp, grid, (10,), step_noise=StepNoise(1e-4, 1), noise_dimension=40)
    assert noise.kernel is None
