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
        return np.einsum("bm,bmq->bq", m, special.ndtr((x - state[2][..., None]) / b))

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
        return z * special.ndtr(z) + np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)

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
