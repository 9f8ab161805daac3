"""The finite-step correction: its tables against Monte Carlo and against the SGD kernel's own
steps, the grid flux (conservation, positivity, the coefficients it uses), ε-scaling of the
corrected run, and the config's refusals."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from convergence import ORDER_TOL, observed_orders
from scipy import integrate

from ddsolver.comparison import compare_files
from ddsolver.config import ConfigError, load_config, validate
from ddsolver.experiment import build_grid_dd, build_initial
from ddsolver.models import paper_ramp
from ddsolver.models.activations import Activation
from ddsolver.models.step_noise import StepNoiseTables, angle_tables
from ddsolver.operators.step_noise import (
    implicit_line,
    step_noise_divergence,
    step_noise_moments,
)
from ddsolver.schedules import Schedule
from ddsolver.sgd.isotropic import sgd_steps

EXAMPLES = Path(__file__).resolve().parents[1] / "grids"
RADII = np.array([0.3, 0.6, 0.9, 1.3, 2.0])
MASSES = np.array([0.1, 0.3, 0.3, 0.2, 0.1])


def _uniform_directions(rng, shape, d):
    g = rng.standard_normal((*shape, d))
    return g / np.linalg.norm(g, axis=-1, keepdims=True)


@pytest.mark.parametrize("kind", ["ramp", "tanh", "relu"])
@pytest.mark.parametrize("d", [3, 40])
def test_angle_tables_match_direct_quadrature(kind, d):
    """E_u over the cosine law by the kink-split rule against a fine trapezoid in θ."""
    act = paper_ramp() if kind == "ramp" else Activation.from_mapping({"kind": kind})
    scales = np.array([0.0, 0.3, 0.7, 1.9, 12.0, 80.0])
    got = angle_tables(act, d, scales)
    norm = integrate.quad(lambda th: np.cos(th) ** (d - 2), -0.5 * np.pi, 0.5 * np.pi)[0]
    kinks = [-2.0, 0.0, 0.5, 1.5]
    for k, s in enumerate(scales):
        points = [np.arcsin(t / s) for t in kinks if s > abs(t)]
        funcs = (
            lambda u, s=s: act(s * u),
            lambda u, s=s: act(s * u) ** 2,
            lambda u, s=s: act.derivative(s * u) * u,
            lambda u, s=s: act.derivative(s * u) ** 2 * u * u,
            lambda u, s=s: act.derivative(s * u) ** 2 * (1 - u * u),
        )
        for row, f in enumerate(funcs):
            ref = integrate.quad(lambda th, f=f: f(np.sin(th)) * np.cos(th) ** (d - 2),
                                 -0.5 * np.pi, 0.5 * np.pi, points=points or None,
                                 limit=400, epsabs=1e-13, epsrel=1e-12)[0] / norm  # fmt: skip
            assert got[row, k] == pytest.approx(ref, abs=1e-10, rel=1e-9)


@pytest.mark.parametrize("d", [4, 40])
def test_coefficients_match_monte_carlo_over_samples_and_networks(d):
    """c(r) and a(r) against their definitions: a width-N network drawn from ρ, a fresh sample,
    a test neuron w = r e₁ — E[e² σ'² |P⊥x|²] and Var-type moments within 4 s.e."""
    delta, neurons, samples = 0.8, 30, 30_000
    act = paper_ramp()
    test_r = np.array([0.5, 1.2, 3.0])
    tables = StepNoiseTables.build(act, d, delta, np.concatenate([RADII, test_r]))
    masses = np.concatenate([MASSES, np.zeros(test_r.size)])
    drift, var = tables.coefficients(masses, 1.0, 1, neurons)
    rng = np.random.default_rng(7)
    y = rng.choice([-1.0, 1.0], size=samples)
    x = rng.standard_normal((samples, d)) * (1 + y * delta)[:, None]
    r = rng.choice(RADII, p=MASSES, size=(samples, neurons))
    pre = np.einsum("snd,sd->sn", _uniform_directions(rng, (samples, neurons), d), x) * r
    e = y - act(pre).mean(axis=1)
    perp2 = (x[:, 1:] ** 2).sum(axis=1)
    for k, rt in enumerate(test_r):
        der = act.derivative(rt * x[:, 0])
        q_perp = e * e * der * der * perp2
        q_par = e * e * der * der * x[:, 0] ** 2
        q_mean = e * der * x[:, 0]
        c_mc = 2 * q_perp.mean() / rt
        c_se = 2 * q_perp.std() / rt / math.sqrt(samples)
        assert abs(drift[RADII.size + k] - c_mc) < 4 * c_se
        a_mc = 4 * (q_par.mean() - q_mean.mean() ** 2)
        a_se = 4 * math.sqrt((q_par.var() + 4 * q_mean.mean() ** 2 * q_mean.var()) / samples)
        assert abs(var[RADII.size + k] - a_mc) < 4 * a_se


@pytest.mark.parametrize("batch", [1, 3])
def test_orthogonal_step_of_the_sgd_kernel(batch):
    """The SGD kernel's own steps: E|P⊥Δw|² per step = 2 r ε c(r) at (ε, ξ, B). d = 4 makes the
    count of orthogonal directions (d − 1 = 3, not 4), the 1/B and the ξ² visible.

    Each repetition draws a fresh network of N i.i.d. neurons from ρ and takes one step; the
    per-radius mean over its neurons is one sample (repetitions are independent). N = 100
    keeps the neuron's own part of ŷ (a 1/N correlation the formula leaves out) below 1%.
    """
    d, delta, neurons, repeats = 4, 0.8, 100, 4000
    eps, xi = 1e-3, 1.7
    act = paper_ramp()
    tables = StepNoiseTables.build(act, d, delta, RADII)
    drift, _ = tables.coefficients(MASSES, eps, batch, neurons, xi)
    sched = Schedule("constant", value=xi)
    rng = np.random.default_rng(3)
    samples = np.zeros((repeats, RADII.size))
    idx = np.repeat(np.arange(RADII.size), np.round(MASSES * neurons).astype(int))
    for rep in range(repeats):
        w = RADII[idx, None] * _uniform_directions(rng, (neurons,), d)
        w0 = w.copy()
        sgd_steps(w, np.ones(neurons), False, act.code, act.param_array, delta, eps,
                  sched.code, sched.params, 0.0, 0.0, batch, 0, 1, rng)  # fmt: skip
        step = w - w0
        unit = w0 / RADII[idx, None]
        perp2 = (step**2).sum(axis=1) - (step * unit).sum(axis=1) ** 2
        samples[rep] = np.bincount(idx, perp2, RADII.size) / np.bincount(idx, None, RADII.size)
    predicted = 2 * RADII * eps * drift
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / math.sqrt(repeats)
    assert (np.abs(mean - predicted) < 4 * se).all(), (mean / predicted, se / predicted)


def test_second_layer_steps_of_the_sgd_kernel():
    """θ = (a, w): the SGD kernel's steps against the second-layer coefficients — E|P⊥Δw|² =
    2 r ε a² c(r) and Var Δa = ε·(4εξ²/B)(E[e²σ²] − E[eσ]²) per step (a ∈ {0.5, 1, 1.5})."""
    d, delta, eps, xi, batch, repeats = 4, 0.8, 1e-3, 1.3, 2, 3000
    act = paper_ramp()
    a_values = np.array([0.5, 1.0, 1.5])
    grid_masses = np.outer(np.full(3, 1 / 3), MASSES)  # (n_a, n_r), a independent of r
    tables = StepNoiseTables.build(act, d, delta, RADII)
    per_r = np.round(MASSES * 100).astype(int)
    r_idx = np.tile(np.repeat(np.arange(RADII.size), per_r), 3)
    a_idx = np.repeat(np.arange(3), per_r.sum())
    neurons = r_idx.size
    drift, _, var_a = tables.second_layer_coefficients(grid_masses, a_values, eps, batch,
                                                       neurons, xi)  # fmt: skip
    sched = Schedule("constant", value=xi)
    rng = np.random.default_rng(11)
    cells = a_idx * RADII.size + r_idx
    perp_samples = np.zeros((repeats, 3 * RADII.size))
    a_steps = np.zeros((repeats, 3 * RADII.size))
    for rep in range(repeats):
        w = RADII[r_idx, None] * _uniform_directions(rng, (neurons,), d)
        a = a_values[a_idx].copy()
        w0, a0 = w.copy(), a.copy()
        sgd_steps(w, a, True, act.code, act.param_array, delta, eps,
                  sched.code, sched.params, 0.0, 0.0, batch, 0, 1, rng)  # fmt: skip
        step = w - w0
        unit = w0 / RADII[r_idx, None]
        perp2 = (step**2).sum(axis=1) - (step * unit).sum(axis=1) ** 2
        count = np.bincount(cells, None, 3 * RADII.size)
        perp_samples[rep] = np.bincount(cells, perp2, 3 * RADII.size) / count
        a_steps[rep] = np.bincount(cells, a - a0, 3 * RADII.size) / count
    predicted = (2 * RADII * eps * drift).ravel()
    mean = perp_samples.mean(axis=0)
    se = perp_samples.std(axis=0, ddof=1) / math.sqrt(repeats)
    assert (np.abs(mean - predicted) < 4 * se).all(), (mean / predicted, se / predicted)
    # Δa is shared by the cell's neurons only through the sample: its per-step variance over
    # repetitions (one neuron per cell) against ε·var_a
    one = np.zeros((repeats, 3 * RADII.size))
    rng = np.random.default_rng(12)
    for rep in range(repeats):
        w = RADII[r_idx, None] * _uniform_directions(rng, (neurons,), d)
        a = a_values[a_idx].copy()
        a0 = a.copy()
        sgd_steps(w, a, True, act.code, act.param_array, delta, eps,
                  sched.code, sched.params, 0.0, 0.0, batch, 0, 1, rng)  # fmt: skip
        first = np.unique(cells, return_index=True)[1]
        one[rep] = (a - a0)[first]
    var = one.var(axis=0, ddof=1)
    expected = eps * var_a.ravel()
    # the sample variance of a variance: relative s.e. √(2/(n−1)) for near-Gaussian steps;
    # the steps are far from Gaussian (σ' is 0 or 10), so the tolerance uses their kurtosis
    centred = one - one.mean(axis=0)
    kurt = (centred**4).mean(axis=0) / var**2
    rel_se = np.sqrt((kurt - 1) / repeats)
    assert (np.abs(var / expected - 1) < 4 * rel_se).all(), (var / expected, rel_se)


def test_grid_flux_conserves_keeps_positivity_and_uses_the_coefficients():
    rng = np.random.default_rng(0)
    n = 60
    edges = np.concatenate([[0.0], np.cumsum(rng.uniform(0.02, 0.06, n))])
    widths = np.diff(edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    dist = np.diff(centres)
    p = rng.uniform(0.0, 2.0, n)
    p[10:14] = 0.0
    drift = rng.normal(0, 1.0, n)
    var = rng.uniform(0, 0.05, n)
    out, rate = np.zeros(n), np.zeros(n)
    step_noise_divergence(p, widths, dist, drift, var, 0, out, rate)
    assert abs(out @ widths) < 1e-13 * np.abs(out * widths).sum()
    # first order (no limiter): the NumPy flux of the module docstring
    u = 0.5 * (drift[1:] + drift[:-1])
    diffusion = (0.5 * var[1:] * p[1:] - 0.5 * var[:-1] * p[:-1]) / dist
    flux = np.where(u > 0, u * p[:-1], u * p[1:]) - diffusion
    ref = np.zeros(n)
    ref[:-1] -= flux / widths[:-1]
    ref[1:] += flux / widths[1:]
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    for limiter in (0, 1, 2):  # forward Euler at the rate bound keeps p ≥ 0
        out, rate = np.zeros(n), np.zeros(n)
        step_noise_divergence(p, widths, dist, drift, var, limiter, out, rate)
        assert (p + out / rate.max() >= -1e-14).all()


def _implicit(p, widths, dist, drift, var, dt):
    n = p.size
    q = p.copy()
    work = [np.empty(n), np.empty(n), np.empty(n, dtype=np.int64), np.empty(n), np.empty(n)]
    implicit_line(q, widths, dist, drift, var, dt, *work)
    return q


def test_implicit_line_conserves_and_stays_positive_at_any_step():
    """Backward Euler of the Scharfetter–Gummel fluxes on a non-uniform line with cells of no
    mass, drifts of both signs and up to 1e4, and a diffusion that vanishes in places: p ≥ 0
    at steps far beyond any explicit bound, and the mass kept to round-off — relative 1e-16
    times the system's condition, ≲ 1 + dt·(largest outflow rate) (measured 1e-12 at
    dt·rate ≈ 1e9)."""
    rng = np.random.default_rng(3)
    n = 80
    widths = rng.uniform(0.01, 0.05, n)
    centres = np.cumsum(widths) - 0.5 * widths
    dist = np.diff(centres)
    p = rng.uniform(0.0, 2.0, n)
    p[20:30] = 0.0
    drift = rng.normal(0, 1.0, n) * np.where(np.arange(n) < 5, 1e4, 1.0)
    var = rng.uniform(0, 0.05, n) * (np.arange(n) % 7 != 0)
    top_rate = (np.abs(drift).max() + var.max() / dist.min()) / widths.min()
    for dt in (1e-6, 1e-2, 1.0, 1e3):
        q = _implicit(p, widths, dist, drift, var, dt)
        assert abs(q @ widths - p @ widths) < 1e-15 * (1 + dt * top_rate) * (p @ widths)
        assert q.min() >= 0.0


def test_implicit_line_is_second_order_in_space():
    """The operator of the implicit step, A p = lim (p⁺ − p)/dt (a symmetric difference in dt),
    against −(c p)′ + ½(a p)″ of smooth c, a and a Gaussian p at the cell centres: the error
    falls as h² (measured orders 2.00, 2.00 from 100 to 800 cells)."""

    def exact(r):
        m, s = 0.5, 0.01
        g = np.exp(-((r - m) ** 2) / s)
        g1, g2 = -2 * (r - m) / s * g, (4 * (r - m) ** 2 / s**2 - 2 / s) * g
        c, c1 = 1 + r, np.ones_like(r)
        a, a1, a2 = 0.5 + r**2, 2 * r, 2 * np.ones_like(r)
        return g, c, a, -(c1 * g + c * g1) + 0.5 * (a2 * g + 2 * a1 * g1 + a * g2)

    errors = []
    for n in (100, 200, 400, 800):
        widths = np.full(n, 1.0 / n)
        r = (np.arange(n) + 0.5) / n
        p, c, a, lp = exact(r)
        dist = np.diff(r)
        dt = 1e-7
        forward = _implicit(p, widths, dist, c, a, dt)
        backward = _implicit(p, widths, dist, c, a, -dt)
        errors.append(np.abs((forward - backward) / (2 * dt) - lp).max())
    orders = observed_orders(errors)
    assert abs(orders[-1] - 2.0) < ORDER_TOL, orders


def test_implicit_scheme_converges_to_the_explicit_one(tmp_path):
    """``solver.finite_step_scheme = "implicit"`` against the explicit stages (ε = 1e-3,
    t = 1.5): the gap in the risk shrinks under refinement (measured 9.9e-4 at 200 cells,
    3.1e-4 at 400: where the cell Péclet number v h/D nears 1 the Scharfetter–Gummel drift
    is upwind, first order) while the correction itself moved the risk by 0.024; the mass to
    round-off."""
    gaps = []
    for cells in (200, 400):
        cfg = _config(tmp_path, eps=1e-3, finite_step=True)
        cfg["grid"]["r_cells"] = cells
        explicit = _risk_after(cfg)
        cfg["solver"]["finite_step_scheme"] = "implicit"
        implicit = _risk_after(cfg)
        assert implicit["mass"] == pytest.approx(1.0, abs=1e-12)
        gaps.append(abs(implicit["risk"] - explicit["risk"]))
    plain = _risk_after(_config(tmp_path, eps=1e-3))
    assert abs(explicit["risk"] - plain["risk"]) > 0.01
    assert gaps[1] < gaps[0] / 2 and gaps[1] < 5e-4, gaps


def test_implicit_scheme_with_a_second_layer():
    """θ = (a, w): the implicit step along r in every a-row, then along a in every r-column.
    grids/second_layer.toml on 40 × 60 cells at ε = 1e-3 to t = 1: the risk within 3e-4 of the
    explicit scheme (measured 7.4e-5, in 684 steps against 3221), mass to round-off, p ≥ 0."""
    risks = {}
    for scheme in ("explicit", "implicit"):
        cfg = load_config(
            EXAMPLES / "second_layer.toml",
            overrides=["grid.r_cells=60", "grid.a_cells=40", "sgd.eps=1e-3",
                       "dynamics.finite_step=true", f'solver.finite_step_scheme="{scheme}"'],
        )  # fmt: skip
        dd = build_grid_dd(cfg)
        p = dd.initial_state(build_initial(cfg))
        assert dd.advance(p, 0.0, 1.0).status == 0
        obs = dd.observables(p, cfg["sgd"]["neurons"])
        assert obs["mass"] == pytest.approx(1.0, abs=1e-12) and p.min() >= 0.0
        risks[scheme] = obs["risk"]
    assert abs(risks["implicit"] - risks["explicit"]) < 3e-4, risks


def test_compiled_moments_equal_the_tables():
    tables = StepNoiseTables.build(paper_ramp(), 40, 0.8, RADII)
    a_masses, a2_masses = 0.7 * MASSES, 0.9 * MASSES
    moments, work = np.empty((5, RADII.size)), np.empty((2, tables.weights.size))
    tables_t = np.ascontiguousarray(tables.tables.transpose(0, 2, 1))
    step_noise_moments(a_masses, a2_masses, tables.tables, tables_t, tables.weights,
                       tables.labels, 1 / 800, work, moments)  # fmt: skip
    ref = tables.moments(*tables.residuals(a_masses, 800, a2_masses))
    for row, name in enumerate(("perp", "second", "mean_par", "value2", "value")):
        np.testing.assert_allclose(moments[row], ref[name], rtol=1e-12, atol=1e-15)


def _config(tmp_path, **dynamics):
    text = """
[problem]
kind = "isotropic_gaussians"
dimension = 40
delta = 0.8
[initial]
scale = 0.8
[time]
t_end = 1.0
[grid]
r_max = 4.0
r_cells = 200
[sgd]
neurons = 800
eps = {eps}
"""
    path = tmp_path / "c.toml"
    path.write_text(text.format(eps=dynamics.pop("eps", 1e-4)) + "[dynamics]\n" + "".join(
        f"{k} = {str(v).lower()}\n" for k, v in dynamics.items()))  # fmt: skip
    return load_config(path)


def _risk_after(cfg, t_end=1.5):
    dd = build_grid_dd(cfg)
    p = dd.initial_state(build_initial(cfg))
    status = dd.advance(p, 0.0, t_end).status
    assert status == 0
    return dd.observables(p, cfg["sgd"]["neurons"])


def test_correction_vanishes_linearly_with_eps(tmp_path):
    """Corrected − plain risk and the correction's own size are ε·(A + O(ε)): per halving of ε
    the ratio tends to 2 and its distance from 2 halves too (measured: step_drift 2.061, 2.031;
    risk difference 1.951, 1.972 for ε = 2e-4 → 1e-4 → 5e-5)."""
    plain = _risk_after(_config(tmp_path))
    diffs, drifts = [], []
    for eps in (2e-4, 1e-4, 5e-5):
        obs = _risk_after(_config(tmp_path, eps=eps, finite_step=True))
        assert obs["mass"] == pytest.approx(1.0, abs=1e-12)
        diffs.append(obs["risk"] - plain["risk"])
        drifts.append(obs["step_drift"])
    for series in (diffs, drifts):
        ratios = [big / small for big, small in itertools.pairwise(series)]
        assert abs(ratios[-1] - 2) < 0.05
        assert 1.5 < abs(ratios[0] - 2) / abs(ratios[1] - 2) < 2.6, ratios


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"problem.kind": "teacher_student"}, "dynamics.finite_step"),
        ({"problem.dimension": "inf"}, "problem.dimension"),
        ({"discretisation.method": "particles"}, "discretisation.method"),
    ],
)
def test_refused_where_not_built(tmp_path, override, key):
    path = tmp_path / "c.toml"
    path.write_text(
        '[problem]\nkind = "isotropic_gaussians"\ndimension = 40\ndelta = 0.8\n'
        "[dynamics]\nfinite_step = true\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(path, overrides=[f"{k}={_toml(v)}" for k, v in override.items()])
    assert err.value.key == key


def _toml(v):
    if isinstance(v, bool):
        return str(v).lower()
    return f'"{v}"' if isinstance(v, str) else str(v)


@pytest.fixture(scope="module")
def plain_corrected_sgd(tmp_path_factory):
    """Plain and corrected PDE runs and an SGD run (N = 400, ε = 1e-3, 3 seeds) to t = 1."""
    from ddsolver.integrate import run_grid
    from ddsolver.sgd.run import run_sgd

    tmp = tmp_path_factory.mktemp("finite_step")
    raw = {
        "time": {"t_end": 1.0, "save_every": 0.5, "observe_every": 0.05},
        "sgd": {"neurons": 400, "eps": 1e-3, "seeds": [0, 1, 2], "observe_every": 0.1},
        "grid": {"r_max": 3.0, "r_cells": 300},
    }
    cfg = validate(raw)
    run_grid(cfg, tmp / "plain.h5", quiet=True)
    corrected = validate({**raw, "dynamics": {"finite_step": True}})
    run_grid(corrected, tmp / "corrected.h5", quiet=True)
    run_sgd(cfg, tmp / "sgd.h5")
    return tmp, raw


def test_compare_reports_the_corrected_limit_beside_the_plain_one(plain_corrected_sgd, tmp_path):
    tmp, _ = plain_corrected_sgd
    report = compare_files(tmp / "plain.h5", tmp / "sgd.h5", tmp / "corrected.h5")
    step = report["finite_step"]
    assert len(step["risk"]["gap"]) == len(report["risk"]["time"])
    # εd = 0.04: by t = 1 the corrected limit is the closer one (measured 0.025 against 0.045,
    # SGD s.e. 0.004); around t = 0.1 it runs ahead of SGD (docs/finite_step.md)
    assert abs(step["risk"]["gap"][-1]) < abs(report["risk"]["gap"][-1])
    assert step["wasserstein1"]["r"][-1] < report["wasserstein1"]["r"][-1]
    out = subprocess.run(
        [sys.executable, "-m", "ddsolver", "compare", tmp / "plain.h5", tmp / "sgd.h5",
         "--corrected", tmp / "corrected.h5", "-o", tmp_path / "rep"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    written = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert written["finite_step"]["max_abs_gap"] == pytest.approx(step["max_abs_gap"])
    assert (tmp_path / "rep" / "risk_comparison.png").stat().st_size > 0


def test_compare_refuses_a_correction_for_another_step(plain_corrected_sgd, tmp_path):
    from ddsolver.sgd.run import run_sgd

    tmp, raw = plain_corrected_sgd
    with pytest.raises(ConfigError, match=r"dynamics\.finite_step"):  # a plain run as --corrected
        compare_files(tmp / "plain.h5", tmp / "sgd.h5", tmp / "plain.h5")
    other = validate({**raw, "sgd": {**raw["sgd"], "eps": 2e-3, "seeds": [0]}})
    run_sgd(other, tmp_path / "sgd_2e-3.h5")
    with pytest.raises(ConfigError, match=r"sgd\.eps"):
        compare_files(tmp / "plain.h5", tmp_path / "sgd_2e-3.h5", tmp / "corrected.h5")


def test_anisotropic_drift_against_monte_carlo():
    """The anisotropic r₁, r₂ drift: for fixed class residuals e± (those of the formula's
    M±), E[e² a² 1{z > 0} |P⊥ x_block|²] by Monte Carlo in d = 12, s₀ = 4 (so s₀ − 1 = 3 and
    d − s₀ − 1 = 7 are far from s₀ and d − s₀) within 4 s.e., and the factor 2εξ²/(B r)."""
    from ddsolver.models import AnisotropicGaussians

    d, s0, delta, eps, xi, batch, neurons = 12, 4, 0.6, 1e-3, 1.4, 3, 50
    problem = AnisotropicGaussians(delta, s0, math.inf)
    rng = np.random.default_rng(5)
    points = np.column_stack([rng.normal(1, 0.5, 40), rng.normal(0.2, 0.3, 40),
                              rng.uniform(0.2, 1.5, 40), rng.uniform(0.2, 1.0, 40)])  # fmt: skip
    masses = np.full(40, 1 / 40)
    drift = problem.step_noise_velocity(points, masses, eps, batch, neurons, xi, d)
    assert np.all(drift[:, :2] == 0)
    a, b, r1, r2 = points[5]
    # the formula's class residuals E e±², recomputed from its own pieces
    from ddsolver.models.anisotropic import _relu_moments, relu_square_mean

    e2 = {}
    for sign in (1.0, -1.0):
        s = np.sqrt((1 + sign * delta) ** 2 * points[:, 2] ** 2 + points[:, 3] ** 2)
        m, _, _ = _relu_moments(points[:, 1], s)
        out = masses @ (points[:, 0] * m)
        second = masses @ (points[:, 0] ** 2 * relu_square_mean(points[:, 1], s))
        e2[sign] = (sign - out) ** 2 + (second - out**2) / neurons
    samples = 400_000
    y = rng.choice([-1.0, 1.0], size=samples)
    x1 = rng.standard_normal((samples, s0)) * (1 + y * delta)[:, None]
    x2 = rng.standard_normal((samples, d - s0))
    w1 = np.zeros(s0)
    w1[0] = r1
    w2 = np.zeros(d - s0)
    w2[0] = r2
    z = x1 @ w1 + x2 @ w2 + b
    weight = np.where(y > 0, e2[1.0], e2[-1.0]) * a * a * (z > 0)
    for column, block, r in ((2, x1, r1), (3, x2, r2)):
        q = weight * (block[:, 1:] ** 2).sum(axis=1)
        mc = 2 * eps * xi**2 / batch * q.mean() / r
        se = 2 * eps * xi**2 / batch * q.std() / math.sqrt(samples) / r
        assert abs(drift[5, column] - mc) < 4 * se, (column, drift[5, column], mc, se)
