"""Teacher–student with Gaussian inputs: kernels, reduced PDE, SGD, config."""

import math

import numpy as np
import pytest
from scipy import stats

from ddsolver import io
from ddsolver.comparison import compare_files
from ddsolver.config import ConfigError, load_config
from ddsolver.experiment import build_grid_dd
from ddsolver.integrate import run_grid
from ddsolver.models import Activation, TeacherStudent, TeacherStudentInitial
from ddsolver.models.integrals import pair
from ddsolver.schedules import Schedule
from ddsolver.sgd.run import run_sgd
from ddsolver.sgd.teacher_student import exact_risk_teacher_student as network_risk
from ddsolver.sgd.teacher_student import teacher_sgd_steps, teacher_sgd_steps_ref

SE_FACTOR = 4.0
POINTS = np.array([[0.3, 0.5], [0.8, 0.2], [-0.2, 0.9], [1.1, 0.05]])


def _fields(activation, points, d, samples, rng):
    """σ(<w, x>) for each reduced point with an independent random orthogonal direction."""
    x = rng.standard_normal((samples, d))
    out = []
    for u, v in points:
        direction = rng.standard_normal((samples, d - 1))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        out.append(activation(u * x[:, 0] + v * np.einsum("ij,ij->i", direction, x[:, 1:])))
    return x, np.array(out)


@pytest.mark.parametrize("kind", ["erf", "relu"])
def test_kernels_against_full_dimension_monte_carlo(kind, rng):
    act = Activation.from_mapping({"kind": kind})
    d, n = 12, 300_000
    problem = TeacherStudent(act, d, teacher_norm=1.2, label_noise=0.3)
    x, fields = _fields(act, POINTS, d, n, rng)
    y = act(1.2 * x[:, 0]) + 0.3 * rng.standard_normal(n)

    def close(value, samples):
        assert abs(value - samples.mean()) <= SE_FACTOR * samples.std() / math.sqrt(n), (
            value,
            samples.mean(),
        )

    close(problem.label_second_moment, y * y)
    v, _ = problem.potential(POINTS)
    u = problem.interaction_matrix(POINTS)
    self_u = problem.self_interaction(POINTS)
    for i in range(len(POINTS)):
        close(v[i], -y * fields[i])
        close(self_u[i], fields[i] ** 2)
        for j in range(i + 1, len(POINTS)):  # independent orthogonal directions: ū_d
            close(u[i, j], fields[i] * fields[j])


def test_cosine_quadrature_is_converged():
    act = Activation.from_mapping({"kind": "relu"})
    for d in (8, 40, 320):
        coarse = TeacherStudent(act, d).interaction_matrix(POINTS)
        fine = TeacherStudent(act, d, cosine_nodes=120).interaction_matrix(POINTS)
        np.testing.assert_allclose(coarse, fine, rtol=0, atol=1e-9)


def test_d_infinity_kernel_and_symmetry():
    act = Activation.from_mapping({"kind": "erf"})
    problem = TeacherStudent(act, math.inf)
    u, v = POINTS.T
    rho = np.hypot(u, v)
    expected = pair(act, rho[:, None], rho[None, :], np.outer(u, u) / np.outer(rho, rho))
    np.testing.assert_allclose(problem.interaction_matrix(POINTS), expected, rtol=1e-14)
    finite = TeacherStudent(act, 30)
    full = finite.interaction_matrix(POINTS, POINTS[::-1])
    np.testing.assert_allclose(finite.interaction_matrix(POINTS), full[:, ::-1], rtol=1e-14)


def test_potential_gradient_against_finite_differences():
    problem = TeacherStudent(Activation.from_mapping({"kind": "erf"}), 20, teacher_norm=0.9)
    _, grad = problem.potential(POINTS)
    h = 1e-6
    for k in range(2):
        step = np.zeros(2)
        step[k] = h
        fd = (problem.potential(POINTS + step)[0] - problem.potential(POINTS - step)[0]) / (2 * h)
        np.testing.assert_allclose(grad[:, k], fd, rtol=1e-6, atol=1e-9)


