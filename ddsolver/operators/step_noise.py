r"""The finite-step correction's flux on a radial grid: ∂_t p += −∂_r(c p) + ½ ∂²_r(a p)
(with a second layer also ½ ∂²_a(a_a p) along a).

c(r) and a(r) depend on p itself (through the network's output h(|x|)); they are evaluated
at every right-hand side from the tables of :class:`~ddsolver.models.step_noise.StepNoiseTables`
at the cell centres. Through the face between cells i and i + 1 (positive outward):

    F = MUSCL-upwind flux of the face velocity ½(c_i + c_{i+1})
        − (½a_{i+1} p_{i+1} − ½a_i p_i) / h,

the second term the Itô form ½∂_r(a p) of the diffusion. Both parts take mass out of a cell
at a rate proportional to its own density and bring it in from the neighbour's with a
non-negative coefficient, so forward Euler keeps p ≥ 0 under the bound given by the outflow
rates (added to ``rate``); the sum of ``out`` weighted by the widths is 0 (conservation).

With ``solver.finite_step_scheme = "implicit"`` the explicit stages leave this flux out and
:func:`step_noise_implicit` takes drift and diffusion after each step instead: a
backward-Euler Scharfetter–Gummel step, one tridiagonal M-matrix per line, so positivity and
conservation hold at any step and neither h²/a nor the 1/r drift bounds it.
"""

from __future__ import annotations

import numpy as np

from .._jit import jit
from .transport import bernoulli_pairs, limited_slope, upwind_face


@jit
def step_noise_moments(m_a, m_a2, tables, tables_t, weights, labels, inv_n, work, moments,
                       rows=5):  # fmt: skip
    """The expectations of :meth:`~ddsolver.models.step_noise.StepNoiseTables.moments` at the
    M radii of the tables, for a-weighted radial masses ``m_a`` and a²-weighted ``m_a2`` (M,)
    (both the masses themselves for θ = w).

    Parameters
    ----------
    tables : (5, M, Q) — G1, G2, P1, A∥, A⊥;  tables_t : (5, Q, M), the same transposed
        (each sum below runs over the contiguous axis of one of them, in SIMD lanes, and in
        the same order as the other layout would: one layout alone cost 0.29 ms a call at
        1600 cells)
    weights, labels : (Q,)
    inv_n : 1/N (0: mean field)
    work : (2, Q) scratch
    moments : (5, M) written — perp, second, mean_par, value2, value (the first ``rows``: 3
        without a second layer, which needs no a-variance; each row reads a 0.6 MB table at
        1600 cells, and memory bandwidth is what a call costs)
    """
    m_cells, q_nodes = tables.shape[1], tables.shape[2]
    for q in range(q_nodes):
        work[0, q] = 0.0
        work[1, q] = 0.0
    for i in range(m_cells):
        mi, mi2 = m_a[i], m_a2[i]
        if mi != 0.0 or mi2 != 0.0:
            for q in range(q_nodes):
                work[0, q] += mi * tables[0, i, q]
                work[1, q] += mi2 * tables[1, i, q]
    for q in range(q_nodes):
        h = work[0, q]
        e = labels[q] - h
        e2 = e * e + (work[1, q] - h * h) * inv_n
        work[0, q] = weights[q] * e
        work[1, q] = weights[q] * e2
    for k in range(rows):
        for i in range(m_cells):
            moments[k, i] = 0.0
    for q in range(q_nodes):
        # rows perp, second, mean_par, value2, value from tables A⊥, A∥, P1, G2, G1: one
        # loop per row (one loop over all five went unvectorised)
        for k in range(rows):
            # rows 2 and 4 sum the residual e, the others its square (a tuple lookup here
            # kept the loop below from vectorising: 0.28 ms a call against 0.14)
            weight = work[0, q] if (k > 0 and k % 2 == 0) else work[1, q]
            row, table = moments[k], tables_t[4 - k, q]
            for i in range(m_cells):
                row[i] += table[i] * weight


