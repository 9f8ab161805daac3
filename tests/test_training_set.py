"""Training sets: the data, the flow's kernels against direct sums and finite differences, the
energy identity, GD against the flow, the max-margin programs, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ddsolver as dd
from ddsolver.config import ConfigError, validate
from ddsolver.data import clusters, relu_teacher
from ddsolver.kinds.training_set.kind import initial_particles
from ddsolver.maxmargin import f1_max_margin, svm_margin
from ddsolver.models.activations import Activation
from ddsolver.models.training_set import TrainingSetFlow

DATA = clusters(40, 50, 3, 2, 0.1, seed=3)


def _flow(loss="logistic", alpha=1.0, lam=0.0, both=True, kind="relu", data=DATA):
    return TrainingSetFlow(data, Activation.from_mapping({"kind": kind}), loss, alpha, lam, both)


def _particles(count=30, d=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, d + 2)), rng.dirichlet(np.ones(count))


def test_clusters_depend_on_two_coordinates_and_come_with_a_test_set():
    data = clusters(500, 300, 5, 3, 0.1, seed=0)
    assert data.x.shape == (500, 5) and data.x_test.shape == (300, 5)
    assert set(np.unique(data.y)) <= {-1.0, 1.0}
    assert np.all(np.abs(data.x[:, 2:]) <= 0.5)
    centres = np.round(data.x[:, :2] * 2) / 2  # the grid −½, 0, ½ in each of the 2 coordinates
    assert np.all(np.linalg.norm(data.x[:, :2] - centres, axis=1) <= 0.1 + 1e-12)
    same = clusters(500, 300, 5, 3, 0.1, seed=0)
    assert np.array_equal(same.x, data.x) and np.array_equal(same.y_test, data.y_test)
    teacher = relu_teacher(50, 10, 4, 3, "sphere", "value", seed=1)
    np.testing.assert_allclose(np.linalg.norm(teacher.x, axis=1), 1.0)


@pytest.mark.parametrize("kind", ["relu", "erf"])
def test_prediction_is_the_direct_sum(kind):
    theta, masses = _particles()
    flow = _flow(kind=kind)
    act = Activation.from_mapping({"kind": kind})
    xt = np.column_stack([DATA.x, np.ones(len(DATA.x))])
    direct = np.array([sum(m * t[0] * act(np.array([t[1:] @ xi]))[0]
                           for t, m in zip(theta, masses, strict=True)) for xi in xt])  # fmt: skip
    np.testing.assert_allclose(flow.predict(theta, masses, DATA.x), direct, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("both", [True, False])
def test_the_blas_velocity_equals_its_compiled_twin(kind, both):
    theta, masses = _particles()
    flow = _flow("square", 2.0, 0.1, both, kind)
    np.testing.assert_allclose(
        flow.velocity(theta, masses), flow.velocity_compiled(theta, masses), rtol=1e-12, atol=1e-15
    )


@pytest.mark.parametrize(
    ("loss", "alpha", "lam", "both"),
    [("logistic", 1.0, 0.0, True), ("square", 3.0, 0.1, True), ("logistic", 2.0, 0.05, False)],
)
def test_velocity_is_minus_the_gradient_per_unit_mass(loss, alpha, lam, both):
    """v_j = −(1/m_j) ∂L/∂θ_j, against central differences of the objective (h = 1e-6)."""
    theta, masses = _particles()
    flow = _flow(loss, alpha, lam, both)
    v = flow.velocity(theta, masses)
    h = 1e-6
    for j in (0, 7, 29):
        for k in range(theta.shape[1]):
            plus, minus = theta.copy(), theta.copy()
            plus[j, k] += h
            minus[j, k] -= h
            grad = (flow.objective(plus, masses) - flow.objective(minus, masses)) / (2 * h)
            expected = -grad / masses[j]
            if not both and k > 0:
                expected = 0.0  # the positions do not move
            assert v[j, k] == pytest.approx(expected, rel=1e-5, abs=1e-7), (j, k)


SMALL = {
    "problem": {"kind": "training_set", "dimension": 2, "loss": "logistic",
                "generate": {"kind": "clusters", "n": 40, "n_test": 100, "k": 2}},
    "initial": {"kind": "sphere", "scale": 1.0},
    "particles": {"count": 60},
    "time": {"t_end": 4.0, "save_every": 1.0, "observe_every": 0.05},
    "sgd": {"neurons": 60, "seeds": [0]},
}  # fmt: skip


def test_the_energy_identity_holds_along_the_flow():
    """dL/dt = −∫|v|² dρ: the change of the risk between observations (every 0.02) against
    the trapezoidal integral of the dissipation, to 5e-5 of the decrease (measured: 8e-6, the
    trapezoid rule's own error; the same at rtol = 1e-6 … 1e-8)."""
    obs = dd.solve(
        SMALL, quiet=True, particles__rtol=1e-7, particles__atol=1e-10, time__observe_every=0.02
    ).series("observables")
    drop = -np.diff(obs["risk"])
    integral = 0.5 * (obs["dissipation"][1:] + obs["dissipation"][:-1]) * np.diff(obs["time"])
    assert np.all(drop > 0)
    assert np.abs(drop - integral).max() < 5e-5 * drop.sum()


def test_gradient_descent_converges_to_the_flow_at_first_order():
    """Full-batch GD with m = M from the same draw (seed = initial.seed) against the flow:
    the largest risk gap over t ≤ 4 halves with the step (a wrong 1/m or time scale would
    leave an O(1) gap)."""
    flow = dd.solve(SMALL, quiet=True, particles__rtol=1e-7, particles__atol=1e-10)
    reference = flow.series("observables")
    gaps = []
    for eps in (0.02, 0.01):
        gd = dd.train(SMALL, quiet=True, sgd__eps=eps).series("observables")
        risk = np.interp(gd["time"], reference["time"], reference["risk"])
        gaps.append(np.abs(gd["risk"][:, 0] - risk).max())
    assert gaps[1] < 1e-2 * reference["risk"][0]
    assert 1.8 < gaps[0] / gaps[1] < 2.2


def test_sgd_with_small_batches_runs_and_matches_the_flow_early():
    gd = dd.train(SMALL, quiet=True, sgd__eps=0.01, sgd__batch=8, sgd__seeds=[0, 1, 2])
    obs = gd.series("observables")
    assert obs["risk"].shape[1] == 3 and np.all(obs["risk"][-1] < obs["risk"][0])
    assert not np.allclose(obs["risk"][:, 0], obs["risk"][:, 1])  # the batches differ per seed


def test_the_f1_max_margin_lp_on_points_with_a_known_margin():
    """x = ±1 in R¹ with y = ±1: the best unit directions are (±1, 1)/√2, γ = √2/2."""
    result = f1_max_margin(np.array([[1.0], [-1.0]]), np.array([1.0, -1.0]), start=64)
    assert result.converged and result.value == pytest.approx(math.sqrt(0.5), abs=1e-9)


@pytest.mark.parametrize(("d", "size"), [(2, 256), (2, 2048), (4, 512)])
def test_column_generation_solves_the_lp_over_the_whole_dictionary(d, size):
    """f1_margin_columns against the LP over every direction at once (Fibonacci lattice in
    R³, Gaussian directions in R⁵): the same value to the solver's tolerance, and its
    coefficients attain it."""
    from ddsolver.maxmargin import f1_margin_columns, f1_margin_lp, sphere_directions

    data = clusters(60, 0, d, 3, 0.1, seed=d)
    directions = sphere_directions(size, d + 1, seed=1)
    full, _ = f1_margin_lp(data.x, data.y, directions)
    value, coef, dual = f1_margin_columns(data.x, data.y, directions)
    assert value == pytest.approx(full, abs=1e-9)
    features = np.maximum(np.column_stack([data.x, np.ones(60)]) @ directions.T, 0.0)
    assert np.abs(coef).sum() <= 1 + 1e-9
    assert np.min(data.y * (features @ coef)) == pytest.approx(value, abs=1e-9)
    assert dual.min() >= -1e-12 and dual.sum() == pytest.approx(1.0, abs=1e-9)


def test_run_files_store_the_margin_limit_and_the_figure_draws_it(tmp_path):
    """The flow's and GD's files of a logistic ReLU run hold the F1 max-margin that
    ddsolver.maxmargin gives for their /data; an output-layer run holds the SVM value of the
    flow's fixed features; the square loss holds none."""
    from ddsolver import io
    from ddsolver.kinds.training_set.kind import build_flow

    run = dd.solve(SMALL, tmp_path / "flow.h5", quiet=True)
    gd = dd.train(SMALL, tmp_path / "gd.h5", quiet=True, sgd__eps=0.01, time__t_end=1.0)
    data = io.read_data(run.path)
    best = f1_max_margin(data["x"], data["y"])
    for result in (run, gd):
        stored = result.max_margin
        assert stored["kind"] == "F1" and stored["value"] == best.value
        assert stored["sizes"] == list(best.sizes) and stored["converged"] == best.converged
    ax = run.plot()["training"].axes[2]
    assert any(line.get_ydata()[0] == best.value for line in ax.get_lines()[1:])
    io.verify(run.path)  # the attribute is sealed with the config
    from cli_runner import ddsolver

    shown = ddsolver("info", run.path).stdout
    assert f"max margin (F1): γ* = {best.value:.6g} ({best.sizes[-1]} directions" in shown
    output = {**SMALL, "problem": {**SMALL["problem"], "train": "output"}}
    out = dd.solve(output, tmp_path / "out.h5", quiet=True)
    cfg = validate(output)
    flow = build_flow(cfg)
    theta, masses = initial_particles(cfg, 60, 0, 2)
    stored = out.max_margin
    assert stored["value"] == svm_margin(flow.features(theta, flow.data.x), flow.data.y, masses)
    square = {**SMALL, "problem": {**SMALL["problem"], "loss": "square"}}
    assert dd.solve(square, tmp_path / "sq.h5", quiet=True).max_margin is None


def test_the_svm_margin_of_fixed_features():
    """ψ = I, y = (1, −1): u = (1, −1), γ = 1/√2; weights scale the features by √m."""
    assert svm_margin(np.eye(2), np.array([1.0, -1.0]), np.ones(2)) == pytest.approx(
        math.sqrt(0.5), rel=1e-6
    )
    assert svm_margin(np.eye(2), np.array([1.0, -1.0]), np.full(2, 4.0)) == pytest.approx(
        math.sqrt(2.0), rel=1e-6
    )
    assert svm_margin(np.ones((2, 1)), np.array([1.0, -1.0]), np.ones(1)) == 0.0


def test_symmetric_initial_law_predicts_zero_and_sphere_is_balanced():
    cfg = validate({**SMALL, "initial": {"kind": "sphere", "scale": 0.7, "symmetric": True}})
    theta, masses = initial_particles(cfg, 60, 0, 2)
    np.testing.assert_allclose(np.abs(theta[:, 0]), 0.7)
    np.testing.assert_allclose(np.linalg.norm(theta[:, 1:], axis=1), 0.7)
    flow = _flow(data=clusters(10, 0, 2, 2, 0.1, 0))
    np.testing.assert_allclose(flow.predict(theta, masses, flow.data.x), 0.0, atol=1e-15)


def test_run_sgd_compare_on_the_command_line(tmp_path):
    run = dd.solve(SMALL, tmp_path / "flow.h5", quiet=True)
    gd = dd.train(SMALL, tmp_path / "gd.h5", quiet=True, sgd__eps=0.01)
    report = dd.compare(run, gd, tmp_path / "report")
    assert {"loss", "margin", "test_error"} <= set(report["observables"])
    assert len(report["energy_distance"]["time"]) == 5
    assert report["energy_distance"]["values"][0] == pytest.approx(0.0, abs=1e-12)  # same draw
    snaps = run.series("snapshots")
    assert snaps["particles"].shape == (5, 60, 4)
    np.testing.assert_allclose(snaps["masses"].sum(axis=1), 1.0)
    figures = dd.open(tmp_path / "flow.h5").plot()
    assert "classifier" in figures


def _write(tmp_path, name, **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


def test_bad_training_sets_are_refused_naming_the_key(tmp_path):
    x, y = np.zeros((5, 2)), np.ones(5)
    nan = x.copy()
    nan[1, 1] = np.nan
    cases = [
        (_write(tmp_path, "nan.npz", x=nan, y=y), "problem.data"),
        (_write(tmp_path, "shape.npz", x=x, y=np.ones(4)), "problem.data"),
        (_write(tmp_path, "empty.npz", x=np.zeros((0, 2)), y=np.zeros(0)), "problem.data"),
        (_write(tmp_path, "labels.npz", x=x, y=np.arange(5.0)), "problem.loss"),
        (str(tmp_path / "missing.npz"), "problem.data"),
        (str(tmp_path / "data.txt"), "problem.data"),
    ]
    for path, key in cases:
        with pytest.raises(ConfigError) as info:
            validate({"problem": {"kind": "training_set", "data": path}})
        assert info.value.key == key, path
    csv = tmp_path / "d.csv"
    csv.write_text("x1,x2,y,test\n0.1,0.2,1,0\n0.3,-0.2,-1,0\n0.5,0.5,1,1\n")
    cfg = validate({"problem": {"kind": "training_set", "data": str(csv)}})
    assert cfg["problem"]["dimension"] == 2
    with pytest.raises(ConfigError) as info:
        validate({"problem": {"kind": "training_set", "data": str(csv), "dimension": 3}})
    assert info.value.key == "problem.dimension"
    with pytest.raises(ConfigError) as info:
        validate({"problem": {"kind": "training_set",
                              "generate": {"kind": "teacher", "label": "value"}}})  # fmt: skip
    assert info.value.key == "problem.loss"


def test_a_data_file_in_a_config_is_found_from_any_working_directory(tmp_path, monkeypatch):
    """problem.data in a config file is relative to the file's directory; given by --set (or
    the API's overrides) it is relative to the working directory."""
    from ddsolver.api import resolve_config
    from ddsolver.config import load_config

    project = tmp_path / "project"
    project.mkdir()
    csv = project / "points.csv"
    csv.write_text("x1,x2,y,test\n0.1,0.2,1,0\n0.3,-0.2,-1,0\n0.5,0.5,1,1\n")
    config = project / "c.toml"
    config.write_text('[problem]\nkind = "training_set"\ndata = "points.csv"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_config(config)["problem"]["data"] == str(csv)
    assert resolve_config(config)["problem"]["data"] == str(csv)  # the API reads it alike
    with pytest.raises(ConfigError) as info:  # --set: the working directory
        load_config(config, ["problem.data='points.csv'"])
    assert info.value.key == "problem.data"
    monkeypatch.chdir(project)
    assert load_config(config, ["problem.data='points.csv'"])["problem"]["data"] == "points.csv"


@pytest.mark.parametrize("loss", ["square", "logistic"])
@pytest.mark.parametrize("alpha", [1.0, 10.0, 1000.0])
def test_losses_are_the_predictors_and_the_objective_is_them_over_alpha_squared(loss, alpha):
    """loss and test_loss are (1/n) Σ ℓ(α f, y) (the predictor's units); risk = loss/α² +
    (λ/2)∫|θ|², and loss/α² is the objective's data term exactly as it was stored before."""
    data = relu_teacher(30, 40, 3, 2, "gaussian", "sign" if loss == "logistic" else "value", 4)
    flow = _flow(loss, alpha, 0.1, data=data)
    theta, masses = _particles()
    obs = flow.observables(theta, masses)
    f, g = flow.predict(theta, masses, data.x), flow.predict(theta, masses, data.x_test)

    def ell(pred, y):
        big = alpha * pred
        return np.mean(0.5 * (big - y) ** 2 if loss == "square" else np.logaddexp(0.0, -y * big))

    assert obs["loss"] == pytest.approx(ell(f, data.y), rel=1e-12)
    assert obs["test_loss"] == pytest.approx(ell(g, data.y_test), rel=1e-12)
    norm2 = masses @ np.einsum("jk,jk->j", theta, theta)
    assert obs["risk"] == obs["loss"] / alpha**2 + 0.05 * norm2
    assert obs["risk"] == flow.objective(theta, masses)  # the objective the flow descends
