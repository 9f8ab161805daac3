r"""Axisymmetric rings: the DD of a measure invariant under the rotations that fix one axis.

For the isotropic kind, a measure that is rotation invariant about an axis ê (the mean law
with one neuron added on ê, or pushed by a field that points along ê) stays so along the
flow. A point is then (r, c): its norm and its cosine with ê; the points of one (r, c) form
a (d − 2)-sphere, a *ring*. Under an axisymmetric Ψ(r, c)

    dr/dt = −2ξ ∂_rΨ,      dc/dt = −2ξ (1 − c²)/r² ∂_cΨ,      da/dt = −2ξ ∂_aΨ,

and with Mehler's formula and the law of the cosine of two points of rings (r, c), (r', c'),
cc' + ss'x with s = √(1 − c²) and x the cosine of two uniform directions in R^{d−1}
(moments μ_j), the ring-averaged interaction is

    Ū(r, c; r', c') = Σ± Σ_k Σ_{j even ≤ k} W_kj f̂_k(s±) f̂_k(s'±) c^{k−j} s^j c'^{k−j} s'^j,
    W_kj = ½ C(k, j) μ_j,        s± = (1 ± Δ) r,

all degrees k ≤ K. Ψ and R are sums over the features f̂_k(s±) c^{k−j} s^j — O(M K²) per
evaluation for M rings (:func:`ring_gradients`); the derivative in c of a degree-k block is
a degree-(k − 1) block, so one table of c^{k−j} s^j per ring serves both. :class:`RingFlow`
steps B such ring sets at once with one classical RK4 step sequence, so that finite
differences across the sets are differences of the same discrete flow.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numba import prange

from .._jit import jit, jit_parallel
from .._scipy import special
from ..models.activations import KINKED_KINDS
from ..models.angular import cosine_quadrature, even_moments
from ..models.hermite import inverse_root_factorials, kink_offset, kinked_columns
from ..models.initial import GaussianInitial
from ..models.integrals import kinked_second_moment, kinked_second_moment_da
from ..models.isotropic import IsotropicGaussians

#: The default degree K is the first odd one with E_d c^{K+1} below this (K = 15 at d = 40,
#: which agrees with K = 31 to 1e-6 in C(t)).
DEGREE_TOLERANCE = 1e-7


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


#: rings evaluated together by :func:`ring_gradients`: its inner loops run over the rings of
#: a chunk, whose sums are independent of one another (about 1.1× over one ring at a time at
#: K = 15, measured). The features are summed lane by lane, then over the lanes in order.
LANES = 16


@jit
def _ring_basis(cosines, kmax, start, basis):
    """basis[start[k] + i, q] = c_q^{k−2i} s_q^{2i}, s = √(1 − c²), for the LANES rings of
    ``cosines`` (clipped to [−1, 1]), i ≤ k/2 and k ≤ kmax: each degree's block is c times
    the previous one, and s^k ends an even degree's block."""
    cm = np.empty(LANES)
    s2 = np.empty(LANES)
    for q in range(LANES):
        cm[q] = min(1.0, max(-1.0, cosines[q]))
        s2[q] = (1.0 - cm[q]) * (1.0 + cm[q])
        basis[0, q] = 1.0
    for k in range(1, kmax + 1):
        prev = start[k - 1]
        count = start[k] - prev
        for i in range(count):
            for q in range(LANES):
                basis[start[k] + i, q] = cm[q] * basis[prev + i, q]
        if k % 2 == 0:
            for q in range(LANES):
                basis[start[k] + count, q] = s2[q] * basis[start[k - 2] + count - 1, q]


