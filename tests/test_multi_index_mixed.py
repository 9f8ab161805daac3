"""A multi-index teacher whose activation is not the students': the mixed pair moments."""

import math

import numpy as np
import pytest
from scipy import integrate, special

from ddsolver.config import ConfigError, load_config
from ddsolver.kinds.multi_index.kind import build_model
from ddsolver.kinds.multi_index.mixed import MIXED_PAIRS, mixed_pair
from ddsolver.kinds.multi_index.model import MultiIndex
from ddsolver.kinds.multi_index.sgd import (
    exact_risk,
    multi_index_sgd_steps_ref,
    sgd_steps,
)
from ddsolver.models import Activation

SIGMA = {"erf": special.erf, "relu": lambda t: np.maximum(t, 0.0), "square": np.square}
GRAM = np.array([[1.0, 0.3], [0.3, 0.8]])
V = np.array([1.0, -0.7])
THETA = np.array([[0.3, 0.5, 0.4], [0.8, -0.2, 0.2], [-0.2, 0.9, 0.7], [1.1, 0.05, 0.3]])
ARGS = [(0.7, 1.3, 0.4), (1.5, 0.4, -0.8), (0.3, 2.0, 0.95)]


def quadrature(teacher, student, a, b, c):
    """E[g(aZ₁)σ(bZ₂)] as ∫ g(az) E[σ(b(cz + √(1 − c²)Z₃))] dN(z), both by adaptive quadrature."""
    s = math.sqrt(1 - c * c)

    def inner(z):
        f = lambda u: SIGMA[student](b * (c * z + s * u)) * math.exp(-u * u / 2)  # noqa: E731
        kink = [-c * z / s] if abs(c * z / s) < 12 else None  # (of ReLU; harmless elsewhere)
        return integrate.quad(f, -12, 12, points=kink, limit=200, epsabs=1e-13)[0] / math.sqrt(
            2 * math.pi
        )

    g = lambda z: SIGMA[teacher](a * z) * inner(z) * math.exp(-z * z / 2)  # noqa: E731
    return integrate.quad(g, -12, 12, points=[0.0], limit=200, epsabs=1e-12)[0] / math.sqrt(
        2 * math.pi
    )


@pytest.mark.parametrize("pair", sorted(MIXED_PAIRS))
def test_mixed_moments_against_quadrature_monte_carlo_and_differences(pair, rng):
    teacher, student = pair
    for a, b, c in ARGS:
        value, d_b, d_c = (float(x) for x in mixed_pair(teacher, student, a, b, c))
        assert value == pytest.approx(quadrature(teacher, student, a, b, c), abs=1e-9)
        z1 = rng.standard_normal(400_000)
        z2 = c * z1 + math.sqrt(1 - c * c) * rng.standard_normal(z1.size)
        prod = SIGMA[teacher](a * z1) * SIGMA[student](b * z2)
        assert abs(value - prod.mean()) <= 4 * prod.std() / math.sqrt(z1.size)
        h = 1e-6
        up, down = (
            mixed_pair(teacher, student, a, b + h, c),
            mixed_pair(teacher, student, a, b - h, c),
        )
        assert d_b == pytest.approx((float(up[0]) - float(down[0])) / (2 * h), rel=1e-7, abs=1e-9)
        up, down = (
            mixed_pair(teacher, student, a, b, c + h),
            mixed_pair(teacher, student, a, b, c - h),
        )
        assert d_c == pytest.approx((float(up[0]) - float(down[0])) / (2 * h), rel=1e-7, abs=1e-9)


def _model(teacher, student, d=9.0, **kw):
    return MultiIndex(Activation(student), d, GRAM, V,
                      teacher_activation=Activation(teacher), **kw)  # fmt: skip


@pytest.mark.parametrize(
    ("teacher", "student"), [("relu", "erf"), ("erf", "relu"), ("square", "relu")]
)
def test_label_moment_and_potential_against_monte_carlo(teacher, student, rng):
    """E y² with the teacher's g and V(θ) = −E[y σ(<w, x>)] against samples of x and of the
    orthogonal direction (4 s.e.); ∇V against central differences."""
    d, n = 9, 300_000
    model = _model(teacher, student, d, label_noise=0.2)
    x = rng.standard_normal((n, d))
    y = SIGMA[teacher](x[:, :2] @ model.chol.T) @ V + 0.2 * rng.standard_normal(n)
    se = (y * y).std() / math.sqrt(n)
    assert abs(model.label_second_moment - (y * y).mean()) <= 4 * se
    value, grad = model.potential(THETA)
    for i, (m1, m2, r) in enumerate(THETA):
        direction = rng.standard_normal((n, d - 2))
        direction *= r / np.linalg.norm(direction, axis=1, keepdims=True)
        pre = m1 * x[:, 0] + m2 * x[:, 1] + np.sum(direction * x[:, 2:], axis=1)
        samples = -y * SIGMA[student](pre)
        assert abs(value[i] - samples.mean()) <= 4 * samples.std() / math.sqrt(n)
    h = 1e-6
    for a in range(3):
        step = np.zeros_like(THETA)
        step[:, a] = h
        diff = (model.potential(THETA + step)[0] - model.potential(THETA - step)[0]) / (2 * h)
        np.testing.assert_allclose(grad[:, a], diff, rtol=1e-6, atol=1e-8)


def test_exact_risk_and_sgd_use_the_teachers_activation(rng):
    model = _model("relu", "erf", 9.0, label_noise=0.1)
    w = rng.standard_normal((5, 9)) * 0.5
    n = 400_000
    x = rng.standard_normal((n, 9))
    y = SIGMA["relu"](x[:, :2] @ model.chol.T) @ V + 0.1 * rng.standard_normal(n)
    err = (y - special.erf(x @ w.T).mean(axis=1)) ** 2
    assert abs(exact_risk(model, w) - err.mean()) <= 4 * err.std() / math.sqrt(n)
    w1, w2 = w.copy(), w.copy()
    sgd_steps(w1, model, 1e-2, 2, 0, 30, np.random.default_rng(3))
    multi_index_sgd_steps_ref(w2, model, 1e-2, 2, 0, 30, np.random.default_rng(3))
    np.testing.assert_allclose(w1, w2, rtol=1e-12, atol=1e-14)
    same = MultiIndex(Activation("erf"), 9.0, GRAM, V, label_noise=0.1)
    assert exact_risk(same, w) != pytest.approx(exact_risk(model, w), rel=1e-3)


def _config(sets):
    return load_config("grids/multi_index.toml", sets)


def test_the_config_sets_the_teacher_and_refuses_what_has_no_closed_form():
    model = build_model(_config(["problem.teacher.activation=relu"]))
    assert model.teacher.kind == "relu" and model.activation.kind == "erf"
    assert build_model(_config(["problem.teacher.activation=erf"])).teacher_activation is None
    with pytest.raises(ConfigError) as err:
        _config(["problem.teacher.activation=relu", "problem.activation.kind=ramp"])
    assert err.value.key == "problem.teacher.activation" and "closed mixed" in str(err.value)
    with pytest.raises(ConfigError) as err:
        _config(["problem.teacher.activation=tanh"])
    assert err.value.key == "problem.teacher.activation"
    with pytest.raises(ConfigError) as err:
        load_config("grids/multi_index_staircase.toml", ["problem.teacher.activation=erf"])
    assert err.value.key == "problem.teacher.activation" and "polynomial" in str(err.value)
