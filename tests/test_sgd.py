"""Finite-width SGD: kernel twins, exact risk, the noise convention, time mapping, reports."""

import json
import math
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy import stats

import ddsolver as dd
from ddsolver.comparison import compare_files, wasserstein1
from ddsolver.config import ConfigError, validate
from ddsolver.experiment import build_grid_dd, build_initial
from ddsolver.models.activations import Activation
from ddsolver.schedules import Schedule
from ddsolver.settings import settings
from ddsolver.sgd.isotropic import (
    exact_risk,
    exact_risk_ref,
    initial_network,
    monte_carlo_risk,
    sgd_steps,
    sgd_steps_ref,
)
from ddsolver.sgd.run import run_sgd

SE_FACTOR = 4.0  # Monte-Carlo checks pass within 4 standard errors


DIP = Activation.from_mapping(
    {"kind": "piecewise", "knots": [0.25, 0.6, 1.8], "values": [-2.5, -3.5, 7.5]}
)


@pytest.mark.parametrize("act", [dd.paper_ramp(), DIP], ids=lambda a: a.kind)
def test_sgd_kernel_matches_numpy_twin(act):
    sched = Schedule("power", value=1.0, t0=0.5, alpha=0.25)
    w1, a1 = initial_network(20, 10, 0.8, 1.0, 0.3, np.random.default_rng(1))
    w2, a2 = w1.copy(), a1.copy()
    sgd_steps(
        w1,
        a1,
        True,
        act.code,
        act.param_array,
        0.8,
        1e-3,
        sched.code,
        sched.params,
        0.1,
        0.2,
        3,
        0,
        60,
        np.random.default_rng(7),
    )
    sgd_steps_ref(w2, a2, True, act, 0.8, 1e-3, sched, 0.1, 0.2, 3, 0, 60, np.random.default_rng(7))
    np.testing.assert_allclose(w1, w2, atol=1e-13)
    np.testing.assert_allclose(a1, a2, atol=1e-13)


@pytest.mark.parametrize("act", [dd.paper_ramp(), DIP], ids=lambda a: a.kind)
@pytest.mark.parametrize("train_a", [False, True])
def test_fused_step_is_bitwise_forward_then_update(act, train_a):
    """One sample, no noise: the kernel's fused, transposed pass (update, then the next
    sample's products) gives exactly the numbers and random stream of the template's
    row-wise forward and update, driven step by step here; N = 803 leaves a remainder of
    the four-row blocks."""
    from ddsolver.sgd.engine import forward, update
    from ddsolver.sgd.isotropic import _draw

    sched = Schedule("power", value=1.0, t0=0.5, alpha=0.25)
    w1, a1 = initial_network(803, 17, 0.8, 1.0, 0.3, np.random.default_rng(1))
    w2, a2 = w1.copy(), a1.copy()
    rng1, rng2 = np.random.default_rng(7), np.random.default_rng(7)
    eps, lam, steps = 2e-2, 0.05, 200
    sgd_steps(w1, a1, train_a, act.code, act.param_array, 0.8, eps, sched.code, sched.params,
              lam, 0.0, 1, 0, steps, rng1)  # fmt: skip
    n, d = w2.shape
    x, y = np.empty((1, d)), np.empty(1)
    pre, val, der = np.empty((1, n)), np.empty((1, n)), np.empty((1, n))
    resid, grad = np.empty(1), np.empty(d)
    for k in range(steps):
        s = eps * sched(k * eps)
        _draw(rng2, 0.8, x, y)
        forward(w2, a2, x, y, act.code, act.param_array, pre, val, der, resid)
        update(w2, a2, train_a, x, resid, val, der, 1.0 - 2.0 * lam * s, 2.0 * s, 0.0, rng2,
               grad)  # fmt: skip
    assert np.abs(w1 - w2).max() == 0.0 and np.abs(a1 - a2).max() == 0.0
    w0 = initial_network(803, 17, 0.8, 1.0, 0.3, np.random.default_rng(1))[0]
    assert np.abs(w1 - w0).max() > 0.1  # the steps moved the weights
    assert rng1.bit_generator.state == rng2.bit_generator.state  # a checkpoint resumes alike


