"""The dynamical 1/N term of the isotropic kind (ddsolver.fluctuations) and its pieces."""

import math

import numpy as np
import pytest
from cli_runner import ddsolver
from convergence import ORDER_TOL, observed_orders

from ddsolver.fluctuations.probe import MASS_STEP, _interpolated_columns, dynamical_correction
from ddsolver.fluctuations.rings import (
    LANES,
    RingFlow,
    default_degree,
    initial_rings,
    ring_moments,
    ring_weights,
)
from ddsolver.fluctuations.smoothed_law import (
    cdf_of_a,
    law_points,
    law_second_variation,
    w1_between,
)
from ddsolver.models.activations import Activation, paper_ramp
from ddsolver.models.angular import cosine_quadrature, even_moments
from ddsolver.models.hermite import (
    hermite_coefficients,
    inverse_root_factorials,
    kink_offset,
    kinked_columns,
)
from ddsolver.models.initial import GaussianInitial
from ddsolver.models.integrals import kinked_second_moment, kinked_second_moment_da, pair
from ddsolver.models.isotropic import IsotropicGaussians

DIP = Activation.from_mapping(
    {"kind": "piecewise", "knots": [0.25, 0.6, 1.8], "values": [-2.5, -3.5, 7.5]}
)
KINKED = [paper_ramp(), Activation("relu"), DIP]
PAPER = IsotropicGaussians(paper_ramp(), 40, 0.8)
PAPER_INITIAL = GaussianInitial(scale=0.8, dimension=40)
SE_FACTOR = 4.0


@pytest.mark.parametrize("act", KINKED, ids=lambda a: a.kind)
def test_kinked_columns_match_the_hermite_coefficients_at_every_degree(act):
    kinks, signs, slope = act.kink_structure()
    kinks = np.asarray(kinks, dtype=float)
    scales = np.array([0.0, 1e-3, 0.3, 1.0, 2.5, 7.0])
    ref, dref = hermite_coefficients(act, scales, 30)
    vals, grads = np.empty(31), np.empty(31)
    for i, a in enumerate(scales):
        kinked_columns(
            kinks, signs, slope, kink_offset(act), a, 30, inverse_root_factorials(30), vals, grads
        )
        np.testing.assert_allclose(vals, ref[i], rtol=0, atol=1e-12)
        np.testing.assert_allclose(grads, dref[i], rtol=0, atol=1e-12)


@pytest.mark.parametrize("act", KINKED, ids=lambda a: a.kind)
def test_kinked_second_moment_derivative_matches_a_central_difference(act):
    kinks, signs, slope = act.kink_structure()
    kinks = np.asarray(kinks, dtype=float)
    values = act(kinks)
    for s in (0.1, 0.7, 1.3, 4.0):
        h = 1e-4 * s
        fd = (
            kinked_second_moment(act.code, act.param_array, s + h)
            - kinked_second_moment(act.code, act.param_array, s - h)
        ) / (2 * h)
        exact = kinked_second_moment_da(kinks, signs, slope, values, s)
        assert abs(exact - fd) < 1e-6 * max(1.0, abs(exact))


