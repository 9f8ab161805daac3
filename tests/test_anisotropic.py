"""Anisotropic Gaussians (variable selection): kernels, reduced dynamics, SGD, config."""

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from ddsolver.comparison import compare_files
from ddsolver.config import ConfigError, load_config, validate
from ddsolver.experiment import build_initial, build_system
from ddsolver.integrate import run_grid
from ddsolver.models import AnisotropicGaussians, AnisotropicInitial
from ddsolver.models.anisotropic import network_interaction, network_potential
from ddsolver.models.gaussian import biased_relu_product
from ddsolver.schedules import Schedule
from ddsolver.sgd.anisotropic import (
    exact_risk_anisotropic,
    initial_anisotropic_network,
    relu_bias_sgd_steps,
    relu_bias_sgd_steps_ref,
)
from ddsolver.sgd.run import run_sgd

ROOT = Path(__file__).resolve().parents[1]
SE_FACTOR = 4.0
DELTA, S0 = 0.6, 6


def _network(rng, n=5, d=24):
    a = rng.normal(1.0, 0.7, n)
    b = rng.normal(0.0, 0.6, n)
    w = rng.normal(0.0, 0.35, (n, d))
    w[-1] = 0.0  # a neuron with S = 0: σ* = a b₊ for every x
    return a, b, w


def test_potential_and_interaction_against_full_dimension_monte_carlo(rng):
    a, b, w = _network(rng)
    problem = AnisotropicGaussians(DELTA, S0, w.shape[1])
    x, y = problem.data_mc(400_000, w.shape[1], rng)
    out = a * np.maximum(x @ w.T + b, 0.0)  # (samples, N): σ*(x; θᵢ)
    v_mc = -(y[:, None] * out)
    v = network_potential(DELTA, S0, a, b, w)
    assert np.all(np.abs(v - v_mc.mean(0)) <= SE_FACTOR * v_mc.std(0) / math.sqrt(len(y)))
    u = network_interaction(DELTA, S0, a, b, w)
    for i in range(len(a)):  # diagonal included: the self term U(θ, θ)
        prod = out * out[:, [i]]
        err = SE_FACTOR * prod.std(0) / math.sqrt(len(y)) + 1e-12
        assert np.all(np.abs(u[i] - prod.mean(0)) <= err), (i, u[i], prod.mean(0))
    np.testing.assert_allclose(u, u.T, rtol=0, atol=0)


def test_exact_network_risk_against_monte_carlo(rng):
    a, b, w = _network(rng, n=7)
    problem = AnisotropicGaussians(DELTA, S0, w.shape[1])
    x, y = problem.data_mc(400_000, w.shape[1], rng)
    loss = (y - np.maximum(x @ w.T + b, 0.0) @ a / len(a)) ** 2
    risk = exact_risk_anisotropic(DELTA, S0, a, b, w)
    assert abs(risk - loss.mean()) <= SE_FACTOR * loss.std() / math.sqrt(len(y))


