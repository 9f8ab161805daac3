"""SGD's first-order step-noise terms (ddsolver.fluctuations.step_noise): shared, own, Euler."""

import math

import numpy as np
import pytest
from cli_runner import ddsolver
from scipy import special

import ddsolver as dd
from ddsolver.comparison import summary_lines
from ddsolver.fluctuations.smoothed_law import cdf_of_a
from ddsolver.fluctuations.step_noise import (
    LAGS,
    _time_integrals,
    euler_term,
    injection_times,
    network_output,
    sample_norms,
    split_cosines,
    step_noise_terms,
    variance_of_a,
)
from ddsolver.models.activations import paper_ramp
from ddsolver.models.angular import even_moments
from ddsolver.models.initial import GaussianInitial
from ddsolver.models.isotropic import IsotropicGaussians

PAPER = IsotropicGaussians(paper_ramp(), 40, 0.8)
PAPER_INITIAL = GaussianInitial(scale=0.8, dimension=40)
SE_FACTOR = 4.0
TIMES = np.array([0.0, 0.05, 0.1, 0.2, 0.5])


@pytest.fixture(scope="module")
def unit_terms():
    """The terms at ε = 1 (they are linear in ε) on t ≤ 0.5, injections every 0.025."""
    return step_noise_terms(PAPER, PAPER_INITIAL, TIMES, 1.0, radial_nodes=12, sample_nodes=3,
                            cosine_nodes=6, injections=injection_times(0.5, 0.025))  # fmt: skip


def test_split_cosines_integrate_the_cosine_law_and_its_jumps():
    d = 40
    moments = even_moments(d, 8)
    for nodes, tol in ((12, 1e-8), (24, 1e-14)):  # spectral: the density is smooth inside
        c, w = split_cosines(d, np.array([0.1, 0.35]), nodes)
        assert abs(w.sum() - 1.0) < 1e-14
        for k in range(9):
            assert abs(w @ c ** (2 * k) - moments[k]) < tol
    # P(c > b) for the cosine law: (1 + c)/2 ~ Beta((d−1)/2, (d−1)/2)
    for b in (0.1, 0.35):
        exact = 1.0 - special.betainc(0.5 * (d - 1), 0.5 * (d - 1), 0.5 * (1.0 + b))
        assert abs(w @ (c > b) - exact) < 1e-12
    # breaks outside [−1, 1] leave empty pieces and the same integral
    c2, w2 = split_cosines(d, np.array([0.1, 4.0]), 24)
    assert abs(w2 @ c2**2 - moments[1]) < 1e-13


def test_split_cosines_takes_one_rule_per_row_of_breaks():
    breaks = np.array([[[0.1, 0.35], [-0.2, 4.0]], [[0.5, -0.5], [2.0, 3.0]]])
    c, w = split_cosines(40, breaks, 8)
    assert c.shape == w.shape == (2, 2, 24)
    for index in np.ndindex(2, 2):
        c1, w1 = split_cosines(40, breaks[index], 8)
        np.testing.assert_allclose(c[index], c1, rtol=0, atol=1e-15)
        np.testing.assert_allclose(w[index], w1, rtol=0, atol=1e-15)


def test_injection_times_grow_from_their_first_spacing_and_end_on_t_end():
    s = injection_times(4.0, 0.025, 0.1)
    assert s[0] == 0.0 and s[-1] == 4.0
    gaps = np.diff(s)
    assert np.all(gaps[:-1] >= 0.025 - 1e-15)
    np.testing.assert_allclose(gaps[:-1], np.maximum(0.025, 0.1 * s[:-2]), rtol=1e-12)


def test_the_time_integral_is_exact_for_an_integrand_linear_in_s():
    """∫₀ᵗ (1 + 2s) ds = t + t² from the coarse injections, the lag nodes t − τ and t."""
    times = np.array([0.0, 0.01, 0.1, 0.3, 1.7])
    injections = injection_times(1.7, 0.05)
    lags = np.asarray(LAGS)
    rate = np.vstack([np.outer(1.0 + 2.0 * injections, np.ones(times.size)),
                      1.0 + 2.0 * times])  # fmt: skip
    near = 1.0 + 2.0 * (times[None, :] - lags[:, None])
    np.testing.assert_allclose(_time_integrals(injections, rate, lags, near, times),
                               times + times**2, rtol=1e-13, atol=1e-15)  # fmt: skip