def test_ring_average_of_an_isotropic_pair_of_rings_is_the_cosine_law_of_R_d():
    """E_{c, c', x} (cc' + ss'x)^k over two rings drawn from ρ's cosine law = E_d c^k."""
    d, kmax = 40, 25
    weights = ring_weights(d, kmax)
    c, w = cosine_quadrature(d, 20)
    s = np.sqrt(1 - c**2)
    moments = even_moments(d, kmax // 2)
    for k in range(kmax + 1):
        j = np.arange(0, k + 1, 2)
        feat = (c[:, None] ** (k - j)) * (s[:, None] ** j) * w[:, None]  # (nodes, j)
        value = 2.0 * (weights[k, j] * feat.sum(0) ** 2).sum()
        expected = moments[k // 2] if k % 2 == 0 else 0.0
        assert value == pytest.approx(expected, abs=1e-15)


def test_ring_kernel_against_monte_carlo_points_on_the_two_rings():
    """Ū(r, c; r', c') from the series is the mean of the closed-form U over the rings."""
    rng = np.random.default_rng(3)
    d, kmax, n = 12, 60, 40_000
    problem = IsotropicGaussians(paper_ramp(), d, 0.8)
    weights = ring_weights(d, kmax)
    axis = np.zeros(d)
    axis[0] = 1.0
    for (r1, c1), (r2, c2) in [((0.9, 0.3), (1.2, -0.5)), ((1.5, 0.95), (0.7, 0.9))]:
        s1, s2 = math.sqrt(1 - c1 * c1), math.sqrt(1 - c2 * c2)
        u1 = rng.standard_normal((n, d - 1))
        u2 = rng.standard_normal((n, d - 1))
        u1 /= np.linalg.norm(u1, axis=1)[:, None]
        u2 /= np.linalg.norm(u2, axis=1)[:, None]
        cos = c1 * c2 + s1 * s2 * np.einsum("ij,ij->i", u1, u2)
        samples = 0.0
        for sign in (1.0, -1.0):
            f = 1.0 + sign * problem.delta
            samples = samples + 0.5 * pair(problem.activation, f * r1, f * r2, cos)
        series = 0.0
        for sign in (1.0, -1.0):
            f = 1.0 + sign * problem.delta
            a1, _ = hermite_coefficients(problem.activation, np.array([f * r1]), kmax)
            a2, _ = hermite_coefficients(problem.activation, np.array([f * r2]), kmax)
            for k in range(kmax + 1):
                for j in range(0, k + 1, 2):
                    series += (weights[k, j] * a1[0, k] * a2[0, k]
                               * (c1 * c2) ** (k - j) * (s1 * s2) ** j)  # fmt: skip
        se = samples.std() / math.sqrt(n)
        assert abs(series - samples.mean()) < SE_FACTOR * se


def _series_risk(problem, state, mass, kmax):
    """R of each ring set by the plain double sum over ring pairs, the Hermite columns by
    quadrature (not the kink sums of the kernel): (3, B, M), (B, M) → (B,)."""
    weights = ring_weights(problem.dimension, kmax)
    out = []
    for (r, c, a), m in zip(np.moveaxis(state, 1, 0), mass, strict=True):
        s = np.sqrt(1.0 - c * c)
        j = np.arange(kmax + 1)
        total = 1.0
        for sign in (1.0, -1.0):
            cols, _ = hermite_coefficients(problem.activation, (1.0 + sign * problem.delta) * r,
                                           kmax)  # fmt: skip
            total -= sign * (m * a) @ cols[:, 0]  # 2 Σ m a V, V = −½ Σ± (±) f̂_0(s±)
            for k in range(kmax + 1):
                for jj in j[: k + 1 : 2]:
                    feat = (m * a * cols[:, k] * c ** (k - jj) * s**jj).sum()
                    total += weights[k, jj] * feat * feat
        out.append(total)
    return np.array(out)


@pytest.mark.parametrize("second_layer", [False, True])
def test_ring_gradients_are_the_risk_and_its_first_variation(second_layer):
    """The kernel's R equals the plain double sum, and ∂R/∂x_m = 2 m_m ∂_xΨ(m) for x = r, c,
    a by central differences, at a ring count that leaves the last chunk of lanes part-full."""
    rng = np.random.default_rng(5)
    problem = IsotropicGaussians(paper_ramp(), 40, 0.8, second_layer=second_layer)
    flow = RingFlow(problem, 15)
    runs, count = 2, 2 * LANES + 5
    shape = (runs, count)
    amps = rng.normal(1.0, 0.3, shape) if second_layer else np.ones(shape)
    state = np.stack([rng.uniform(0.4, 2.5, shape), rng.uniform(-0.95, 0.95, shape), amps])
    mass = rng.uniform(0.5, 1.5, (runs, count))
    mass /= mass.sum(axis=1, keepdims=True)
    psi, risk = flow.gradients(state, mass)
    np.testing.assert_allclose(risk, _series_risk(problem, state, mass, 15), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(flow.risks(state, mass), risk)  # the pass without gradients
    np.testing.assert_array_equal(flow.risks(state, mass, 3), flow.gradients(state, mass, 3)[1])
    h = 1e-5
    for axis in (0, 1, 2) if second_layer else (0, 1):
        for m in (0, count - 1, LANES + 3):
            up, down = state.copy(), state.copy()
            up[axis, :, m] += h
            down[axis, :, m] -= h
            slope = (flow.gradients(up, mass)[1] - flow.gradients(down, mass)[1]) / (2 * h)
            np.testing.assert_allclose(slope, 2.0 * mass[:, m] * psi[axis, :, m], rtol=1e-7,
                                       atol=1e-11)  # fmt: skip


def _gauss(times, nodes, **kw):
    """C(t) on generalised Gauss–Laguerre radii (spectral while the flow of r is smooth)."""
    return dynamical_correction(PAPER, PAPER_INITIAL, np.asarray(times, dtype=float),
                                radial_nodes=nodes, probe_nodes=nodes, radial_rule="gauss",
                                **kw)  # fmt: skip


def test_the_dynamical_term_at_t0_is_the_iid_term():
    """C(0) = ∫U(θ,θ)dρ₀ − ∫∫U dρ₀dρ₀ = 0.00926 × 800 on the paper example."""
    res = _gauss([0.0], 8, degree=41)
    r, w = PAPER_INITIAL.radial_quadrature(8)  # the same rule: only h's rounding differs
    iid = PAPER.risk_finite_n(r[:, None], w, 1) - PAPER.risk(r[:, None], w)
    assert res.correction[0] == pytest.approx(iid, rel=1e-9)
    assert res.risk[0] == pytest.approx(PAPER.risk(r[:, None], w), rel=1e-12)
    r, w = PAPER_INITIAL.radial_quadrature(80)
    fine = PAPER.risk_finite_n(r[:, None], w, 800) - PAPER.risk(r[:, None], w)
    assert res.correction[0] / 800 == pytest.approx(fine, rel=1e-7)
    assert fine == pytest.approx(0.00926, abs=5e-6)


@pytest.mark.parametrize("a_std", [0.0, 0.2])
def test_with_a_second_layer_the_dynamical_term_at_t0_is_the_iid_term(a_std):
    """θ = (a, w): rings and the added neuron carry a (Gauss–Hermite nodes of its law, one
    node for a point mass); C(0) = the i.i.d. term of the (a, r) product rule. At t = 0 g is
    quadratic in the mass, so h = 1e-2 is exact and rounds least (~1e-14/h²)."""
    problem = IsotropicGaussians(paper_ramp(), 40, 0.8, second_layer=True)
    initial = GaussianInitial(0.8, 40, 1.0, a_std)
    res = dynamical_correction(problem, initial, np.array([0.0]), radial_nodes=8,
                               probe_nodes=8, radial_rule="gauss", degree=41, a_nodes=6,
                               probe_a_nodes=6, mass_step=1e-2)  # fmt: skip
    r, wr = initial.radial_quadrature(8)  # the same rule: only h's rounding differs
    a, wa = initial.a_quadrature(6)
    points = np.column_stack([np.repeat(a, r.size), np.tile(r, a.size)])
    weights = np.outer(wa, wr).ravel()
    iid = problem.risk_finite_n(points, weights, 1) - problem.risk(points, weights)
    assert res.correction[0] == pytest.approx(iid, rel=1e-9)
    assert res.risk[0] == pytest.approx(problem.risk(points, weights), rel=1e-12)
    assert (iid > 7.5) == (a_std > 0)  # the spread of a adds to the i.i.d. term


def test_the_first_variation_along_every_direction_averages_to_zero():
    """E_z g'_z(0) = DF_t[E_z(δ_z − ρ₀)] = 0 at every t — the axis neuron and the rings
    agree on the rotations — and the second variation falls early on."""
    res = _gauss([0.0, 0.2], 8, degree=31)
    spread = np.abs(res.first).max(axis=1)
    assert np.all(np.abs(res.first @ res.probe_weights) < 1e-4 * spread)  # h² of the difference
    assert res.correction[1] < 0.6 * res.correction[0]  # the 1/N term is damped early on


def test_the_dynamical_term_converges_in_its_discretisation():
    """Radii and degree: spectral (6 → 9 Gauss radii, K = 25 → 35 agree to 1e-7); the time
    step: classical RK4, order 4 measured on steps halving from 0.04 (every run takes the
    same steps, so the second difference in the mass is that of the discrete flow)."""
    base = _gauss([0.4], 6, degree=25, step=0.0125)
    finer = _gauss([0.4], 9, degree=35, step=0.0125)
    assert base.correction[0] == pytest.approx(finer.correction[0], abs=1e-7)
    assert base.risk[0] == pytest.approx(finer.risk[0], abs=1e-8)
    values = [_gauss([0.08], 4, degree=11, step=h).correction[0] for h in STEPS]
    orders = observed_orders(np.abs(np.diff(values)))
    assert orders[-1] == pytest.approx(4.0, abs=ORDER_TOL)


STEPS = (0.04, 0.02, 0.01, 0.005, 0.0025)

SECOND = IsotropicGaussians(paper_ramp(), 40, 0.8, second_layer=True)
SECOND_INITIAL = GaussianInitial(0.8, 40, 1.0, 0.2)


def _with_moments(times, nodes, a_nodes=4, **kw):
    """C(t) and the moments' dynamical term with a second layer, on Gauss radii."""
    return dynamical_correction(SECOND, SECOND_INITIAL, np.asarray(times, dtype=float),
                                radial_nodes=nodes, probe_nodes=nodes, radial_rule="gauss",
                                a_nodes=a_nodes, probe_a_nodes=a_nodes, step=0.025,
                                functional=kw.pop("functional", ring_moments), **kw)  # fmt: skip


def test_a_functional_of_the_rings_gets_its_dynamical_term_from_the_same_flows():
    """Φ = the risk gives C(t) back; a linear Φ has no 1/N term at t = 0 (E ρ̂₀ = ρ₀), only
    h's rounding; Φ's first variation averages to zero over ρ₀ at every time, as the risk's."""
    flow = RingFlow(SECOND, default_degree(40))
    risk = _with_moments(
        [0.0, 0.25], 6, functional=lambda s, m: flow.risks(s, m, s.shape[2] - 1)[:, None]
    )
    np.testing.assert_allclose(risk.functional_correction[:, 0], risk.correction, rtol=1e-12)
    res = _with_moments([0.0, 0.1, 0.25], 6, functional_times=[0.0, 0.25])
    np.testing.assert_array_equal(res.functional_times, [0.0, 0.25])
    np.testing.assert_allclose(res.functional_value[0], [1.0, 1.04, 0.64], rtol=1e-12)
    assert np.abs(res.functional_correction[0]).max() < 1e-8
    assert np.all(np.abs(res.functional_correction[1]) > 0.3)  # O(1) by t = 0.25
    mean_first = np.einsum("tpq,p->tq", res.functional_first, res.probe_weights)
    assert np.all(np.abs(mean_first) < 1e-4 * np.abs(res.functional_first).max(axis=1))


def test_the_law_of_a_term_is_the_second_difference_of_its_smoothed_cdf():
    """law_second_variation's Taylor form (the kernel at the unperturbed a only) on the rings'
    own nodes of a is the second difference of F_b over the ±h runs, to O(h²) (measured
    4.6e-5 of its largest value). Interpolated in the initial a, 4 nodes give the second
    difference over 16 (converged: 24 agree to 4e-7 in W1) to 1e-3 in W1 (measured 7e-5)."""
    x, b = law_points(-0.5, 2.0, 0.2), 0.2
    captured = []

    def brute(state, mass):
        captured.append(state[2].copy())
        return cdf_of_a(x, b)(state, mass)

    res = _with_moments([0.25], 6, functional=brute, law=(x, b))
    a0, aw = SECOND_INITIAL.a_quadrature(4)
    _, ring_mass, _ = initial_rings(SECOND, SECOND_INITIAL, 6, 4, 8, "gauss")
    own_nodes = law_second_variation(x, b, captured[0], ring_mass, a0, a0, res.probe_weights,
                                     MASS_STEP, (a0, aw))  # fmt: skip
    scale = np.abs(res.functional_correction[0]).max()
    assert np.abs(own_nodes - res.functional_correction[0]).max() < 1e-4 * scale
    many = _with_moments([0.25], 6, a_nodes=16, functional=cdf_of_a(x, b))
    size = w1_between(x, many.functional_correction[0], 0.0)
    assert w1_between(x, res.law_correction[0], many.functional_correction[0]) < 1e-3 * size
    assert w1_between(x, own_nodes, many.functional_correction[0]) > 1e-2 * size  # 4 bumps


def test_the_law_of_a_term_converges_in_few_nodes_of_a_at_a_narrow_bandwidth():
    """At b = 0.05, below the spacing of the nodes of a (0.15 for 6), the second difference
    of F_b over the nodes puts a bump at each: its ∫|·| falls from 2.0 to 0.72 as the nodes
    go from 6 to 32 (docs). Interpolated in the initial a, 4 and 6 nodes agree to 2 % of it."""
    x, b = law_points(-0.5, 2.0, 0.05), 0.05
    coarse = _with_moments([0.25], 6, law=(x, b))
    fine = _with_moments([0.25], 6, a_nodes=6, law=(x, b))
    size = w1_between(x, fine.law_correction[0], 0.0)
    assert size > 0.5
    assert w1_between(x, coarse.law_correction[0], fine.law_correction[0]) < 0.02 * size
    assert np.all(np.abs(_with_moments([0.0], 6, law=(x, b)).law_correction) < 1e-8)


def test_the_moments_dynamical_term_converges_and_its_control_variate_is_centred():
    """6 → 9 Gauss radii and 4 → 6 nodes of a agree to 1e-3 in the moments' term at t = 0.25;
    the first-order response, interpolated at 200 000 neurons drawn from ρ₀, averages to zero
    within four Monte Carlo standard errors."""
    coarse = _with_moments([0.25], 6)
    fine = _with_moments([0.25], 9, a_nodes=6)
    np.testing.assert_allclose(coarse.functional_correction, fine.functional_correction,
                               rtol=0, atol=1e-3)  # fmt: skip
    rng = np.random.default_rng(7)
    count = 200_000
    r = np.sqrt(rng.chisquare(40, count)) * 0.8 / np.sqrt(40)
    a = 1.0 + 0.2 * rng.standard_normal(count)
    per_neuron = _interpolated_columns(fine.functional_first, fine.probe_radii,
                                       fine.probe_amplitudes, r, a)[0]  # fmt: skip
    centred = per_neuron.mean(axis=1) - fine.functional_first_mean[0]
    se = per_neuron.std(axis=1) / np.sqrt(count)
    assert np.all(np.abs(centred) < 4 * se), (centred, se)
    np.testing.assert_allclose(fine.functional_first_order(r, a)[0], centred, rtol=1e-12)


def test_gauss_and_quantile_radii_agree_while_the_flow_is_smooth():
    """Two discretisations of ρ₀ — spectral Gauss radii, equal-mass midpoints (the default,
    first order in 1/n_r) — give one C(t) and one R(ρ_t)."""
    gauss = _gauss([1.0], 12, degree=15)
    quantile = dynamical_correction(PAPER, PAPER_INITIAL, np.array([1.0]), radial_nodes=200,
                                    probe_nodes=16)  # fmt: skip
    assert quantile.correction[0] == pytest.approx(gauss.correction[0], abs=2e-3)
    assert quantile.risk[0] == pytest.approx(gauss.risk[0], abs=1e-4)


def test_the_default_degree_follows_the_dimension():
    assert default_degree(40) == 15
    assert default_degree(500) == 7
    assert default_degree(10) > default_degree(40)


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        (IsotropicGaussians(paper_ramp(), math.inf, 0.8), "finite dimension"),
        (IsotropicGaussians(Activation("erf"), 40, 0.8), "kinked"),
    ],
)
def test_problems_the_correction_does_not_cover_are_refused(problem, message):
    with pytest.raises(ValueError, match=message):
        dynamical_correction(problem, PAPER_INITIAL, np.array([0.0]))


def test_times_need_not_be_multiples_of_the_step_and_must_ascend():
    """The steps shorten to land on each time: 0.03 is reached by steps of 0.02 and 0.01,
    whether 0.02 is a stop or not, within step 0.02's RK4 error (1.5e-4) of the converged C."""
    odd = _gauss([0.03], 6, degree=21, step=0.02)  # a step of 0.02, then one of 0.01
    stops = _gauss([0.02, 0.03], 6, degree=21, step=0.02)  # the same two steps
    fine = _gauss([0.03], 6, degree=21, step=0.0025)
    assert odd.correction[0] == pytest.approx(stops.correction[1], rel=1e-14)  # BLAS order
    assert odd.correction[0] == pytest.approx(fine.correction[0], abs=3e-4)  # RK4 at 0.02
    with pytest.raises(ValueError, match="ascending"):
        dynamical_correction(PAPER, PAPER_INITIAL, np.array([0.2, 0.1]))


# ---------------------------------------------------------------------- the run's switch

RUN = """
[problem]
kind = "isotropic_gaussians"
dimension = 40
delta = 0.8
[problem.activation]
kind = "ramp"
[initial]
scale = 0.8
[time]
t_end = 0.4
save_every = 0.2
observe_every = 0.1
[grid]
r_cells = 200
[finite_width]
dynamical = true
radial_nodes = 40
probe_nodes = 4
"""


def test_a_run_with_the_dynamical_term_writes_it_beside_the_iid_one(tmp_path):
    import h5py

    cfg = tmp_path / "c.toml"
    cfg.write_text(RUN)
    result = ddsolver("run", cfg, "-o", tmp_path / "o.h5", "-q")
    assert result.returncode == 0, result.stderr
    with h5py.File(tmp_path / "o.h5", "r") as f:
        obs = {name: f["observables"][name][:] for name in f["observables"]}
        assert "dynamical 1/N" in f["observables/finite_width_c"].attrs["description"]
    neurons = 800
    np.testing.assert_allclose(obs["risk_finite_n"], obs["risk"] + obs["finite_width_c"] / neurons,
                               rtol=0, atol=1e-15)  # fmt: skip
    iid0 = (obs["risk_finite_n_iid"][0] - obs["risk"][0]) * neurons
    assert obs["finite_width_c"][0] == pytest.approx(
        iid0, abs=obs["finite_width_c_error"][0] + 0.01
    )
    assert obs["finite_width_c"][-1] < 0.6 * obs["finite_width_c"][0]
    assert np.all(obs["finite_width_c_error"] < 0.05)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("finite_width.a_nodes=4", "finite_width.a_nodes"),
        ("dynamics.tau=0.1", "dynamics.tau"),
        ('problem.activation.kind="erf"', "problem.activation.kind"),
        ("problem.dimension=inf", "problem.dimension"),
        ("finite_width.dynamical=false", "finite_width.radial_nodes"),
    ],
)
def test_what_the_dynamical_term_does_not_cover_is_refused_naming_the_key(tmp_path, override,
                                                                          key):  # fmt: skip
    cfg = tmp_path / "c.toml"
    cfg.write_text(RUN)
    result = ddsolver("check", cfg, "--set", override)
    assert result.returncode == 2
    assert f"'{key}'" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_config_check_names_the_activations_the_kernels_take():
    """The config layer imports no kernel, so it restates the kinked activations: the two
    lists must agree (a σ the check lets through, the ring kernel would refuse)."""
    from ddsolver.kinds.isotropic_gaussians.config import KINKED
    from ddsolver.models.activations import KINKED_KINDS

    assert KINKED == KINKED_KINDS


