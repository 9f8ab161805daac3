"""The multi-index kind: kernels, the flow in (m, r⊥), SGD, the config, the command line."""

import math

import numpy as np
import pytest
from cli_runner import ddsolver

from ddsolver import io
from ddsolver.config import ConfigError, load_config
from ddsolver.kinds import get_kind
from ddsolver.kinds.multi_index.hermite_teacher import HermitePolynomial
from ddsolver.kinds.multi_index.kind import build_model, initial_particles
from ddsolver.kinds.multi_index.model import MultiIndex
from ddsolver.kinds.multi_index.sgd import (
    exact_risk,
    multi_index_sgd_steps_ref,
    sgd_steps,
)
from ddsolver.models import Activation, TeacherStudent
from ddsolver.models.integrals import pair

SE_FACTOR = 4.0
GRAM = np.array([[1.0, 0.3], [0.3, 0.8]])
V = np.array([1.0, -0.7])
#: Particles θ = (m_1, m_2, r⊥), none at the origin.
THETA = np.array([[0.3, 0.5, 0.4], [0.8, -0.2, 0.2], [-0.2, 0.9, 0.7], [1.1, 0.05, 0.3]])


def _model(kind="erf", d=12.0, **kw) -> MultiIndex:
    return MultiIndex(Activation.from_mapping({"kind": kind}), d, GRAM, V, **kw)


def _lift(theta, d, rng, samples):
    """w ∈ R^d of each particle, one independent uniform orthogonal direction per sample:
    (P, samples, d)."""
    k = theta.shape[1] - 1
    out = np.zeros((theta.shape[0], samples, d))
    for i, row in enumerate(theta):
        direction = rng.standard_normal((samples, d - k))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        out[i, :, :k] = row[:k]
        out[i, :, k:] = row[k] * direction
    return out


@pytest.mark.parametrize("kind", ["erf", "relu", "square"])
def test_kernels_against_full_dimension_monte_carlo(kind, rng):
    """E y², V and Ū against samples of x and of the orthogonal directions (4 s.e.)."""
    d, n = 9, 200_000
    model = _model(kind, d, label_noise=0.3)
    x = rng.standard_normal((n, d))
    y = model.activation(x[:, :2] @ model.chol.T) @ V + 0.3 * rng.standard_normal(n)
    w = _lift(THETA, d, rng, n)
    fields = model.activation(np.einsum("pnd,nd->pn", w, x))

    def close(value, samples):
        se = samples.std() / math.sqrt(n)
        assert abs(value - samples.mean()) <= SE_FACTOR * se, (value, samples.mean(), se)

    close(model.label_second_moment, y * y)
    v, _ = model.potential(THETA)
    for i in range(len(THETA)):
        close(v[i], -y * fields[i])
        for j in range(i + 1, len(THETA)):
            pair = THETA[[i, j]]
            u, _ = model.interaction(pair)  # (1/2)(Ū(θ_i, θ_i) + Ū(θ_i, θ_j))
            u_ii, _ = model.interaction(pair[:1])
            close(2 * u[0] - u_ii[0], fields[i] * fields[j])


@pytest.mark.parametrize("kind", ["erf", "relu", "ramp", "square"])
@pytest.mark.parametrize("d", [6.0, 40.0, math.inf])
def test_gradients_are_those_of_the_values(kind, d):
    """∇V and ∇_1 Ū against central differences of the values (h = 1e-6)."""
    model = _model(kind, d)
    _, grad_v = model.potential(THETA)
    h = 1e-6
    for a in range(THETA.shape[1]):
        step = np.zeros_like(THETA)
        step[:, a] = h
        fd = (model.potential(THETA + step)[0] - model.potential(THETA - step)[0]) / (2 * h)
        np.testing.assert_allclose(grad_v[:, a], fd, rtol=1e-6, atol=1e-8)
    # the interaction's gradient in the first argument only: move one particle, hold the rest
    _, grad_u = model.interaction(THETA)
    for i in range(len(THETA)):
        for a in range(THETA.shape[1]):
            plus, minus = THETA.copy(), THETA.copy()
            plus[i, a] += h
            minus[i, a] -= h
            n = len(THETA)

            def first(theta, i=i):  # (1/M) Σ_l Ū(θ_i, θ_l)
                return model.interaction(theta)[0][i]

            fd = (first(plus) - first(minus)) / (2 * h)
            # the self term Ū(θ_i, θ_i) moves in both arguments: its derivative counts twice
            self_plus = model.interaction(plus[i : i + 1])[0][0]
            self_minus = model.interaction(minus[i : i + 1])[0][0]
            fd -= (self_plus - self_minus) / (2 * h) / (2 * n)
            assert math.isclose(grad_u[i, a], fd, rel_tol=1e-5, abs_tol=1e-8), (i, a)