@jit_parallel
def ring_gradients(r, c, amp, mass, kinks, signs, slope, offset, kink_values, code, params,
                   delta, lam, weights, norms, probe, with_gradients, psi_r, psi_c, psi_a,
                   risk):  # fmt: skip
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
    norms : (K + 1,) :func:`~ddsolver.models.hermite.inverse_root_factorials`
    probe : column of the axis neuron (c = 1), or −1
    with_gradients : False: the risks alone (``psi_*`` are left as they are)
    psi_r, psi_c, psi_a : (B, M), risk : (B,), written in place
    """
    runs, count = r.shape
    kmax = weights.shape[0] - 1
    # the features of degree k are P_k,i = c^{k−2i} s^{2i}, i ≤ k/2, stored flat from start[k]
    start = np.empty(kmax + 2, dtype=np.int64)
    start[0] = 0
    for k in range(kmax + 1):
        start[k + 1] = start[k] + k // 2 + 1
    size = start[kmax + 1]
    flat_w = np.empty(size)
    for k in range(kmax + 1):
        for i in range(k // 2 + 1):
            flat_w[start[k] + i] = weights[k, 2 * i]
    for b in prange(runs):
        # rings go LANES at a time; in a last, part-full chunk the lanes past the last ring keep
        # the previous chunk's cosines but weight 0, and their gradients are not read
        vals = np.empty((count, 2, kmax + 1))
        grads = np.empty((count, 2, kmax + 1))
        basis = np.empty((size, LANES))
        weighted = np.empty((2, kmax + 1, LANES))
        lane_feat = np.zeros((2, size, LANES))
        cosines = np.zeros(LANES)  # the chunk's cosines
        potential = 0.0
        for first in range(0, count, LANES):
            n = min(LANES, count - first)
            for g in range(2):  # loops, not slice assignments (each costs compile time)
                for k in range(kmax + 1):
                    for lane in range(LANES):
                        weighted[g, k, lane] = 0.0
            for lane in range(n):
                m = first + lane
                for g in range(2):
                    scale = (1.0 + delta if g == 0 else 1.0 - delta) * r[b, m]
                    kinked_columns(kinks, signs, slope, offset, scale, kmax, norms, vals[m, g],
                                   grads[m, g])  # fmt: skip
                w = mass[b, m] * amp[b, m]
                potential += w * (-0.5) * (vals[m, 0, 0] - vals[m, 1, 0])
                cosines[lane] = c[b, m]
                for g in range(2):
                    for k in range(kmax + 1):
                        weighted[g, k, lane] = w * vals[m, g, k]
            _ring_basis(cosines, kmax, start, basis)
            for g in range(2):
                for k in range(kmax + 1):
                    for f in range(start[k], start[k + 1]):
                        for lane in range(LANES):
                            lane_feat[g, f, lane] += weighted[g, k, lane] * basis[f, lane]
        feat = np.zeros((2, size))
        acc = 0.0
        for g in range(2):
            for f in range(size):
                total = 0.0
                for lane in range(LANES):
                    total += lane_feat[g, f, lane]
                acc += flat_w[f] * total * total
                feat[g, f] = flat_w[f] * total  # from here on F_k,i = W_k,2i A_k,i
        risk[b] = 1.0 + 2.0 * potential + acc
        # ∂_c Σ_i F_k,i P_k,i = Σ_{i < n_{k−1}} D_k,i P_{k−1},i (ds/dc = −c/s), with
        # D_k,i = (k − 2i) F_k,i − (2i + 2) F_k,i+1 (F_k,i+1 = 0 past the block)
        dfeat = np.zeros((2, size))
        for g in range(2):
            for k in range(1, kmax + 1):
                n = start[k + 1] - start[k]
                for i in range(start[k] - start[k - 1]):
                    nxt = feat[g, start[k] + i + 1] if i + 1 < n else 0.0
                    dfeat[g, start[k] + i] = (k - 2 * i) * feat[g, start[k] + i] - (2 * i + 2) * nxt
        sr = np.empty(LANES)
        sc = np.empty(LANES)
        gr = np.empty(LANES)
        ga = np.empty(LANES)
        gc = np.empty(LANES)
        for first in range(0, count if with_gradients else 0, LANES):  # the gradient pass
            n = min(LANES, count - first)
            for lane in range(n):
                cosines[lane] = c[b, first + lane]
            _ring_basis(cosines, kmax, start, basis)
            for lane in range(n):
                m = first + lane
                gr[lane] = -0.5 * ((1.0 + delta) * grads[m, 0, 0] - (1.0 - delta) * grads[m, 1, 0])
                ga[lane] = -0.5 * (vals[m, 0, 0] - vals[m, 1, 0])
                gc[lane] = 0.0
            for g in range(2):
                fac = 1.0 + delta if g == 0 else 1.0 - delta
                for k in range(kmax + 1):
                    for lane in range(LANES):
                        sr[lane] = 0.0
                        sc[lane] = 0.0
                    for f in range(start[k], start[k + 1]):
                        coef = feat[g, f]
                        for lane in range(LANES):
                            sr[lane] += coef * basis[f, lane]
                    if k > 0:
                        shift = start[k] - start[k - 1]
                        for f in range(start[k - 1], start[k]):
                            coef = dfeat[g, f + shift]
                            for lane in range(LANES):
                                sc[lane] += coef * basis[f, lane]
                    for lane in range(n):
                        m = first + lane
                        gr[lane] += fac * grads[m, g, k] * sr[lane]
                        ga[lane] += vals[m, g, k] * sr[lane]
                        gc[lane] += vals[m, g, k] * sc[lane]
            for lane in range(n):
                m = first + lane
                psi_r[b, m] = amp[b, m] * gr[lane] + lam * r[b, m]
                psi_c[b, m] = amp[b, m] * gc[lane]
                psi_a[b, m] = ga[lane] + lam * amp[b, m]
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
            if with_gradients:
                psi_r[b, probe] += w * a * a * 0.5 * (dexact - dseries)
                psi_a[b, probe] += w * a * (exact - series)


class RingFlow:
    """B ring sets of one isotropic problem under the DD, stepped together by RK4.

    Parameters
    ----------
    problem : the isotropic problem (a kinked σ, finite d)
    degree : K, the highest Mehler degree
    xi : ξ(t); lam : the weight decay λ
    """

    def __init__(
        self,
        problem: IsotropicGaussians,
        degree: int,
        xi: Callable[[float], float] = lambda t: 1.0,
        lam: float = 0.0,
    ):
        act = problem.activation
        kinks, signs, slope = act.kink_structure()
        self.problem, self.degree, self.xi, self.lam = problem, int(degree), xi, float(lam)
        self.kinks = np.ascontiguousarray(kinks, dtype=float)
        self.signs = np.ascontiguousarray(signs, dtype=float)
        self.slope = slope
        self.kink_values = np.ascontiguousarray(act(self.kinks), dtype=float)
        self.offset = kink_offset(act)
        self.weights = ring_weights(float(problem.dimension), self.degree)
        self.norms = inverse_root_factorials(self.degree)

    def _evaluate(self, state, mass, probe, lam, with_gradients):
        act = self.problem.activation
        psi = np.empty_like(state)
        risk = np.empty(state.shape[1])
        ring_gradients(state[0], state[1], state[2], mass, self.kinks, self.signs, self.slope,
                       self.offset, self.kink_values, act.code, act.param_array,
                       self.problem.delta, self.lam if lam is None else lam, self.weights,
                       self.norms, probe, with_gradients, psi[0], psi[1], psi[2],
                       risk)  # fmt: skip
        return psi, risk

    def gradients(
        self, state: np.ndarray, mass: np.ndarray, probe: int = -1, lam: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(∂_rΨ, ∂_cΨ, ∂_aΨ) of shape (3, B, M) and the risks (B,) of ``state`` = (r, c, a),
        each (B, M), with masses ``mass`` (B, M); λ = ``lam`` (default the flow's)."""
        return self._evaluate(state, mass, probe, lam, True)

    def risks(self, state: np.ndarray, mass: np.ndarray, probe: int = -1) -> np.ndarray:
        """The risks (B,) of ``state`` (3, B, M) with masses ``mass`` (B, M), without the
        gradient pass (about half of a :meth:`gradients` call)."""
        return self._evaluate(state, mass, probe, None, False)[1]

    def velocity(self, t: float, state: np.ndarray, mass: np.ndarray, probe: int = -1):
        """d(r, c, a)/dt of shape (3, B, M); a moves only with a second layer."""
        psi, _ = self.gradients(state, mass, probe)
        rate = 2.0 * self.xi(t)
        rr, cc = state[0], state[1]
        out = np.empty_like(state)
        out[0] = -rate * psi[0]
        out[1] = -rate * (1.0 - cc * cc) / (rr * rr) * psi[1]
        out[2] = -rate * psi[2] if self.problem.second_layer else 0.0
        return out

    def advance(
        self,
        state: np.ndarray,
        mass: np.ndarray,
        t: float,
        target: float,
        step: float,
        probe: int = -1,
    ) -> tuple[np.ndarray, float]:
        """RK4 steps of at most ``step`` from t to ``target`` (the last one shortened to land
        on it, no sliver left); returns (state, target)."""
        while t < target:
            remaining = target - t
            dt = remaining if remaining <= step * (1.0 + 1e-9) else step
            k1 = self.velocity(t, state, mass, probe)
            k2 = self.velocity(t + 0.5 * dt, state + 0.5 * dt * k1, mass, probe)
            k3 = self.velocity(t + 0.5 * dt, state + 0.5 * dt * k2, mass, probe)
            k4 = self.velocity(t + dt, state + dt * k3, mass, probe)
            state = state + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            t = target if dt == remaining else t + dt
        return state, t


