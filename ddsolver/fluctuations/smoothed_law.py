r"""The law of one coordinate smoothed by N(0, b²): its distribution function and W1.

The step-noise terms need a smooth functional of the measure, and the distribution function
of the second-layer weight a is not one (an indicator's second differences do not exist).
Smoothed by a Gaussian of width b it is:

    F_b(x) = ∫ Φ_N((x − a)/b) dρ(θ)       (Φ_N the standard normal CDF),

and for two laws μ, ν on the line W1(μ * N_b, ν * N_b) = ∫ |F_b,μ − F_b,ν| dx ≤ W1(μ, ν).
This module gives F_b of ring sets (a functional for
:func:`~ddsolver.fluctuations.step_noise.step_noise_terms`), of a grid's cell masses (exact
for a density constant on each cell), of samples (SGD's neurons), and W1 between two of them
on one grid of x.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .._scipy import special

#: Samples per block of :func:`cdf_of_samples` (a block holds Q × this many values).
SAMPLE_CHUNK = 4096


def _checked(points, bandwidth) -> tuple[np.ndarray, float]:
    x = np.asarray(points, dtype=float)
    b = float(bandwidth)
    if not b > 0.0:
        raise ValueError(f"bandwidth must be > 0, got {b}")
    return x, b


def _density(z: np.ndarray) -> np.ndarray:
    """φ_N(z), the standard normal density."""
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def law_points(low: float, high: float, bandwidth: float) -> np.ndarray:
    """The points x at which a run keeps the smoothed law of a: ``low`` to ``high`` every
    ``bandwidth``/2 (the last spacing shortened to land on ``high``), shape (Q,)."""
    _, b = _checked([], bandwidth)
    count = math.ceil((float(high) - float(low)) / (0.5 * b) - 1e-9) + 1
    return np.linspace(float(low), float(high), max(count, 2))


def cdf_of_a(points, bandwidth: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    r"""F_b of the rings' a at Q points, as a functional of ring sets.

    Parameters
    ----------
    points : (Q,) x_q
    bandwidth : b > 0

    Returns
    -------
    functional : (r, c, a) of shape (3, B, M) and masses (B, M) → (B, Q),
        Σ_m m_m Φ_N((x_q − a_m)/b) / Σ_m m_m
    """
    x, b = _checked(points, bandwidth)

    def functional(state: np.ndarray, mass: np.ndarray) -> np.ndarray:
        m = mass / mass.sum(axis=1, keepdims=True)
        out = np.empty((m.shape[0], x.size))
        for row in range(m.shape[0]):  # one ring set at a time: (M, Q), not (B, M, Q)
            out[row] = m[row] @ special.ndtr((x - state[2, row][:, None]) / b)
        return out

    return functional


def cdf_of_cells(points, bandwidth: float, edges, masses) -> np.ndarray:
    r"""F_b at Q points of a density constant on each cell of ``edges`` (exact):

        F_b(x) = Σ_c m_c (b/w_c) [G((x − lo_c)/b) − G((x − hi_c)/b)],  G(z) = zΦ_N(z) + φ_N(z),

    the mean of Φ_N((x − U)/b) over U uniform on each cell [lo_c, hi_c] of width w_c.

    Parameters
    ----------
    edges : (C + 1,) ascending
    masses : (C,) the cells' masses (normalised here)

    Returns
    -------
    (Q,)
    """
    x, b = _checked(points, bandwidth)
    edges = np.asarray(edges, dtype=float)
    m = np.asarray(masses, dtype=float)
    m = m / m.sum()
    lo, hi, width = edges[:-1], edges[1:], np.diff(edges)

    def integral(z: np.ndarray) -> np.ndarray:
        return z * special.ndtr(z) + _density(z)

    inner = integral((x[:, None] - lo) / b) - integral((x[:, None] - hi) / b)
    return (inner * (m * b / width)).sum(axis=1)


def cdf_of_samples(points, bandwidth: float, samples) -> np.ndarray:
    """F_b at Q points of the empirical law of ``samples`` (any shape; all pooled): (Q,)."""
    x, b = _checked(points, bandwidth)
    values = np.asarray(samples, dtype=float).ravel()
    total = np.zeros(x.size)
    for start in range(0, values.size, SAMPLE_CHUNK):  # (Q, chunk) at a time: bounded memory
        total += special.ndtr((x[:, None] - values[start : start + SAMPLE_CHUNK]) / b).sum(axis=1)
    return total / values.size


def w1_between(points, first, second) -> float:
    """∫ |F − G| dx by the trapezoidal rule on ``points`` (which must cover both laws' mass:
    F = G = 0 below and 1 above); ``first``, ``second`` (Q,)."""
    x = np.asarray(points, dtype=float)
    return float(np.trapezoid(np.abs(np.asarray(first) - np.asarray(second)), x))


#: Fine nodes of a's initial law for the law's dynamical term: spaced at most b/4, over
#: a_mean ± FINE_SPAN · a_std (a Gaussian's mass beyond is below 2e-9).
FINE_SPAN = 6.0


def lagrange_matrix(nodes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The Lagrange interpolation matrix from values at ``nodes`` (n,) to ``points`` (F,):
    (F, n), by the barycentric formula (one node: ones)."""
    nodes, points = np.asarray(nodes, dtype=float), np.asarray(points, dtype=float)
    if nodes.size == 1:
        return np.ones((points.size, 1))
    gaps = nodes[:, None] - nodes[None, :]
    np.fill_diagonal(gaps, 1.0)
    weights = 1.0 / gaps.prod(axis=1)
    diff = points[:, None] - nodes[None, :]
    exact = diff == 0.0
    diff[exact] = 1.0
    terms = weights / diff
    out = terms / terms.sum(axis=1, keepdims=True)
    rows = exact.any(axis=1)
    out[rows] = exact[rows].astype(float)
    return out