def test_d_infinity_kernel_is_the_exact_kernel_of_orthogonal_neurons(rng):
    """With <w₁, w₁'> = <w₂, w₂'> = 0 the cross-covariance vanishes: product form, exactly."""
    n, d = 4, 2 * S0 + 8
    w = np.zeros((n, d))
    for i in range(n):  # disjoint supports in each block
        w[i, i] = rng.uniform(0.2, 1.0)
        w[i, S0 + i] = rng.uniform(0.2, 1.0)
    a, b = rng.normal(size=n), rng.normal(0, 0.5, n)
    problem = AnisotropicGaussians(DELTA, S0, math.inf)
    points = np.column_stack(
        [a, b, np.linalg.norm(w[:, :S0], axis=1), np.linalg.norm(w[:, S0:], axis=1)]
    )
    exact = network_interaction(DELTA, S0, a, b, w)
    reduced = problem.interaction_matrix(points)
    off = ~np.eye(n, dtype=bool)
    np.testing.assert_allclose(reduced[off], exact[off], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(problem.self_interaction(points), np.diag(exact), rtol=1e-13)
    np.testing.assert_allclose(
        problem.potential(points)[0], network_potential(DELTA, S0, a, b, w), rtol=1e-13
    )


def test_gradients_against_finite_differences(rng):
    problem = AnisotropicGaussians(DELTA, S0, math.inf)
    points = np.column_stack(
        [rng.normal(size=6), rng.normal(size=6), rng.uniform(0.1, 2, 6), rng.uniform(0.1, 2, 6)]
    )
    _, grad = problem.potential(points)
    fac = problem.interaction_factors(points)
    h = 1e-6
    for k in range(4):
        step = np.zeros(4)
        step[k] = h
        dv = (problem.potential(points + step)[0] - problem.potential(points - step)[0]) / (2 * h)
        np.testing.assert_allclose(grad[:, k], dv, rtol=1e-7, atol=1e-9)
        up = problem.interaction_factors(points + step).values
        down = problem.interaction_factors(points - step).values
        np.testing.assert_allclose(fac.gradients[:, :, k], (up - down) / (2 * h), atol=1e-8)


def test_sgd_kernel_matches_numpy_twin():
    sched = Schedule("power", value=1.0, t0=1.0, alpha=0.25)
    init = ((1.0, 0.5), (0.1, 0.3))  # (mean, std) of a and of b
    w1, a1, b1 = initial_anisotropic_network(30, 16, 1.0, *init, np.random.default_rng(3))
    w2, a2, b2 = w1.copy(), a1.copy(), b1.copy()
    args = (S0, DELTA, 1e-2)
    relu_bias_sgd_steps(
        w1,
        a1,
        b1,
        *args,
        sched.code,
        sched.params,
        0.1,
        3,
        np.int64(0),
        np.int64(200),
        np.random.default_rng(9),
    )
    relu_bias_sgd_steps_ref(w2, a2, b2, *args, sched, 0.1, 3, 0, 200, np.random.default_rng(9))
    np.testing.assert_allclose(w1, w2, rtol=0, atol=1e-13)
    np.testing.assert_allclose(a1, a2, rtol=0, atol=1e-13)
    np.testing.assert_allclose(b1, b2, rtol=0, atol=1e-13)
    moved = np.abs(
        a1 - initial_anisotropic_network(30, 16, 1.0, *init, np.random.default_rng(3))[1]
    )
    assert moved.max() > 1e-3  # the twins agree on a run that did something


def test_initial_law_blocks_are_chi_distributed(rng):
    law = AnisotropicInitial(1.3, 50, 8, a_mean=0.5, a_std=0.2, b_mean=-0.1, b_std=0.0)
    q = np.array([0.1, 0.5, 0.9])
    for name in ("a", "r1", "r2"):
        np.testing.assert_allclose(law.axis_cdf(name, law.axis_quantiles(name, q)), q, rtol=1e-12)
    np.testing.assert_array_equal(law.axis_quantiles("b", q), -0.1)
    w = rng.standard_normal((20_000, 50)) * 1.3 / math.sqrt(50)
    for name, block in (("r1", w[:, :8]), ("r2", w[:, 8:])):
        sample = np.linalg.norm(block, axis=1)
        assert stats.kstest(sample, lambda x, n=name: law.axis_cdf(n, x)).pvalue > 1e-3


BASE = """
[problem]
kind = "anisotropic_gaussians"
dimension = "inf"
delta = 0.6
informative = 6
[initial]
dimension = 40
scale = 1.0
a_std = 0.5
b_std = 0.5
[time]
t_end = 0.5
save_every = 0.25
[particles]
r_count = 3
a_count = 4
b_count = 4
[grid]
r_max = 3.0
r_cells = 8
a_min = -4.0
a_max = 4.0
a_cells = 8
b_min = -3.0
b_max = 3.0
b_cells = 8
"""


def _cfg(tmp_path, overrides=(), text=BASE):
    path = tmp_path / "aniso.toml"
    path.write_text(text)
    return load_config(path, list(overrides))


def test_one_particle_follows_the_characteristic_ode(tmp_path):
    """All particles equal (point-mass law): the ODE of MATH.md, to the stepper's tolerance."""
    cfg = _cfg(
        tmp_path,
        [
            "initial.dimension=4000",  # r₁, r₂ almost deterministic: one particle each
            "particles.r_count=1",
            "particles.a_count=1",
            "particles.b_count=1",
            "initial.a_std=0.0",
            "initial.b_mean=0.2",
            "particles.rtol=1e-10",
            "particles.atol=1e-12",
            "time.t_end=2.0",
            "time.save_every=2.0",
        ],
    )
    system = build_system(cfg)
    z = system.initial_state(build_initial(cfg))
    start = z[0].copy()
    t, *_ = system.advance(z, 0.0, 2.0)
    d = 0.6

    def rhs(_, theta):
        a, b, r1, r2 = theta
        out = np.zeros(4)
        moments = []
        for sign in (1, -1):
            s = math.sqrt((1 + sign * d) ** 2 * r1**2 + r2**2)
            zz = b / s
            moments.append((s, b * stats.norm.cdf(zz) + s * stats.norm.pdf(zz), zz))
        (sp, mp, zp), (sm, mm, zm) = moments
        ep, em = 1 - a * mp, 1 + a * mm
        out[0] = mp * ep - mm * em
        out[1] = a * (stats.norm.cdf(zp) * ep - stats.norm.cdf(zm) * em)
        pp, pm = stats.norm.pdf(zp), stats.norm.pdf(zm)
        out[2] = a * r1 * ((1 + d) ** 2 * pp * ep / sp - (1 - d) ** 2 * pm * em / sm)
        out[3] = a * r2 * (pp * ep / sp - pm * em / sm)
        return out

    sol = integrate.solve_ivp(rhs, (0, 2), start, rtol=1e-12, atol=1e-13, method="DOP853")
    assert t == 2.0
    np.testing.assert_allclose(z[0], sol.y[:, -1], rtol=1e-7, atol=1e-8)
    assert np.abs(z[0] - start).max() > 0.05  # it moved


def test_particle_run_writes_the_four_coordinates_and_conserves_mass(tmp_path):
    cfg = _cfg(tmp_path)
    result = run_grid(cfg, tmp_path / "pde.h5", quiet=True)
    assert result.ok, result.status
    from ddsolver import io

    obs = io.read_series(result.path, "observables")
    assert set(io.read_grid(result.path)) == {"a", "b", "r1", "r2"}
    np.testing.assert_allclose(obs["mass"], 1.0, atol=1e-14)
    assert obs["risk"][-1] < obs["risk"][0]
    snaps = io.read_series(result.path, "snapshots")
    assert snaps["density"].shape[1:] == (8, 8, 8, 8)
    assert snaps["particles"].shape[1:] == (4 * 4 * 3 * 3, 4)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (['discretisation.method="grid"'], "discretisation.method"),
        (["dynamics.tau=0.1"], "dynamics.tau"),
        (['problem.activation.kind="erf"'], "problem.activation.kind"),
        (["problem.second_layer=true"], "problem.second_layer"),
        (["initial.dimension=0"], "initial.dimension"),
        (["problem.informative=40"], "problem.informative"),
        (["grid.r_cells=400"], "grid.r_cells"),
        (["particles.r_count=200"], "particles.r_count"),
        (["grid.b_max=-4.0"], "grid.b_max"),
    ],
)
def test_bad_anisotropic_configs_are_refused(tmp_path, overrides, key):
    with pytest.raises(ConfigError) as info:
        _cfg(tmp_path, overrides)
    assert info.value.key == key