def test_network_output_matches_monte_carlo():
    """ŷ(|x|) = E_w σ(<w, x>) under ρ₀ against sampled neurons (4 s.e.)."""
    rng = np.random.default_rng(3)
    r, weights = PAPER_INITIAL.radial_quadrature(60)
    norms = np.array([3.0, 6.3, 11.0])
    out = network_output(PAPER, r, np.ones_like(r), weights, norms)
    w = rng.normal(0.0, 0.8 / math.sqrt(40), (400_000, 40))
    pre = w[:, 0]  # <w, x> for x = |x| e₁
    for norm, value in zip(norms, out, strict=True):
        sample = paper_ramp()(pre * norm)
        se = sample.std() / math.sqrt(sample.size)
        assert abs(value - sample.mean()) < SE_FACTOR * se


def test_sample_norms_are_the_data_law():
    labels, norms, weights = sample_norms(PAPER, 5)
    assert abs(weights.sum() - 1.0) < 1e-14
    for y in (1.0, -1.0):
        sel = labels == y
        assert abs(weights[sel].sum() - 0.5) < 1e-14
        # E|x|² = (1 + yΔ)² d within each class
        mean_sq = (weights[sel] @ norms[sel] ** 2) / 0.5
        assert abs(mean_sq - (1 + 0.8 * y) ** 2 * 40) < 1e-10


def _sampled_shared_rate(a_std: float, rng, sets: int = 6) -> tuple[float, float]:
    """2 E_{x,x′}[Φ_x(x′)²] at t = 0 from sampled neurons (a ~ N(1, a_std²); a ≡ 1 without a
    spread) and samples: the mean and standard error over ``sets`` independent sets."""
    act = paper_ramp()
    d, neurons = 40, 12_000
    w = rng.normal(0.0, 0.8 / math.sqrt(d), (neurons, d))
    a = 1.0 + a_std * rng.normal(size=neurons)

    def draw(n):
        y = rng.choice([1.0, -1.0], n)
        x = (1.0 + 0.8 * y)[:, None] * rng.normal(size=(n, d))
        pre = x @ w.T
        return x, y - act(pre) @ a / neurons, act(pre), act.derivative(pre)

    def ntk(one, two):  # E_θ ∇_θσ*(x; θ)·∇_θσ*(x′; θ), the a-part only with a spread
        out = (one[3] * a**2) @ two[3].T / neurons * (one[0] @ two[0].T)
        return out + (one[2] @ two[2].T / neurons if a_std > 0 else 0.0)

    values = []
    for _ in range(sets):
        first, second, third = draw(1200), draw(600), draw(1200)
        mean_kick = (third[1][:, None] * ntk(third, second)).mean(0)
        phi = 2.0 * (first[1][:, None] * ntk(first, second) - mean_kick[None, :])
        values.append(2.0 * (phi**2).mean())
    return float(np.mean(values)), float(np.std(values, ddof=1) / math.sqrt(len(values)))


def test_instantaneous_shared_rate_matches_monte_carlo(unit_terms):
    """At s = t = 0, E_x ∫∫ζᵀ∇∇′(2U)ζ = 2 E_{x,x′}[Φ_x(x′)²], Φ_x(x′) the change of the output
    at x′ of the push by ζ_x: 2[e(x)K(x, x′) − E_{x″} e(x″)K(x″, x′)] with the NTK
    K(x, x′) = E_w σ′(<w, x>)σ′(<w, x′>)<x, x′> — sampled neurons and samples (4 s.e.)."""
    mean, se = _sampled_shared_rate(0.0, np.random.default_rng(11))
    assert abs(unit_terms.shared_rate[-1, 0] - mean) < SE_FACTOR * se
    assert se < 0.03 * mean  # the check can fail


