"""Multi-index students a σ(<w, x>) with a trained second layer, and the cubic activation."""

import math

import numpy as np
import pytest
from scipy import integrate

import ddsolver as dd
from ddsolver.config import ConfigError, load_config
from ddsolver.kinds.multi_index.hermite_teacher import HermitePolynomial
from ddsolver.kinds.multi_index.kind import build_model, initial_particles
from ddsolver.kinds.multi_index.model import MultiIndex
from ddsolver.kinds.multi_index.sgd import (
    exact_risk,
    multi_index_sgd_steps_ref,
    sgd_steps,
)
from ddsolver.models import Activation
from ddsolver.models.hermite import hermite_coefficients
from ddsolver.models.integrals import (
    derivative_product,
    gaussian_mean,
    pair,
    pair_moment,
    pair_moment_da,
)

STAIRCASE = "grids/multi_index_staircase_two_layer.toml"
CUBIC = Activation.from_mapping({"kind": "cubic", "coefficients": [0.3, 1.0, -0.7, 0.4]})
GRAM = np.array([[1.0, 0.3], [0.3, 0.8]])
V = np.array([1.0, -0.7])
#: Particles θ = (a, m_1, m_2, r⊥), none at the origin.
THETA = np.array(
    [[0.7, 0.3, 0.5, 0.4], [-1.2, 0.8, -0.2, 0.2], [0.4, -0.2, 0.9, 0.7], [1.5, 1.1, 0.05, 0.3]]
)


def _model(kind="erf", d=9.0, **kw) -> MultiIndex:
    act = CUBIC if kind == "cubic" else Activation.from_mapping({"kind": kind})
    return MultiIndex(act, d, GRAM, V, second_layer=True, **kw)


# ------------------------------------------------------------------------------ the cubic σ


def _quadrature_pair(act, a, b, c):
    """E[σ(aZ₁)σ(bZ₂)] by two-dimensional adaptive quadrature."""
    s = math.sqrt(1 - c * c)

    def f(z2, z1):
        return act(a * z1) * act(b * (c * z1 + s * z2)) * np.exp(-(z1 * z1 + z2 * z2) / 2)

    value, _ = integrate.dblquad(f, -12, 12, -12, 12, epsabs=1e-13, epsrel=1e-13)
    return value / (2 * math.pi)


@pytest.mark.parametrize("a, b, c", [(0.5, 1.3, 0.4), (1.2, 0.2, -0.9), (2.0, 1.5, 0.99)])
def test_cubic_pair_moment_against_quadrature_and_differences(a, b, c):
    p = CUBIC.param_array
    assert math.isclose(pair_moment(CUBIC.code, p, a, b, c), _quadrature_pair(CUBIC, a, b, c),
                        rel_tol=1e-9, abs_tol=1e-10)  # fmt: skip
    h = 1e-6
    fd_a = (pair_moment(CUBIC.code, p, a + h, b, c) - pair_moment(CUBIC.code, p, a - h, b, c)) / (
        2 * h
    )
    fd_c = (pair_moment(CUBIC.code, p, a, b, c + h) - pair_moment(CUBIC.code, p, a, b, c - h)) / (
        2 * h
    )
    assert math.isclose(pair_moment_da(CUBIC.code, p, a, b, c), fd_a, rel_tol=1e-7)
    # Price: ∂K/∂c = ab E[σ'σ']
    assert math.isclose(a * b * derivative_product(CUBIC.code, p, a, b, c), fd_c, rel_tol=1e-7)


def test_cubic_moments_against_monte_carlo(rng):
    n, a, b, c, mu, s = 400_000, 0.9, 1.4, 0.6, 0.4, 1.1
    z1 = rng.standard_normal(n)
    z2 = c * z1 + math.sqrt(1 - c * c) * rng.standard_normal(n)
    p = CUBIC.param_array
    for value, samples in [
        (pair_moment(CUBIC.code, p, a, b, c), CUBIC(a * z1) * CUBIC(b * z2)),
        (derivative_product(CUBIC.code, p, a, b, c),
         CUBIC.derivative(a * z1) * CUBIC.derivative(b * z2)),
        (gaussian_mean(CUBIC.code, p, mu, s), CUBIC(mu + s * z1)),
    ]:  # fmt: skip
        se = samples.std() / math.sqrt(n)
        assert abs(value - samples.mean()) <= 4 * se, (value, samples.mean(), se)


