"""The kernel (lazy) regime: tangent kernels against Monte Carlo and their finite-width
counterparts, the linearised flow's exact solution against a time-stepped one, the
minimum-norm interpolant, and a run's distance to its linearisation as α grows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import ddsolver as dd
from ddsolver.config import ConfigError, validate
from ddsolver.data import relu_teacher
from ddsolver.kinds.training_set.kind import initial_particles
from ddsolver.lazy import LinearisedFlow, empirical_tangent_kernel, tangent_kernel
from ddsolver.models.activations import Activation

RELU = Activation.from_mapping({"kind": "relu"})
POINTS = np.random.default_rng(5).standard_normal((4, 3))
OTHER = np.random.default_rng(6).standard_normal((3, 3))


def _law(kind: str, kappa: float, count: int, seed: int = 0, d: int = 3):
    cfg = validate({"problem": {"kind": "training_set", "dimension": d},
                    "initial": {"kind": kind, "scale": kappa}})  # fmt: skip
    return initial_particles(cfg, count, seed, d)


@pytest.mark.parametrize("law", ["gaussian", "sphere"])
@pytest.mark.parametrize("train", ["both", "output"])
def test_tangent_kernel_against_monte_carlo(law, train):
    kappa, draws = 0.7, 400_000
    theta, _ = _law(law, kappa, draws, seed=11)
    u = np.column_stack([POINTS, np.ones(4)])
    v = np.column_stack([OTHER, np.ones(3)])
    zu, zv = u @ theta[:, 1:].T, v @ theta[:, 1:].T  # (4, draws), (3, draws)
    exact = tangent_kernel(POINTS, OTHER, law, kappa, train)
    for i in range(4):
        for k in range(3):
            sample = np.maximum(zu[i], 0) * np.maximum(zv[k], 0)
            if train == "both":
                sample = sample + theta[:, 0] ** 2 * (zu[i] > 0) * (zv[k] > 0) * (u[i] @ v[k])
            error = sample.std() / np.sqrt(draws)
            assert abs(sample.mean() - exact[i, k]) < 4 * error, (i, k, sample.mean(), exact[i, k])


def test_empirical_kernel_tends_to_the_closed_form_like_one_over_root_m():
    exact = tangent_kernel(POINTS, POINTS, "sphere", 1.0)
    errors = []
    for count in (1_000, 10_000, 100_000):
        gaps = []
        for seed in range(4):
            theta, masses = _law("sphere", 1.0, count, seed)
            kernel = empirical_tangent_kernel(theta, masses, POINTS, POINTS, RELU)
            gaps.append(np.max(np.abs(kernel - exact)))
        errors.append(np.mean(gaps))
    slope = np.polyfit(np.log([1e3, 1e4, 1e5]), np.log(errors), 1)[0]
    assert -0.7 < slope < -0.3, errors  # Monte Carlo: M^{-1/2}


def test_empirical_kernel_is_the_gram_matrix_of_the_parameter_gradients():
    theta, masses = _law("gaussian", 0.9, 7, seed=2)
    x = POINTS
    grads = []
    for xi in np.column_stack([x, np.ones(4)]):
        z = theta[:, 1:] @ xi
        per = np.column_stack([np.maximum(z, 0), (theta[:, 0] * (z > 0))[:, None] * xi])
        grads.append(per * np.sqrt(masses)[:, None])
    direct = np.array([[np.sum(g * h) for h in grads] for g in grads])
    kernel = empirical_tangent_kernel(theta, masses, x, x, RELU)
    np.testing.assert_allclose(kernel, direct, rtol=1e-12, atol=1e-14)


def _linear_problem(loss: str, seed: int = 0):
    data = relu_teacher(12, 30, 3, 2, "gaussian", "sign" if loss == "logistic" else "value", seed)
    kernel = tangent_kernel(data.x, data.x, "gaussian", 1.0)
    cross = tangent_kernel(data.x_test, data.x, "gaussian", 1.0)
    rng = np.random.default_rng(seed)
    start, start_cross = 0.3 * rng.standard_normal(12), 0.3 * rng.standard_normal(30)
    return data, kernel, cross, start, start_cross


def _stepped(kernel, cross, y, start, start_cross, loss, t):
    """The kernel flow by DOP853 on (F(X), F(X')) directly — an independent integration."""
    n = y.size

    def rhs(_, state):
        residual = state[:n] - y if loss == "square" else -y / (1 + np.exp(y * state[:n]))
        return -np.concatenate([kernel @ residual, cross @ residual]) / n

    sol = solve_ivp(rhs, (0, t), np.concatenate([start, start_cross]), method="DOP853",
                    rtol=1e-12, atol=1e-13)  # fmt: skip
    return sol.y[:n, -1], sol.y[n:, -1]


@pytest.mark.parametrize("loss", ["square", "logistic"])
def test_linearised_flow_against_a_time_stepped_one(loss):
    data, kernel, cross, start, start_cross = _linear_problem(loss)
    flow = LinearisedFlow(kernel, cross, data.y, start, start_cross, loss, t_end=50.0)
    for t in (0.0, 0.7, 5.0, 50.0):
        train, test = flow.predict(t)
        ref_train, ref_test = _stepped(kernel, cross, data.y, start, start_cross, loss, t)
        np.testing.assert_allclose(train, ref_train, atol=1e-8)
        np.testing.assert_allclose(test, ref_test, atol=1e-8)


def test_minimum_norm_interpolant_interpolates_and_is_the_square_flows_limit():
    data, kernel, cross, start, start_cross = _linear_problem("square")
    flow = LinearisedFlow(kernel, cross, data.y, start, start_cross, "square")
    train, test = flow.interpolant()
    np.testing.assert_allclose(train, data.y, atol=1e-8)
    late = 1e3 * data.y.size / flow.eigenvalues[0]  # e^{−λ_min t/n} = e^{−1000}
    np.testing.assert_allclose(flow.predict(late)[1], test, atol=1e-8)
    zero = LinearisedFlow(kernel, cross, data.y, 0 * start, 0 * start_cross, "square")
    np.testing.assert_allclose(zero.interpolant()[1], cross @ np.linalg.solve(kernel, data.y),
                               rtol=1e-8, atol=1e-10)  # fmt: skip


def _lazy_run(tmp_path, alpha, activation="relu", count=100):
    cfg = {
        "problem": {"kind": "training_set", "dimension": 3, "loss": "square",
                    "activation": {"kind": activation},
                    "generate": {"kind": "teacher", "n": 12, "n_test": 60, "label": "value"}},
        "initial": {"kind": "gaussian", "scale": 1.5, "symmetric": True},
        "particles": {"count": count},
        "dynamics": {"scale": alpha, "linearised": True},
        "time": {"t_end": 20.0, "save_every": 20.0, "observe_every": 0.5},
    }  # fmt: skip
    path = tmp_path / f"lazy_{activation}_{alpha}.h5"
    dd.solve(cfg, path, quiet=True)
    return dd.open(path).observables


def test_a_smooth_network_approaches_its_linearisation_like_one_over_alpha_squared(tmp_path):
    """The twins (b, a), (−b, a) of the symmetric law cancel the second-order term of the
    Taylor expansion in δθ = O(1/α) (b σ''(a·x̃)(δa·x̃)² and δb σ'(a·x̃) δa·x̃ change sign with
    b and δa): for a smooth σ the gap is O(1/α²), and the weights move O(1/α)."""
    gaps, moves = [], []
    for alpha in (10.0, 100.0):
        obs = _lazy_run(tmp_path, alpha, "erf")
        assert obs["lin_gap"].values[0] == 0.0 and obs["movement"].values[0] == 0.0
        gaps.append(obs["lin_gap_test"].values.max())
        moves.append(obs["movement"].values[-1])
    assert 60 < gaps[0] / gaps[1] < 140, gaps
    assert 9 < moves[0] / moves[1] < 11, moves


def test_relu_runs_move_like_one_over_alpha_and_the_mean_field_run_is_not_lazy(tmp_path):
    """ReLU's kinks break the twins' cancellation (one twin's hyperplane crosses a point, the
    other's moves away): the gap's expectation is O(1/α), though a finite draw is erratic —
    measured in ``tests/test_lazy_slow.py``."""
    lazy = _lazy_run(tmp_path, 100.0)
    mean_field = _lazy_run(tmp_path, 1.0)
    assert 80 < mean_field["movement"].values[-1] / lazy["movement"].values[-1] < 120
    assert lazy["lin_gap_test"].values.max() < mean_field["lin_gap_test"].values.max() / 3


def test_linearised_needs_no_weight_decay_and_grid_needs_a_balanced_problem_in_1_or_2_d():
    base = {"problem": {"kind": "training_set", "dimension": 1,
                        "generate": {"kind": "teacher"}}}  # fmt: skip
    with pytest.raises(ConfigError, match=r"dynamics.linearised"):
        validate({**base, "dynamics": {"linearised": True, "lam": 0.1}})
    with pytest.raises(ConfigError, match=r"initial.kind"):
        validate({**base, "discretisation": {"method": "grid"}})
    with pytest.raises(ConfigError, match=r"problem.dimension"):
        validate({"problem": {"kind": "training_set", "dimension": 3},
                  "discretisation": {"method": "grid"}, "initial": {"kind": "sphere"}})  # fmt: skip
    with pytest.raises(ConfigError, match=r"problem.dimension"):
        validate({"problem": {"kind": "isotropic_gaussians", "dimension": 1}})


def test_plot_draws_the_gaps_of_a_linearised_run(tmp_path):
    _lazy_run(tmp_path, 10.0)
    figures = dd.open(tmp_path / "lazy_relu_10.0.h5").plot()
    assert {"training", "lazy"} <= set(figures)
    assert len(figures["lazy"].axes[0].lines) == 4  # train, test, min-norm, F_lin to min-norm


def test_the_predictors_are_stored_and_the_gaps_are_their_distances(tmp_path):
    """The snapshots F_α, F_lin and F_mn on the test points give the observables at the save
    times: interp_gap = rms(F_α − F_mn), lin_interp_gap = rms(F_lin − F_mn), lin_gap_test =
    rms(F_α − F_lin); F_α is the flow's own prediction; and the kernel flow nears its limit."""
    obs = _lazy_run(tmp_path, 10.0, count=60)
    run = dd.open(tmp_path / "lazy_relu_10.0.h5")
    snaps = run.series("snapshots")
    assert snaps["predictor"].shape == (2, 60) and snaps["interpolant"].shape == (2, 60)
    at = np.searchsorted(obs["time"].values, snaps["time"])

    def rms(v):
        return np.sqrt(np.mean(v * v, axis=1))

    for name, a, b in (("interp_gap", "predictor", "interpolant"),
                       ("lin_interp_gap", "predictor_lin", "interpolant"),
                       ("lin_gap_test", "predictor", "predictor_lin")):  # fmt: skip
        np.testing.assert_allclose(obs[name].values[at], rms(snaps[a] - snaps[b]), rtol=1e-12)
    np.testing.assert_array_equal(snaps["interpolant"][0], snaps["interpolant"][1])
    from ddsolver.kinds.training_set.kind import build_flow

    flow = build_flow(run.config)
    particles, masses = snaps["particles"][-1], snaps["masses"][-1]
    np.testing.assert_allclose(
        snaps["predictor"][-1], 10.0 * flow.predict(particles, masses, flow.data.x_test),
        rtol=1e-12, atol=1e-14,
    )  # fmt: skip
    gap = obs["lin_interp_gap"].values
    assert gap[-1] < 0.5 * gap[0], gap[[0, -1]]