def test_the_variance_of_a_has_its_instantaneous_rates_in_closed_form():
    """Φ = Var(a) with a second layer: along a push, Φ'' = 2∫ζ_a² dρ − 2(∫ζ_a dρ)², the first
    the own part and the second the shared, with ζ_a = 2[eσ(<w, x>) − E_x eσ(<w, x>)]; so
    own = 8 E_w Var_x(eσ(<w, x>)) and shared = −8 Var_x(e(x) E_w σ(<w, x>)) at t = 0,
    sampled with 6000 neurons and eight sets of 2000 samples (4 s.e.; measured: own 92.50
    against 91.83 ± 0.60, shared −26.81 against −26.96 ± 0.06)."""
    problem = IsotropicGaussians(paper_ramp(), 40, 0.8, second_layer=True)
    initial = GaussianInitial(0.8, 40, 1.0, 0.2)
    terms = step_noise_terms(problem, initial, np.array([0.0]), 1.0,
                             injections=np.array([0.0]), radial_nodes=12, sample_nodes=3,
                             a_nodes=4, functional=variance_of_a)  # fmt: skip
    assert abs(terms.risk[0] - 0.04) < 1e-12  # Var(a) of ρ₀
    rng = np.random.default_rng(5)
    act = paper_ramp()
    w = rng.normal(0.0, 0.8 / math.sqrt(40), (6000, 40))
    a = 1.0 + 0.2 * rng.normal(size=6000)
    own, shared = [], []
    for _ in range(8):
        y = rng.choice([1.0, -1.0], 2000)
        values = act(((1.0 + 0.8 * y)[:, None] * rng.normal(size=(2000, 40))) @ w.T)
        e = y - values @ a / a.size
        kicks = e[:, None] * values  # eσ(<w, x>), (samples, neurons)
        own.append(8.0 * kicks.var(axis=0, ddof=1).mean())
        shared.append(-8.0 * (e * values.mean(axis=1)).var(ddof=1))
    for rate, sample in ((terms.own_rate[-1, 0], own), (terms.shared_rate[-1, 0], shared)):
        se = np.std(sample, ddof=1) / math.sqrt(len(sample))
        assert abs(rate - np.mean(sample)) < SE_FACTOR * se
        assert se < 0.03 * abs(np.mean(sample))


def test_the_smoothed_law_of_a_has_its_instantaneous_rates_in_closed_form():
    """Φ_q = ∫Φ_N((x_q − a)/b) dρ is linear in ρ: at t = 0 its shared rate vanishes and its own
    rate is ∫E_x ζ_a² φ_q″(a) dρ (ζ_a = 2[eσ(<w, x>) − E_x eσ]). Under ρ₀, a ~ N(1, 0.2²) is
    independent of w, so own = 4 E_w[Var_x(eσ(<w, x>))] g″(x_q) with g(x) = Φ_N((x − 1)/s),
    s² = 0.2² + b²; E_w Var_x sampled as in the Var(a) check (4 s.e.)."""
    problem = IsotropicGaussians(paper_ramp(), 40, 0.8, second_layer=True)
    initial = GaussianInitial(0.8, 40, 1.0, 0.2)
    points, b = np.array([0.8, 1.0, 1.15]), 0.1
    terms = step_noise_terms(problem, initial, np.array([0.0]), 1.0,
                             injections=np.array([0.0]), radial_nodes=12, sample_nodes=3,
                             a_nodes=32, functional=cdf_of_a(points, b))  # fmt: skip
    s = math.hypot(0.2, b)
    z = (points - 1.0) / s
    # g on 32 Gauss–Hermite nodes of a: error 7e-8 (1e-4 at 16)
    np.testing.assert_allclose(terms.risk[0], special.ndtr(z), rtol=0, atol=1e-6)
    curvature = -z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi) / s**2  # g″(x_q)
    own_rate, shared_rate = terms.own_rate[-1, 0], terms.shared_rate[-1, 0]
    assert np.all(np.abs(shared_rate) < 1e-6 * np.abs(own_rate).max())
    rng = np.random.default_rng(5)
    act = paper_ramp()
    w = rng.normal(0.0, 0.8 / math.sqrt(40), (6000, 40))
    a = 1.0 + 0.2 * rng.normal(size=6000)
    spread = []  # E_w Var_x(eσ(<w, x>)) over eight sets of 2000 samples
    for _ in range(8):
        y = rng.choice([1.0, -1.0], 2000)
        values = act(((1.0 + 0.8 * y)[:, None] * rng.normal(size=(2000, 40))) @ w.T)
        e = y - values @ a / a.size
        spread.append((e[:, None] * values).var(axis=0, ddof=1).mean())
    mean, se = np.mean(spread), np.std(spread, ddof=1) / math.sqrt(len(spread))
    assert se < 0.03 * mean
    np.testing.assert_allclose(own_rate, 4.0 * mean * curvature, rtol=0,
                               atol=SE_FACTOR * 4.0 * se * np.abs(curvature).max())  # fmt: skip
    assert abs(own_rate[1]) < 1e-6 * np.abs(own_rate).max()  # x = E a: g″ = 0