def test_cubic_hermite_coefficients_are_the_closed_form():
    """f̂_0 = c₀ + c₂a², f̂_1 = c₁a + 3c₃a³, f̂_2 = √2 c₂a², f̂_3 = √6 c₃a³, f̂_n = 0 above; the
    quadrature of :func:`hermite_coefficients` meets them to 1e-12."""
    c0, c1, c2, c3 = CUBIC.params
    a = np.array([0.3, 1.0, 1.7])
    f, df = hermite_coefficients(CUBIC, a, 5)
    expected = np.column_stack([c0 + c2 * a**2, c1 * a + 3 * c3 * a**3, math.sqrt(2) * c2 * a**2,
                                math.sqrt(6) * c3 * a**3, 0 * a, 0 * a])  # fmt: skip
    np.testing.assert_allclose(f, expected, atol=1e-12)
    d_expected = np.column_stack([2 * c2 * a, c1 + 9 * c3 * a**2, 2 * math.sqrt(2) * c2 * a,
                                  3 * math.sqrt(6) * c3 * a**2, 0 * a, 0 * a])  # fmt: skip
    np.testing.assert_allclose(df, d_expected, atol=1e-11)


# -------------------------------------------------------------------- the second layer's flow


@pytest.mark.parametrize("kind", ["erf", "relu", "cubic"])
@pytest.mark.parametrize("d", [7.0, math.inf])
def test_velocity_is_minus_m_times_the_risk_gradient(kind, d):
    """dθ_i/dt = −M ∂R/∂θ_i for θ = (a, m, r⊥), R the empirical law's risk (λ = 0)."""
    model = _model(kind, d, label_noise=0.2)
    vel = model.velocity(THETA)
    h = 1e-6
    for i in range(len(THETA)):
        for j in range(THETA.shape[1]):
            plus, minus = THETA.copy(), THETA.copy()
            plus[i, j] += h
            minus[i, j] -= h
            fd = (model.risk(plus) - model.risk(minus)) / (2 * h)
            assert math.isclose(vel[i, j], -len(THETA) * fd, rel_tol=1e-6, abs_tol=1e-8), (i, j)


def test_a_fixed_at_one_moves_w_as_the_first_layer_flow_and_a_by_the_potential():
    """With every a = 1 the first layer's velocity is the w-only model's, bit for bit up to
    rounding, and da/dt = −2(V₁ + F); the risk is the w-only risk."""
    both = _model("erf", 9.0, lam=0.1)
    first = MultiIndex(Activation("erf"), 9.0, GRAM, V, lam=0.1)
    theta = THETA.copy()
    theta[:, 0] = 1.0
    vel = both.velocity(theta)
    np.testing.assert_allclose(vel[:, 1:], first.velocity(theta[:, 1:]), rtol=1e-14, atol=1e-15)
    v1, _ = first.potential(theta[:, 1:])
    field, _ = first.interaction(theta[:, 1:])
    np.testing.assert_allclose(vel[:, 0], -2 * (v1 + field + 0.1), rtol=1e-14)
    assert both.risk(theta) == pytest.approx(first.risk(theta[:, 1:]), rel=1e-14)