def test_network_risk_against_monte_carlo(rng):
    act = Activation.from_mapping({"kind": "relu"})
    problem = TeacherStudent(act, 10, teacher_norm=1.0, label_noise=0.2)
    w = rng.standard_normal((7, 10)) * 0.4
    n = 400_000
    x = rng.standard_normal((n, 10))
    y = act(x[:, 0]) + 0.2 * rng.standard_normal(n)
    loss = (y - act(x @ w.T).mean(axis=1)) ** 2
    assert abs(network_risk(problem, w) - loss.mean()) <= SE_FACTOR * loss.std() / math.sqrt(n)


def test_sgd_kernel_matches_numpy_twin():
    act = Activation.from_mapping({"kind": "erf"})
    sched = Schedule("constant")
    w1 = np.random.default_rng(4).standard_normal((25, 12)) * 0.3
    w2 = w1.copy()
    start = w1.copy()
    teacher_sgd_steps(
        w1, act.code, act.param_array, 1.1, 0.2, 1e-2, sched.code, sched.params, 0.05, 0.3, 2,
        np.int64(0), np.int64(150), np.random.default_rng(8),
    )  # fmt: skip
    teacher_sgd_steps_ref(w2, act, 1.1, 0.2, 1e-2, sched, 0.05, 0.3, 2, 0, 150,
                          np.random.default_rng(8))  # fmt: skip
    np.testing.assert_allclose(w1, w2, rtol=0, atol=1e-13)
    assert np.abs(w1 - start).max() > 1e-2


@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_fused_step_is_bitwise_forward_then_update(noise):
    """One sample, τ = 0: the fused, transposed pass gives exactly the weights and random
    stream of the template's row-wise forward and update, driven step by step (with and
    without label noise, which the sampler draws)."""
    from ddsolver.sgd.engine import forward, update
    from ddsolver.sgd.teacher_student import _draw

    act = Activation.from_mapping({"kind": "erf"})
    sched = Schedule("power", value=1.0, t0=0.5, alpha=0.25)
    w1 = np.random.default_rng(4).standard_normal((201, 13)) * 0.3
    w2 = w1.copy()
    rng1, rng2 = np.random.default_rng(8), np.random.default_rng(8)
    eps, lam, steps = 2e-2, 0.05, 150
    teacher_sgd_steps(w1, act.code, act.param_array, 1.1, noise, eps, sched.code, sched.params,
                      lam, 0.0, 1, np.int64(0), np.int64(steps), rng1)  # fmt: skip
    n, d = w2.shape
    ones = np.ones(n)
    x, y = np.empty((1, d)), np.empty(1)
    pre, val, der = np.empty((1, n)), np.empty((1, n)), np.empty((1, n))
    resid, grad = np.empty(1), np.empty(d)
    for k in range(steps):
        s = eps * sched(k * eps)
        _draw(rng2, act.code, act.param_array, 1.1, noise, x, y)
        forward(w2, ones, x, y, act.code, act.param_array, pre, val, der, resid)
        update(w2, ones, False, x, resid, val, der, 1.0 - 2.0 * lam * s, 2.0 * s, 0.0, rng2,
               grad)  # fmt: skip
    assert np.abs(w1 - w2).max() == 0.0
    assert rng1.bit_generator.state == rng2.bit_generator.state