def test_finite_d_pde_with_a_slow_series_is_refused_before_compute(tmp_path):
    cfg = _cfg(tmp_path, ["problem.dimension=40", "initial.dimension=0"])  # s0 = 6
    with pytest.raises(ConfigError, match=r'problem\.dimension = "inf"'):
        run_grid(cfg, tmp_path / "x.h5", quiet=True)
    assert not (tmp_path / "x.h5").exists()


FINITE = np.array([[1.0, 0.2, 0.8, 0.5], [0.7, -0.3, 0.4, 0.9], [-0.5, 0.5, 1.2, 0.3]])


def test_finite_d_kernel_against_full_dimension_monte_carlo(rng):
    """ū_d of reduced points = mean exact U of neurons with those block norms, random directions."""
    s0, d, n = 8, 24, 40_000
    problem = AnisotropicGaussians(DELTA, s0, d)
    fac = problem.interaction_factors(FINITE)
    reduced = (fac.values * fac.weights) @ fac.values.T
    infinite = AnisotropicGaussians(DELTA, s0, math.inf).interaction_matrix(FINITE)

    def neurons(point):
        w = np.empty((n, d))
        for block, norm in ((slice(0, s0), point[2]), (slice(s0, d), point[3])):
            g = rng.standard_normal((n, block.stop - block.start))
            w[:, block] = norm * g / np.linalg.norm(g, axis=1, keepdims=True)
        return w

    for i in range(3):
        for j in range(i + 1, 3):
            wi, wj = neurons(FINITE[i]), neurons(FINITE[j])
            samples = np.empty(n)
            for sign in (1.0, -1.0):
                k2 = (1 + sign * DELTA) ** 2
                cov = k2 * np.einsum("ij,ij->i", wi[:, :s0], wj[:, :s0]) + np.einsum(
                    "ij,ij->i", wi[:, s0:], wj[:, s0:]
                )
                si = math.sqrt(k2 * FINITE[i, 2] ** 2 + FINITE[i, 3] ** 2)
                sj = math.sqrt(k2 * FINITE[j, 2] ** 2 + FINITE[j, 3] ** 2)
                part = np.array(
                    [
                        biased_relu_product(FINITE[i, 1] / si, FINITE[j, 1] / sj, c / (si * sj))
                        for c in cov
                    ]
                )
                samples = (samples if sign < 0 else 0.0) + 0.5 * si * sj * part
            samples *= FINITE[i, 0] * FINITE[j, 0]
            err = SE_FACTOR * samples.std() / math.sqrt(n)
            assert abs(reduced[i, j] - samples.mean()) <= err, (i, j)
            assert abs(reduced[i, j] - infinite[i, j]) > 3 * err  # and d = ∞ is visibly off