def test_polynomial_teacher_with_a_second_layer_is_the_risk_gradient():
    poly = HermitePolynomial.parse("z1 + z1*z2 + z1*z2*z3", 3)
    model = MultiIndex(CUBIC, 12.0, np.eye(3), np.ones(3), polynomial=poly, second_layer=True)
    theta = np.column_stack([THETA[:, :3], 0.4 * np.ones(4), THETA[:, 3]])
    vel = model.velocity(theta)
    h = 1e-6
    for j in range(theta.shape[1]):
        plus, minus = theta.copy(), theta.copy()
        plus[1, j] += h
        minus[1, j] -= h
        fd = (model.risk(plus) - model.risk(minus)) / (2 * h)
        assert math.isclose(vel[1, j], -4 * fd, rel_tol=1e-6, abs_tol=1e-8), j


# -------------------------------------------------------------------------------- SGD's side


@pytest.mark.parametrize("kind", ["erf", "cubic"])
def test_exact_risk_with_a_second_layer_matches_monte_carlo(kind, rng):
    d, n_samples = 8, 400_000
    model = _model(kind, float(d), label_noise=0.2)
    w = 0.5 * rng.standard_normal((5, d))
    a = rng.standard_normal(5)
    x = rng.standard_normal((n_samples, d))
    y = model.activation(x[:, :2] @ model.chol.T) @ V + 0.2 * rng.standard_normal(n_samples)
    err = (y - model.activation(x @ w.T) @ a / 5) ** 2
    se = err.std() / math.sqrt(n_samples)
    assert abs(exact_risk(model, w, a) - err.mean()) <= 4 * se


def test_reduced_risk_is_the_mean_exact_risk_over_orthogonal_directions(rng):
    """The flow's risk of four particles is the exact risk of the four-neuron network whose
    orthogonal parts point in independent uniform directions of R^{d−k}, averaged (4 s.e.)."""
    d = 7
    model = _model("relu", float(d))
    risks = []
    for _ in range(4000):
        v = rng.standard_normal((4, d - 2))
        w = np.column_stack([THETA[:, 1:3], THETA[:, 3:] * v / np.linalg.norm(v, axis=1)[:, None]])
        risks.append(exact_risk(model, w, THETA[:, 0]))
    se = np.std(risks) / math.sqrt(len(risks))
    # R_N's diagonal pairs have c = 1, the reduced risk's the orthogonal cosine's law:
    # E R_N = R + (1/N²) Σ_i a_i² (K(ρ_i, ρ_i, 1) − Ū₁(w_i, w_i))
    a, first = model.layers(THETA)
    rho = np.linalg.norm(first, axis=1)
    same = np.array([model.interaction(THETA[i : i + 1])[0][0] / a[i] for i in range(4)])
    diagonal = a * a * (pair(model.activation, rho, rho, np.ones(4)) - same)
    expected = model.risk(THETA) + diagonal.sum() / 16
    assert abs(np.mean(risks) - expected) <= 4 * se, (np.mean(risks), expected, se)


@pytest.mark.parametrize("teacher", ["network", "polynomial"])
def test_compiled_sgd_with_a_second_layer_is_its_numpy_twin(teacher, rng):
    if teacher == "network":
        model = _model("cubic", 9.0, label_noise=0.2, lam=0.05)
    else:
        poly = HermitePolynomial.parse("z1 + 0.7*z1*z2", 2)
        model = MultiIndex(CUBIC, 9.0, np.eye(2), np.ones(2), label_noise=0.2, lam=0.05,
                           polynomial=poly, second_layer=True)  # fmt: skip
    w0, a0 = 0.3 * rng.standard_normal((6, 9)), rng.standard_normal(6)
    w1, w2, a1, a2 = w0.copy(), w0.copy(), a0.copy(), a0.copy()
    sgd_steps(w1, model, 2e-3, 3, 0, 25, np.random.default_rng(5), a=a1)
    multi_index_sgd_steps_ref(w2, model, 2e-3, 3, 0, 25, np.random.default_rng(5), a=a2)
    np.testing.assert_allclose(w1, w2, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a1, a2, rtol=1e-12, atol=1e-14)
    assert not np.allclose(a1, a0)


# -------------------------------------------------------------------------- config and runs