def checked_times(problem: IsotropicGaussians, times, what: str) -> np.ndarray:
    """``times`` as an ascending float array ≥ 0, for a ring computation (``what``) that needs
    a finite d and a kinked σ (their Hermite columns in closed form); ValueError otherwise."""
    if math.isinf(problem.dimension):
        raise ValueError(f"{what} needs a finite dimension")
    if problem.activation.kind not in KINKED_KINDS:
        raise ValueError(f"{what} needs a kinked σ {sorted(KINKED_KINDS)}")
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or np.any(times < 0) or np.any(np.diff(times) < 0):
        raise ValueError("times must be ascending and ≥ 0")
    return times


def radial_quadrature(
    initial: GaussianInitial, nodes: int, rule: str
) -> tuple[np.ndarray, np.ndarray]:
    """Radii and weights for E f(|w|) under ρ₀: Gauss (exact for polynomials in r²) or
    equal-mass midpoint quantiles (robust where the flow map of r steepens)."""
    if rule == "gauss":
        return initial.radial_quadrature(nodes)
    if rule == "quantile":
        q = (np.arange(nodes) + 0.5) / nodes
        return initial.axis_quantiles("r", q), np.full(nodes, 1.0 / nodes)
    raise ValueError(f"radial_rule must be 'gauss' or 'quantile', got {rule!r}")


