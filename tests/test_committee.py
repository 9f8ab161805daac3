"""Committee machines: the Gaussian averages, the ODEs against SGD's own increments, the
SGD kernel against its NumPy twin, the initial laws, the long-time limits, the run files."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

import ddsolver as dd
from ddsolver.config import ConfigError, validate
from ddsolver.kinds.committee.kind import KIND, initial_overlaps, initial_student, teacher_weights
from ddsolver.models import committee as cm
from ddsolver.settings import settings as to_settings
from ddsolver.sgd.committee import (
    committee_sgd_steps,
    committee_sgd_steps_ref,
    order_parameters,
    weights_with_overlaps,
)

SAMPLES = 400_000


def _g(name):
    code, gain = cm.ACTIVATIONS[name]
    if code == cm.ERF:
        return (
            lambda z: special.erf(gain * z),
            lambda z: 2 * gain / math.sqrt(math.pi) * np.exp(-((gain * z) ** 2)),
        )
    if code == cm.RELU:
        return (lambda z: np.maximum(z, 0.0), lambda z: (z > 0) * 1.0)
    return (lambda z: z, np.ones_like)


def _covariances():
    """A generic covariance, a near-singular one (corr(z0, z2) = 0.9999) and a singular one
    (z3 = z1): the averages must hold at the edges the ODEs reach (aligned units)."""
    rng = np.random.default_rng(11)
    a = rng.normal(size=(4, 4))
    generic = a @ a.T / 4 + 0.1 * np.eye(4)
    near = generic.copy()
    near[2] = near[0] + 1e-2 * rng.normal(size=4)
    near = near @ near.T / 2  # rows 0 and 2 almost parallel
    singular = generic.copy()
    singular[3], singular[:, 3] = singular[1], singular[1]
    singular[3, 3] = singular[1, 1]
    return {"generic": generic, "near_singular": near, "singular": singular}


def _check(samples, exact, label):
    mean, se = samples.mean(), samples.std() / math.sqrt(samples.size)
    assert abs(mean - exact) <= 4 * se + 1e-12, (label, exact, mean, se)


@pytest.mark.parametrize("name", list(cm.ACTIVATIONS))
@pytest.mark.parametrize("which", ["generic", "near_singular", "singular"])
def test_gaussian_averages_match_monte_carlo(name, which):
    cov = _covariances()[which]
    z = np.random.default_rng(3).standard_normal((SAMPLES, 4)) @ cm._field_map(cov).T
    g, dg = _g(name)
    code, gain = cm.ACTIVATIONS[name]
    s2 = 2 * gain * gain
    G, D, c = g(z), dg(z), cov
    for a, b in ((0, 1), (0, 2), (1, 3)):
        _check(G[:, a] * G[:, b], cm.avg_i2(code, s2, c[a, a], c[b, b], c[a, b]), f"I2{a}{b}")
        _check(D[:, a] * D[:, b], cm.avg_j2(code, s2, c[a, a], c[b, b], c[a, b]), f"J2{a}{b}")
    for a, b, e in ((0, 1, 2), (0, 1, 0), (1, 2, 3), (2, 0, 0), (3, 2, 1)):
        exact = cm.avg_i3(code, s2, c[a, a], c[b, b], c[e, e], c[a, b], c[a, e], c[b, e])
        _check(D[:, a] * z[:, b] * G[:, e], exact, f"I3{a}{b}{e}")
    if code == cm.RELU:
        return  # no closed form: see the quasi-Monte Carlo rule below
    for a, b, e, f in ((0, 1, 2, 3), (0, 0, 1, 1), (0, 1, 0, 1), (2, 3, 3, 0)):
        exact = cm.avg_i4(
            code, s2, c[a, a], c[b, b], c[e, e], c[f, f], c[a, b], c[a, e], c[a, f], c[b, e],
            c[b, f], c[e, f],
        )  # fmt: skip
        _check(D[:, a] * D[:, b] * G[:, e] * G[:, f], exact, f"I4{a}{b}{e}{f}")


def test_relu_noise_rule_is_within_its_stated_accuracy():
    """The η² term of ReLU by scrambled Sobol points (2^15): within 1% of a 4·10^6-sample
    Monte Carlo average (whose own standard error is ≈ 0.15%)."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 5))
    cov = a @ a.T / 5 + 0.05 * np.eye(5)
    beta = np.array([-0.7, -1.1, -0.4, 1.0, 1.0])
    est = cm.FieldRule(5).relu_noise(cov, beta, 3, 0.25)
    z = rng.standard_normal((4_000_000, 5)) @ np.linalg.cholesky(cov).T
    err = np.maximum(z, 0) @ beta
    gate = (z[:, :3] > 0) * err[:, None]
    reference = gate.T @ gate / z.shape[0] + 0.25 * (
        (z[:, :3, None] > 0) & (z[:, None, :3] > 0)
    ).mean(axis=0)
    assert np.abs(est - reference).max() <= 1e-2 * np.abs(reference).max()