def test_the_second_layer_is_drawn_after_w_and_the_w_only_draw_is_unchanged():
    cfg = load_config(STAIRCASE, ["particles.draw=random", "initial.a_mean=0.3"])
    theta = initial_particles(cfg, 40, 3)
    rng = np.random.default_rng((3, 2))
    d, kappa = cfg["problem"]["dimension"], cfg["initial"]["scale"]
    sigma = kappa / math.sqrt(d)
    m = sigma * rng.standard_normal((40, 3))
    r = sigma * np.sqrt(rng.chisquare(d - 3, 40))
    a = 0.3 + cfg["initial"]["a_std"] * rng.standard_normal(40)
    np.testing.assert_array_equal(theta, np.column_stack([a, m, r]))
    # the same file's students without a second layer: the draw of (m, r⊥) is unchanged
    overrides = ["particles.draw=random", f"initial.scale={kappa}", f"problem.dimension={d}"]
    w_only = load_config("grids/multi_index_staircase.toml", overrides)
    np.testing.assert_array_equal(initial_particles(w_only, 40, 3), np.column_stack([m, r]))


@pytest.mark.parametrize(
    "override, key",
    [
        ("initial.a_std=0.5", "initial.a_std"),  # no second layer: a does not apply
        ("problem.activation.coefficients=[0.0, 1.0]", "problem.activation.coefficients"),
    ],
)
def test_keys_that_do_not_apply_are_refused(override, key):
    with pytest.raises(ConfigError) as err:
        load_config("grids/multi_index.toml", [override])
    assert err.value.key == key


@pytest.mark.parametrize(
    "override", ["problem.activation.coefficients=[]", "problem.activation.coefficients=[1.0]",
                 "problem.activation.coefficients=[0, 1, 2, 3, 4]"],
)  # fmt: skip
def test_bad_cubic_coefficients_are_refused_naming_the_key(override):
    with pytest.raises(ConfigError) as err:
        load_config(STAIRCASE, ["problem.activation.kind=cubic", override])
    assert err.value.key == "problem.activation.coefficients"


def test_the_ready_config_builds_a_two_layer_relu_model():
    model = build_model(load_config(STAIRCASE))
    assert model.second_layer and model.activation.kind == "relu" and model.units == 3
    assert model.polynomial is not None


def test_run_and_sgd_write_a_as_a_coordinate_and_resume_bitwise(tmp_path, assert_same_rows):
    base = {"time.save_every": 0.1, "time.observe_every": 0.05, "sgd.observe_every": 0.05,
            "particles.count": 12, "sgd.neurons": 10, "sgd.seeds": [0, 1],
            "problem.dimension": 16}  # fmt: skip
    for call, snapshot in ((dd.solve, "particles"), (dd.train, "a")):
        call(STAIRCASE, tmp_path / "whole.h5", force=True, quiet=True,
             overrides={**base, "time.t_end": 0.4})  # fmt: skip
        call(STAIRCASE, tmp_path / "parts.h5", force=True, quiet=True,
             overrides={**base, "time.t_end": 0.2})  # fmt: skip
        call(STAIRCASE, tmp_path / "parts.h5", resume=True, quiet=True,
             overrides={**base, "time.t_end": 0.4})  # fmt: skip
        whole, parts = dd.open(tmp_path / "whole.h5"), dd.open(tmp_path / "parts.h5")
        assert_same_rows(whole, parts, ("risk", "alignment", "m_rms_3", "mean_a"), snapshot)
        if call is dd.solve:
            assert whole.snapshots["particles"].values.shape[-1] == 5  # (a, m_1..3, r⊥)


def _rms_crossing(run, name: str, level: float = 0.5) -> np.ndarray:
    """The first time the observable ``name`` reaches ``level``, by linear interpolation
    between observations: a number for a flow, one per seed for SGD."""
    values = run.observables[name].values
    times = run.observables[name].time.values
    columns = values[:, None] if values.ndim == 1 else values
    out = []
    for v in columns.T:
        i = int(np.argmax(v >= level))
        assert v[i] >= level, f"{name} never reaches {level}"
        out.append(
            times[i - 1] + (level - v[i - 1]) * (times[i] - times[i - 1]) / (v[i] - v[i - 1])
        )
    return np.array(out)


