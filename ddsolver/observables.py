r"""Statistics of the reduced coordinates, one code for every discretisation.

Every run file carries, per reduced coordinate z, the mean and the quantiles :data:`QUANTILES`
of its marginal, computed here from a weighted point measure Σᵢ mᵢ δ(zᵢ): the grid's cells
(mᵢ the cell mass, zᵢ the centre), the particles (mᵢ = 1/M), or one seed's SGD neurons
(mᵢ = 1/N). The mean is Σ mᵢ zᵢ / Σ mᵢ in all three. For the quantiles the two kinds of
measure differ in what they stand for:

* **cells** (``edges`` given): the mass of a cell is spread uniformly over it, so the cdf is
  piecewise linear through the edges and the q-quantile is its inverse — exact for the
  piecewise-constant density the grid solver holds;
* **points**: the cdf steps by mᵢ at each zᵢ; the q-quantile interpolates linearly between
  the points placed at the midpoints of their steps, Fᵢ = Σ_{j<i} mⱼ + mᵢ/2 (for equal masses
  NumPy's ``method="hazen"``), and is the smallest or largest point outside [F₁, F_M].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

QUANTILES = (0.1, 0.5, 0.9)


def quantile_name(q: float, coordinate: str) -> str:
    """The observable name of the q-quantile of ``coordinate``, e.g. ``q10_r``."""
    return f"q{round(100 * q):02d}_{coordinate}"


def marginal_quantiles(
    values: np.ndarray, masses: np.ndarray, edges: np.ndarray | None = None
) -> np.ndarray:
    """The :data:`QUANTILES` of Σ mᵢ δ(zᵢ) along one coordinate, shape (len(QUANTILES),).

    Parameters
    ----------
    values : (M,) the coordinate zᵢ of each point (cell centres when ``edges`` is given)
    masses : (M,) mᵢ ≥ 0, not all zero
    edges : (n + 1,) or None, the cell edges of that axis when the points are cells
    """
    q = np.asarray(QUANTILES)
    if edges is not None:
        cell = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, edges.size - 2)
        marginal = np.bincount(cell, weights=masses, minlength=edges.size - 1)
        cdf = np.concatenate([[0.0], np.cumsum(marginal)]) / marginal.sum()
        return np.interp(q, cdf, edges)
    order = np.argsort(values, kind="stable")
    z, m = values[order], masses[order]
    cdf = (np.cumsum(m) - 0.5 * m) / m.sum()
    return np.interp(q, cdf, z)


def coordinate_statistics(
    names: Sequence[str],
    points: np.ndarray,
    masses: np.ndarray,
    edges: Sequence[np.ndarray] | None = None,
) -> dict[str, float]:
    """``mean_<z>`` and ``qNN_<z>`` for each coordinate of a weighted point measure.

    Parameters
    ----------
    names : the coordinate names, one per column of ``points``
    points : (M, n) positions (cell centres, particles or neurons)
    masses : (M,) weights mᵢ ≥ 0
    edges : per coordinate, the cell edges when the points are grid cells; None for points
    """
    total = masses.sum()
    out: dict[str, float] = {}
    for k, name in enumerate(names):
        column = points[:, k]
        out[f"mean_{name}"] = float(masses @ column / total)
        qs = marginal_quantiles(column, masses, None if edges is None else edges[k])
        for q, value in zip(QUANTILES, qs, strict=True):
            out[quantile_name(q, name)] = float(value)
    return out


def statistics_names(names: Sequence[str]) -> list[str]:
    """The observable names :func:`coordinate_statistics` returns, in its order."""
    out = []
    for name in names:
        out.append(f"mean_{name}")
        out.extend(quantile_name(q, name) for q in QUANTILES)
    return out