def test_another_kind_refuses_the_switch(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[problem]\nkind = "teacher_student"\n[finite_width]\ndynamical = true\n')
    result = ddsolver("check", cfg)
    assert result.returncode == 2 and "'finite_width.dynamical'" in result.stderr


def test_compare_reports_sgd_against_both_1_over_n_terms(tmp_path):
    """With the dynamical term, ddsolver compare keeps the i.i.d. prediction beside it, each
    at the SGD file's N (the run's own N is 800, the SGD's 100)."""
    from ddsolver.comparison import compare_files
    from ddsolver.config import load_config
    from ddsolver.integrate import run_pde
    from ddsolver.sgd.run import run_sgd

    cfg = tmp_path / "c.toml"
    cfg.write_text(RUN + "[sgd]\nneurons = 800\neps = 1e-3\nseeds = [0]\n")
    run_pde(load_config(cfg), tmp_path / "pde.h5", quiet=True)
    run_sgd(load_config(cfg, overrides=["sgd.neurons=100"]), tmp_path / "sgd.h5", quiet=True)
    report = compare_files(tmp_path / "pde.h5", tmp_path / "sgd.h5")
    risk = {k: np.asarray(v) for k, v in report["risk"].items()}
    assert report["pde_finite_n_term"] == "dynamical"
    import h5py

    with h5py.File(tmp_path / "pde.h5", "r") as f:
        obs = {k: f["observables"][k][:] for k in ("time", "risk", "finite_width_c")}
    c = np.interp(risk["time"], obs["time"], obs["finite_width_c"])
    np.testing.assert_allclose(risk["pde_finite_n"], risk["pde"] + c / 100, rtol=0, atol=1e-12)
    assert np.all(risk["pde_finite_n_iid"][1:] > risk["pde_finite_n"][1:])  # trained: C < i.i.d.
    np.testing.assert_allclose(risk["gap_iid"], risk["sgd_mean"] - risk["pde_finite_n_iid"])
    from ddsolver.plotting import comparison_figure_objects

    figures = comparison_figure_objects(tmp_path / "pde.h5", tmp_path / "sgd.h5", report)
    lines = figures["error_budget"].axes[0].get_lines()
    np.testing.assert_allclose(lines[-1].get_ydata(), risk["gap"])  # SGD − (R + C/N)


def test_a_second_layer_takes_the_switch_and_its_a_nodes(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(RUN)
    ok = ddsolver("check", cfg, "--set", "problem.second_layer=true", "--set",
                  "initial.a_std=0.2", "--set", "finite_width.a_nodes=4")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    point_mass = ddsolver("check", cfg, "--set", "problem.second_layer=true", "--set",
                          "finite_width.a_nodes=4")  # fmt: skip
    assert point_mass.returncode == 2 and "'finite_width.a_nodes'" in point_mass.stderr


def test_compare_accepts_a_file_made_before_a_key_existed():
    """A stored config without a key (an older file) and one with it at its default describe
    the same problem; at another value they do not."""
    from ddsolver.comparison import check_same_problem
    from ddsolver.config import ConfigError, validate

    new = validate({"problem": {"kind": "committee"}})
    old = {table: dict(values) for table, values in new.items()}
    del old["dynamics"]["noise_pairs"]
    check_same_problem(old, new)
    changed = validate({"problem": {"kind": "committee"}, "dynamics": {"noise_pairs": "own"}})
    with pytest.raises(ConfigError, match="noise_pairs"):
        check_same_problem(old, changed)