@jit
def grid_moments(n0, n1, masses, a_values, tables, tables_t, weights, labels, inv_n, work,
                 moments, radial):  # fmt: skip
    """:func:`step_noise_moments` of a grid's cell ``masses`` (n0 · n1,): θ = w (``a_values``
    empty) the radial masses themselves; θ = (a, w) the a- and a²-weighted masses summed over
    the a axis (axis 0), and the two a-moments besides. ``radial`` : (2, n_r) scratch."""
    second_layer = a_values.size > 0
    n_r = n1 if second_layer else n0
    for j in range(n_r):
        if second_layer:
            ma = 0.0
            ma2 = 0.0
            for i in range(n0):
                m = masses[i * n1 + j]
                ma += m * a_values[i]
                ma2 += m * a_values[i] * a_values[i]
            radial[0, j] = ma
            radial[1, j] = ma2
        else:
            radial[0, j] = masses[j]
            radial[1, j] = masses[j]
    step_noise_moments(radial[0], radial[1], tables, tables_t, weights, labels, inv_n, work,
                       moments, 5 if second_layer else 3)  # fmt: skip


@jit
def step_noise_rhs(
    p, masses, a_values, tables, tables_t, weights, labels, inv_r, scale, inv_n, w0, w1, h0,
    h1, limited, work, moments, radial, line_drift, line_var, out, rate,
):  # fmt: skip
    """Add the finite-step correction to ``out`` (dp/dt) and ``rate`` (outflow rates).

    θ = w (``a_values`` empty): p is (n_r, 1, 1), the r-drift c and r-variance a of the module
    docstring along axis 0. θ = (a, w): p is (n_a, n_r, 1), a² c and a² a along r in every
    a-row, and the a-variance (4εξ²/B)(E[e²σ²] − E[eσ]²) along a in every r-column.

    Parameters
    ----------
    masses : (n_cells,) cell masses, C order;  a_values : (n_a,) or (0,)
    tables, tables_t, weights, labels : of the radii on the r axis (:func:`step_noise_moments`)
    inv_r : (n_r,)
    scale : εξ²/B;  inv_n : 1/N
    w0, w1, h0, h1 : widths and centre distances of axes 0 and 1
    work (2, Q), moments (5, n_r), radial (2, n_r), line_drift, line_var (≥ max(n_a, n_r),):
        scratch
    """
    second_layer = a_values.size > 0
    n0, n1 = p.shape[0], p.shape[1]
    grid_moments(n0, n1, masses, a_values, tables, tables_t, weights, labels, inv_n, work,
                 moments, radial)  # fmt: skip
    if not second_layer:
        radial_line(moments, inv_r, scale, 1.0, line_drift[:n0], line_var[:n0])
        step_noise_divergence(
            p[:, 0, 0], w0, h0, line_drift[:n0], line_var[:n0], limited, out[:, 0, 0],
            rate[:, 0, 0],
        )  # fmt: skip
        return
    for i in range(n0):
        radial_line(moments, inv_r, scale, a_values[i] * a_values[i], line_drift[:n1],
                    line_var[:n1])  # fmt: skip
        step_noise_divergence(
            p[i, :, 0], w1, h1, line_drift[:n1], line_var[:n1], limited, out[i, :, 0],
            rate[i, :, 0],
        )  # fmt: skip
    for j in range(n1):
        a_line(moments, j, scale, line_drift[:n0], line_var[:n0])
        step_noise_divergence(
            p[:, j, 0], w0, h0, line_drift[:n0], line_var[:n0], limited, out[:, j, 0],
            rate[:, j, 0],
        )  # fmt: skip


