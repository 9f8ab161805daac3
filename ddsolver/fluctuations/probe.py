r"""The dynamical 1/N term of the isotropic kind, from one added neuron on an axis.

N-neuron gradient flow on the exact risk (SGD's ε → 0 limit) moves the empirical measure
ρ̂ = (1/N) Σᵢ δ_{θᵢ} by the distributional dynamics itself: the velocity of neuron i,
−2ξ∇Ψ(θᵢ; ρ̂), is the DD's velocity field at ρ̂, its own pair U(θᵢ, θᵢ)/N included. So with
S_t the DD's solution map and F_t = R ∘ S_t, R_N(t) = F_t(ρ̂₀) for N i.i.d. draws from ρ₀, and

    E R_N(t) = R(ρ_t) + C(t)/N + o(1/N),      C(t) = ½ E D²F_t(ρ₀)[η, η],

η = √N(ρ̂₀ − ρ₀) the sampling fluctuation. Its covariance is that of one draw,
E η(f)η(g) = Cov_{z∼ρ₀}(f(z), g(z)), so the second variation is needed only along the
directions δ_z − ρ₀:

    C(t) = ½ E_{z∼ρ₀} g_z''(0),      g_z(s) = F_t((1 − s)ρ₀ + s δ_z).

At t = 0, R is quadratic and g_z'' = 2[U(z, z) − 2(U∗ρ₀)(z) + ∫∫U dρ₀dρ₀], so C(0) is the
i.i.d. term ∫U(θ, θ)dρ₀ − ∫∫U dρ₀ dρ₀ exactly. Its first derivative gives the first-order
fluctuation, R_N − R(ρ_t) ≈ (1/N) Σᵢ g'_{zᵢ}(0), mean zero — a control variate for
ensembles of finite networks.

**The axisymmetric reduction.** For the isotropic kind ρ₀ is rotation invariant, so
(1 − s)ρ₀ + s δ_z is invariant under the rotations that fix the axis ê = z/|z|, and so is
its flow. A point is then (r, c): its norm and its cosine with ê; a "ring" of such points is
a (d − 2)-sphere. The flow of a point under an axisymmetric Ψ(r, c) is

    dr/dt = −2ξ ∂_rΨ,      dc/dt = −2ξ (1 − c²)/r² ∂_cΨ,

and the neuron on the axis (c = 1) stays there. By Mehler's formula and the law of the
cosine of two points of rings (r, c), (r', c'), cc' + ss'x with s = √(1 − c²) and x the
cosine of two uniform directions in R^{d−1} (moments μ_j), the ring-averaged interaction is

    Ū(r, c; r', c') = Σ± Σ_k Σ_{j even ≤ k} W_kj f̂_k(s±) f̂_k(s'±) c^{k−j} s^j c'^{k−j} s'^j,
    W_kj = ½ C(k, j) μ_j,        s± = (1 ± Δ) r,

all degrees k ≤ K (odd ones too: two points leaning on one axis are not independent),
so Ψ and R are sums over the features f̂_k(s±) c^{k−j} s^j — O(M K²) per evaluation for M
rings. The axis neuron's own pair U(z, z) is the closed form, not the series (which
converges slowly at c = 1).

**The second layer.** With θ = (a, w), V = a v(r), U = a a' ū: every ring carries its a,
which weights its features; ∂_aΨ = Ψ/a, da/dt = −2ξ(∂_aΨ + λa), and the axis neuron's own
pair is a²U(w, w). The law of a enters by Gauss–Hermite nodes (one for a point mass).

**Numerics.** ρ₀ is represented by rings on generalised Gauss–Laguerre radii (the law of
|w|) times Gauss–Jacobi cosines (the cosine law in R^d), exact for the unperturbed
integrals of degree < 2·``cosine_nodes``. The flows at s = 0 and s = ±h for every probe
radius z (the same radial rule) run together, with one classical RK4 step sequence, so
their time-discretisation errors are smooth in s and g'' = [g(h) − 2g(0) + g(−h)]/h² is the
second derivative of the discrete flow to O(h²).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import prange

from .._jit import jit, jit_parallel
from .._scipy import special
from ..models.activations import KINKED_KINDS
from ..models.angular import cosine_quadrature, even_moments
from ..models.hermite import kink_offset, kinked_columns
from ..models.initial import GaussianInitial
from ..models.integrals import kinked_second_moment, kinked_second_moment_da
from ..models.isotropic import IsotropicGaussians

#: The mass of the added neuron in the second difference g'' ≈ [g(h) − 2g(0) + g(−h)]/h².
MASS_STEP = 1e-3
#: The default degree K is the first odd one with E_d c^{K+1} below this (K = 15 at d = 40,
#: which agrees with K = 31 to 1e-6 in C(t)).
DEGREE_TOLERANCE = 1e-7
#: Gauss–Laguerre nodes of the mean of g' under ρ₀.
FINE_NODES = 200


def default_degree(dimension: float) -> int:
    """The smallest odd K ≥ 7 with E_d c^{K+1} ≤ :data:`DEGREE_TOLERANCE`, at most 63."""
    moments = even_moments(dimension, 32)
    for k in range(7, 64, 2):
        if moments[(k + 1) // 2] <= DEGREE_TOLERANCE:
            return k
    return 63


def ring_weights(dimension: float, degree: int) -> np.ndarray:
    """W[k, j] = ½ C(k, j) μ_j for even j ≤ k (0 elsewhere), μ_j = E x^j in R^{d−1}.

    Returns
    -------
    (degree + 1, degree + 1) float64
    """
    mu = even_moments(dimension - 1.0, degree // 2)
    out = np.zeros((degree + 1, degree + 1))
    for k in range(degree + 1):
        for j in range(0, k + 1, 2):
            out[k, j] = 0.5 * special.comb(k, j, exact=False) * mu[j // 2]
    return out


@jit
def _cosine_powers(c, kmax, cp, sp):
    """cp[k] = c^k and sp[k] = s^k, s = √(1 − c²), for k ≤ kmax (c clipped to [−1, 1])."""
    cm = min(1.0, max(-1.0, c))
    sm = math.sqrt((1.0 - cm) * (1.0 + cm))
    cp[0] = 1.0
    sp[0] = 1.0
    for k in range(1, kmax + 1):
        cp[k] = cp[k - 1] * cm
        sp[k] = sp[k - 1] * sm


@jit_parallel
def ring_gradients(r, c, amp, mass, kinks, signs, slope, offset, kink_values, code, params,
                   delta, lam, weights, probe, psi_r, psi_c, psi_a, risk):  # fmt: skip
    r"""∂_rΨ, ∂_cΨ, ∂_aΨ at every ring and the risk of every run (see the module docstring).

    With a second layer V = a v(r) and U = a a' ū, so every feature carries its ring's a
    and ∂_aΨ = Ψ/a; without one, a = 1 and ∂_aΨ is not used.

    Parameters
    ----------
    r, c, amp, mass : (B, M) radii, cosines with the axis, second-layer weights a and masses
        of B independent runs
    kinks, signs, slope, offset, kink_values : σ (:func:`~ddsolver.models.hermite.kinked_columns`)
    code, params : σ for the closed-form E σ(sG)² of the axis neuron's own pair
    delta, lam : Δ and the weight decay λ (adds λr to ∂_rΨ and λa to ∂_aΨ)
    weights : (K + 1, K + 1) :func:`ring_weights`
    probe : column of the axis neuron (c = 1), or −1
    psi_r, psi_c, psi_a : (B, M), risk : (B,), written in place
    """
    runs, count = r.shape
    kmax = weights.shape[0] - 1
    for b in prange(runs):
        vals = np.empty((count, 2, kmax + 1))
        grads = np.empty((count, 2, kmax + 1))
        feat = np.zeros((2, kmax + 1, kmax + 1))
        cp = np.empty(kmax + 2)
        sp = np.empty(kmax + 2)
        potential = 0.0
        for m in range(count):
            for g in range(2):
                scale = (1.0 + delta if g == 0 else 1.0 - delta) * r[b, m]
                kinked_columns(kinks, signs, slope, offset, scale, kmax, vals[m, g], grads[m, g])
            _cosine_powers(c[b, m], kmax, cp, sp)
            w = mass[b, m] * amp[b, m]
            potential += w * (-0.5) * (vals[m, 0, 0] - vals[m, 1, 0])
            for g in range(2):
                for k in range(kmax + 1):
                    wf = w * vals[m, g, k]
                    for j in range(0, k + 1, 2):
                        feat[g, k, j] += wf * cp[k - j] * sp[j]
        acc = 0.0
        for g in range(2):
            for k in range(kmax + 1):
                for j in range(0, k + 1, 2):
                    acc += weights[k, j] * feat[g, k, j] * feat[g, k, j]
                    feat[g, k, j] *= weights[k, j]  # from here on W_kj A_kj
        risk[b] = 1.0 + 2.0 * potential + acc
        for m in range(count):
            _cosine_powers(c[b, m], kmax, cp, sp)
            gr = -0.5 * ((1.0 + delta) * grads[m, 0, 0] - (1.0 - delta) * grads[m, 1, 0])
            ga = -0.5 * (vals[m, 0, 0] - vals[m, 1, 0])
            gc = 0.0
            for g in range(2):
                fac = 1.0 + delta if g == 0 else 1.0 - delta
                for k in range(kmax + 1):
                    sr = 0.0
                    sc = 0.0
                    for j in range(0, k + 1, 2):
                        coef = feat[g, k, j]
                        sr += coef * cp[k - j] * sp[j]
                        dc = (k - j) * cp[k - j - 1] * sp[j] if k > j else 0.0
                        if j >= 2:
                            dc -= j * cp[k - j + 1] * sp[j - 2]
                        sc += coef * dc
                    gr += fac * grads[m, g, k] * sr
                    ga += vals[m, g, k] * sr
                    gc += vals[m, g, k] * sc
            psi_r[b, m] = amp[b, m] * gr + lam * r[b, m]
            psi_c[b, m] = amp[b, m] * gc
            psi_a[b, m] = ga + lam * amp[b, m]
        if probe >= 0:  # the axis neuron's own pair: closed form instead of the series
            w = mass[b, probe]
            a = amp[b, probe]
            exact = 0.0
            dexact = 0.0
            series = 0.0
            dseries = 0.0
            for g in range(2):
                fac = 1.0 + delta if g == 0 else 1.0 - delta
                scale = fac * r[b, probe]
                exact += 0.5 * kinked_second_moment(code, params, scale)
                dexact += 0.5 * fac * kinked_second_moment_da(kinks, signs, slope, kink_values,
                                                              scale)  # fmt: skip
                for k in range(kmax + 1):
                    series += 0.5 * vals[probe, g, k] * vals[probe, g, k]
                    dseries += fac * vals[probe, g, k] * grads[probe, g, k]
            risk[b] += w * w * a * a * (exact - series)
            psi_r[b, probe] += w * a * a * 0.5 * (dexact - dseries)
            psi_a[b, probe] += w * a * (exact - series)


@dataclass(frozen=True)
class DynamicalCorrection:
    r"""C(t) and its by-products on the times asked for.

    Attributes
    ----------
    times : (T,) t
    risk : (T,) R(ρ_t) of the unperturbed rings
    correction : (T,) C(t), the dynamical 1/N term: E R_N(t) ≈ R(ρ_t) + C(t)/N
    iid : (T,) ∫U(θ, θ)dρ_t − ∫∫U dρ_t dρ_t, the i.i.d. term of N fresh draws from ρ_t
    probe_radii : (P_r,) the radii |z| of the added neuron
    probe_amplitudes : (P_a,) its second-layer weights a_z ([1.0] without a second layer)
    probe_weights : (P_a · P_r,) the weights of (a_z, |z|) under ρ₀, a-major
    first : (T, P_a · P_r) g'_z(0), the first-order response to one neuron at (a_z, |z|)
    second : (T, P_a · P_r) g''_z(0)
    first_mean : (T,) E_{z∼ρ₀} of the interpolated g' (see :meth:`first_order`)
    """

    times: np.ndarray
    risk: np.ndarray
    correction: np.ndarray
    iid: np.ndarray
    probe_radii: np.ndarray
    probe_amplitudes: np.ndarray
    probe_weights: np.ndarray
    first: np.ndarray
    second: np.ndarray
    first_mean: np.ndarray

    def interpolated_first(self, radii: np.ndarray, amplitudes: np.ndarray | None) -> np.ndarray:
        """g'_z(0) at neurons (``amplitudes`` a, ``radii`` |w|) of shape (N,): linear between
        the probe radii (flat beyond them), then between the probe a; shape (T, N)."""
        return _interpolated(self.first, self.probe_radii, self.probe_amplitudes, radii,
                             amplitudes)  # fmt: skip

    def first_order(self, radii: np.ndarray, amplitudes: np.ndarray | None = None) -> np.ndarray:
        r"""(1/N) Σᵢ g'_{zᵢ}(0) − E_{z∼ρ₀} g'_z(0) at each time, shape (T,), for neurons drawn
        at ``radii`` (N,) (and second-layer weights ``amplitudes``): the first-order part of
        R_N(t) − R(ρ_t), with g' interpolated (:meth:`interpolated_first`) and its mean under
        ρ₀ taken off, so that it is an exactly centred control variate for ensembles of
        finite networks."""
        return self.interpolated_first(radii, amplitudes).mean(axis=1) - self.first_mean


def _interpolated(first, probe_radii, probe_amplitudes, radii, amplitudes) -> np.ndarray:
    """``first`` (T, P_a · P_r), a-major, at (``amplitudes``, ``radii``) (N,): linear in r
    between the probe radii (flat beyond them), then in a; shape (T, N)."""
    radii = np.asarray(radii, dtype=float)
    grid = first.reshape(first.shape[0], probe_amplitudes.size, -1)
    along_r = np.array(
        [[np.interp(radii, probe_radii, row) for row in rows] for rows in grid]
    )  # (T, P_a, N)
    if probe_amplitudes.size == 1:
        return along_r[:, 0]
    a = np.asarray(amplitudes, dtype=float)
    pa = probe_amplitudes
    k = np.clip(np.searchsorted(pa, a) - 1, 0, pa.size - 2)
    u = np.clip((a - pa[k]) / (pa[k + 1] - pa[k]), 0.0, 1.0)
    cols = np.arange(radii.size)
    return (1 - u) * along_r[:, k, cols] + u * along_r[:, k + 1, cols]


def _radial_rule(initial: GaussianInitial, nodes: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """Radii and weights for E f(|w|) under ρ₀: Gauss (exact for polynomials in r²) or
    equal-mass midpoint quantiles (robust where the flow map of r steepens)."""
    if rule == "gauss":
        return initial.radial_quadrature(nodes)
    if rule == "quantile":
        q = (np.arange(nodes) + 0.5) / nodes
        return initial.axis_quantiles("r", q), np.full(nodes, 1.0 / nodes)
    raise ValueError(f"radial_rule must be 'gauss' or 'quantile', got {rule!r}")


def dynamical_correction(
    problem: IsotropicGaussians,
    initial: GaussianInitial,
    times: np.ndarray,
    *,
    radial_nodes: int = 200,
    probe_nodes: int = 16,
    radial_rule: str = "quantile",
    a_nodes: int = 8,
    probe_a_nodes: int = 4,
    cosine_nodes: int | None = None,
    degree: int | None = None,
    step: float = 0.05,
    xi: Callable[[float], float] = lambda t: 1.0,
    lam: float = 0.0,
    mass_step: float = MASS_STEP,
) -> DynamicalCorrection:
    r"""C(t) for the isotropic kind (θ = w, or (a, w) with a second layer), noiseless dynamics.

    Parameters
    ----------
    problem : the isotropic problem (a kinked σ: ramp, ReLU, piecewise; finite d)
    initial : the Gaussian initial law, w ∼ N(0, κ²/d I_d)
    times : (T,) ascending times ≥ 0 (the steps are ``step`` long, shortened to land on each)
    radial_nodes : n_r, the radii of ρ₀'s rings
    probe_nodes : P, the radii |z| of the added neuron, for E_z
    radial_rule : "quantile" (equal-mass midpoints: robust where the flow map of r steepens)
        or "gauss" (generalised Gauss–Laguerre: spectral while it is smooth)
    a_nodes, probe_a_nodes : with a second layer, Gauss–Hermite nodes of a's law for the
        rings and for the added neuron (one where a is a point mass)
    cosine_nodes : n_c, the cosines of ρ₀'s rings (default (K + 2) // 2, exact for degree K)
    degree : K, the highest Mehler degree (default :func:`default_degree`)
    step : the longest RK4 step (every run takes the same steps)
    xi : ξ(t); lam : λ
    mass_step : h of the second difference

    Returns
    -------
    DynamicalCorrection
    """
    if math.isinf(problem.dimension):
        raise ValueError("the dynamical correction needs a finite dimension")
    if problem.activation.kind not in KINKED_KINDS:
        raise ValueError(f"the dynamical correction needs a kinked σ {sorted(KINKED_KINDS)}")
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or np.any(times < 0) or np.any(np.diff(times) < 0):
        raise ValueError("times must be ascending and ≥ 0")
    degree = default_degree(problem.dimension) if degree is None else int(degree)
    cosine_nodes = (degree + 2) // 2 if cosine_nodes is None else int(cosine_nodes)
    d = float(problem.dimension)
    act = problem.activation
    kinks, signs, slope = act.kink_structure()
    kinks = np.ascontiguousarray(kinks, dtype=float)
    signs = np.ascontiguousarray(signs, dtype=float)
    kink_values = np.ascontiguousarray(act(kinks), dtype=float)
    offset = kink_offset(act)
    weights = ring_weights(d, degree)

    radii, rweights = _radial_rule(initial, radial_nodes, radial_rule)
    probe_radii, probe_rweights = _radial_rule(initial, probe_nodes, radial_rule)
    second_layer = problem.second_layer
    amps, aweights = initial.a_quadrature(a_nodes) if second_layer else ([1.0], [1.0])
    probe_amps, probe_aweights = (
        initial.a_quadrature(probe_a_nodes) if second_layer else ([1.0], [1.0])
    )
    amps, aweights = np.asarray(amps, float), np.asarray(aweights, float)
    probe_amps, probe_aweights = np.asarray(probe_amps, float), np.asarray(probe_aweights, float)
    cos, cweights = cosine_quadrature(int(d), cosine_nodes)
    # the rings: a-major, then r, then c; the probes: a-major, then r
    ring_a, ring_r, ring_c = (x.ravel() for x in np.meshgrid(amps, radii, cos, indexing="ij"))
    ring_m = np.einsum("i,j,k->ijk", aweights, rweights, cweights).ravel()
    probe_a, probe_r = (x.ravel() for x in np.meshgrid(probe_amps, probe_radii, indexing="ij"))
    probe_weights = np.outer(probe_aweights, probe_rweights).ravel()
    probes = probe_r.size
    runs = 1 + 2 * probes
    h = float(mass_step)
    share = np.concatenate([[0.0], np.tile([h, -h], probes)])
    state = np.empty((3, runs, ring_r.size + 1))  # r, c, a
    state[0, :, :-1] = ring_r
    state[1, :, :-1] = ring_c
    state[2, :, :-1] = ring_a
    state[0, 0, -1], state[2, 0, -1] = probe_r[0], probe_a[0]  # massless in the base run
    state[0, 1:, -1] = np.repeat(probe_r, 2)
    state[2, 1:, -1] = np.repeat(probe_a, 2)
    state[1, :, -1] = 1.0
    mass = np.empty(state.shape[1:])
    mass[:, :-1] = (1.0 - share)[:, None] * ring_m
    mass[:, -1] = share
    probe = mass.shape[1] - 1

    psi = np.empty_like(state)
    risk = np.empty(runs)

    def velocity(t: float, x: np.ndarray) -> np.ndarray:
        rr, cc, aa = x
        ring_gradients(rr, cc, aa, mass, kinks, signs, slope, offset, kink_values, act.code,
                       act.param_array, problem.delta, lam, weights, probe, psi[0], psi[1],
                       psi[2], risk)  # fmt: skip
        rate = 2.0 * xi(t)
        out = np.empty_like(x)
        out[0] = -rate * psi[0]
        out[1] = -rate * (1.0 - cc * cc) / (rr * rr) * psi[1]
        out[2] = -rate * psi[2] if second_layer else 0.0
        return out

    out_risk = np.empty((times.size, runs))
    groups = amps.size * radii.size  # the base run's rings of one (a, r) share their motion
    out_points = np.empty((times.size, 2, groups))
    t = 0.0
    for i, target in enumerate(times):
        while t < target:
            remaining = target - t
            dt = remaining if remaining <= step * (1.0 + 1e-9) else step  # no sliver left
            k1 = velocity(t, state)
            k2 = velocity(t + 0.5 * dt, state + 0.5 * dt * k1)
            k3 = velocity(t + 0.5 * dt, state + 0.5 * dt * k2)
            k4 = velocity(t + dt, state + dt * k3)
            state = state + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            t = target if dt == remaining else t + dt
        velocity(t, state)
        out_risk[i] = risk
        out_points[i, 0] = state[0, 0, :-1:cosine_nodes]
        out_points[i, 1] = state[2, 0, :-1:cosine_nodes]

    base = out_risk[:, :1]
    plus = out_risk[:, 1::2]
    minus = out_risk[:, 2::2]
    second = (plus - 2.0 * base + minus) / (h * h)
    first = (plus - minus) / (2.0 * h)
    group_w = np.outer(aweights, rweights).ravel()
    r_t, a_t = out_points[:, 0].ravel(), out_points[:, 1].ravel()
    v, _ = problem.radial_potential(r_t)
    self_pair = problem.radial_self(r_t)
    mean_v = ((a_t * v).reshape(times.size, groups) * group_w).sum(axis=1)
    mean_self = ((a_t**2 * self_pair).reshape(times.size, groups) * group_w).sum(axis=1)
    double = out_risk[:, 0] - problem.label_second_moment - 2.0 * mean_v
    fine_r, fine_rw = initial.radial_quadrature(FINE_NODES)
    fine_a, fine_aw = initial.a_quadrature(FINE_NODES) if second_layer else ([1.0], [1.0])
    grid_a, grid_r = (x.ravel() for x in np.meshgrid(fine_a, fine_r, indexing="ij"))
    fine_w = np.outer(fine_aw, fine_rw).ravel()
    return DynamicalCorrection(
        times=times,
        risk=out_risk[:, 0].copy(),
        correction=0.5 * second @ probe_weights,
        iid=mean_self - double,
        probe_radii=probe_radii,
        probe_amplitudes=probe_amps,
        probe_weights=probe_weights,
        first=first,
        second=second,
        first_mean=_interpolated(first, probe_radii, probe_amps, grid_r, grid_a) @ fine_w,
    )


@dataclass(frozen=True)
class DynamicalTerm:
    r"""C(t) on a run's stop times, with an estimate of its discretisation error.

    Attributes
    ----------
    times : (T,) t
    correction : (T,) C(t) at (n_r, P) rings and probe radii
    error : (T,) |C(t) − C'(t)|, C' at (n_r/2, P/2): small while the flow map of r is
        resolved, large where the flow nears a separatrix (a radius from which neurons part
        ways), where the dynamical term needs more rings than the run gives it
    """

    times: np.ndarray
    correction: np.ndarray
    error: np.ndarray

    def at(self, t: float) -> tuple[float, float]:
        """(C, error) at a stop time (linear between stop times)."""
        return (float(np.interp(t, self.times, self.correction)),
                float(np.interp(t, self.times, self.error)))  # fmt: skip


def dynamical_term(
    problem: IsotropicGaussians,
    initial: GaussianInitial,
    times: np.ndarray,
    *,
    radial_nodes: int = 200,
    probe_nodes: int = 16,
    a_nodes: int = 8,
    degree: int | None = None,
    step: float = 0.05,
    xi: Callable[[float], float] = lambda t: 1.0,
    lam: float = 0.0,
) -> DynamicalTerm:
    """C(t) at n_r ring radii and P probe radii (and n_a, ⌈n_a/2⌉ nodes of a), and its error
    against ⌈n_r/2⌉ and ⌈P/2⌉ radii with the same nodes of a (:class:`DynamicalTerm`)."""
    common = dict(degree=degree, step=step, xi=xi, lam=lam, a_nodes=a_nodes,
                  probe_a_nodes=-(-a_nodes // 2))  # fmt: skip
    fine = dynamical_correction(problem, initial, times, radial_nodes=radial_nodes,
                                probe_nodes=probe_nodes, **common)  # fmt: skip
    coarse = dynamical_correction(problem, initial, times, radial_nodes=-(-radial_nodes // 2),
                                  probe_nodes=-(-probe_nodes // 2), **common)  # fmt: skip
    return DynamicalTerm(
        times=fine.times,
        correction=fine.correction,
        error=np.abs(fine.correction - coarse.correction),
    )