@pytest.mark.parametrize("second_layer", [False, True])
def test_exact_risk_matches_closed_form_twin(second_layer, rng):
    problem = dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8, second_layer=second_layer)
    w, a = initial_network(120, 40, 0.8, 0.7, 0.5, rng)
    w[:30] *= rng.uniform(0.2, 5.0, (30, 1))  # a spread of radii
    w[1] = 1.7 * w[0] + 0.02 * w[2]  # a nearly parallel pair (closed-form branch)
    a_arg = a if second_layer else None
    assert exact_risk(problem, w, a_arg) == pytest.approx(
        exact_risk_ref(problem, w, a_arg), abs=1e-12
    )


def test_exact_risk_at_high_dimension_and_in_small_tiles_matches_every_pair(rng, monkeypatch):
    """d = 500 (the short series of small cosines), the ramp and a piecewise-linear σ, against
    the closed form of every pair; tiles of 7 × 11 cosines give the same risk."""
    from ddsolver.sgd import isotropic

    for act in (dd.paper_ramp(), DIP):
        problem = dd.IsotropicGaussians(act, 500, 0.8)
        w, _ = initial_network(300, 500, 0.8, 1.0, 0.0, rng)
        w[:60] *= rng.uniform(0.2, 5.0, (60, 1))
        w[5] = 0.9 * w[4] + 0.01 * w[7]  # a nearly parallel pair
        whole = exact_risk(problem, w)
        assert whole == pytest.approx(exact_risk_ref(problem, w), abs=1e-12)
        monkeypatch.setattr(isotropic, "GRAM_TILE", (7, 11))
        assert exact_risk(problem, w) == pytest.approx(whole, rel=1e-14)
        monkeypatch.undo()


@pytest.mark.parametrize("kind", ["erf", "relu", "ramp"])
def test_closed_form_double_sum_in_any_tiles_is_the_pair_matrix_sum(kind, rng, monkeypatch):
    """Σᵢⱼ gᵢgⱼ K(sᵢ, sⱼ, cᵢⱼ) tile by tile (tiles of 5 × 3, and one tile) against the N × N
    matrix of closed forms, with a zero row and a duplicated row."""
    from ddsolver.models.integrals import pair
    from ddsolver.sgd import pair_sums

    act = dd.paper_ramp() if kind == "ramp" else Activation(kind)
    w = rng.standard_normal((37, 30)) / np.sqrt(30) * rng.uniform(0.3, 3.0, (37, 1))
    w[3] = 0.0
    w[9] = w[8]
    weights = rng.normal(1.0, 0.5, 37)
    norms = np.linalg.norm(w, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    cos = np.clip(w @ w.T / np.outer(safe, safe), -1.0, 1.0)
    np.fill_diagonal(cos, 1.0)
    matrix = weights @ pair(act, norms[:, None], norms[None, :], cos) @ weights
    whole = pair_sums.closed_form_double_sum(act, w, weights=weights)
    assert whole == pytest.approx(matrix, rel=1e-13)
    monkeypatch.setattr(pair_sums, "GRAM_TILE", (5, 3))
    assert pair_sums.closed_form_double_sum(act, w, weights=weights) == pytest.approx(
        whole, rel=1e-13
    )


def test_series_lengths_bound_the_rest_of_each_pairs_series(rng):
    """The terms a pair leaves out (from its bin's length L on, to K) add to at most the
    tolerance, at the bins' upper edges where the bound is tightest."""
    from ddsolver.models.hermite import hermite_coefficients
    from ddsolver.sgd.isotropic import series_lengths, series_tail_bounds

    act = dd.paper_ramp()
    scales = rng.uniform(0.05, 6.0, 200)
    cp, _ = hermite_coefficients(act, scales * 1.8, 80)
    cm, _ = hermite_coefficients(act, scales * 0.2, 80)
    tail = series_tail_bounds(cp, cm)
    tol = 1e-17
    lengths = series_lengths(tail, 0.6, tol)
    assert lengths[0] < lengths[-1] <= 80 and np.all(np.diff(lengths) >= 0)
    pairs = rng.integers(0, 200, (400, 2))
    for b in rng.integers(0, lengths.size, 40):
        c = 0.6 * (b + 1) / lengths.size
        k = np.arange(lengths[b], 80)
        terms = 0.5 * (cp[pairs[:, 0]][:, k] * cp[pairs[:, 1]][:, k]
                       + cm[pairs[:, 0]][:, k] * cm[pairs[:, 1]][:, k]) * c**k  # fmt: skip
        assert np.abs(terms).sum(axis=1).max() <= tol


def test_exact_risk_against_monte_carlo_test_set(rng):
    problem = dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8)
    for scale in (0.8, 3.0):
        w, _ = initial_network(60, 40, scale, 1.0, 0.0, rng)
        w[::3] *= 0.1
        mean, se = monte_carlo_risk(problem, w, None, 400_000, rng)
        assert abs(exact_risk(problem, w) - mean) < SE_FACTOR * se