def test_a_vector_functional_gives_the_terms_of_each_of_its_parts():
    problem = IsotropicGaussians(paper_ramp(), 40, 0.8, second_layer=True)
    initial = GaussianInitial(0.8, 40, 1.0, 0.2)
    points = np.array([0.9, 1.1])
    common = dict(injections=injection_times(0.1, 0.05), radial_nodes=6, sample_nodes=2,
                  a_nodes=4, cosine_nodes=4)  # fmt: skip
    times = np.array([0.0, 0.05, 0.1])
    both = step_noise_terms(problem, initial, times, 1e-3,
                            functional=cdf_of_a(points, 0.1), **common)  # fmt: skip
    assert both.shared.shape == both.own.shape == both.risk.shape == (3, 2)
    assert np.all(np.abs(both.shared[1:]) > 0)  # the flow makes the linear Φ's shared part
    for q, x in enumerate(points):
        one = step_noise_terms(problem, initial, times, 1e-3,
                               functional=lambda s, m, x=x: cdf_of_a([x], 0.1)(s, m)[:, 0],
                               **common)  # fmt: skip
        for name in ("risk", "shared", "own"):
            # the second differences divide the values' rounding (which depends on Q) by h²
            np.testing.assert_allclose(getattr(both, name)[:, q], getattr(one, name), rtol=1e-8,
                                       atol=1e-12, err_msg=name)  # fmt: skip


def test_the_rates_converge_in_the_cosines_and_the_push_step():
    base = dict(injections=np.array([0.0]), radial_nodes=8, sample_nodes=2)
    times = np.array([0.0, 0.1])
    ref = step_noise_terms(PAPER, PAPER_INITIAL, times, 1.0, cosine_nodes=12, **base)
    for kw in (dict(cosine_nodes=6), dict(cosine_nodes=12, push_step=1e-5)):
        got = step_noise_terms(PAPER, PAPER_INITIAL, times, 1.0, **kw, **base)
        for rate, r0 in ((got.shared_rate, ref.shared_rate), (got.own_rate, ref.own_rate)):
            np.testing.assert_allclose(rate[[0, -1]][:, 1], r0[[0, -1]][:, 1], rtol=2e-3)


def test_the_own_term_is_the_finite_step_mean_law_to_first_order(unit_terms, tmp_path):
    """(R_finite_step(ε) − R_plain)/ε from the grid DD with SGD's own step noise (a different
    scheme altogether) tends to the pushed rings' own term: Richardson over ε = 5e-5, 2.5e-5
    removes its O(ε) part and leaves < 1.5 %."""
    risks = {}
    for eps in (0.0, 5e-5, 2.5e-5):
        out = tmp_path / f"fs{eps}.h5"
        dd.solve("grids/finite_step.toml", out, quiet=True, overrides={
            "time.t_end": 0.5, "time.save_every": 0.5, "time.observe_every": 0.05,
            "grid.r_cells": 400, "sgd.eps": eps or 1e-4, "dynamics.finite_step": bool(eps),
        })  # fmt: skip
        risks[eps] = dd.open(out).observables["risk"].sel(time=TIMES[1:], method="nearest").values
    coarse = (risks[5e-5] - risks[0.0]) / 5e-5
    fine = (risks[2.5e-5] - risks[0.0]) / 2.5e-5
    limit = 2.0 * fine - coarse
    own = unit_terms.own[1:]
    assert np.all(np.abs(limit / own - 1.0) < 0.015)
    assert np.all(np.abs(coarse / own - 1.0) > np.abs(fine / own - 1.0))  # O(ε) → 0


def test_the_euler_term_converges_in_its_step():
    """The Richardson slope from δ = 0.01, 0.005 against the one from 0.005, 0.0025 (measured
    0.07 % apart at t = 0.2)."""
    times = np.array([0.0, 0.2])
    a = euler_term(PAPER, PAPER_INITIAL, times, 1.0, radial_nodes=8, euler_step=0.01)
    b = euler_term(PAPER, PAPER_INITIAL, times, 1.0, radial_nodes=8, euler_step=0.005)
    assert a[1] < 0.0
    assert abs(a[1] / b[1] - 1.0) < 0.005


