r"""Normalised Hermite coefficients of a scaled activation (for Mehler expansions).

With h_k = He_k / √k! (orthonormal under N(0, 1)) and G ~ N(0, 1),

    f̂_k(a) = E[σ(aG) h_k(G)],       K(a, b, c) = Σ_k c^k f̂_k(a) f̂_k(b)     (Mehler).

Ramp, ReLU and the piecewise-linear σ are exact (Stein's identity: the k-th coefficient
is E f^{(k)}(G), and f'' is a sum of Dirac masses at the kinks):

    ramp, k ≥ 2:  f̂_k(a) = slope · a · [h_{k−2}(u₁)φ(u₁) − h_{k−2}(u₂)φ(u₂)] / √(k(k−1)),
                  u_i = t_i / a.

Other activations use composite Gauss–Legendre quadrature on [−12, 12]
(:data:`PANELS` panels of 8 nodes), accurate to ~1e-13 for smooth σ at
scales up to about 20.
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import jit
from .._scipy import special
from .activations import KINKED_KINDS, Activation
from .integrals import mean

PANELS = 600
_HALF_WIDTH = 12.0
_U_CUTOFF = 40.0  # φ(40) underflows; coefficients there are exactly 0 in double precision


def normalised_hermite(x: np.ndarray, kmax: int) -> np.ndarray:
    """h_k(x) = He_k(x)/√k! for k = 0..kmax, by the stable three-term recurrence.

    Returns
    -------
    (len(x), kmax + 1) float64
    """
    x = np.asarray(x, dtype=float)
    out = np.empty((kmax + 1, *x.shape))  # degree first: each step writes one contiguous row
    out[0] = 1.0
    if kmax >= 1:
        out[1] = x
    for k in range(1, kmax):
        out[k + 1] = (x * out[k] - math.sqrt(k) * out[k - 1]) / math.sqrt(k + 1)
    return np.ascontiguousarray(np.moveaxis(out, 0, -1))


def _kink_terms(u: np.ndarray, kmax: int) -> tuple[np.ndarray, np.ndarray]:
    """φ(u)h_n(u) for n = 0..kmax and φ(u)[h_n(u) + u√(n+1) h_{n+1}(u)] (its a-derivative part)."""
    far = np.abs(u) > _U_CUTOFF
    uu = np.where(far, 0.0, u)
    h = normalised_hermite(uu, kmax + 1)
    phi = np.where(far, 0.0, np.exp(-0.5 * uu * uu) / math.sqrt(2 * math.pi))[..., None]
    n = np.arange(kmax + 1)
    g = phi * h[..., : kmax + 1]
    dg = phi * (h[..., : kmax + 1] + uu[..., None] * np.sqrt(n + 1.0) * h[..., 1 : kmax + 2])
    return g, dg


def _kinked_coefficients(activation: Activation, a: np.ndarray, kmax: int):
    kinks, signs, slope = activation.kink_structure()
    m = a.shape[0]
    coef = np.zeros((m, kmax + 1))
    dcoef = np.zeros((m, kmax + 1))
    pos = a > 0
    ap = np.where(pos, a, 1.0)
    k = np.arange(2, kmax + 1)
    norm = 1.0 / np.sqrt(k * (k - 1.0))
    first = np.zeros(m)
    dfirst = np.zeros(m)
    for t, e in zip(kinks, signs, strict=True):
        # a → 0: u = t/a → ±∞ (no contribution) unless the kink sits at t = 0
        with np.errstate(invalid="ignore"):
            u = np.where(pos, t / ap, 0.0 if t == 0 else np.inf)
        g, dg = _kink_terms(u, kmax)
        coef[:, 2:] += e * ap[:, None] * g[:, : kmax - 1] * norm
        dcoef[:, 2:] += e * dg[:, : kmax - 1] * norm
        cdf = special.ndtr(u)
        pdf = np.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)
        first -= e * ap * cdf  # Σ e_i (−Φ(u_i)) a
        finite = np.isfinite(u)
        dfirst -= e * (cdf - np.where(finite, u, 0.0) * pdf)
        dcoef[:, 0] += e * pdf
    if activation.kind == "relu":
        first += ap  # a (1 − Φ(0)) for the single kink
        dfirst += 1.0
    coef[:, 0] = mean(activation, 0.0, a)
    coef[:, 1] = slope * first
    dcoef[:, 1] = slope * dfirst
    dcoef[:, 0] *= slope
    coef[:, 2:] *= slope
    dcoef[:, 2:] *= slope
    coef[~pos, 1:] = 0.0
    dcoef[~pos] = np.nan_to_num(dcoef[~pos])
    return coef, dcoef


def _quadrature_rule() -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(8)
    edges = np.linspace(-_HALF_WIDTH, _HALF_WIDTH, PANELS + 1)
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    nodes = (mid[:, None] + half[:, None] * x[None, :]).ravel()
    weights = (half[:, None] * w[None, :]).ravel()
    weights = weights * np.exp(-0.5 * nodes**2) / math.sqrt(2 * math.pi)
    return nodes, weights


def hermite_coefficients(
    activation: Activation, scales: np.ndarray, kmax: int
) -> tuple[np.ndarray, np.ndarray]:
    """f̂_k(a) and d f̂_k/da for k = 0..kmax at every scale a ≥ 0.

    Parameters
    ----------
    activation : Activation
    scales : (M,) float64, the scales a ≥ 0
    kmax : int, highest degree

    Returns
    -------
    coef, dcoef : (M, kmax + 1) float64
    """
    a = np.asarray(scales, dtype=float).ravel()
    if np.any(a < 0):
        raise ValueError("scales must be non-negative")
    if activation.kind in KINKED_KINDS:
        coef, dcoef = _kinked_coefficients(activation, a, max(kmax, 2))
        return coef[:, : kmax + 1], dcoef[:, : kmax + 1]
    nodes, weights = _quadrature_rule()
    basis = normalised_hermite(nodes, kmax) * weights[:, None]  # (Q, K)
    arg = a[:, None] * nodes[None, :]
    coef = activation(arg) @ basis
    dcoef = (activation.derivative(arg) * nodes[None, :]) @ basis
    return coef, dcoef


def kink_offset(activation: Activation) -> float:
    """c₀ in σ(x) = c₀ + c₁x + slope Σ_q e_q (x − t_q)₊: σ(0) − slope Σ_q e_q (−t_q)₊."""
    kinks, signs, slope = activation.kink_structure()
    at_zero = float(activation(np.zeros(1))[0])
    return at_zero - slope * float(np.sum(signs * np.maximum(-np.asarray(kinks), 0.0)))


@jit
def kinked_even_columns(kinks, signs, slope, offset, scales, order, vals, grads):
    r"""f̂_{2j}(a) and d f̂_{2j}/da, j = 0..order, for a ramp/ReLU-like activation (compiled).

    With σ(x) = c₀ + c₁x + slope Σ_q e_q (x − t_q)₊ and u_q = t_q/a,

        f̂_0(a) = E σ(aG) = c₀ + slope Σ_q e_q [a φ(u_q) − t_q Φ(−u_q)],
        d f̂_0/da = slope Σ_q e_q φ(u_q),

    and Stein's identity gives, for k = 2j ≥ 2,

        f̂_k(a) = slope Σ_q e_q a φ(u_q) h_{k−2}(u_q) / √(k(k−1)),
        d f̂_k/da = slope Σ_q e_q φ(u_q) [h_{k−2}(u_q) + u_q √(k−1) h_{k−1}(u_q)] / √(k(k−1)).

    The Hermite recurrence runs over all scales at once (one row per degree, the scales
    contiguous), so the compiler vectorises it across scales.

    Parameters
    ----------
    kinks, signs : (n_k,) kink positions t and their signs e (σ'' = slope Σ e δ_t)
    slope : float
    offset : c₀ (:func:`kink_offset`)
    scales : (M,) a ≥ 0
    order : int, J
    vals, grads : (J + 1, M) float64, written in place
    """
    count = scales.shape[0]
    for j in range(order + 1):  # loops, not slice assignments (each costs a cold start ~1 s)
        for m in range(count):
            vals[j, m] = offset if j == 0 else 0.0
            grads[j, m] = 0.0
    u = np.empty(count)
    phi = np.empty(count)
    lower = np.empty(count)  # h_{k−2}(u)
    upper = np.empty(count)  # h_{k−1}(u)
    for q in range(kinks.shape[0]):
        weight = slope * signs[q]
        for m in range(count):
            a = scales[m]
            if a > 0.0:
                x = kinks[q] / a
            elif kinks[q] == 0.0:
                x = 0.0  # the a → 0 limit of a kink at the origin
            else:
                x = math.inf
            if abs(x) > _U_CUTOFF:  # φ(u) = 0 in double precision; Φ(−u) = 0 or 1
                u[m] = 0.0
                phi[m] = 0.0
                vals[0, m] += weight * max(-kinks[q], 0.0)
            else:
                u[m] = x
                phi[m] = math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
                tail = 0.5 * math.erfc(x / math.sqrt(2.0))
                vals[0, m] += weight * (a * phi[m] - kinks[q] * tail)
            grads[0, m] += weight * phi[m]
            lower[m] = 1.0
            upper[m] = u[m]
        for j in range(1, order + 1):
            k = 2 * j
            norm = weight / math.sqrt(k * (k - 1.0))
            root = math.sqrt(k - 1.0)
            for m in range(count):
                vals[j, m] += norm * scales[m] * phi[m] * lower[m]
                grads[j, m] += norm * phi[m] * (lower[m] + u[m] * root * upper[m])
            if j < order:  # two steps of h_{n+1} = (u h_n − √n h_{n−1}) / √(n+1)
                c0, c1 = root / math.sqrt(k), 1.0 / math.sqrt(k)
                d0, d1 = math.sqrt(k) / math.sqrt(k + 1.0), 1.0 / math.sqrt(k + 1.0)
                for m in range(count):
                    even = c1 * u[m] * upper[m] - c0 * lower[m]
                    upper[m] = d1 * u[m] * even - d0 * upper[m]
                    lower[m] = even


def inverse_root_factorials(kmax: int) -> np.ndarray:
    """1/√(k!) for k = 0 … ``kmax``: h_k = He_k/√(k!), read by :func:`kinked_columns`.

    Returns
    -------
    (kmax + 1,) float64
    """
    return np.exp(-0.5 * special.gammaln(np.arange(kmax + 1) + 1.0))


@jit
def kinked_columns(kinks, signs, slope, offset, a, kmax, norms, vals, grads):
    r"""f̂_k(a) and d f̂_k/da for every k = 0..kmax at one scale a, odd degrees included.

    The even degrees are those of :func:`kinked_even_columns`; σ' vanishes at −∞ for every
    kinked σ, so σ'(x) = slope Σ_q e_q 1{x > t_q} and the first degree is

        f̂_1(a) = E[G σ(aG)] = a E σ'(aG) = slope · a Σ_q e_q Φ(−u_q),
        d f̂_1/da = slope Σ_q e_q [Φ(−u_q) + u_q φ(u_q)],

    while for k ≥ 2 Stein's identity gives the kink sums of :func:`kinked_even_columns` at
    every degree. The axisymmetric flows of :mod:`ddsolver.fluctuations` need the odd
    degrees: two directions that both lean on one axis are not independent.

    Parameters
    ----------
    kinks, signs : (n_k,) kink positions t and their signs e (σ'' = slope Σ e δ_t)
    slope, offset : float (offset = c₀ of :func:`kink_offset`)
    a : float, the scale, ≥ 0
    kmax : int, ≥ 1
    norms : (≥ kmax + 1,) :func:`inverse_root_factorials`
    vals, grads : (kmax + 1,) float64, written in place
    """
    for k in range(kmax + 1):
        vals[k] = 0.0
        grads[k] = 0.0
    vals[0] = offset
    for q in range(kinks.shape[0]):
        weight = slope * signs[q]
        if a > 0.0:
            u = kinks[q] / a
        elif kinks[q] == 0.0:
            u = 0.0
        else:
            u = math.inf if kinks[q] > 0.0 else -math.inf
        if abs(u) > _U_CUTOFF:  # φ(u) = 0; Φ(−u) = 0 (kink far right) or 1 (far left)
            below = 1.0 if u < 0.0 else 0.0
            vals[0] += weight * max(-kinks[q], 0.0)
            vals[1] += weight * a * below
            grads[1] += weight * below
            continue
        phi = math.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)
        tail = 0.5 * math.erfc(u / math.sqrt(2.0))  # Φ(−u)
        vals[0] += weight * (a * phi - kinks[q] * tail)
        grads[0] += weight * phi
        vals[1] += weight * a * tail
        grads[1] += weight * (tail + u * phi)
        # with h_k = He_k/√(k!), f̂_k = e a φ He_{k−2}/√(k!) and d f̂_k/da = e φ (He_{k−2}
        # + u He_{k−1})/√(k!); the unnormalised He_k = u He_{k−1} − (k − 1) He_{k−2} is one
        # multiply-add per degree on the recurrence's critical path
        lower = 1.0  # He_{k−2}(u)
        upper = u  # He_{k−1}(u)
        aphi = a * phi
        for k in range(2, kmax + 1):
            norm = weight * norms[k]
            vals[k] += norm * aphi * lower
            grads[k] += norm * phi * (lower + u * upper)
            following = u * upper - (k - 1.0) * lower
            lower = upper
            upper = following