@pytest.mark.parametrize("second_layer", [False, True])
def test_noise_convention_gives_the_gibbs_variance(second_layer):
    """σ ≡ 0 leaves the noisy SGD an OU process whose stationary variance per coordinate is
    τ/(λD) — the Gibbs state ∝ exp(−(D/τ)(λ/2)|θ|²) of the PDE, with D = d (+ 1)."""
    zero = Activation("ramp", (0.5, 1.5, 0.0, 0.0))
    d, n, eps, lam, tau = 10, 400, 1e-3, 1.0, 0.3
    rng = np.random.default_rng(3)
    w, a = initial_network(n, d, 0.8, 0.0, 1.0, rng)
    sched = Schedule("constant")
    sgd_steps(
        w,
        a,
        second_layer,
        zero.code,
        zero.param_array,
        0.8,
        eps,
        sched.code,
        sched.params,
        lam,
        tau,
        1,
        0,
        6000,
        rng,
    )
    dim = d + 1 if second_layer else d
    expected = tau / (lam * dim) / (1 - lam * eps)  # exact for the discrete-time recursion
    samples = np.concatenate([w.ravel(), a]) if second_layer else w.ravel()
    var = samples.var()
    se = var * math.sqrt(2.0 / samples.size)
    assert abs(var - expected) < SE_FACTOR * se, (var, expected)


def test_time_mapping_and_step_factor_follow_the_pde():
    """Mean |w| of 2000 neurons against the PDE at t = 0.25 and 0.5 (t = kε, step 2s(y − ŷ)∇σ*).

    Over this window the PDE moves the mean radius by ≈ 0.45; a factor 2 in the step or in
    the time mapping would move it by ≈ 0.2 or ≈ 0.8.
    """
    cfg = validate(
        {
            "time": {"t_end": 0.5, "save_every": 0.25},
            "sgd": {"neurons": 2000, "eps": 5e-5, "seeds": [0]},
            "grid": {"r_max": 3.0, "r_cells": 600},
        }
    )
    system = build_grid_dd(cfg)
    p3 = system.initial_density(build_initial(cfg)).reshape(system.grid.shape3).copy()
    problem = system.problem
    act = problem.activation
    rng = np.random.default_rng(11)
    w, a = initial_network(2000, 40, 0.8, 1.0, 0.0, rng)
    sched = Schedule("constant")
    t, k = 0.0, 0
    for target in (0.25, 0.5):
        t, *_ = system.advance(p3, t, target)
        pde_mean = system.observables(p3.reshape(system.grid.shape), 2000)["mean_r"]
        k_next = round(target / 5e-5)
        sgd_steps(
            w,
            a,
            False,
            act.code,
            act.param_array,
            0.8,
            5e-5,
            sched.code,
            sched.params,
            0.0,
            0.0,
            1,
            k,
            k_next,
            rng,
        )
        k = k_next
        assert abs(np.linalg.norm(w, axis=1).mean() - pde_mean) < 0.02, (target, pde_mean)


def test_wasserstein1_against_scipy():
    rng = np.random.default_rng(5)
    edges = np.linspace(0, 4, 401)
    centres = 0.5 * (edges[1:] + edges[:-1])
    masses = np.exp(-((centres - 1.5) ** 2) / 0.3)
    samples = rng.normal(1.7, 0.4, 3000)
    ours = wasserstein1(edges, masses, samples)
    fine = (
        np.repeat(centres, 1) + (rng.random((200, centres.size)) - 0.5) * 0.01
    )  # uniform in cells
    ref = stats.wasserstein_distance(fine.ravel(), samples, np.tile(masses, 200), None)
    assert ours == pytest.approx(ref, abs=2e-3)
    assert wasserstein1(edges, masses, samples) > 0.15  # the shift of 0.2 is seen