def test_a_run_writes_the_terms_and_their_sum(tmp_path):
    out = tmp_path / "noise.h5"
    dd.solve("grids/finite_width.toml", out, quiet=True, overrides={
        "time.t_end": 0.2, "time.save_every": 0.2, "finite_width.dynamical": False,
        "finite_width.shared_noise": True, "finite_width.euler_error": True,
        "finite_width.noise_radial_nodes": 6, "finite_width.injection_every": 0.1,
        "sgd.eps": 1e-3,
    })  # fmt: skip
    obs = dd.open(out).observables
    shared, euler = obs["noise_shared"].values, obs["euler_error"].values
    assert shared[0] == 0.0 and np.all(shared[1:] > 0) and np.all(euler[1:] < 0)
    np.testing.assert_allclose(
        obs["risk_predicted"].values, obs["risk_finite_n"].values + shared + euler, atol=1e-15
    )
    assert "noise_own" in obs and "noise_error" in obs


def test_the_fine_lags_are_a_key(tmp_path):
    """finite_width.noise_lags sets the pushes at t − τ: one lag of 0.2 leaves the coarse
    injections (0.1 apart) to miss the shared integrand's fast decay near s = t."""
    shared = []
    for lags in ([0.2], [0.0125, 0.025, 0.05, 0.1, 0.2]):
        out = tmp_path / f"lags{len(lags)}.h5"
        dd.solve("grids/finite_width.toml", out, quiet=True, overrides={
            "time.t_end": 0.2, "time.save_every": 0.2, "finite_width.dynamical": False,
            "finite_width.shared_noise": True, "finite_width.noise_radial_nodes": 6,
            "finite_width.injection_every": 0.1, "finite_width.noise_lags": lags,
            "sgd.eps": 1e-3,
        })  # fmt: skip
        shared.append(dd.open(out).observables["noise_shared"].values[-1])
    assert shared[0] > 0 and shared[1] > 0 and abs(shared[0] / shared[1] - 1) > 0.01


@pytest.mark.parametrize(
    "args, key",
    [
        (["--set", "finite_width.own_noise=true", "--set", "dynamics.finite_step=true"],
         "finite_width.own_noise"),
        (["--set", "finite_width.shared_noise=true", "--set", "finite_width.noise_lags=[.1, .05]"],
         "finite_width.noise_lags"),
        (["--set", "finite_width.shared_noise=true", "--set", "finite_width.noise_lags=[0, 0.05]"],
         "finite_width.noise_lags"),
        (["--set", "finite_width.noise_lags=[0.05]"], "finite_width.noise_lags"),
        (["--set", "finite_width.shared_noise=true", "--set", 'problem.activation={kind = "tanh"}'],
         "problem.activation.kind"),
        (["--set", "finite_width.sample_nodes=4"], "finite_width.sample_nodes"),
    ],
)  # fmt: skip
def test_bad_noise_configs_are_refused_naming_the_key(args, key):
    result = ddsolver("run", "grids/finite_width.toml", "--set", "finite_width.dynamical=false",
                      *args)  # fmt: skip
    assert result.returncode == 2
    assert key in result.stderr and result.stderr.count("\n") == 1


def test_other_kinds_refuse_the_noise_switches():
    result = ddsolver(
        "run", "grids/teacher_student.toml", "--set", "finite_width.shared_noise=true"
    )
    assert result.returncode == 2
    assert "finite_width.shared_noise" in result.stderr