def test_initial_law(rng):
    law = TeacherStudentInitial(0.7, 30)
    q = np.array([0.05, 0.5, 0.95])
    for name in ("u", "v"):
        np.testing.assert_allclose(law.axis_cdf(name, law.axis_quantiles(name, q)), q, rtol=1e-12)
    w = rng.standard_normal((20_000, 30)) * 0.7 / math.sqrt(30)
    assert stats.kstest(w[:, 0], lambda x: law.axis_cdf("u", x)).pvalue > 1e-3
    v = np.linalg.norm(w[:, 1:], axis=1)
    assert stats.kstest(v, lambda x: law.axis_cdf("v", x)).pvalue > 1e-3
    limit = TeacherStudentInitial(0.7, math.inf)
    np.testing.assert_array_equal(limit.axis_quantiles("v", q), 0.7)


BASE = """
[problem]
kind = "teacher_student"
dimension = 50
[problem.activation]
kind = "erf"
[initial]
scale = 0.5
[time]
t_end = 1.0
save_every = 0.5
[sgd]
neurons = 100
eps = 1e-3
seeds = [0, 1]
[grid]
u_min = -0.5
u_max = 1.5
u_cells = 30
r_max = 1.2
r_cells = 24
"""


def _cfg(tmp_path, overrides=()):
    path = tmp_path / "ts.toml"
    path.write_text(BASE)
    return load_config(path, list(overrides))


def test_pde_and_sgd_agree_and_mass_is_exact(tmp_path):
    cfg = _cfg(tmp_path)
    pde = run_grid(cfg, tmp_path / "pde.h5", quiet=True)
    sgd = run_sgd(cfg, tmp_path / "sgd.h5")
    assert pde.ok and sgd.ok
    obs = io.read_series(pde.path, "observables")
    np.testing.assert_allclose(obs["mass"], 1.0, atol=1e-13)
    assert np.all(np.diff(obs["free_energy"]) <= 1e-14)
    assert obs["risk"][-1] < 0.5 * obs["risk"][0]
    report = compare_files(pde.path, sgd.path)
    assert report["max_abs_gap"] < 0.05  # N = 100, two seeds
    assert set(report["max_wasserstein1"]) == {"u", "v"}


def test_noisy_pde_relaxes_to_its_self_consistent_gibbs_state(tmp_path):
    noisy = ["dynamics.tau=0.5", "dynamics.lam=0.5", "grid.r_min=0.3", "grid.r_max=1.5"]
    longer = ["grid.u_min=-1.0", "time.t_end=20.0", "time.save_every=20.0", "initial.scale=0.9"]
    cfg = _cfg(tmp_path, noisy + longer)
    result = run_grid(cfg, tmp_path / "noisy.h5", quiet=True)
    assert result.ok, result.status
    p = io.read_series(result.path, "snapshots")["density"]
    system = build_grid_dd(cfg)
    first, last = p[0].ravel(), p[-1].ravel()
    assert np.abs(first - system.gibbs_map(first)) @ system.volumes > 0.1
    assert np.abs(last - system.gibbs_map(last)) @ system.volumes < 1e-6


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (['discretisation.method="particles"'], "discretisation.method"),
        (["problem.second_layer=true"], "problem.second_layer"),
        (["problem.dimension=2"], "problem.dimension"),
        (["grid.u_cells=400"], "grid.u_cells"),
        (["dynamics.tau=0.1"], "grid.r_min"),
        (["grid.u_max=-1.0"], "grid.u_max"),
        (["problem.teacher_norm=0.0"], "problem.teacher_norm"),
    ],
)
def test_bad_teacher_student_configs_are_refused(tmp_path, overrides, key):
    with pytest.raises(ConfigError) as info:
        _cfg(tmp_path, overrides)
    assert info.value.key == key


def test_erf_label_second_moment_closed_form():
    """E erf(sG)² = (2/π) arcsin(2s²/(1 + 2s²)) (Williams), plus ς²."""
    problem = TeacherStudent(Activation.from_mapping({"kind": "erf"}), 10, 1.3, 0.25)
    s2 = 1.3**2
    expected = 2 / math.pi * math.asin(2 * s2 / (1 + 2 * s2)) + 0.25**2
    assert abs(problem.label_second_moment - expected) < 1e-14