@jit
def radial_line(moments, inv_r, scale, factor, drift, var):
    """The r-drift c = factor·2(εξ²/B) E[e²σ'²L²(1 − u²)]/r and r-variance rate a =
    factor·4(εξ²/B)(E[e²σ'²L²u²] − E[eσ'Lu]²) (clipped at 0) at the radii, from ``moments``;
    factor = a² of the row with a second layer, else 1. ``drift``, ``var`` : (n_r,) written."""
    for j in range(drift.shape[0]):
        drift[j] = factor * 2.0 * scale * inv_r[j] * moments[0, j]
        v = moments[1, j] - moments[2, j] * moments[2, j]
        var[j] = factor * 4.0 * scale * v if v > 0.0 else 0.0


@jit
def a_line(moments, j, scale, drift, var):
    """Along a at radius j: no drift, the a-variance rate 4(εξ²/B)(E[e²σ²] − E[eσ]²) (clipped
    at 0) in every cell. ``drift``, ``var`` : (n_a,) written."""
    v = moments[3, j] - moments[4, j] * moments[4, j]
    var_a = 4.0 * scale * v if v > 0.0 else 0.0
    for i in range(drift.shape[0]):
        drift[i] = 0.0
        var[i] = var_a


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
            slope_next = limited_slope(
                p[i], p[j], p[j + 1], 1.0 / dist[f], 1.0 / dist[j], 1.0 / (dist[f] + dist[j]),
                1.0 / widths[j], limited,
            )  # fmt: skip
        flux, out_right, out_left = upwind_face(
            u, p[i], p[j], widths[i], widths[j], slope_prev, slope_next
        )
        slope_prev = slope_next
        diff_i = 0.5 * var[i] / dist[f]
        diff_j = 0.5 * var[j] / dist[f]
        flux += diff_i * p[i] - diff_j * p[j]
        out[i] -= flux / widths[i]
        out[j] += flux / widths[j]
        rate[i] += (out_right + diff_i) / widths[i]
        rate[j] += (out_left + diff_j) / widths[j]


@jit
def step_noise_implicit(
    p, masses, a_values, tables, tables_t, weights, labels, inv_r, scale, inv_n, w0, w1, h0,
    h1, work, moments, radial, line_drift, line_var, dt,
):  # fmt: skip
    r"""Advance p in place by one backward-Euler step of the correction alone,
    (I − dt L) p⁺ = p with L p = −∂_r(c p) + ½∂²_r(a p) (with a second layer, then ½∂²_a(a_a p)
    along a), the coefficients c, a frozen at p: the implicit half of
    ``solver.finite_step_scheme = "implicit"``, after the explicit stages took the DD's own
    transport.

    Through face f of a line (cells f, f + 1; widths w, centre distances h) the Itô flux
    u p − ½∂_r(a p) = v p − D ∂_r p, with u_f = ½(c_f + c_{f+1}), D_f = ½ā_f = ¼(a_f + a_{f+1})
    and v_f = u_f − ½(a_{f+1} − a_f)/h_f, is taken in Scharfetter–Gummel form,

        F_f = α_f p_f − β_f p_{f+1},  α_f = (D_f/h_f) B(−δ_f),  β_f = (D_f/h_f) B(δ_f),

    B(x) = x/(eˣ − 1), δ_f = v_f h_f / D_f: central (second order) where the cell Péclet
    number δ is small, upwind where it is large (and where D = 0); none through the ends. The
    masses obey w_i p⁺_i + dt (F_i(p⁺) − F_{i−1}(p⁺)) = w_i p_i: a tridiagonal system whose
    columns sum to w_j (mass is conserved to round-off) with off-diagonal entries ≤ 0 under a
    positive diagonal that dominates its column — an M-matrix, so p⁺ ≥ 0 for p ≥ 0 at any dt;
    the 1/r drift near r = 0 and the h²/a diffusion no longer bound the step. Solved by the
    Thomas algorithm (stable without pivoting for such matrices). (First-order upwind drift
    instead moved the paper example's risk by 4e-3 at ε = 1e-3: its numerical diffusion ½|u|h
    was a fifth of the correction's own.)

    ``masses`` : (n_cells,) the cell masses of p (read); the rest as in :func:`step_noise_rhs`.
    """
    second_layer = a_values.size > 0
    n0, n1 = p.shape[0], p.shape[1]
    grid_moments(n0, n1, masses, a_values, tables, tables_t, weights, labels, inv_n, work,
                 moments, radial)  # fmt: skip
    longest = max(n0, n1)
    upper, solved = np.empty(longest), np.empty(longest)
    alpha, beta = np.empty(longest), np.empty(longest)
    bits = np.empty(longest, dtype=np.int64)
    work_lines = (alpha, beta, bits, upper, solved)
    if not second_layer:
        radial_line(moments, inv_r, scale, 1.0, line_drift[:n0], line_var[:n0])
        implicit_line(p[:, 0, 0], w0, h0, line_drift[:n0], line_var[:n0], dt, *work_lines)
        return
    for i in range(n0):
        radial_line(moments, inv_r, scale, a_values[i] * a_values[i], line_drift[:n1],
                    line_var[:n1])  # fmt: skip
        implicit_line(p[i, :, 0], w1, h1, line_drift[:n1], line_var[:n1], dt, *work_lines)
    for j in range(n1):
        a_line(moments, j, scale, line_drift[:n0], line_var[:n0])
        implicit_line(p[:, j, 0], w0, h0, line_drift[:n0], line_var[:n0], dt, *work_lines)