def test_finite_d_series_gradients_and_truncation():
    problem = AnisotropicGaussians(DELTA, 40, 320)
    fac = problem.interaction_factors(FINITE)
    h = 1e-6
    for k in range(4):
        step = np.zeros(4)
        step[k] = h
        up = problem.interaction_factors(FINITE + step).values
        down = problem.interaction_factors(FINITE - step).values
        np.testing.assert_allclose(fac.gradients[:, :, k], (up - down) / (2 * h), atol=1e-8)
    assert problem.mehler_degree < 40 and fac.error_bound < 1e-8
    from ddsolver.models import anisotropic

    saved = anisotropic.TARGET_TAIL
    try:
        anisotropic.TARGET_TAIL = 0.0  # the same series to the largest degree, 40
        deep = problem.interaction_factors(FINITE)
    finally:
        anisotropic.TARGET_TAIL = saved
    assert deep.values.shape[1] > fac.values.shape[1]
    u = (fac.values * fac.weights) @ fac.values.T
    u_deep = (deep.values * deep.weights) @ deep.values.T
    assert np.abs(u - u_deep).max() <= fac.error_bound


def test_sgd_runs_and_compares_with_the_d_infinity_pde(tmp_path):
    pde_cfg = _cfg(tmp_path)
    sgd_cfg = _cfg(
        tmp_path,
        ["problem.dimension=40", "initial.dimension=0", "sgd.neurons=60", "sgd.eps=1e-3"],
    )
    pde = run_grid(pde_cfg, tmp_path / "pde.h5", quiet=True)
    sgd = run_sgd(sgd_cfg, tmp_path / "sgd.h5")
    assert pde.ok and sgd.ok
    report = compare_files(pde.path, sgd.path)
    assert report["pde_kernel_dimension"] == "inf"
    # ddsolver plot on both: the 4-D density shown as its (a, b) marginal; SGD histograms
    from ddsolver.plotting import plot_file

    written = plot_file(pde.path, tmp_path / "pde_fig") + plot_file(sgd.path, tmp_path / "sgd_fig")
    names = sorted(p.name for p in written)
    assert names == ["density.gif", "density.png", "neurons.png", "risk.png", "risk.png"]
    assert all(p.stat().st_size > 1000 for p in written)
    assert set(report["max_wasserstein1"]) == {"a", "b", "r1", "r2"}
    assert report["max_abs_gap"] < 0.2  # N = 60, t ≤ 0.5: the gap is the sampling noise
    # another d than the PDE's initial law: refused, naming the key
    other = _cfg(tmp_path, ["problem.dimension=30", "initial.dimension=0", "sgd.neurons=20"])
    run_sgd(other, tmp_path / "sgd30.h5")
    with pytest.raises(ConfigError, match=r"problem\.dimension"):
        compare_files(pde.path, tmp_path / "sgd30.h5")


def test_validate_sets_relu_and_particles_by_default():
    cfg = validate({"problem": {"kind": "anisotropic_gaussians", "dimension": 40}})
    assert cfg["problem"]["activation"] == {"kind": "relu"}
    assert cfg["discretisation"]["method"] == "particles"


def test_compiled_finite_d_factors_match_numpy_twin(rng):
    from ddsolver.models.anisotropic import _finite_d_factors, _finite_d_factors_ref

    problem = AnisotropicGaussians(DELTA, 8, 24)
    points = np.column_stack(
        [rng.normal(1, 1, 50), rng.normal(0, 1, 50), rng.uniform(0, 2, 50), rng.uniform(0, 2, 50)]
    )
    points[0, 2:] = 0.0  # S = 0
    points[1, 1] = 0.0
    fast, ref = _finite_d_factors(problem, points), _finite_d_factors_ref(problem, points)
    scale = np.abs(ref.values).max()
    np.testing.assert_allclose(fast.values, ref.values, rtol=0, atol=1e-14 * scale)
    np.testing.assert_allclose(fast.gradients, ref.gradients, rtol=0, atol=1e-13 * scale)
    np.testing.assert_array_equal(fast.weights, ref.weights)
