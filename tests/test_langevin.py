"""Mean-field Langevin dynamics on training sets: the blob entropy's kernels against their
NumPy twins and finite differences, the free energy's decrease along a run, the noisy
networks, the Gibbs quadrature's convergence, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest

import ddsolver as dd
from ddsolver.config import ConfigError, validate
from ddsolver.data import clusters
from ddsolver.kinds.training_set.gibbs import gibbs_state
from ddsolver.kinds.training_set.langevin import (
    LangevinFlow,
    reference_widths,
    regularised_entropy,
)
from ddsolver.models.activations import Activation
from ddsolver.models.training_set import LOSSES, TrainingSetFlow, predict
from ddsolver.operators.blob import blob_log_density, regularised_log_density
from ddsolver.schedules import Schedule, Temperature
from ddsolver.sgd.training_set import gradient_steps

DATA = clusters(20, 10, 2, 2, 0.1, seed=3)
BASE = {
    "problem": {"kind": "training_set", "dimension": 2, "loss": "logistic",
                "generate": {"kind": "clusters", "n": 20, "n_test": 10, "k": 2, "seed": 3}},
    "initial": {"kind": "gaussian", "scale": 0.5},
    "dynamics": {"tau": 0.02, "lam": 0.2},
    "particles": {"count": 60},
    "time": {"t_end": 3.0, "save_every": 1.0, "observe_every": 0.25},
    "sgd": {"neurons": 60, "eps": 0.05, "seeds": [0]},
}  # fmt: skip


def _flow(lam=0.2):
    return TrainingSetFlow(DATA, Activation.from_mapping({"kind": "relu"}), "logistic", 1.0,
                           lam, True)  # fmt: skip


def test_compiled_log_density_matches_numpy_twin():
    rng = np.random.default_rng(0)
    z, m = rng.standard_normal((40, 4)), rng.dirichlet(np.ones(40))
    widths = np.array([0.3, 0.5, 0.7, 0.4])
    out = np.empty(40)
    blob_log_density(z, m, widths, out)
    np.testing.assert_allclose(out, regularised_log_density(z, m, widths), rtol=0, atol=1e-12)


def test_particle_velocity_is_minus_the_free_energy_gradient_per_mass():
    """v_i = −∇_{θ_i} F_h / m_i with F_h = J + τ H_h: central differences of the objective
    and the blob entropy agree with the velocity to O(δ²)."""
    rng = np.random.default_rng(1)
    theta, masses = rng.standard_normal((8, 4)), rng.dirichlet(np.ones(8))
    flow, tau = _flow(), 0.3
    widths = reference_widths(theta, masses, tau, 0.2)
    lang = LangevinFlow(flow, masses, tau, Schedule("constant"), widths)

    def free(th):
        return flow.objective(th, masses) + tau * regularised_entropy(th, masses, widths)

    v = lang.free_velocity(theta)
    delta = 1e-5
    for i in range(8):
        for k in range(4):
            up, down = theta.copy(), theta.copy()
            up[i, k] += delta
            down[i, k] -= delta
            grad = (free(up) - free(down)) / (2 * delta)
            assert abs(-grad / masses[i] - v[i, k]) < 1e-6 * max(1.0, abs(v[i, k]))


def test_free_energy_decreases_along_the_blob_flow_and_xi_rescales_time():
    run = dd.solve(BASE)
    f = np.asarray(run.observables["free_energy"])
    assert np.all(np.diff(f) < 0), np.diff(f)
    assert np.allclose(f, np.asarray(run.observables["risk"]) + 0.02 *
                       np.asarray(run.observables["entropy"]), rtol=0, atol=1e-14)  # fmt: skip
    twice = dd.solve({**BASE, "dynamics": {**BASE["dynamics"], "xi": 2.0},
                      "time": {**BASE["time"], "t_end": 1.5, "observe_every": 0.125}})  # fmt: skip
    g = np.asarray(twice.observables["free_energy"])
    np.testing.assert_allclose(g, f, rtol=0, atol=2e-4)  # ξ = 2 to t: ξ = 1 to 2t (RK45 tols)


def test_noisy_gd_variance_and_noiseless_steps_unchanged():
    flow = _flow(lam=0.0)
    theta0 = np.random.default_rng(2).standard_normal((50, 4))
    masses = np.full(50, 1 / 50)
    a, b = theta0.copy(), theta0.copy()
    gradient_steps(flow, a, masses, 0.05, 20, 7, np.random.default_rng(5))
    gradient_steps(flow, b, masses, 0.05, 20, 7, np.random.default_rng(5), Schedule("constant"))
    assert np.array_equal(a, b)  # τ = 0, ξ = 1: the steps of before, bit for bit
    # U = 0 (no data pull: b stays near 0 so the drift is tiny against the noise): a step's
    # noise has the variance 2 s τ per coordinate
    zero = np.zeros((20000, 4))
    gradient_steps(flow, zero, np.full(20000, 1 / 20000), 1e-3, 20, 1,
                   np.random.default_rng(7), Schedule("constant", value=2.0), tau=0.5)  # fmt: skip
    var = zero.var(axis=0)
    assert np.all(np.abs(var / (2 * 2e-3 * 0.5) - 1) < 4 * np.sqrt(2 / 20000)), var


def test_annealed_temperature_drives_the_flow_and_the_noise():
    """τ(t) = τ₀ / log(e + t/t_a): the flow's free energy F = J + τ(t) H_h changes at
    dF/dt = −ξ ∫|v|² dρ + τ'(t) H_h (the chain rule with the annealed τ in the velocity:
    the trapezoid rule over observations 0.02 apart: 0.08 % of the change, held to 0.5 %;
    leaving τ'(t) H_h out misses by 250 %), and a noisy
    step at t = kε has the variance 2 s τ(kε)."""
    temperature = Temperature(0.05, "log", 0.3)
    assert temperature(0.0) == 0.05
    assert abs(temperature(30.0) - 0.05 / np.log(np.e + 100.0)) < 1e-15
    run = dd.solve({**BASE, "dynamics": {"tau": 0.05, "lam": 0.2, "anneal": "log",
                                         "anneal_time": 0.3},
                    "particles": {"count": 30, "rtol": 1e-8, "atol": 1e-10},
                    "time": {"t_end": 0.4, "save_every": 0.4, "observe_every": 0.02}})  # fmt: skip
    obs = {k: np.asarray(run.observables[k]) for k in ("time", "free_energy", "dissipation",
                                                         "entropy", "temperature")}  # fmt: skip
    t = obs["time"]
    np.testing.assert_allclose(obs["temperature"], 0.05 / np.log(np.e + t / 0.3), rtol=1e-14)
    tau_rate = -0.05 / (0.3 * (np.e + t / 0.3) * np.log(np.e + t / 0.3) ** 2)
    rate = -obs["dissipation"] + tau_rate * obs["entropy"]
    predicted = np.cumsum(np.r_[0.0, 0.5 * (rate[1:] + rate[:-1]) * np.diff(t)])
    change = obs["free_energy"] - obs["free_energy"][0]
    assert np.abs(change - predicted).max() < 0.005 * np.abs(change).max()
    flow = _flow(lam=0.0)
    zero = np.zeros((20000, 4))
    gradient_steps(flow, zero, np.full(20000, 1 / 20000), 1e-3, 20, 1,
                   np.random.default_rng(7), None, k0=4000, tau=temperature)  # fmt: skip
    expected = 2 * 1e-3 * temperature(4.0)
    assert np.all(np.abs(zero.var(axis=0) / expected - 1) < 4 * np.sqrt(2 / 20000))


def test_noisy_sgd_run_reports_entropy_and_free_energy():
    run = dd.train(BASE)
    assert np.all(np.isfinite(np.asarray(run.observables["free_energy"])))
    assert np.all(np.isfinite(np.asarray(run.observables["entropy"])))


def test_gibbs_quadrature_converges_and_is_stationary():
    """The fixed point by quadrature (d = 1) does not move with the grid, and at the
    fixed point f equals ∫ b φ dρ again (the residual solved to 1e-13)."""
    x, y = np.array([-1.0, -0.3, 0.4, 1.0]), np.array([1.0, -0.4, 0.6, 1.2])
    act = Activation.from_mapping({"kind": "relu"})
    lam, tau = 0.3, 0.05
    coarse = gibbs_state(x, y, act, LOSSES["square"], 1.0, lam, tau, 14 * np.sqrt(tau / lam), 301)
    fine = gibbs_state(x, y, act, LOSSES["square"], 1.0, lam, tau, 14 * np.sqrt(tau / lam), 601)
    assert np.abs(coarse.predictions - fine.predictions).max() < 2e-5
    assert abs(coarse.free_energy - fine.free_energy) < 2e-5
    assert fine.tail_mass < 1e-10
    assert np.all(np.abs(fine.predictions) > 0.2)  # the interaction matters, not a Gaussian


def test_blob_flow_reaches_the_gibbs_state(tmp_path):
    """Four points in R, tanh units, square loss, λ = 0.3, τ = 0.05: the blob flow at t = 40
    against the Gibbs fixed point by quadrature (an independent computation: the stationary
    equations in (a, bias) with b integrated exactly). The predictions agree to 1.8 % of
    max|f| at M = 250 and 1.0 % at M = 1000 (the blob's smoothing, h ∝ M^{-1/7}), and the free
    energy's gap F − F_h shrinks with M (3.4e-3, 1.9e-3). The same check with ReLU units
    takes 10⁵ steps: particles slide along the kinks a·x̃_i = 0 (docs)."""
    x, y = np.array([-1.0, -0.3, 0.4, 1.0]), np.array([1.0, -0.4, 0.6, 1.2])
    lam, tau = 0.3, 0.05
    act = Activation.from_mapping({"kind": "tanh"})
    gibbs = gibbs_state(x, y, act, LOSSES["square"], 1.0, lam, tau, 14 * np.sqrt(tau / lam), 401)
    np.savez(tmp_path / "four.npz", x=x[:, None], y=y)
    gaps, free = [], []
    for count in (250, 1000):
        run = dd.solve({"problem": {"kind": "training_set", "data": str(tmp_path / "four.npz"),
                                    "loss": "square", "activation": {"kind": "tanh"}},
                        "initial": {"kind": "gaussian", "scale": 0.5},
                        "dynamics": {"tau": tau, "lam": lam}, "particles": {"count": count},
                        "time": {"t_end": 40.0, "save_every": 40.0, "observe_every": 10.0}},
                       output=tmp_path / f"{count}.h5")  # fmt: skip
        theta = run.snapshots["particles"].values[-1]
        masses = run.snapshots["masses"].values[-1]
        f = np.empty(4)
        predict(theta, masses, x[:, None], act.code, act.param_array, f)
        gaps.append(np.abs(f - gibbs.predictions).max() / np.abs(gibbs.predictions).max())
        free.append(gibbs.free_energy - float(run.observables["free_energy"].values[-1]))
    assert gaps[0] < 0.025 and gaps[1] < 0.75 * gaps[0], gaps
    assert 0 < free[1] < 0.7 * free[0], free


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"problem": {"train": "output"}}, "dynamics.tau"),
        ({"dynamics": {"linearised": True, "lam": 0.0}}, "dynamics.linearised"),
    ],
)
def test_langevin_refusals_name_the_key(changes, key):
    cfg = {**BASE, **{k: {**BASE.get(k, {}), **v} for k, v in changes.items()}}
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert err.value.key == key


def test_circle_refuses_noise_and_schedules():
    circle = {"problem": {"kind": "training_set", "dimension": 1, "loss": "square",
                          "generate": {"kind": "teacher", "n": 10, "label": "value"}},
              "initial": {"kind": "sphere"}, "discretisation": {"method": "grid"}}  # fmt: skip
    for dyn, key in (({"tau": 0.1}, "dynamics.tau"), ({"xi": 2.0}, "dynamics.xi")):
        with pytest.raises(ConfigError) as err:
            validate({**circle, "dynamics": dyn})
        assert err.value.key == key