def test_compare_reports_each_partial_prediction_at_the_sgd_step(tmp_path):
    """The budget's predictions add the switched-on terms in order; an SGD at half the ε of
    the run gets half the (first-order) terms; the error_budget figure is written."""
    common = {"time.t_end": 0.2, "time.save_every": 0.2, "time.observe_every": 0.1}
    pde = tmp_path / "pde.h5"
    dd.solve(
        "grids/finite_width.toml",
        pde,
        quiet=True,
        overrides={
            **common,
            "finite_width.dynamical": False,
            "finite_width.shared_noise": True,
            "finite_width.noise_radial_nodes": 6,
            "finite_width.injection_every": 0.1,
            "finite_width.own_noise": True,
            "finite_width.euler_error": True,
            "sgd.eps": 1e-3,
        },
    )
    sgd = tmp_path / "sgd.h5"
    dd.train("grids/finite_width.toml", sgd, quiet=True, overrides={
        **common, "sgd.eps": 5e-4, "sgd.seeds": [0, 1], "sgd.neurons": 100,
        "sgd.observe_every": 0.1})  # fmt: skip
    report = dd.compare(pde, sgd, tmp_path / "report")
    budget = report["budget"]
    assert budget["labels"] == ["limit", "+ 1/N term", "+ own step noise", "+ shared noise",
                                "+ Euler steps"]  # fmt: skip
    obs = dd.open(pde).observables
    pred = [np.asarray(p) for p in budget["predictions"]]
    t = np.asarray(report["risk"]["time"])
    shared = np.interp(t, obs.time, obs["noise_shared"].values)
    np.testing.assert_allclose(pred[3] - pred[2], 0.5 * shared, atol=1e-14)
    np.testing.assert_allclose(pred[1], report["risk"]["pde_finite_n"], atol=1e-14)
    mean = np.asarray(report["risk"]["sgd_mean"])
    for gap, p in zip(budget["gaps"], pred, strict=True):
        np.testing.assert_allclose(gap, mean - p, atol=1e-14)
    assert (tmp_path / "report" / "error_budget.png").exists()
    assert any(line.startswith("largest |mean SGD − prediction|: limit")
               for line in summary_lines(report))  # fmt: skip
    assert budget["unresolved_from"] is None  # resolved at these early times
    budget["unresolved_from"] = 0.1  # as a run past a separatrix reports it
    assert any(line.endswith("(the noise terms unresolved from t = 0.1)")
               for line in summary_lines(report))  # fmt: skip


def test_unresolved_terms_are_no_prediction():
    """Where the error estimate exceeds a tenth of |shared| + |own| the terms are not a
    prediction: NoiseBudget.resolved says so, and compare's budget leaves its noise
    predictions out there (NaN), takes its largest gaps over the rest and names the time."""
    from ddsolver.comparison import _budget
    from ddsolver.fields import RESOLVED_FRACTION, resolved_terms
    from ddsolver.fluctuations.step_noise import NoiseBudget

    times = np.array([0.0, 1.0, 2.0, 3.0])
    shared = np.array([0.0, 0.2, 0.1, 0.1])
    own = np.array([0.0, -0.2, -0.1, -0.1])
    error = np.array([0.0, 0.03, 0.02 * (1 - 1e-9), 0.05])  # ≤ 0.1 × 0.2 only up to t = 2
    assert RESOLVED_FRACTION == 0.1
    assert resolved_terms(shared, own, error).tolist() == [True, True, True, False]
    budget = NoiseBudget(times, shared, own, np.zeros(4), error)
    assert [budget.resolved(t) for t in times] == [True, True, True, False]
    pobs = {"time": times, "noise_shared": shared, "noise_own": own, "noise_error": error,
            "euler_error": np.zeros(4)}  # fmt: skip
    cfg = {"sgd": {"eps": 1e-3, "batch": 1},
           "finite_width": {"shared_noise": True, "own_noise": True}}  # fmt: skip
    limit = np.array([0.5, 0.4, 0.3, 0.2])
    out = _budget(cfg, cfg, pobs, times, limit, limit + 0.01)
    assert out["labels"] == ["limit", "+ 1/N term", "+ own step noise", "+ shared noise"]
    np.testing.assert_allclose(out["predictions"][3][:3], limit[:3] + 0.01 + own[:3] + shared[:3])
    assert np.isnan(out["predictions"][3][3]) and np.isnan(out["predictions"][2][3])
    assert out["resolved_until"] == 3.0


LAW_RUN = {"time.t_end": 0.1, "time.save_every": 0.05, "time.observe_every": 0.05,
           "finite_width.own_noise": True, "finite_width.shared_noise": True,
           "finite_width.euler_error": True, "finite_width.law_of_a": True,
           "finite_width.law_a_nodes": 4, "finite_width.law_bandwidth": 0.2,
           "finite_width.noise_radial_nodes": 6, "finite_width.injection_every": 0.05,
           "finite_width.dynamical": True, "finite_width.radial_nodes": 24,
           "finite_width.probe_nodes": 8, "finite_width.a_nodes": 4,
           "sgd.eps": 1e-3}  # fmt: skip


@pytest.fixture(scope="module")
def law_run(tmp_path_factory):
    """The second-layer example with the law of a's terms on t ≤ 0.1 (coarse numerics)."""
    out = tmp_path_factory.mktemp("law") / "law.h5"
    dd.solve("grids/second_layer.toml", out, quiet=True, overrides=LAW_RUN)
    return out


