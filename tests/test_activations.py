"""Activation functions: NumPy and compiled evaluations agree; derivatives; validation."""

import numpy as np
import pytest

from ddsolver.models.activations import (
    KIND_CODES,
    Activation,
    act_derivative,
    act_value,
    paper_ramp,
)

ALL = [paper_ramp(), *(Activation(k) for k in ("relu", "erf", "tanh", "sigmoid", "square"))]
FD_STEP = 1e-6
FD_TOL = 1e-8  # central differences with step 1e-6 on smooth stretches


@pytest.mark.parametrize("act", ALL, ids=lambda a: a.kind)
def test_compiled_twin_agrees(act):
    t = np.linspace(-6, 6, 1201)
    compiled = np.array([act_value(act.code, act.param_array, x) for x in t])
    np.testing.assert_allclose(compiled, act(t), rtol=1e-15, atol=1e-15)
    dcompiled = np.array([act_derivative(act.code, act.param_array, x) for x in t])
    np.testing.assert_allclose(dcompiled, act.derivative(t), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("act", ALL, ids=lambda a: a.kind)
def test_derivative_is_the_finite_difference(act):
    t = np.array([-2.3, -0.7, 0.2, 0.9, 1.1, 2.6])  # away from the kinks of ramp and relu
    fd = (act(t + FD_STEP) - act(t - FD_STEP)) / (2 * FD_STEP)
    np.testing.assert_allclose(act.derivative(t), fd, atol=FD_TOL)


def test_paper_ramp_shape():
    act = paper_ramp()
    np.testing.assert_allclose(act([-1.0, 0.5, 1.0, 1.5, 3.0]), [-2.5, -2.5, 2.5, 7.5, 7.5])


def test_from_mapping_roundtrip_and_defaults():
    act = Activation.from_mapping({"kind": "ramp", "t1": 0.5})
    assert act == paper_ramp()
    assert Activation.from_mapping(act.as_mapping()) == act


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ({"kind": "swish"}, "allowed"),
        ({"kind": "relu", "t1": 1.0}, "no parameter"),
        ({"kind": "ramp", "t1": 2.0, "t2": 1.0}, "t1 < t2"),
    ],
)
def test_bad_activation_is_refused_with_a_clear_message(table, needle):
    with pytest.raises(ValueError, match=needle):
        Activation.from_mapping(table)


def test_codes_are_distinct():
    assert len(set(KIND_CODES.values())) == len(KIND_CODES)


def test_a_kind_set_alone_keeps_the_other_parameters_and_the_refusal_names_the_remedy():
    """--set problem.activation.kind=tanh keeps the file's ramp parameters (refused, with the
    inline table as the remedy); the inline table replaces the whole table."""
    from ddsolver.config import ConfigError, load_config

    with pytest.raises(ConfigError) as info:
        load_config("grids/quickstart.toml", ["problem.activation.kind='tanh'"])
    assert info.value.key == "problem.activation.t1"
    assert """--set 'problem.activation={kind = "tanh"}'""" in str(info.value)
    cfg = load_config("grids/quickstart.toml", ['problem.activation={kind = "tanh"}'])
    assert cfg["problem"]["activation"] == {"kind": "tanh"}
