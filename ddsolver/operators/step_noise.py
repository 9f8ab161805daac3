r"""The finite-step correction's flux on a radial grid: ∂_t p += −∂_r(c p) + ½ ∂²_r(a p).

c(r) and a(r) depend on p itself (through the network's output h(|x|)); they are evaluated
at every right-hand side from the tables of :class:`~ddsolver.models.step_noise.StepNoiseTables`
at the cell centres. Through the face between cells i and i + 1 (positive outward):

    F = MUSCL-upwind flux of the face velocity ½(c_i + c_{i+1})
        − (½a_{i+1} p_{i+1} − ½a_i p_i) / h,

the second term the Itô form ½∂_r(a p) of the diffusion. Both parts take mass out of a cell
at a rate proportional to its own density and bring it in from the neighbour's with a
non-negative coefficient, so forward Euler keeps p ≥ 0 under the bound given by the outflow
rates (added to ``rate``); the sum of ``out`` weighted by the widths is 0 (conservation).
"""

from __future__ import annotations

from .._jit import jit
from .transport import limited_slope


@jit
def step_noise_coefficients(masses, tables, weights, labels, inv_r, scale, inv_n, work, drift, var):
    """c and a at the M radii of the tables for cell masses ``masses`` (M,).

    Parameters
    ----------
    tables : (5, M, Q) — G1, G2, P1, A∥, A⊥
    weights, labels : (Q,)
    inv_r : (M,) 1/r (0 where r = 0)
    scale : εξ²/B;  inv_n : 1/N (0: mean field)
    work : (3, Q) scratch;  drift, var : (M,) written
    """
    m_cells, q_nodes = tables.shape[1], tables.shape[2]
    for q in range(q_nodes):
        work[0, q] = 0.0
        work[1, q] = 0.0
    for i in range(m_cells):
        mi = masses[i]
        if mi != 0.0:
            for q in range(q_nodes):
                work[0, q] += mi * tables[0, i, q]
                work[1, q] += mi * tables[1, i, q]
    for q in range(q_nodes):
        h = work[0, q]
        e = labels[q] - h
        e2 = e * e + (work[1, q] - h * h) * inv_n
        work[0, q] = weights[q] * e
        work[1, q] = weights[q] * e2
    for i in range(m_cells):
        mean_par = 0.0
        second = 0.0
        perp = 0.0
        for q in range(q_nodes):
            mean_par += tables[2, i, q] * work[0, q]
            second += tables[3, i, q] * work[1, q]
            perp += tables[4, i, q] * work[1, q]
        drift[i] = 2.0 * scale * inv_r[i] * perp
        v = second - mean_par * mean_par
        var[i] = 4.0 * scale * v if v > 0.0 else 0.0


@jit
def step_noise_divergence(p, widths, dist, drift, var, limited, out, rate):
    """Add −∂_r(c p) + ½∂²_r(a p) of the 1-D density ``p`` (M,) to ``out`` and its outflow
    rates to ``rate`` (both (M,)); ``drift`` = c, ``var`` = a at the centres."""
    n = p.shape[0]
    slope_prev = 0.0
    for f in range(n - 1):
        i = f
        j = f + 1
        u = 0.5 * (drift[i] + drift[j])
        slope_next = 0.0
        if j < n - 1:
            slope_next = limited_slope(p[i], p[j], p[j + 1], dist[f], dist[j], widths[j], limited)
        if u > 0.0:
            flux = u * (p[i] + 0.5 * widths[i] * slope_prev)
            out_right = 2.0 * u
            out_left = 0.0
        else:
            flux = u * (p[j] - 0.5 * widths[j] * slope_next)
            out_right = 0.0
            out_left = -2.0 * u
        slope_prev = slope_next
        diff_i = 0.5 * var[i] / dist[f]
        diff_j = 0.5 * var[j] / dist[f]
        flux += diff_i * p[i] - diff_j * p[j]
        out[i] -= flux / widths[i]
        out[j] += flux / widths[j]
        rate[i] += (out_right + diff_i) / widths[i]
        rate[j] += (out_left + diff_j) / widths[j]