def test_a_run_writes_the_law_of_a_terms_of_the_python_call(law_run):
    """/snapshots/law_of_a_* are noise_budget's terms of cdf_of_a on the snapshot times, at
    the points law_points(grid.a_min, grid.a_max, b), which ddsolver.open puts on law_x, and
    the dynamical term's law (dynamical_term(..., law=(x, b)))."""
    from ddsolver.fluctuations.probe import dynamical_term
    from ddsolver.fluctuations.smoothed_law import law_points
    from ddsolver.fluctuations.step_noise import noise_budget

    run = dd.open(law_run)
    snap = run.snapshots
    x = law_points(-4.0, 2.5, 0.2)  # grids/second_layer.toml's a axis
    np.testing.assert_array_equal(snap["law_x"].values, x)
    times = snap.time.values
    np.testing.assert_allclose(times, [0.0, 0.05, 0.1])
    problem = IsotropicGaussians(paper_ramp(), 40, 0.8, second_layer=True)
    initial = GaussianInitial(0.8, 40, 1.0, 0.2)
    expected = noise_budget(problem, initial, times, 1e-3, injection_every=0.05, radial_nodes=6,
                            a_nodes=4, functional=cdf_of_a(x, 0.2))  # fmt: skip
    for name in ("own", "shared", "euler", "error"):
        np.testing.assert_allclose(snap[f"law_of_a_{name}"].values, getattr(expected, name),
                                   rtol=1e-12, atol=1e-15)  # fmt: skip
    own = snap["law_of_a_own"].values
    assert np.all(own[0] == 0.0) and np.abs(own[-1]).max() > 1e-4  # zero at t = 0, then not
    assert snap["law_of_a_own"].attrs["long_name"] == "own noise of the law of a"
    term = dynamical_term(problem, initial, times, radial_nodes=24, probe_nodes=8, a_nodes=4,
                          law=(x, 0.2))  # fmt: skip
    np.testing.assert_allclose(snap["law_of_a_dynamical"].values, term.law, rtol=1e-12,
                               atol=1e-15)  # fmt: skip
    np.testing.assert_allclose(snap["law_of_a_dynamical_error"].values, term.law_error,
                               rtol=1e-12, atol=1e-15)  # fmt: skip
    dynamical = snap["law_of_a_dynamical"].values
    assert np.abs(dynamical[0]).max() < 1e-8 and np.abs(dynamical[-1]).max() > 1e-2


def test_compare_reports_w1_of_the_law_of_a_against_each_prediction(law_run, tmp_path):
    """compare's law_of_a rows: W1 between SGD's pooled neurons and the grid's law + each
    term in turn (rescaled to the SGD's ε), all smoothed alike; the summary names them."""
    from ddsolver import io
    from ddsolver.fluctuations.smoothed_law import cdf_of_cells, cdf_of_samples, w1_between

    sgd = tmp_path / "sgd.h5"
    dd.train("grids/second_layer.toml", sgd, quiet=True, overrides={
        **{k: v for k, v in LAW_RUN.items() if k.startswith("time.")},
        "sgd.eps": 2e-3, "sgd.seeds": [0, 1], "sgd.neurons": 200, "sgd.observe_every": 0.05,
    })  # fmt: skip
    report = dd.compare(law_run, sgd, tmp_path / "report")
    assert (tmp_path / "report" / "law_of_a.png").exists()
    law = report["law_of_a"]
    assert law["labels"] == ["limit", "+ 1/N term", "+ own step noise", "+ shared noise",
                             "+ Euler steps"]  # fmt: skip
    assert law["bandwidth"] == 0.2 and law["unresolved_from"] is None
    run, grid = dd.open(law_run).snapshots, io.read_grid(law_run)
    x = run["law_x"].values
    a = dd.open(sgd).snapshots["a"].values  # (time, seed, neuron)
    k = 2  # t = 0.1
    masses = (run["density"].values[k] * io.grid_volumes(grid)).sum(axis=1)
    prediction = cdf_of_cells(x, 0.2, grid["a"]["edges"], masses)
    sgd_law = cdf_of_samples(x, 0.2, a[k])
    expected = [w1_between(x, prediction, sgd_law)]
    prediction = prediction + run["law_of_a_dynamical"].values[k] / 200  # the SGD's N
    expected.append(w1_between(x, prediction, sgd_law))
    for name in ("own", "shared", "euler"):  # the SGD's ε is twice the run's
        prediction = prediction + 2.0 * run[f"law_of_a_{name}"].values[k]
        expected.append(w1_between(x, prediction, sgd_law))
    np.testing.assert_allclose([row[k] for row in law["w1"]], expected, rtol=1e-12)
    halves = 0.5 * w1_between(x, cdf_of_samples(x, 0.2, a[k, :1]), cdf_of_samples(x, 0.2, a[k, 1:]))
    assert law["sgd_halves"][k] == pytest.approx(halves, rel=1e-12)
    assert any(line.startswith("largest W1 of the law of a (smoothed, b = 0.2): limit")
               for line in summary_lines(report))  # fmt: skip