def initial_rings(
    problem: IsotropicGaussians,
    initial: GaussianInitial,
    radial_nodes: int,
    a_nodes: int,
    cosine_nodes: int,
    rule: str = "quantile",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ρ₀ as rings: :func:`radial_quadrature` radii × Gauss–Hermite a (one node without a second
    layer or where a is a point mass) × Gauss–Jacobi cosines of the cosine law in R^d.

    Returns
    -------
    ring : (3, G · n_c) r, c and a, a-major, then r, then c (a group of one (a, r) is n_c
        consecutive rings)
    mass : (G · n_c,) their masses
    group_mass : (G,) the masses of the G (a, r) groups
    """
    radii, rweights = radial_quadrature(initial, radial_nodes, rule)
    amps, aweights = initial.a_quadrature(a_nodes) if problem.second_layer else ([1.0], [1.0])
    amps, aweights = np.asarray(amps, dtype=float), np.asarray(aweights, dtype=float)
    cos, cweights = cosine_quadrature(int(problem.dimension), cosine_nodes)
    a, r, c = (x.ravel() for x in np.meshgrid(amps, radii, cos, indexing="ij"))
    mass = np.einsum("i,j,k->ijk", aweights, rweights, cweights).ravel()
    return np.stack([r, c, a]), mass, np.outer(aweights, rweights).ravel()


#: The columns of :func:`ring_moments`.
RING_MOMENTS = ("mean_a", "mean_a2", "mean_r2")


def ring_moments(state: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """E a, E a² and E r² (= E|w|²) of B ring sets (:data:`RING_MOMENTS`): a smooth vector
    functional, e.g. for :func:`~ddsolver.fluctuations.probe.dynamical_correction`.

    Parameters
    ----------
    state : (3, B, M) r, c and a of the rings
    mass : (B, M) their masses

    Returns
    -------
    (B, 3)
    """
    m = mass / mass.sum(axis=1, keepdims=True)
    r, a = state[0], state[2]
    return np.stack([(m * a).sum(axis=1), (m * a * a).sum(axis=1), (m * r * r).sum(axis=1)],
                    axis=1)  # fmt: skip