@pytest.mark.slow
def test_the_staircase_steps_take_a_time_that_does_not_grow_with_d(tmp_path):
    """ReLU students with both layers on the staircase. Each step's new direction is driven by
    the ones already learnt (∂V/∂m₂ ∝ m₁), not by its own 1/√d start, so the time τ₂ at which
    the RMS of m₂ reaches 0.5 settles as d grows (measured: 1.122 at d = 64, 1.148 at d = 256;
    an escape from m₂ ~ 1/√d would add a fixed time per doubling of d). SGD (N = 1000, six
    seeds, εd = 0.016) climbs at the DD's τ₂ within 3 s.e. (measured 1.134 ± 0.040), and its
    excess risk at t = 6 falls with the step (measured 0.130 at εd = 0.064, 0.043 at 0.016)."""
    tau = {}
    for d in (64, 256):
        flow = dd.solve(STAIRCASE, tmp_path / f"flow{d}.h5", quiet=True,
                        overrides={"problem.dimension": d})  # fmt: skip
        tau[d] = float(_rms_crossing(flow, "m_rms_2")[0])
        if d == 64:
            plateau = float(flow.observables["risk"].values[-1])
    assert abs(tau[256] - tau[64]) < 0.1, tau
    gaps = {}
    for eps_d in (0.064, 0.016):
        run = dd.train(STAIRCASE, tmp_path / f"sgd{eps_d}.h5", quiet=True,
                       overrides={"sgd.eps": eps_d / 64, "sgd.seeds": list(range(6))})  # fmt: skip
        gaps[eps_d] = float(run.observables["risk"].values[-1].mean()) - plateau
        if eps_d == 0.016:
            sgd_tau = _rms_crossing(run, "m_rms_2")
            se = sgd_tau.std(ddof=1) / math.sqrt(sgd_tau.size)
            assert abs(sgd_tau.mean() - tau[64]) <= 3 * se, (sgd_tau, tau[64])
    assert 2.0 < gaps[0.064] / gaps[0.016] < 5.0, gaps


@pytest.mark.slow
def test_training_removes_the_initial_draws_one_over_n_error(tmp_path):
    """On the two-layer staircase the flow's i.i.d. 1/N term is large (N·term = 19.6 at t = 4)
    and predicts SGD at N = 250 about 0.073 above N = 4000. Measured (eight seeds,
    εd = 0.016): 0.005 ± 0.003. The difference must stay below half the i.i.d. prediction,
    and the prediction itself must be large against the seeds' errors."""
    times = {"time.observe_every": 0.25, "time.t_end": 4.0, "time.save_every": 1.0}
    flow = dd.solve(STAIRCASE, tmp_path / "flow.h5", quiet=True, overrides=times)
    o = flow.observables
    iid_c = 1000 * float(o["risk_finite_n"].values[-1] - o["risk"].values[-1])  # (at sgd.neurons)
    means, errors = {}, {}
    sgd = {**times, "sgd.eps": 0.016 / 64, "sgd.seeds": list(range(8)), "sgd.observe_every": 0.25}
    for n in (250, 4000):
        run = dd.train(STAIRCASE, tmp_path / f"sgd{n}.h5", quiet=True,
                       overrides={**sgd, "sgd.neurons": n})  # fmt: skip
        last = run.observables["risk"].values[-1]
        means[n], errors[n] = float(last.mean()), float(last.std(ddof=1) / math.sqrt(last.size))
    predicted = iid_c * (1 / 250 - 1 / 4000)
    difference = means[250] - means[4000]
    error = math.hypot(errors[250], errors[4000])
    assert predicted > 10 * error, (predicted, error)
    assert difference < predicted / 2, (difference, error, predicted)