def test_law_points_cover_the_axis_every_half_bandwidth():
    from ddsolver.fluctuations.smoothed_law import law_points

    x = law_points(-4.0, 2.5, 0.05)
    assert x[0] == -4.0 and x[-1] == 2.5 and x.size == 261
    x = law_points(0.0, 1.0, 0.3)  # 1/0.15 is not whole: the spacing shrinks to fit
    assert x[-1] == 1.0 and np.diff(x).max() <= 0.15 and x.size == 8


def test_the_samples_cdf_is_the_same_in_blocks():
    from ddsolver.fluctuations.smoothed_law import SAMPLE_CHUNK, cdf_of_samples

    samples = np.random.default_rng(3).normal(size=(3, SAMPLE_CHUNK + 77))
    x = np.linspace(-3.0, 3.0, 41)
    whole = special.ndtr((x[:, None] - samples.ravel()) / 0.1).mean(axis=1)
    np.testing.assert_allclose(cdf_of_samples(x, 0.1, samples), whole, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    "args, key",
    [
        (["grids/second_layer.toml", "--set", "finite_width.law_of_a=true"],
         "finite_width.law_of_a"),  # no noise switch
        (["grids/finite_width.toml", "--set", "finite_width.shared_noise=true",
          "--set", "finite_width.law_of_a=true"], "finite_width.law_of_a"),  # no second layer
        (["grids/second_layer.toml", "--set", "finite_width.shared_noise=true",
          "--set", "finite_width.law_bandwidth=0.1"], "finite_width.law_bandwidth"),
        (["grids/second_layer.toml", "--set", "finite_width.shared_noise=true",
          "--set", "finite_width.law_of_a=true", "--set", "finite_width.law_bandwidth=0"],
         "finite_width.law_bandwidth"),
        (["grids/second_layer.toml", "--set", "finite_width.shared_noise=true",
          "--set", "finite_width.law_of_a=true", "--set", "initial.a_std=0",
          "--set", "finite_width.law_a_nodes=8"], "finite_width.law_a_nodes"),
        (["grids/second_layer.toml", "--set", "finite_width.dynamical=true",
          "--set", "finite_width.law_of_a=true", "--set", "finite_width.law_a_nodes=8"],
         "finite_width.law_a_nodes"),  # the noise terms' nodes; the 1/N term takes a_nodes
    ],
)  # fmt: skip
def test_the_law_of_a_keys_are_refused_where_they_do_not_apply(args, key):
    result = ddsolver("run", *args)
    assert result.returncode == 2
    assert key in result.stderr and result.stderr.count("\n") == 1


def test_the_dynamical_term_alone_takes_the_law_of_a():
    result = ddsolver("check", "grids/second_layer.toml", "--set", "finite_width.dynamical=true",
                      "--set", "finite_width.law_of_a=true")  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_a_law_of_a_run_extended_by_resume_writes_the_whole_runs_terms(law_run, tmp_path):
    """Stopped at t = 0.05 and resumed to 0.1, the run writes the law of a's terms of the run
    made in one go (the terms at a time do not depend on the horizon)."""
    parts = tmp_path / "parts.h5"
    dd.solve("grids/second_layer.toml", parts, quiet=True,
             overrides={**LAW_RUN, "time.t_end": 0.05})  # fmt: skip
    dd.solve("grids/second_layer.toml", parts, quiet=True, overrides=LAW_RUN, resume=True)
    whole, resumed = dd.open(law_run).snapshots, dd.open(parts).snapshots
    np.testing.assert_array_equal(resumed.time.values, whole.time.values)
    for name in ("own", "shared", "euler", "error", "dynamical", "dynamical_error"):
        got, want = resumed[f"law_of_a_{name}"].values, whole[f"law_of_a_{name}"].values
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-16)