def fine_a_rule(mean: float, std: float, bandwidth: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and probability weights of N(mean, std²) spaced at most ``bandwidth``/4 over
    mean ± :data:`FINE_SPAN` std (the trapezoidal rule: spectral for a Gaussian); one node
    for a point mass."""
    if std == 0.0:
        return np.array([mean]), np.array([1.0])
    count = math.ceil(2.0 * FINE_SPAN * std / (0.25 * bandwidth)) + 1
    z = np.linspace(-FINE_SPAN, FINE_SPAN, count)
    w = np.exp(-0.5 * z * z)
    return mean + std * z, w / w.sum()


def law_second_variation(
    points,
    bandwidth: float,
    a: np.ndarray,
    ring_mass: np.ndarray,
    ring_a0: np.ndarray,
    probe_a0: np.ndarray,
    probe_weights: np.ndarray,
    mass_step: float,
    fine_a: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    r"""½ E_z g_z''(0) of F_b, the law of a smoothed by N(0, b²), from the flows of the rings
    with one neuron of mass s ∈ {0, ±h} added at each probe z.

    With k(a) = Φ_N((x − a)/b), the rings' masses (1 − s)m and their a(s) = a⁰ + a¹s + a²s²/2,
    and the added neuron's a_z(s):

        g_z''(0) = Σ_rings m [k''(a⁰)(a¹)² + k'(a⁰)(a² − 2a¹)] + 2 k'(a_z) a_z¹,

    the same second difference as [g(h) − 2g(0) + g(−h)]/h² to O(h²), but with k at the
    unperturbed a⁰ only. Averaged over z first (E_z (a¹)², E_z (a² − 2a¹) for each ring), the
    rings' coefficients and a⁰ are smooth in the initial a: they are interpolated (Lagrange)
    from the rings' Gauss–Hermite nodes of a to ``fine_a``, spaced below b — a few nodes of a
    then give a law without the bumps b-wide kernels would put at each node. The added
    neuron's a_z and a_z¹ are interpolated in its initial a the same way.

    Parameters
    ----------
    points : (Q,) x
    bandwidth : b
    a : (1 + 2P, M + 1) a of the rings (a-major: n_a initial values × G rings each) and of
        the added neuron (last) in the base run, then the +h and −h runs of each probe
    ring_mass : (M,) the rings' masses m
    ring_a0 : (n_a,) the rings' initial a (their Gauss–Hermite nodes)
    probe_a0 : (P_a,) the probes' initial a; the P = P_a · P_r probes are a-major
    probe_weights : (P,) their weights under ρ₀
    mass_step : h
    fine_a : (nodes (F,), probability weights (F,)) of a's initial law

    Returns
    -------
    (Q,)
    """
    x, b = _checked(points, bandwidth)
    h = float(mass_step)
    n_a, n_pa = ring_a0.size, probe_a0.size
    rings = ring_mass.size
    base = a[0, :rings].reshape(n_a, -1)
    plus, minus = a[1::2, :rings], a[2::2, :rings]
    first = (plus - minus) / (2.0 * h)
    second = (plus - 2.0 * a[0, :rings] + minus) / (h * h)
    w = probe_weights[:, None]
    square = (w * first * first).sum(axis=0).reshape(n_a, -1)
    linear = (w * (second - 2.0 * first)).sum(axis=0).reshape(n_a, -1)
    group_mass = ring_mass.reshape(n_a, -1).sum(axis=0)  # (G,): the rings' r and c masses
    # the added neuron: a_z and a_z¹ from its ±h runs
    az = 0.5 * (a[1::2, -1] + a[2::2, -1]).reshape(n_pa, -1)
    az1 = ((a[1::2, -1] - a[2::2, -1]) / (2.0 * h)).reshape(n_pa, -1)
    radial_w = probe_weights.reshape(n_pa, -1).sum(axis=0)  # (P_r,)
    nodes, weights = fine_a
    lag, plag = lagrange_matrix(ring_a0, nodes), lagrange_matrix(probe_a0, nodes)
    out = np.zeros(x.size)
    for f in range(nodes.size):  # each initial a: the rings (Q, G), the added neuron (Q, P_r)
        u = (x[:, None] - lag[f] @ base) / b
        density = _density(u)
        ring = -u * density / (b * b) * (lag[f] @ square) - density / b * (lag[f] @ linear)
        added = -2.0 * _density((x[:, None] - plag[f] @ az) / b) / b * (plag[f] @ az1)
        out += weights[f] * (ring @ group_mass + added @ radial_w)
    return 0.5 * out
