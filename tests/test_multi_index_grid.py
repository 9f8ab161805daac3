"""The multi-index DD on a grid of (m, r⊥) (k + 1 ≤ 3): the dense kernel, the initial law,
teacher–student reproduced, the config."""

import math

import numpy as np
import pytest
from scipy import stats

import ddsolver as dd
from ddsolver.config import ConfigError, validate
from ddsolver.kinds.multi_index.grid import MultiIndexGrid, MultiIndexInitial
from ddsolver.kinds.multi_index.kind import draw_reduced
from ddsolver.models import Activation
from ddsolver.settings import settings

GRID = {
    "problem": {"kind": "multi_index", "dimension": 10, "activation": {"kind": "erf"},
                "teacher": {"units": 2, "v": [1.0, -0.7], "gram": [1.0, 0.3, 0.3, 0.8]}},
    "initial": {"scale": 1.0},
    "discretisation": {"method": "grid"},
    "grid": {"m_min": -2.2, "m_max": 2.2, "m_cells": 8, "r_max": 2.6, "r_cells": 8},
    "time": {"t_end": 0.2, "save_every": 0.1},
    "sgd": {"neurons": 40, "eps": 1e-3},
}  # fmt: skip


@pytest.mark.parametrize(("kind", "d"), [("erf", 10), ("relu", 7), ("erf", math.inf)])
def test_the_dense_kernel_is_the_particles_kernel(kind, d, rng):
    """Row means of the dense Ū over particles equal the particle flow's interaction field
    (the same average over the orthogonal cosine), 1e-13."""
    model = MultiIndexGrid(Activation(kind), d, np.eye(2), np.ones(2))
    theta = np.column_stack([0.6 * rng.standard_normal((30, 2)), 0.2 + rng.random(30)])
    theta[3] = [0.0, 0.0, 0.0]  # a neuron at the origin
    field, _ = model.interaction(theta)
    np.testing.assert_allclose(model.interaction_matrix(theta).mean(axis=1), field, atol=1e-13)
    other = theta[:7] + 0.1
    full = model.interaction_matrix(theta, other)
    np.testing.assert_allclose(full, model.interaction_matrix(np.vstack([theta, other]))[:30, 30:],
                               atol=1e-14)  # fmt: skip


@pytest.mark.parametrize(("d", "d0"), [(10, 10), (math.inf, 12), (10, 25)])
def test_the_initial_marginals_are_the_particles_draw(d, d0):
    """Each marginal's cdf against 20 000 drawn neurons (Kolmogorov–Smirnov, p > 1e-3), and
    the quantiles invert the cdf."""
    raw = {
        "problem": {**GRID["problem"], "dimension": d},
        "sgd": GRID["sgd"],
        "initial": {"scale": 0.8, "dimension": d0},
    }  # (the particles' config)
    cfg = settings(validate(raw))
    law = MultiIndexInitial(0.8, d, d0, 2)
    theta, _ = draw_reduced(cfg, 2, 20_000, np.random.default_rng(5))
    for column, name in enumerate(("m_1", "m_2", "r_perp")):
        test = stats.kstest(theta[:, column], lambda x, n=name: law.axis_cdf(n, x))
        assert test.pvalue > 1e-3, (name, test)
        q = np.array([0.01, 0.3, 0.9])
        np.testing.assert_allclose(law.axis_cdf(name, law.axis_quantiles(name, q)), q, rtol=1e-10)
        assert law.axis_point_mass(name) is None


def test_an_infinite_initial_dimension_is_the_point_mass():
    law = MultiIndexInitial(0.5, 1e6, math.inf, 2)
    assert [law.axis_point_mass(n) for n in ("m_1", "m_2", "r_perp")] == [0.0, 0.0, 0.5]
    with pytest.raises(ValueError, match="m_3"):
        law.axis_cdf("m_3", np.zeros(1))


def test_one_unit_on_the_grid_is_teacher_student():
    """k = 1 on the grid is teacher–student's (u, v) solver: the same risk to 1e-14 along a
    run (different code: the averaged kernel of k dimensions, the initial law's marginals)."""
    grid = {"r_max": 0.8, "r_cells": 16}
    ts = dd.solve({"problem": {"kind": "teacher_student", "dimension": 100, "teacher_norm": 1.3,
                               "label_noise": 0.2, "activation": {"kind": "erf"}},
                   "initial": {"scale": 0.5}, "time": {"t_end": 0.5, "save_every": 0.25},
                   "grid": {"u_min": -0.3, "u_max": 1.3, "u_cells": 20, **grid}},
                  quiet=True)  # fmt: skip
    mi = dd.solve({"problem": {"kind": "multi_index", "dimension": 100, "label_noise": 0.2,
                               "teacher": {"units": 1, "gram": [1.69]},
                               "activation": {"kind": "erf"}},
                   "initial": {"scale": 0.5}, "time": {"t_end": 0.5, "save_every": 0.25},
                   "discretisation": {"method": "grid"},
                   "grid": {"m_min": -0.3, "m_max": 1.3, "m_cells": 20, **grid}},
                  quiet=True)  # fmt: skip
    a, b = ts.observables, mi.observables
    assert a["risk"].values.size == b["risk"].values.size > 5
    np.testing.assert_allclose(b["risk"].values, a["risk"].values, rtol=0, atol=1e-14)
    np.testing.assert_allclose(b["mean_m_1"].values, a["mean_u"].values, rtol=0, atol=1e-14)


def test_a_small_grid_run_conserves_mass_and_lowers_the_risk():
    run = dd.solve(GRID, quiet=True)
    obs = run.observables
    assert np.allclose(obs["mass"].values, 1.0, atol=1e-12)
    assert np.all(np.diff(obs["risk"].values) < 0)
    assert run.snapshots["density"].shape[1:] == (8, 8, 8)


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"problem": {"teacher": {"units": 3}}}, "problem.teacher.units", "k + 1 ≤ 3"),
        ({"problem": {"second_layer": True}}, "problem.second_layer", "first layer"),
        ({"dynamics": {"finite_step": True}}, "dynamics.finite_step", "particles"),
        ({"particles": {"count": 40}}, "particles.count", "does not apply"),
        ({"grid": {"m_cells": 40}}, "grid.m_cells", "at most 8000 cells"),
        ({"grid": {"m_min": 1.0, "m_max": 0.5}}, "grid.m_max", "must exceed"),
        ({"grid": {"m_min": -0.1}}, "grid.m_min/m_max, grid.r_max", "misses"),
    ],
)
def test_bad_grid_input_is_refused_naming_the_key(changes, key, words):
    cfg = {section: dict(table) for section, table in GRID.items()}
    cfg["problem"]["teacher"] = {"units": 2}
    for section, table in changes.items():
        cfg[section] = {**cfg.get(section, {}), **table}
    with pytest.raises(ConfigError) as err:
        dd.solve(cfg, quiet=True)
    assert err.value.key == key and words in str(err.value), str(err.value)