def _model_and_weights(activation, d=500, eta=2.0):
    cfg = validate({
        "problem": {"kind": "committee", "dimension": d, "student_units": 3, "teacher_units": 2,
                    "label_noise": 0.3, "activation": {"kind": activation}},
        "dynamics": {"eta": eta, "eta_v": 1.0, "lam": 0.05},
        "initial": {"scale": 1.0, "a_std": 0.5},
    })  # fmt: skip
    teacher = teacher_weights(cfg, d)
    w, v = initial_student(cfg, d, teacher)
    return cfg, KIND.build_problem(to_settings(cfg)), teacher, w, v


@pytest.mark.parametrize("activation", ["erf_sqrt2", "relu", "linear"])
def test_the_odes_are_the_mean_increments_of_sgd(activation):
    """d·E[Δ(Q, R, v)] over 40 000 single SGD steps from the same weights (d = 500, η = 2,
    label noise, weight decay, v trained) equals the right-hand side within 4 standard
    errors — and misses it by far more when the η² (SGD-noise) term is dropped."""
    d, n = 500, 40_000
    _, model, teacher, w0, v0 = _model_and_weights(activation, d)
    q0, r0, _ = order_parameters(w0, teacher)
    x0 = model.pack(q0, r0, v0)
    rng = np.random.default_rng(5)
    inc = np.empty((n, x0.size))
    for i in range(n):
        w, v = w0.copy(), v0.copy()
        committee_sgd_steps(
            w, v, teacher, model.teacher_v, model.code, model.gain, model.c, model.eta,
            model.eta_v, model.weight_decay, model.label_noise, 1, np.int64(0), np.int64(1), rng,
        )  # fmt: skip
        q, r, _ = order_parameters(w, teacher)
        inc[i] = (model.pack(q, r, v) - x0) * d
    mean, se = inc.mean(axis=0), inc.std(axis=0) / math.sqrt(n)
    z = (mean - model.rhs(x0)) / se
    assert np.abs(z).max() < 4, z
    model.noise_term = False
    q_entries = slice(0, 9)
    assert np.abs((mean - model.rhs(x0)) / se)[q_entries].min() > 20


