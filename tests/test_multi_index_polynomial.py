"""The multi-index kind's Hermite-polynomial teacher: the string, the potential, SGD, the CLI."""

import math
import re

import numpy as np
import pytest

import ddsolver as dd
from ddsolver.config import ConfigError, load_config
from ddsolver.kinds.multi_index.hermite_teacher import HermitePolynomial
from ddsolver.kinds.multi_index.model import MultiIndex
from ddsolver.kinds.multi_index.polynomial import PolynomialError, parse_polynomial
from ddsolver.kinds.multi_index.sgd import exact_risk
from ddsolver.models import Activation

CONFIG = "grids/multi_index_staircase.toml"
POLY = "z1 + z1*z2 - 0.5*z1*z2*h2(z3) + 2e-1*h3(z2) + 0.3"
#: Students θ = (m_1, m_2, m_3, r⊥), none at the origin.
THETA = np.array([[0.3, 0.5, -0.2, 0.4], [0.8, -0.2, 0.1, 0.2], [-0.2, 0.9, 0.5, 0.7]])


def test_the_string_is_read_term_by_term():
    exps, coefs = parse_polynomial(POLY + " + 0.5*z2*z1", 3)
    terms = {tuple(e): c for e, c in zip(exps.tolist(), coefs, strict=True)}
    assert terms == {(1, 0, 0): 1.0, (1, 1, 0): 1.5, (1, 1, 2): -0.5, (0, 3, 0): 0.2,
                     (0, 0, 0): 0.3}  # fmt: skip
    staircase = HermitePolynomial.parse("z1 + z1*z2 + z1*z2*z3", 3)
    assert staircase.second_moment == 3.0


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("z1 + exp(z2)", "unknown factor 'exp(z2)'"),
        ("z1 + z4", "z4 is not one of z1 … z3"),
        ("z1*z1", "appears twice"),
        ("z1 + __import__('os')", "unknown factor"),
        ("z1 +", "no term after it"),
        ("h13(z1)", "degree 13"),
    ],
)
def test_a_bad_polynomial_is_refused_naming_the_key(text, words):
    with pytest.raises(PolynomialError, match=re.escape(words)):
        parse_polynomial(text, 3)
    with pytest.raises(ConfigError) as err:
        load_config(CONFIG, [f"problem.teacher.polynomial={text!r}"])
    assert err.value.key == "problem.teacher.polynomial" and words in str(err.value), str(err.value)


def test_the_network_keys_do_not_apply_beside_a_polynomial():
    with pytest.raises(ConfigError) as err:
        load_config(CONFIG, ["problem.teacher.v=[2.0]"])
    assert err.value.key == "problem.teacher.v" and "does not apply" in str(err.value)


@pytest.mark.parametrize("kind", ["erf", "relu", "square"])
def test_the_potential_against_monte_carlo_and_its_gradient(kind, rng):
    """V(θ) = −E[y σ(<w, x>)] against samples of x in d = 7 with a uniform orthogonal direction
    (4 s.e.), E y² likewise, ∇V against central differences (h = 1e-6)."""
    act = Activation(kind)
    poly = HermitePolynomial.parse(POLY, 3)
    d, n = 7, 400_000
    x = rng.standard_normal((n, d))
    y = poly(x[:, :3])
    assert abs(poly.second_moment - np.mean(y * y)) <= 4 * np.std(y * y) / math.sqrt(n)
    value, grad = poly.potential(act, THETA)
    for i, t in enumerate(THETA):
        u = rng.standard_normal(d - 3)
        w = np.concatenate([t[:3], t[3] * u / np.linalg.norm(u)])
        samples = -y * act(x @ w)
        assert abs(value[i] - samples.mean()) <= 4 * samples.std() / math.sqrt(n)
    h = 1e-6
    for j in range(THETA.shape[1]):
        step = np.zeros_like(THETA)
        step[:, j] = h
        fd = (poly.potential(act, THETA + step)[0] - poly.potential(act, THETA - step)[0]) / (2 * h)
        np.testing.assert_allclose(grad[:, j], fd, rtol=1e-6, atol=1e-8)


def test_a_square_network_teacher_is_its_hermite_form():
    """(u·x)² = 1 + √2 h2(z1): the polynomial and the network teacher (square σ, u = e_1) give
    the same E y², V and ∇V."""
    act = Activation("square")
    poly = HermitePolynomial.parse(f"1 + {math.sqrt(2)!r}*h2(z1)", 2)
    as_poly = MultiIndex(act, 9.0, np.eye(2), np.ones(2), polynomial=poly)
    as_net = MultiIndex(act, 9.0, np.eye(2), np.array([1.0, 0.0]))
    theta = THETA[:, [0, 1, 3]]
    assert as_poly.label_second_moment == pytest.approx(as_net.label_second_moment, rel=1e-13)
    for a, b in zip(as_poly.potential(theta), as_net.potential(theta), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_the_exact_risk_of_n_neurons_against_monte_carlo(rng):
    act = Activation("erf")
    poly = HermitePolynomial.parse(POLY, 3)
    model = MultiIndex(act, 8.0, np.eye(3), np.ones(3), label_noise=0.2, polynomial=poly)
    w = 0.6 * rng.standard_normal((5, 8))
    x = rng.standard_normal((400_000, 8))
    err = (poly(x[:, :3]) + 0.2 * rng.standard_normal(len(x)) - act(x @ w.T).mean(axis=1)) ** 2
    assert abs(exact_risk(model, w) - err.mean()) <= 4 * err.std() / math.sqrt(len(x))


def test_run_and_sgd_of_the_ready_config(tmp_path):
    """The staircase config, small: the flow's and SGD's risks start at E y² + the draw's
    term and fall; SGD (N = 60) stays within 0.25 of the flow (M = 40) at t = 1."""
    small = {"particles.count": 40, "sgd.neurons": 60, "sgd.seeds": [0], "time.t_end": 1.0,
             "time.save_every": 0.5, "sgd.observe_every": 0.5,
             "time.observe_every": 0.5}  # fmt: skip
    flow = dd.solve(CONFIG, output=tmp_path / "st.h5", quiet=True, overrides=small)
    sgd = dd.train(CONFIG, output=tmp_path / "st_sgd.h5", quiet=True, overrides=small)
    r_flow = flow.observables["risk"].values
    r_sgd = sgd.observables["risk"].values[:, 0]
    assert r_flow[-1] < r_flow[0] - 0.3 and r_sgd[-1] < r_sgd[0] - 0.3
    assert abs(r_flow[-1] - r_sgd[-1]) < 0.25