@pytest.mark.parametrize("d", [7.0, math.inf])
def test_one_unit_is_teacher_student(d):
    """k = 1, G = (s*²): the potential and the averaged kernel are teacher_student's."""
    act = Activation.from_mapping({"kind": "erf"})
    s = 1.3
    model = MultiIndex(act, d, np.array([[s * s]]), np.ones(1), label_noise=0.2)
    ts = TeacherStudent(act, d, teacher_norm=s, label_noise=0.2, cosine_nodes=32)
    points = THETA[:, [0, 2]]
    assert math.isclose(model.label_second_moment, ts.label_second_moment, rel_tol=1e-14)
    v, grad = model.potential(points)
    v_ts, grad_ts = ts.potential(points)
    np.testing.assert_allclose(v, v_ts, rtol=1e-13)
    np.testing.assert_allclose(grad, grad_ts, rtol=1e-12, atol=1e-14)
    u, _ = model.interaction(points)
    np.testing.assert_allclose(u, ts.interaction_matrix(points).mean(axis=1), rtol=1e-12)


def test_the_risk_falls_at_the_rate_of_the_squared_speed():
    """dR/dt = −∫|v|² dρ along the flow (λ = 0): R's first variation is 2Ψ and v = −2∇Ψ.
    The directional derivative of R along the velocity is checked by central differences."""
    model = _model("erf", 10.0)
    theta = initial_particles(_config(), 60, 0)
    vel = model.velocity(theta)
    h = 1e-6
    slope = (model.risk(theta + h * vel) - model.risk(theta - h * vel)) / (2 * h)
    assert math.isclose(slope, -np.mean(np.sum(vel * vel, axis=1)), rel_tol=1e-6)


@pytest.mark.parametrize("teacher", ["network", "polynomial"])
def test_compiled_sgd_is_its_numpy_twin(teacher):
    if teacher == "network":
        model = _model("erf", 9.0, label_noise=0.2, lam=0.05)
    else:
        poly = HermitePolynomial.parse("z1 + 0.7*z1*z2 - 0.3*h3(z2)", 2)
        model = MultiIndex(Activation("erf"), 9.0, np.eye(2), np.ones(2), label_noise=0.2,
                           lam=0.05, polynomial=poly)  # fmt: skip
    w0 = np.random.default_rng(1).standard_normal((7, 9)) * 0.4
    w1, w2 = w0.copy(), w0.copy()
    sgd_steps(w1, model, 1e-2, 3, 0, 25, np.random.default_rng(5))
    multi_index_sgd_steps_ref(w2, model, 1e-2, 3, 0, 25, np.random.default_rng(5))
    np.testing.assert_allclose(w1, w2, rtol=1e-12, atol=1e-14)
    assert not np.allclose(w1, w0)


def test_exact_risk_against_monte_carlo(rng):
    """R_N(w) = E (y − ŷ(x))², the network's own risk, against samples of x (4 s.e.)."""
    d, n = 9, 400_000
    model = _model("relu", d, label_noise=0.1)
    w = rng.standard_normal((5, d)) * 0.5
    x = rng.standard_normal((n, d))
    y = model.activation(x[:, :2] @ model.chol.T) @ V + 0.1 * rng.standard_normal(n)
    err = (y - model.activation(x @ w.T).mean(axis=1)) ** 2
    assert abs(exact_risk(model, w) - err.mean()) <= SE_FACTOR * err.std() / math.sqrt(n)


def test_the_initial_particles_have_the_law_of_the_neurons():
    """m ~ N(0, κ²/d), r⊥² ~ (κ²/d) χ²_{d−k}: the moments of 20000 draws."""
    cfg = _config()
    theta = initial_particles(cfg, 20_000, 3)
    d, k, kappa = 10, 2, 0.8
    assert np.allclose(theta[:, :k].std(axis=0), kappa / math.sqrt(d), rtol=0.03)
    assert math.isclose(np.mean(theta[:, -1] ** 2), kappa**2 * (d - k) / d, rel_tol=0.02)


# --------------------------------------------------------------------------- config

BASE = """
[problem]
kind = "multi_index"
dimension = 10
[problem.teacher]
units = 2
gram = [1.0, 0.3, 0.3, 0.8]
v = [1.0, -0.7]
[initial]
scale = 0.8
[particles]
count = 40
[time]
t_end = 0.4
save_every = 0.2
[sgd]
neurons = 40
eps = 1e-3
"""


def _config(overrides=()):
    import tomllib

    from ddsolver.config import apply_overrides, validate

    return validate(apply_overrides(tomllib.loads(BASE), list(overrides)))


def test_the_config_builds_the_model():
    model = build_model(_config())
    np.testing.assert_allclose(model.gram, GRAM)
    np.testing.assert_allclose(model.v, V)
    assert model.activation.kind == "erf" and model.dimension == 10