def test_sgd_kernel_matches_its_numpy_twin():
    _, model, teacher, w0, v0 = _model_and_weights("erf", d=60)
    g, dg = _g("erf")
    w1, v1, w2, v2 = w0.copy(), v0.copy(), w0.copy(), v0.copy()
    args = (model.c, model.eta, model.eta_v, model.weight_decay, model.label_noise, 3)
    committee_sgd_steps(
        w1, v1, teacher, model.teacher_v, model.code, model.gain, *args, np.int64(0),
        np.int64(50), np.random.default_rng(2),
    )  # fmt: skip
    committee_sgd_steps_ref(
        w2, v2, teacher, model.teacher_v, g, dg, *args, 50, np.random.default_rng(2)
    )
    np.testing.assert_allclose(w1, w2, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(v1, v2, rtol=1e-11, atol=1e-12)
    assert not np.allclose(w1, w0)


def test_initial_laws_have_the_overlaps_they_promise():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    target = a @ a.T
    w = weights_with_overlaps(target, 50, rng)
    np.testing.assert_allclose(w @ w.T / 50, target, atol=1e-12)
    q, r = [0.5, 0.1, 0.1, 0.4], [0.2, -0.1, 0.0, 0.3]
    cfg = validate({
        "problem": {"kind": "committee", "dimension": 40},
        "initial": {"kind": "overlaps", "q": q, "r": r, "v": [1.0, -0.5]},
    })  # fmt: skip
    q0, r0, v0, t0 = initial_overlaps(cfg)
    np.testing.assert_allclose(q0.ravel(), q, atol=1e-12)
    np.testing.assert_allclose(r0.ravel(), r, atol=1e-12)
    np.testing.assert_allclose(t0, np.eye(2), atol=1e-12)
    assert list(v0) == [1.0, -0.5]
    gaussian = validate({"problem": {"kind": "committee", "dimension": "inf"},
                         "initial": {"scale": 0.3}})  # fmt: skip
    q0, r0, _, t0 = initial_overlaps(gaussian)
    assert np.array_equal(q0, 0.09 * np.eye(2)) and not r0.any()
    same_seeds = validate({"problem": {"kind": "committee", "dimension": 4000,
                                       "teacher_weights": "gaussian"}})  # fmt: skip
    _, r0, _, _ = initial_overlaps(same_seeds)  # teacher and student streams are independent
    assert np.abs(r0).max() < 5 * 0.8 / math.sqrt(4000)


def test_a_given_teacher_gram_is_the_odes_and_sgds_exactly(tmp_path):
    """initial.t: the teacher SGD draws has w* w*ᵀ/d = T to round-off, the student's overlaps
    with it are the given Q and R, and the ODE's ε_g at t = 0 is SGD's exact risk at t = 0;
    at d = ∞ the ODE takes T as given."""
    t = [1.0, 0.3, 0.3, 2.0]
    raw = {
        "problem": {"kind": "committee", "dimension": 400, "activation": {"kind": "erf_sqrt2"}},
        "initial": {"kind": "overlaps", "q": [0.5, 0.1, 0.1, 0.6], "r": [0.2, 0.1, -0.1, 0.4],
                    "v": [1.0, 0.5], "t": t},
        "time": {"t_end": 0.5, "save_every": 0.5},
        "sgd": {"seeds": [0]},
    }  # fmt: skip
    cfg = validate(raw)
    w_star = teacher_weights(cfg, 400)
    np.testing.assert_allclose(w_star @ w_star.T / 400, np.reshape(t, (2, 2)), atol=1e-12)
    q0, r0, _, t0 = initial_overlaps(cfg)
    np.testing.assert_allclose(q0.ravel(), raw["initial"]["q"], atol=1e-12)
    np.testing.assert_allclose(r0.ravel(), raw["initial"]["r"], atol=1e-12)
    np.testing.assert_allclose(t0.ravel(), t, atol=1e-12)
    ode = dd.solve(raw, tmp_path / "ode.h5", quiet=True)
    sgd = dd.train(raw, tmp_path / "sgd.h5", quiet=True)
    assert ode.series("observables")["risk"][0] == pytest.approx(
        sgd.series("observables")["risk"][0, 0], rel=1e-10
    )
    infinite = {**raw, "problem": {**raw["problem"], "dimension": "inf"}}
    np.testing.assert_array_equal(initial_overlaps(validate(infinite))[3], np.reshape(t, (2, 2)))
    plain = dd.solve(infinite, tmp_path / "plain.h5", quiet=True, initial__t=[])
    assert plain.series("observables")["risk"][0] != ode.series("observables")["risk"][0]


SYMMETRIC_START = {
    "problem": {"kind": "committee", "dimension": "inf"},
    "initial": {"kind": "overlaps", "q": [0.25, 0.0, 0.0, 0.25], "r": [0.01, 0.0, 0.0, 0.002],
                "v": [1.0, 1.0]},
    "dynamics": {"eta": 0.5},
    "time": {"t_end": 1500.0, "save_every": 300.0},
}  # fmt: skip


def test_a_realisable_student_learns_the_teacher_and_its_units_specialise():
    """σ = 0, K = M = 2, erf(x/√2): out of the symmetric plateau, ε_g → 0 and R becomes the
    identity (each student unit is one teacher unit)."""
    run = dd.solve(SYMMETRIC_START, quiet=True)
    obs = run.series("observables")
    plateau = obs["risk"][np.searchsorted(obs["time"], 20.0)]
    assert plateau > 1e-3  # the symmetric plateau first
    assert abs(obs["risk"][-1]) < 1e-9
    r = run.series("snapshots")["R"][-1]
    np.testing.assert_allclose(r, np.eye(2), atol=1e-6)


def test_the_noise_term_sets_the_long_time_error():
    """With label noise σ = 0.5 at η = 0.5 the η² term keeps ε_g at a floor (≈ 0.027); the
    η → 0 ODE (noise_term = false) learns the teacher exactly."""
    noisy = dict(SYMMETRIC_START, problem={**SYMMETRIC_START["problem"], "label_noise": 0.5})
    with_noise = dd.solve(noisy, quiet=True).series("observables")["risk"][-1]
    without = dd.solve(noisy, quiet=True, dynamics__noise_term=False)
    assert 0.01 < with_noise < 0.05
    assert abs(without.series("observables")["risk"][-1]) < 1e-9


@pytest.mark.parametrize("activation", ["erf_sqrt2", "linear"])
def test_the_noise_term_splits_into_own_and_shared_unit_pairs(activation):
    """The η² term of dQ_kl is Σ over pairs: 'own' keeps k = l, 'shared' k ≠ l, and their
    rates of ε_g (noise_rate_own, noise_rate_shared) are the directional derivatives of ε_g
    along each masked term — checked here against ε_g moved along rhs(pairs) − rhs(none)."""
    rng = np.random.default_rng(5)
    k, m = 3, 2
    base = dict(activation=activation, teacher_overlaps=np.eye(m), teacher_v=np.ones(m),
                students=k, eta=0.7, label_noise=0.3)  # fmt: skip
    models = {pairs: cm.Committee(**base, noise_pairs=pairs) for pairs in ("all", "own", "shared")}
    silent = cm.Committee(**base, noise_term=False)
    w = rng.standard_normal((k + m, 50)) / np.sqrt(50)
    gram = w @ w.T
    state = models["all"].pack(gram[:k, :k], gram[:k, k:], np.array([0.9, 1.1, 0.8]))
    rates = {}
    for pairs, model in models.items():
        push = model.rhs(state) - silent.rhs(state)
        h = 1e-6
        rates[pairs] = (model.error(state + h * push) - model.error(state - h * push)) / (2 * h)
    own, shared = models["all"].noise_rates(state)
    assert own == pytest.approx(rates["own"], rel=1e-6)
    assert shared == pytest.approx(rates["shared"], rel=1e-6)
    assert own + shared == pytest.approx(rates["all"], rel=1e-6)
    assert models["own"].noise_rates(state) == (own, shared)  # measured along any dynamics


SMALL = {
    "problem": {"kind": "committee", "dimension": 300, "activation": {"kind": "erf_sqrt2"}},
    "initial": {"scale": 0.7},
    "time": {"t_end": 12.0, "save_every": 4.0, "observe_every": 1.0},
    "sgd": {"seeds": [0, 1]},
}


def test_run_sgd_compare_and_resume_on_the_command_line(tmp_path):
    """The ODE and SGD files share the overlaps' names; a resumed ODE run takes the steps of
    an uninterrupted one; the report compares risk and overlaps."""
    whole = dd.solve(SMALL, tmp_path / "whole.h5", quiet=True)
    part = dd.solve(SMALL, tmp_path / "part.h5", quiet=True, time__t_end=8.0)
    assert part.status == "finished"
    resumed = dd.solve(SMALL, tmp_path / "part.h5", quiet=True, resume=True)
    np.testing.assert_array_equal(resumed.series("snapshots")["Q"], whole.series("snapshots")["Q"])
    sgd = dd.train(SMALL, tmp_path / "sgd.h5", quiet=True)
    snaps = sgd.series("snapshots")
    assert snaps["Q"].shape == (4, 2, 2, 2) and snaps["R"].shape == (4, 2, 2, 2)
    report = dd.compare(whole, sgd, tmp_path / "report")
    shared = report["observables"]
    assert {"Q_1_1", "Q_1_2", "R_2_1", "v_2"} <= set(shared)
    first = shared["Q_1_1"]
    assert first["pde"][0] == pytest.approx(first["sgd_mean"][0], abs=1e-12)  # same start
    assert (tmp_path / "report" / "overlaps_comparison.png").exists()
    xr_snaps = sgd.snapshots
    assert xr_snaps["R"].dims == ("time", "seed", "student", "teacher")


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"sgd": {"eps": 1e-3}}, "sgd.eps"),
        ({"sgd": {"neurons": 5}}, "sgd.neurons"),
        ({"problem": {"dimension": 3}}, "problem.dimension"),
        ({"problem": {"teacher_v": [1.0, 2.0, 3.0]}}, "problem.teacher_v"),
        ({"problem": {"activation": {"kind": "ramp"}}}, "problem.activation.kind"),
        ({"problem": {"output_scale": "1/N"}}, "problem.output_scale"),
        ({"discretisation": {"method": "grid"}}, "discretisation.method"),
        ({"dynamics": {"tau": 0.1}}, "dynamics.tau"),
        ({"dynamics": {"eta": 0.0}}, "dynamics.eta"),
        ({"initial": {"q": [1.0, 0.0, 0.0, 1.0]}}, "initial.q"),
        ({"initial": {"kind": "overlaps", "q": [1.0], "r": [0.0] * 4, "v": [1.0] * 2}},
         "initial.q"),
        ({"initial": {"kind": "overlaps", "q": [1.0, 0.0, 0.0, 1.0], "r": [2.0, 0, 0, 0],
                      "v": [1.0, 1.0]}}, "initial.q"),
        ({"initial": {"kind": "overlaps", "q": [1.0, 0.5, 0.0, 1.0], "r": [0.0] * 4,
                      "v": [1.0, 1.0]}}, "initial.q"),
        ({"initial": {"kind": "overlaps", "q": [1.0, 0.0, 0.0, 1.0], "r": [0.0] * 4,
                      "v": [1.0, 1.0], "t": [1.0, 0.0, 1.0]}}, "initial.t"),
        ({"initial": {"kind": "overlaps", "q": [1.0, 0.0, 0.0, 1.0], "r": [0.0] * 4,
                      "v": [1.0, 1.0], "t": [1.0, 0.5, 0.0, 1.0]}}, "initial.t"),
        ({"initial": {"kind": "overlaps", "q": [1.0, 0.0, 0.0, 1.0], "r": [0.0] * 4,
                      "v": [1.0, 1.0], "t": [1.0, 1.0, 1.0, 1.0]}}, "initial.t"),
        ({"initial": {"kind": "overlaps", "q": [1.0, 0.0, 0.0, 1.0], "r": [0.9, 0, 0, 0],
                      "v": [1.0, 1.0], "t": [0.5, 0.0, 0.0, 1.0]}}, "initial.q"),
        ({"initial": {"t": [1.0, 0.0, 0.0, 1.0]}}, "initial.t"),
        ({"dynamics": {"noise_term": False, "noise_pairs": "own"}}, "dynamics.noise_pairs"),
        ({"dynamics": {"noise_pairs": "diagonal"}}, "dynamics.noise_pairs"),
    ],
)  # fmt: skip
def test_bad_committee_configs_name_the_key(settings, key):
    raw = {"problem": {"kind": "committee", "dimension": 50}}
    for table, values in settings.items():
        raw[table] = {**raw.get(table, {}), **values}
    with pytest.raises(ConfigError) as info:
        validate(raw)
    assert info.value.key == key