@pytest.fixture(scope="module")
def pde_and_sgd(tmp_path_factory):
    from ddsolver.integrate import run_grid

    tmp = tmp_path_factory.mktemp("cmp")
    cfg = validate(
        {
            "time": {"t_end": 0.5, "save_every": 0.25},
            "sgd": {"neurons": 300, "eps": 1e-4, "seeds": [0, 1, 2]},
            "grid": {"r_max": 3.0, "r_cells": 300},
        }
    )
    run_grid(cfg, tmp / "pde.h5", quiet=True)
    run_sgd(cfg, tmp / "sgd.h5")
    return tmp, cfg


def test_sgd_file_layout_and_reproducibility(pde_and_sgd):
    tmp, cfg = pde_and_sgd
    with h5py.File(tmp / "sgd.h5") as f:
        assert f.attrs["status"] == "finished" and f.attrs["kind"] == "sgd"
        assert f["observables/risk"].shape == (3, 3)  # 3 times x 3 seeds
        assert f["snapshots/r"].shape == (3, 3, 300)
        first = f["observables/risk"][()]
    run_sgd(cfg, tmp / "again.h5")
    with h5py.File(tmp / "again.h5") as f:
        np.testing.assert_array_equal(f["observables/risk"][()], first)
    # a seed run alone is bit for bit its column of the batch
    alone = validate({**cfg, "sgd": {**cfg["sgd"], "seeds": [1]}})
    run_sgd(alone, tmp / "alone.h5")
    with h5py.File(tmp / "alone.h5") as f, h5py.File(tmp / "sgd.h5") as batch:
        np.testing.assert_array_equal(f["observables/risk"][:, 0], first[:, 1])
        np.testing.assert_array_equal(f["snapshots/r"][:, 0], batch["snapshots/r"][:, 1])


def test_compare_report_and_refusal(pde_and_sgd, tmp_path):
    tmp, cfg = pde_and_sgd
    report = compare_files(tmp / "pde.h5", tmp / "sgd.h5")
    assert report["risk"]["time"] == pytest.approx([0.0, 0.25, 0.5])
    assert report["max_abs_gap"] < 0.03  # N = 300 at t ≤ 0.5
    assert report["wasserstein1"]["time"] == pytest.approx([0.0, 0.25, 0.5])
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ddsolver",
            "compare",
            tmp / "pde.h5",
            tmp / "sgd.h5",
            "-o",
            tmp_path / "rep",
        ],
        capture_output=True,
        text=True,
        check=False,  # asserted below, with stderr in the message
    )
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["neurons"] == 300
    other = {**cfg, "problem": {**cfg["problem"], "delta": 0.6}}
    run_sgd(validate(other), tmp_path / "other.h5")
    with pytest.raises(ConfigError, match=r"problem\.delta"):
        compare_files(tmp / "pde.h5", tmp_path / "other.h5")


def test_memory_estimate_counts_the_seed_batch_and_the_risk_tiles(monkeypatch):
    """Before compute: one isotropic network at N = 10⁵, d = 500 needs its weights (three
    copies) and one exact risk a tile at a time (≈ 2.1 GiB in all) and fits in 8 GiB; 16 seeds
    (their weights, eight workers' risks) do not, and the refusal names ``sgd.neurons``; the
    anisotropic kind's risk still holds N × N matrices."""
    from ddsolver import resources
    from ddsolver.config import load_config

    monkeypatch.setattr(resources, "available_memory", lambda: 8 * 2**30)
    grids = Path(__file__).resolve().parents[1] / "grids"
    big = ["sgd.neurons=100000", "problem.dimension=500"]
    one = load_config(grids / "isotropic_d40.toml", overrides=[*big, "sgd.seeds=[0]"])
    resources.check_memory(one, "sgd")
    total = sum(resources._sgd_terms(settings(one)).values())
    assert 3 * 8 * 1e5 * 500 < total < 2.5 * 2**30
    many = load_config(grids / "isotropic_d40.toml",
                       overrides=[*big, f"sgd.seeds={list(range(16))}"])  # fmt: skip
    with pytest.raises(ConfigError) as err:
        resources.check_memory(many, "sgd")
    assert err.value.key == "sgd.neurons"
    aniso = load_config(grids / "anisotropic.toml", overrides=[*big, "sgd.seeds=[0]"])
    with pytest.raises(ConfigError):
        resources.check_memory(aniso, "sgd")
