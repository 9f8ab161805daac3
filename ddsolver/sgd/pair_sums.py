r"""The double sum of an exact network risk, a tile of cosines at a time.

Every exact risk R_N of a mean-field network holds the interaction term

    (1/N²) Σᵢⱼ gᵢ gⱼ K(sᵢ, sⱼ, cᵢⱼ),    cᵢⱼ = <wᵢ, wⱼ> / (|wᵢ| |wⱼ|),

with K(a, b, c) = E[σ(aZ₁) σ(bZ₂)] the activation's pair moment at correlation c. Building the
N × N matrix of cosines costs 8N² bytes (800 MB at N = 10⁴) and several temporaries as large;
here the cosines come from BLAS one tile of :data:`GRAM_TILE` at a time, in the upper triangle
(j ≥ i, off-diagonal pairs counted twice), so the memory beyond the weights is O(N) and each
product is large enough to run at BLAS's rate. Tiles are visited in a fixed order and each row
of a tile is one thread's, so a sum is the same bit for bit in every run on one machine.

:func:`closed_form_double_sum` evaluates K in closed form for every pair (the teacher–student
and multi-index risks); the isotropic risk adds a Mehler-series shortcut for small cosines
(:func:`ddsolver.sgd.isotropic.exact_risk`) over the same tiles (:func:`gram_tiles`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numba import prange

from .._jit import jit_parallel
from ..models.activations import Activation
from ..models.integrals import pair_moment

#: Rows × columns of a tile of cosines (32 MB): thin row blocks would re-read all N weights
#: per block, and at N = 10⁵ that memory traffic, not the arithmetic, set the time.
GRAM_TILE = (1024, 4096)


def unit_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(norms (N,), unit rows (N, d)); a zero row stays zero (its cosines are 0)."""
    norms = np.linalg.norm(w, axis=1)
    return norms, w / np.where(norms > 0, norms, 1.0)[:, None]


def gram_tiles(unit: np.ndarray, tile: tuple[int, int] = GRAM_TILE
               ) -> Iterator[tuple[int, int, np.ndarray]]:  # fmt: skip
    """(i0, j0, cosines (b, c)) of the upper triangle's tiles, rows i0 …, columns j0 ≥ i0 …,
    in a fixed order. ``unit`` : (N, d) unit rows."""
    n = unit.shape[0]
    for i0 in range(0, n, tile[0]):
        for j0 in range(i0, n, tile[1]):
            yield i0, j0, unit[i0 : i0 + tile[0]] @ unit[j0 : j0 + tile[1]].T


@jit_parallel
def _closed_form_tile(code, params, scales, weights, gram, i0, j0, out_rows):
    """Add Σ_{j ≥ i in the tile} (2 − δ_ij) gᵢ gⱼ K(sᵢ, sⱼ, cᵢⱼ) to ``out_rows[i]``; the
    diagonal has c = 1 (a zero row too: K(0, 0, ·) does not depend on c)."""
    rows, cols = gram.shape
    for ii in prange(rows):
        i = i0 + ii
        acc = 0.0
        for j in range(max(i, j0), j0 + cols):
            if j == i:
                acc += weights[i] * weights[i] * pair_moment(code, params, scales[i], scales[i],
                                                             1.0)  # fmt: skip
            else:
                acc += (
                    2.0
                    * weights[i]
                    * weights[j]
                    * pair_moment(code, params, scales[i], scales[j], gram[ii, j - j0])
                )
        out_rows[i] += acc


def closed_form_double_sum(activation: Activation, w: np.ndarray, scales: np.ndarray | None = None,
                           weights: np.ndarray | None = None) -> float:  # fmt: skip
    r"""Σᵢⱼ gᵢ gⱼ K(sᵢ, sⱼ, cᵢⱼ) over the rows of ``w`` (N, d), every pair in closed form.

    ``scales`` : (N,), sᵢ (default |wᵢ|); ``weights`` : (N,), gᵢ (default 1).
    """
    norms, unit = unit_rows(w)
    scales = norms if scales is None else np.asarray(scales, dtype=float)
    weights = np.ones(w.shape[0]) if weights is None else np.asarray(weights, dtype=float)
    rows = np.zeros(w.shape[0])
    for i0, j0, gram in gram_tiles(unit, GRAM_TILE):
        _closed_form_tile(activation.code, activation.param_array, scales, weights, gram, i0, j0,
                          rows)  # fmt: skip
    return float(rows.sum())