@jit
def implicit_line(p, widths, dist, drift, var, dt, alpha, beta, bits, upper, solved):
    """p ← (W + dt A)⁻¹ W p on one line of M cells, for the Scharfetter–Gummel fluxes
    F_f = α_f p_f − β_f p_{f+1} of :func:`step_noise_implicit` (``drift`` = c, ``var`` = a at
    the centres); ``alpha``, ``beta``, ``bits`` (int64), ``upper``, ``solved`` (≥ M,) scratch.

    Row i: (w_i + dt(α_i + β_{i−1})) p_i − dt α_{i−1} p_{i−1} − dt β_i p_{i+1} = w_i p_i.
    Every step of the elimination adds non-negative numbers, so p ≥ 0 survives round-off.
    """
    n = p.shape[0]
    for f in range(n - 1):  # the faces' Péclet numbers δ = v h / D (0 where D = 0)
        diff = 0.25 * (var[f] + var[f + 1])
        v = 0.5 * (drift[f] + drift[f + 1]) - 0.5 * (var[f + 1] - var[f]) / dist[f]
        beta[f] = v * dist[f] / diff if diff > 0.0 else 0.0
    bernoulli_pairs(n - 1, alpha, beta, bits)  # alpha = B(δ), beta = B(−δ)
    for f in range(n - 1):
        diff = 0.25 * (var[f] + var[f + 1])
        v = 0.5 * (drift[f] + drift[f + 1]) - 0.5 * (var[f + 1] - var[f]) / dist[f]
        if diff > 0.0:
            b_plus = alpha[f]
            alpha[f] = diff / dist[f] * beta[f]  # (D/h) B(−δ)
            beta[f] = diff / dist[f] * b_plus  # (D/h) B(δ)
        else:  # no diffusion: upwind
            alpha[f] = max(v, 0.0)
            beta[f] = max(-v, 0.0)
    prev_upper = 0.0  # −(upper entry)/(pivot) of the row before, ≥ 0
    prev_solved = 0.0
    for i in range(n):
        out = alpha[i] if i < n - 1 else 0.0
        inflow_back = beta[i - 1] if i > 0 else 0.0
        lower = alpha[i - 1] if i > 0 else 0.0
        pivot = widths[i] + dt * (out + inflow_back) - dt * lower * prev_upper
        prev_upper = dt * beta[i] / pivot if i < n - 1 else 0.0
        prev_solved = (widths[i] * p[i] + dt * lower * prev_solved) / pivot
        upper[i] = prev_upper
        solved[i] = prev_solved
    value = solved[n - 1]
    p[n - 1] = value
    for i in range(n - 2, -1, -1):
        value = solved[i] + upper[i] * value
        p[i] = value
