"""The dynamical 1/N term against ensembles of finite networks (slow: ~2 min).

N-neuron gradient flow on the exact risk in the full d = 40 (SGD's ε → 0 limit at fixed N),
32 draws of the initial network, against C(t): N(E R_N − R(ρ_t)) must collapse onto C(t)
within two standard errors while C is resolved (t ≤ 3), and be far from the i.i.d. term.
"""

from pathlib import Path

import numpy as np
import pytest

from ddsolver.api import solve
from ddsolver.fluctuations.gradient_flow import (
    gradient,
    gradient_flow_risks,
    initial_second_layer,
    initial_weights,
)
from ddsolver.fluctuations.probe import dynamical_correction
from ddsolver.models import GaussianInitial, IsotropicGaussians, paper_ramp
from ddsolver.sgd.isotropic import exact_risk

pytestmark = pytest.mark.slow

GRIDS = Path(__file__).resolve().parents[1] / "grids"
TIMES = np.array([0.0, 0.5, 1.0, 2.0, 3.0])
NEURONS = 200
SEEDS = range(1000, 1032)


def _reference_risk(tmp_path) -> np.ndarray:
    """R(ρ_t) from the 6400-cell grid (1e-6 at t ≤ 3)."""
    run = solve(
        GRIDS / "isotropic_d40.toml",
        tmp_path / "grid.h5",
        overrides={"time.t_end": 3.0, "grid.r_cells": 6400, "time.observe_every": 0.5},
        quiet=True,
    )
    obs = run.series("observables")
    return np.interp(TIMES, obs["time"], obs["risk"])


def test_finite_networks_collapse_onto_the_dynamical_term(tmp_path):
    problem = IsotropicGaussians(paper_ramp(), 40, 0.8)
    initial = GaussianInitial(0.8, 40)
    term = dynamical_correction(problem, initial, TIMES)
    reference = _reference_risk(tmp_path)
    x = []
    for seed in SEEDS:
        w = initial_weights(40, NEURONS, 0.8, seed)
        risk = gradient_flow_risks(problem, w, TIMES, step=0.05)
        x.append(NEURONS * (risk - reference - term.first_order(np.linalg.norm(w, axis=1))))
    x = np.array(x)
    mean, se = x.mean(0), x.std(0, ddof=1) / np.sqrt(len(x))
    assert np.all(np.abs(mean - term.correction) <= 2 * se), (mean, se, term.correction)
    assert np.all(se[1:] < 0.05)  # the control variate at work: ~0.01 for t ≤ 2
    iid = term.iid[1:]
    assert np.all(np.abs(mean[1:] - iid) > 100 * se[1:])  # the i.i.d. term of ρ_t is refuted


@pytest.mark.parametrize("second_layer", [False, True])
def test_the_finite_network_gradient_is_the_derivative_of_its_exact_risk(second_layer):
    """(N/2) ∂R_N/∂θᵢ = the gradient of aᵢv(wᵢ) + (1/N) Σⱼ aᵢaⱼU(wᵢ, wⱼ), in w and in a,
    checked by central differences (one pair beyond the series' cosine: the closed form)."""
    problem = IsotropicGaussians(paper_ramp(), 10, 0.8, second_layer=second_layer)
    w = initial_weights(10, 12, 0.8, seed=4)
    w[1] = 0.95 * w[0] + 0.05 * w[1]
    a = initial_second_layer(12, 1.0, 0.3, seed=4) if second_layer else None
    grad_w, grad_a = gradient(problem, w, a)
    h, n = 1e-6, w.shape[0]
    for i, j in [(0, 0), (1, 3), (7, 9)]:
        plus, minus = w.copy(), w.copy()
        plus[i, j] += h
        minus[i, j] -= h
        fd = (exact_risk(problem, plus, a) - exact_risk(problem, minus, a)) / (2 * h)
        assert grad_w[i, j] == pytest.approx(fd * n / 2, abs=1e-7)
    if second_layer:
        for i in (0, 1, 11):
            plus, minus = a.copy(), a.copy()
            plus[i] += h
            minus[i] -= h
            fd = (exact_risk(problem, w, plus) - exact_risk(problem, w, minus)) / (2 * h)
            assert grad_a[i] == pytest.approx(fd * n / 2, abs=1e-7)
    else:
        assert grad_a is None