def test_other_kinds_refuse_the_committees_activations_and_initial_law():
    for settings, key in (
        ({"problem": {"activation": {"kind": "linear"}}}, "problem.activation.kind"),
        ({"initial": {"kind": "overlaps"}}, "initial.kind"),
    ):
        with pytest.raises(ConfigError) as info:
            validate(settings)
        assert info.value.key == key


@pytest.mark.parametrize("code", [0, 1, 2], ids=["erf", "relu", "linear"])
@pytest.mark.parametrize(("students", "teachers"), [(1, 1), (3, 2), (20, 3)])
def test_the_drift_as_one_product_is_the_sum_of_every_average(code, students, teachers):
    """committee_drift (I₃ affine in the middle field: one matrix product) against the direct
    sum of avg_i3 over (k, j, p), with a zero-variance student unit among them."""
    from ddsolver.models.committee import committee_drift, committee_drift_loop

    rng = np.random.default_rng(students + 10 * code)
    n = students + teachers
    x = rng.standard_normal((n, n + 3))
    cov = x @ x.T / (n + 3)
    if students > 1:
        cov[1, :] = cov[:, 1] = 0.0
    beta = rng.standard_normal(n)
    fast = np.empty((students, n)), np.empty(students)
    loop = np.empty((students, n)), np.empty(students)
    committee_drift(code, 0.7, cov, beta, *fast)
    committee_drift_loop(code, 0.7, cov, beta, *loop)
    np.testing.assert_allclose(fast[0], loop[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fast[1], loop[1], rtol=1e-12, atol=1e-14)
