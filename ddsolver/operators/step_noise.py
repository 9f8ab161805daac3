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
"""

from __future__ import annotations

from .._jit import jit
from .transport import limited_slope, upwind_face


@jit
def step_noise_moments(m_a, m_a2, tables, weights, labels, inv_n, work, moments):
    """The expectations of :meth:`~ddsolver.models.step_noise.StepNoiseTables.moments` at the
    M radii of the tables, for a-weighted radial masses ``m_a`` and a²-weighted ``m_a2`` (M,)
    (both the masses themselves for θ = w).

    Parameters
    ----------
    tables : (5, M, Q) — G1, G2, P1, A∥, A⊥
    weights, labels : (Q,)
    inv_n : 1/N (0: mean field)
    work : (2, Q) scratch
    moments : (5, M) written — perp, second, mean_par, value2, value
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
    for i in range(m_cells):
        perp = 0.0
        second = 0.0
        mean_par = 0.0
        value2 = 0.0
        value = 0.0
        for q in range(q_nodes):
            we, we2 = work[0, q], work[1, q]
            perp += tables[4, i, q] * we2
            second += tables[3, i, q] * we2
            mean_par += tables[2, i, q] * we
            value2 += tables[1, i, q] * we2
            value += tables[0, i, q] * we
        moments[0, i] = perp
        moments[1, i] = second
        moments[2, i] = mean_par
        moments[3, i] = value2
        moments[4, i] = value


@jit
def step_noise_rhs(
    p, masses, a_values, tables, weights, labels, inv_r, scale, inv_n, w0, w1, h0, h1,
    limited, work, moments, radial, line_drift, line_var, out, rate,
):  # fmt: skip
    """Add the finite-step correction to ``out`` (dp/dt) and ``rate`` (outflow rates).

    θ = w (``a_values`` empty): p is (n_r, 1, 1), the r-drift c and r-variance a of the module
    docstring along axis 0. θ = (a, w): p is (n_a, n_r, 1), a² c and a² a along r in every
    a-row, and the a-variance (4εξ²/B)(E[e²σ²] − E[eσ]²) along a in every r-column.

    Parameters
    ----------
    masses : (n_cells,) cell masses, C order;  a_values : (n_a,) or (0,)
    tables, weights, labels : of the radii on the r axis;  inv_r : (n_r,)
    scale : εξ²/B;  inv_n : 1/N
    w0, w1, h0, h1 : widths and centre distances of axes 0 and 1
    work (2, Q), moments (5, n_r), radial (2, n_r), line_drift, line_var (≥ max(n_a, n_r),):
        scratch
    """
    second_layer = a_values.size > 0
    n0, n1 = p.shape[0], p.shape[1]
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
    step_noise_moments(radial[0], radial[1], tables, weights, labels, inv_n, work, moments)
    if not second_layer:
        for j in range(n_r):
            line_drift[j] = 2.0 * scale * inv_r[j] * moments[0, j]
            v = moments[1, j] - moments[2, j] * moments[2, j]
            line_var[j] = 4.0 * scale * v if v > 0.0 else 0.0
        step_noise_divergence(
            p[:, 0, 0], w0, h0, line_drift[:n0], line_var[:n0], limited, out[:, 0, 0],
            rate[:, 0, 0],
        )  # fmt: skip
        return
    for i in range(n0):
        a2 = a_values[i] * a_values[i]
        for j in range(n1):
            line_drift[j] = a2 * 2.0 * scale * inv_r[j] * moments[0, j]
            v = moments[1, j] - moments[2, j] * moments[2, j]
            line_var[j] = a2 * 4.0 * scale * v if v > 0.0 else 0.0
        step_noise_divergence(
            p[i, :, 0], w1, h1, line_drift[:n1], line_var[:n1], limited, out[i, :, 0],
            rate[i, :, 0],
        )  # fmt: skip
    for j in range(n1):
        v = moments[3, j] - moments[4, j] * moments[4, j]
        var_a = 4.0 * scale * v if v > 0.0 else 0.0
        for i in range(n0):
            line_drift[i] = 0.0
            line_var[i] = var_a
        step_noise_divergence(
            p[:, j, 0], w0, h0, line_drift[:n0], line_var[:n0], limited, out[:, j, 0],
            rate[:, j, 0],
        )  # fmt: skip


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