@pytest.mark.parametrize(
    ("override", "key", "words"),
    [
        ("problem.teacher.gram=[1.0, 2.0, 2.0, 1.0]", "problem.teacher.gram", "positive definite"),
        ("problem.teacher.gram=[1.0, 0.3, 0.2, 0.8]", "problem.teacher.gram", "symmetric"),
        ("problem.teacher.gram=[1.0, 0.0, 1.0]", "problem.teacher.gram", "k × k = 4"),
        ("problem.teacher.v=[1.0, 2.0, 3.0]", "problem.teacher.v", "one number or k = 2"),
        ("problem.dimension=3", "problem.dimension", "d ≥ k + 2 = 4"),
        ("problem.activation.kind='tanh'", "problem.activation.kind", "'erf'"),
        ("dynamics.tau=0.1", "dynamics.tau", "does not apply"),
        ("dynamics.xi=0.5", "dynamics.xi", "does not apply"),
        ("problem.teacher_norm=2.0", "problem.teacher_norm", "does not apply"),
    ],
)
def test_bad_input_is_refused_naming_the_key(override, key, words):
    with pytest.raises(ConfigError) as err:
        _config([override])
    assert err.value.key == key and words in str(err.value), str(err.value)


def test_the_kind_is_registered_with_its_physics():
    kind = get_kind("multi_index")
    assert kind.name == "multi_index" and kind.network.__name__ == "MultiIndexNetwork"


# --------------------------------------------------------------------------- command line


def test_run_sgd_and_compare_from_the_command_line(tmp_path):
    """The flow, SGD and their comparison on a small problem: every dataset is described,
    the figures carry the kind's words, and SGD's risk at t = 0.4 is near the flow's."""
    cfg = tmp_path / "mi.toml"
    cfg.write_text(BASE)
    pde, sgd = tmp_path / "mi.h5", tmp_path / "mi_sgd.h5"
    assert ddsolver("run", cfg, "-o", pde, "-q").returncode == 0
    assert ddsolver("sgd", cfg, "-o", sgd, "-q").returncode == 0
    out = ddsolver("compare", pde, sgd, "-o", tmp_path / "cmp")
    assert out.returncode == 0, out.stderr
    attrs = io.read_field_attrs(pde, "snapshots")
    assert attrs["particles"]["coordinate_labels"].split(",") == ["m_1", "m_2", "r_perp"]
    assert io.read_attrs(pde)["limit"] == "particle flow"
    limit = io.read_series(pde, "observables")
    trained = io.read_series(sgd, "observables")
    assert limit["time"][-1] == pytest.approx(0.4) and trained["time"][-1] == pytest.approx(0.4)
    # 40 particles against 40 neurons, both drawn: the gap is their two draws' fluctuation
    assert abs(limit["risk"][-1] - trained["risk"][-1, 0]) < 0.1
    assert limit["risk"][-1] < limit["risk"][0]
    assert (tmp_path / "cmp" / "overlaps_comparison.png").exists()


def test_the_ready_config_validates():
    cfg = load_config("grids/multi_index.toml")
    assert cfg["problem"]["teacher"]["units"] == 2 and cfg["particles"]["count"] == 400


def test_the_one_over_n_term_is_the_mean_risk_of_n_drawn_neurons(rng):
    """risk_finite_n at N is E R_N over N neurons drawn i.i.d. from the particles' law (each
    a particle with a uniform orthogonal direction in R^{d−k}), against 20000 draws (4 s.e.)."""
    from ddsolver.kinds.multi_index.kind import particle_observables

    d, neurons, draws = 6, 2, 20_000
    model = _model("erf", d, label_noise=0.1)
    expected = particle_observables(model, THETA, neurons)["risk_finite_n"]
    w = _lift(THETA, d, rng, draws * neurons)  # (P, draws·N, d)
    pick = rng.integers(0, len(THETA), draws * neurons)
    nets = w[pick, np.arange(draws * neurons)].reshape(draws, neurons, d)
    # exact_risk of every network at once (its formula, broadcast over the draws)
    act, s = model.activation, model.teacher_norms
    norms = np.linalg.norm(nets, axis=2)  # (draws, N)
    corr = (nets[..., :2] @ model.chol.T) / (norms[..., None] * s)
    potential = -(pair(act, s, norms[..., None], corr) @ model.v).sum(axis=1) / neurons
    cos = np.einsum("dia,dja->dij", nets, nets) / (norms[:, :, None] * norms[:, None, :])
    cos[:, np.arange(neurons), np.arange(neurons)] = 1.0
    double = pair(act, norms[:, :, None], norms[:, None, :], np.clip(cos, -1, 1)).sum((1, 2))
    risks = model.label_second_moment + 2 * potential + double / neurons**2
    assert math.isclose(risks[0], exact_risk(model, nets[0]), rel_tol=1e-12)
    se = risks.std() / math.sqrt(draws)
    assert abs(risks.mean() - expected) <= SE_FACTOR * se, (risks.mean(), expected, se)
    assert abs(expected - model.risk(THETA)) > 10 * se  # the term is resolved, not noise
