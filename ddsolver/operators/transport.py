r"""Finite-volume fluxes for ∂_t p = ∇·(2ξ p ∇Φ) + ∇·(2ξ ν ∇p) on a tensor grid.

p is the density at cell centres (Lebesgue measure in the reduced coordinates), Φ the
drift potential at cell centres, ν = τ/D ≥ 0. Along each axis, with h the distance
between neighbouring centres and w the cell widths, the flux F through the face
between cells i and i + 1 (positive towards i + 1) is

* ν = 0, second-order upwind (MUSCL, Carrillo–Chertock–Huang):
      u = −2ξ (Φ_{i+1} − Φ_i)/h,   F = u⁺ p_i^E + u⁻ p_{i+1}^W,
      p_i^{E/W} = p_i ± ½ w_i σ_i,  σ_i the limited slope (``limiter``: 0 none (first
      order), 1 minmod, 2 monotonized central: minmod(2σ_L, 2σ_R, σ_C)), clamped to
      |σ_i| ≤ 2 p_i / w_i so that 0 ≤ p^{E/W} ≤ 2 p_i — the condition for positivity;
  or (``limiter`` 3, uniform cells along the axis) p_i^{E/W} by fifth-order WENO-Z
  (Borges et al. 2008; the Jiang–Shu candidate stencils and smoothness indicators, weights
  α_k = d_k (1 + (|β_0 − β_2| / (β_k + ε))²)), clamped to the same [0, 2 p_i]; the two cells
  next to each end of a line, whose stencil would leave the box, take the MC slope;
* ν > 0, exponentially fitted (Scharfetter–Gummel):
      F = (2ξν/h) [B(δ) p_i − B(−δ) p_{i+1}],   δ = (Φ_{i+1} − Φ_i)/ν,  B(x) = x/(eˣ − 1),
  which vanishes exactly on the discrete Gibbs state p ∝ exp(−Φ/ν).

Zero flux on the boundary of the box. dp_i/dt = −(F_{i+1/2} − F_{i−1/2})/w_i summed over
axes, so Σ p_i vol_i is conserved to round-off. Forward Euler keeps p ≥ 0 for
dt ≤ 1 / max_i (outflow rate of cell i), the rate returned by the kernels; the SSP
Runge–Kutta steppers inherit that bound.

Arrays are padded to three axes (:attr:`~ddsolver.grid.TensorGrid.shape3`).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .._jit import jit, jit_inline


@jit
def minmod(a, b):
    """The smaller-magnitude of a and b if they share a sign, else 0."""
    if a * b <= 0.0:
        return 0.0
    return a if abs(a) < abs(b) else b


NO_LIMITER, MINMOD, MONOTONIZED_CENTRAL, WENO5 = 0, 1, 2, 3
#: the reconstructions of the τ = 0 upwind flux; ``weno5`` needs uniform cells along each axis
LIMITERS = {"none": NO_LIMITER, "minmod": MINMOD, "mc": MONOTONIZED_CENTRAL, "weno5": WENO5}
WENO_EPSILON = 1e-40  # ε of the WENO-Z weights (Borges et al.): only keeps 0/0 away


@jit
def limited_slope(pl, pc, pr, inv_hl, inv_hr, inv_hlr, inv_width, limiter):
    """Limited slope of cell c from its neighbours l, r, positivity-clamped.

    Takes reciprocals (1/h_l, 1/h_r, 1/(h_l + h_r) of the centre distances, 1/width of the
    cell), which the callers compute once per axis rather than once per cell.
    """
    if limiter == NO_LIMITER:
        return 0.0
    dl = (pc - pl) * inv_hl
    dr = (pr - pc) * inv_hr
    if limiter == MINMOD:
        s = minmod(dl, dr)
    else:  # monotonized central (also WENO5's cells next to the ends of a line)
        s = minmod(minmod(2.0 * dl, 2.0 * dr), (pr - pl) * inv_hlr)
    bound = 2.0 * pc * inv_width
    if s > bound:
        return bound
    if s < -bound:
        return -bound
    return s


@jit_inline
def _weno5_face(s0, s1, s2, vm2, vm1, v0, vp1, vp2):
    """The WENO-Z value at the face between v0 and vp1, from the stencils {vm2, vm1, v0},
    {vm1, v0, vp1}, {v0, vp1, vp2} with linear weights (1/10, 6/10, 3/10) × s0, s1, s2."""
    e0, e1, e2 = 0.1 * s0, 0.6 * s1, 0.3 * s2
    return (
        e0 * (2.0 * vm2 - 7.0 * vm1 + 11.0 * v0)
        + e1 * (-vm1 + 5.0 * v0 + 2.0 * vp1)
        + e2 * (2.0 * v0 + 5.0 * vp1 - vp2)
    ) / (6.0 * (e0 + e1 + e2))


@jit_inline
def weno5_faces(vm2, vm1, v0, vp1, vp2):
    r"""Fifth-order WENO-Z values of a cell at its east and west faces, uniform cells.

    From the cell averages v_{i−2} … v_{i+2} of equal-width cells: the three quadratic
    candidates of the east face, (2v_{i−2} − 7v_{i−1} + 11v_i)/6, (−v_{i−1} + 5v_i + 2v_{i+1})/6,
    (2v_i + 5v_{i+1} − v_{i+2})/6 with linear weights d = (1/10, 6/10, 3/10), the Jiang–Shu
    indicators β_k, and α_k = d_k (1 + (τ₅/(β_k + ε))²), τ₅ = |β_0 − β_2|; the west face is the
    mirror image. Each value is clamped to [0, 2 v_i], so the flux keeps the MUSCL positivity
    bound.

    Returns
    -------
    east, west : float
    """
    a = vm2 - 2.0 * vm1 + v0
    b = vm2 - 4.0 * vm1 + 3.0 * v0
    beta0 = (13.0 / 12.0) * a * a + 0.25 * b * b
    a = vm1 - 2.0 * v0 + vp1
    b = vm1 - vp1
    beta1 = (13.0 / 12.0) * a * a + 0.25 * b * b
    a = v0 - 2.0 * vp1 + vp2
    b = 3.0 * v0 - 4.0 * vp1 + vp2
    beta2 = (13.0 / 12.0) * a * a + 0.25 * b * b
    tau5 = abs(beta0 - beta2)
    g0 = tau5 / (beta0 + WENO_EPSILON)
    g1 = tau5 / (beta1 + WENO_EPSILON)
    g2 = tau5 / (beta2 + WENO_EPSILON)
    s0, s1, s2 = 1.0 + g0 * g0, 1.0 + g1 * g1, 1.0 + g2 * g2
    east = _weno5_face(s0, s1, s2, vm2, vm1, v0, vp1, vp2)
    west = _weno5_face(s2, s1, s0, vp2, vp1, v0, vm1, vm2)  # the mirror image
    top = 2.0 * v0
    return min(max(east, 0.0), top), min(max(west, 0.0), top)


@jit
def upwind_face(u, p_left, p_right, width_left, width_right, slope_left, slope_right):
    """MUSCL upwind flux through a face at velocity u (positive towards the right cell), and
    the outflow rates it takes from the left and the right cell (the reconstructed value is
    at most twice the cell's density, hence the factor 2 of the positivity bound).

    Returns
    -------
    flux, rate_left, rate_right : float
    """
    if u > 0.0:
        return u * (p_left + 0.5 * width_left * slope_left), 2.0 * u, 0.0
    return u * (p_right - 0.5 * width_right * slope_right), 0.0, -2.0 * u


# exp(−y) by Cody–Waite reduction: y = −(k ln 2 + r), |r| ≤ ½ ln 2, e^r by its Taylor polynomial
# to degree 13 (remainder ≤ 0.35¹⁴/14! ≈ 4e-18 relative), 2^k from the exponent bits. Written
# out so that the compiler vectorises it; libm's exp is a scalar call (~5 ns).
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 in two parts (fdlibm's): k·_LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_EXP_ARGUMENT_MAX = 708.0  # exp(−708) ≈ 3.3e-308 is still normal: 2^k is built from its bits
_EXP_TAYLOR = tuple(1.0 / math.factorial(j) for j in range(14))

# B(x) = x/(eˣ − 1) = S(x²) − x/2 for |x| < ½, S the even part of the Bernoulli-number series
# Σ B_2k x^2k/(2k)!; the first omitted term (x^18) is below 4e-20 there
_BERNOULLI_NUMBERS = ((1, 6), (-1, 30), (1, 42), (-1, 30), (5, 66), (-691, 2730), (7, 6),
                      (-3617, 510))  # fmt: skip
_BERNOULLI_EVEN = (
    1.0,
    *(
        float(Fraction(num, den) / math.factorial(2 * k))
        for k, (num, den) in enumerate(_BERNOULLI_NUMBERS, start=1)
    ),
)
_SERIES_BELOW = 0.5


@jit
def bernoulli_pairs(count, b_pos, b_neg, bits):
    r"""B(δ) and B(−δ) of the first ``count`` face arguments δ, B(x) = x/(eˣ − 1).

    ``b_neg[:count]`` holds δ on entry; on return ``b_pos[k]`` = B(δ_k), ``b_neg[k]`` = B(−δ_k)
    (B(−x) = B(x) + x). With y = |δ|: for y < ½ the series S(y²) ∓ y/2; else e = exp(−y) and
    B(y) = y e/(1 − e), B(−y) = y/(1 − e), without cancellation since 1 − e ≥ 0.39. Both
    within a few ulp of the exact value; for y > 708, B(y) < 1e-304 is returned as 0.
    ``bits`` (int64, ≥ count) is scratch. Branch-free, so both passes vectorise.
    """
    for k in range(count):  # pass 1: the reduced argument's polynomial and 2^k's bits
        y = min(abs(b_neg[k]), _EXP_ARGUMENT_MAX)
        z = -y * _LOG2E
        n = np.int64(z - 0.5)  # truncation towards 0 of a value ≤ −½: |z − n| ≤ ½
        nf = np.float64(n)
        r = (-y - nf * _LN2_HI) - nf * _LN2_LO
        poly = _EXP_TAYLOR[13]
        for j in range(12, -1, -1):
            poly = poly * r + _EXP_TAYLOR[j]
        b_pos[k] = poly
        bits[k] = (n + 1023) << 52
    scale = bits.view(np.float64)
    for k in range(count):  # pass 2: e = poly·2^k, then B(±y), assigned by the sign of δ
        delta = b_neg[k]
        y = abs(delta)
        e = b_pos[k] * scale[k]
        if y > _EXP_ARGUMENT_MAX:
            e = 0.0
        q = y / (1.0 - e)
        y2 = y * y
        even = _BERNOULLI_EVEN[8]
        for j in range(7, -1, -1):
            even = even * y2 + _BERNOULLI_EVEN[j]
        small = y < _SERIES_BELOW
        b_plus = even - 0.5 * y if small else q * e  # B(y)
        b_minus = even + 0.5 * y if small else q  # B(−y)
        b_pos[k] = b_plus if delta >= 0.0 else b_minus
        b_neg[k] = b_minus if delta >= 0.0 else b_plus


@jit_inline
def _face(left, right, g, inv_h, inv_wl, inv_wr, p, phi, b_pos, b_neg, xi2, nu, diffusive, out,
          rate):  # fmt: skip
    """Add one face's flux to the divergence ``out`` of its two cells and its outflow rates to
    their ``rate``: Scharfetter–Gummel from B(±δ) of face ``g`` in ``b_pos``, ``b_neg``, else
    upwind from the face values of the cells (east of ``left`` in ``b_pos``, west of ``right``
    in ``b_neg``), which are ≤ 2p, hence the outflow rate 2|u|. Inlined by numba, so that
    with ``nu`` None (no diffusion) the Scharfetter–Gummel branch is pruned where it is
    called: as a called function it would have to type ν·x for ν None."""
    if diffusive:
        coef = xi2 * nu * inv_h
        out_right = coef * b_pos[g]  # the rate leaving ``left`` through the face
        out_left = coef * b_neg[g]  # the rate leaving ``right``
        flux = out_right * p[left] - out_left * p[right]
    else:
        u = -xi2 * inv_h * (phi[right] - phi[left])
        forward = u > 0.0
        flux = u * (b_pos[left] if forward else b_neg[right])
        out_right = 2.0 * u if forward else 0.0
        out_left = 0.0 if forward else -2.0 * u
    out[left] -= flux * inv_wl
    out[right] += flux * inv_wr
    rate[left] += out_right * inv_wl
    rate[right] += out_left * inv_wr


@jit
def _axis_divergence(p, phi, before, n, after, w, h, xi2, nu, limited, out, rate, work):
    """Add the flux divergence and outflow rates of one axis to ``out`` and ``rate``.

    All arrays are flat (C order). The axis has length ``n``; the cells form ``before`` blocks
    of n·after, cell (b, i, s) at (b·n + i)·after + s, its neighbour along the axis ``after``
    further on, so each face loop runs over a contiguous range and vectorises when after > 1.
    ``work`` is (3, ≥ cells) scratch.
    """
    per_block = (n - 1) * after
    inv_w = np.empty(n)  # reciprocals once per axis: no division in the loops over cells
    inv_h = np.empty(n - 1)
    for i in range(n):
        inv_w[i] = 1.0 / w[i]
    for f in range(n - 1):
        inv_h[f] = 1.0 / h[f]
    b_pos, b_neg = work[0], work[1]
    # ``nu`` None (τ = 0 or d = ∞, from the grid stepper): numba drops the Scharfetter–Gummel
    # branches at compile time, so a run without diffusion does not compile them (~1 s)
    diffusive = nu is not None and nu > 0.0
    if diffusive:  # Scharfetter–Gummel: δ per face, then B(±δ) for all faces at once
        inv_nu = 1.0 / nu
        for blk in range(before):
            base = blk * n * after
            for k in range(per_block):
                b_neg[blk * per_block + k] = (phi[base + k + after] - phi[base + k]) * inv_nu
        bernoulli_pairs(before * per_block, b_pos, b_neg, work[2].view(np.int64))
    else:  # upwind: every cell's east and west face values in b_pos and b_neg
        # the main reconstruction covers cells [edge, n − edge) of each line; the ``edge``
        # cells at each end take the MC slope (WENO5) or none (the boundary cell, MUSCL)
        weno = limited == WENO5 and n >= 5
        edge = 2 if weno else 1
        inv_span = np.empty(max(n - 2, 0))  # 1/(h_{i−1} + h_i) of the interior cells
        for i in range(n - 2):
            inv_span[i] = 1.0 / (h[i] + h[i + 1])
        for blk in range(before):
            base = blk * n * after
            for k in range(2 * edge):  # the end cells of the line
                i = k if k < edge else n - 2 * edge + k
                interior = 0 < i < n - 1
                for s in range(after):
                    c = base + i * after + s
                    slope = 0.0
                    if interior:
                        slope = limited_slope(
                            p[c - after], p[c], p[c + after], inv_h[i - 1], inv_h[i],
                            inv_span[i - 1], inv_w[i], limited,
                        )  # fmt: skip
                    b_pos[c] = p[c] + 0.5 * w[i] * slope
                    b_neg[c] = p[c] - 0.5 * w[i] * slope
            if weno:  # uniform cells: no per-cell constants, so each row is one strided loop
                rows = 1 if after == 1 else n - 4
                row = n - 4 if after == 1 else after
                two = 2 * after
                for j in range(rows):
                    start = base + two + j * row
                    for c in range(start, start + row):
                        b_pos[c], b_neg[c] = weno5_faces(
                            p[c - two], p[c - after], p[c], p[c + after], p[c + two]
                        )
            elif after == 1:  # one loop over the line, so that it vectorises too
                for i in range(1, n - 1):
                    c = base + i
                    slope = limited_slope(
                        p[c - 1], p[c], p[c + 1], inv_h[i - 1], inv_h[i], inv_span[i - 1],
                        inv_w[i], limited,
                    )  # fmt: skip
                    b_pos[c] = p[c] + 0.5 * w[i] * slope
                    b_neg[c] = p[c] - 0.5 * w[i] * slope
            else:
                for i in range(1, n - 1):
                    lo = base + i * after
                    half = 0.5 * w[i]
                    for s in range(after):
                        c = lo + s
                        slope = limited_slope(
                            p[c - after], p[c], p[c + after], inv_h[i - 1], inv_h[i],
                            inv_span[i - 1], inv_w[i], limited,
                        )  # fmt: skip
                        b_pos[c] = p[c] + half * slope
                        b_neg[c] = p[c] - half * slope
    for blk in range(before):
        base = blk * n * after
        g_base = blk * per_block
        if after == 1:  # a line: one flat loop over its faces (nested, ~5 ns a face more)
            for f in range(n - 1):
                _face(base + f, base + f + 1, g_base + f, inv_h[f], inv_w[f], inv_w[f + 1],
                      p, phi, b_pos, b_neg, xi2, nu, diffusive, out, rate)  # fmt: skip
            continue
        for f in range(n - 1):
            lo = f * after
            h_inv, wl, wr = inv_h[f], inv_w[f], inv_w[f + 1]
            for s in range(after):
                left = base + lo + s
                _face(left, left + after, g_base + lo + s, h_inv, wl, wr, p, phi, b_pos, b_neg,
                      xi2, nu, diffusive, out, rate)  # fmt: skip


@jit
def periodic_faces(p, limiter, east, west):
    """The reconstructed densities at the east and west faces of every cell of a uniform
    periodic axis (an angle), rows independent.

    The reconstructions of the grid's upwind flux, with the indices wrapping around: the
    limited slopes (``limiter`` 0–2, :func:`limited_slope` in units of the cell width) or
    fifth-order WENO-Z (3, :func:`weno5_faces`, every cell, as a periodic line has no ends);
    each value lies in [0, 2 p_i] for p ≥ 0.

    Parameters
    ----------
    p : (S, N) float64, the densities of S species on N ≥ 5 cells (WENO5)
    limiter : int, a value of :data:`LIMITERS`
    east, west : (S, N) float64, out
    """
    species, n = p.shape
    for s in range(species):
        for i in range(n):
            pl, pc, pr = p[s, (i - 1) % n], p[s, i], p[s, (i + 1) % n]
            if limiter == WENO5:
                e, w = weno5_faces(p[s, (i - 2) % n], pl, pc, pr, p[s, (i + 2) % n])
            else:
                slope = limited_slope(pl, pc, pr, 1.0, 1.0, 0.5, 1.0, limiter)
                e, w = pc + 0.5 * slope, pc - 0.5 * slope
            east[s, i] = e
            west[s, i] = w


@jit
def flux_divergence(p, phi, w0, w1, w2, h0, h1, h2, xi2, diffusivity, limited, out, rate, work):
    """dp/dt of the drift–diffusion flux on a 3-D padded grid.

    Parameters
    ----------
    p, phi : (n0, n1, n2) float64, C-contiguous — density and drift potential at centres
    w0, w1, w2 : cell widths per axis, (n0,), (n1,), (n2,)
    h0, h1, h2 : centre distances per axis, (n0 − 1,), …
    xi2 : float, 2ξ(t)
    diffusivity : float or None, ν = τ/D (0 or None selects the MUSCL upwind flux; None also
        leaves the Scharfetter–Gummel flux uncompiled)
    limited : int, the limiter code (:data:`LIMITERS`) for ν = 0
    out : (n0, n1, n2) float64, overwritten with dp/dt
    rate : (n0, n1, n2) float64, overwritten with each cell's outflow rate (CFL)
    work : (3, n0·n1·n2) float64 scratch (:func:`flux_work`)
    """
    n0, n1, n2 = p.shape
    size = n0 * n1 * n2
    pf, phif = p.ravel(), phi.ravel()
    of, rf = out.reshape(size), rate.reshape(size)
    for k in range(size):
        of[k] = 0.0
        rf[k] = 0.0
    for axis in range(3):  # one call site: the axis kernel is compiled and optimised once
        if axis == 0:
            before, n, after, w, h = 1, n0, n1 * n2, w0, h0
        elif axis == 1:
            before, n, after, w, h = n0, n1, n2, w1, h1
        else:
            before, n, after, w, h = n0 * n1, n2, 1, w2, h2
        if n > 1:
            _axis_divergence(pf, phif, before, n, after, w, h, xi2, diffusivity, limited, of, rf,
                             work)  # fmt: skip


def flux_work(shape3: tuple[int, int, int]) -> np.ndarray:
    """The scratch array :func:`flux_divergence` takes for a padded grid of this shape."""
    return np.empty((3, int(np.prod(shape3))))


# ----------------------------------------------------------------------------- NumPy twin


def flux_divergence_ref(p, phi, widths, dists, xi2, diffusivity, limited: int):
    """NumPy twin of :func:`flux_divergence` on an n-D grid (no padding needed).

    Returns
    -------
    dpdt, rate : arrays of the shape of ``p``
    """
    out = np.zeros_like(p)
    rate = np.zeros_like(p)
    for axis, (w, h) in enumerate(zip(widths, dists, strict=True)):
        if p.shape[axis] < 2:
            continue
        pm = np.moveaxis(p, axis, -1)
        fm = np.moveaxis(phi, axis, -1)
        left, right = pm[..., :-1], pm[..., 1:]
        dphi = fm[..., 1:] - fm[..., :-1]
        if diffusivity > 0:
            delta = dphi / diffusivity
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                b_pos = np.where(np.abs(delta) < 1e-8, 1 - 0.5 * delta, delta / np.expm1(delta))
                b_neg = np.where(np.abs(delta) < 1e-8, 1 + 0.5 * delta, -delta / np.expm1(-delta))
            coef = xi2 * diffusivity / h
            flux = coef * (b_pos * left - b_neg * right)
            out_r, out_l = coef * b_pos, coef * b_neg
        else:
            u = -xi2 * dphi / h
            slope = np.zeros_like(pm)
            if limited and pm.shape[-1] > 2:
                dl = (pm[..., 1:-1] - pm[..., :-2]) / h[:-1]
                dr = (pm[..., 2:] - pm[..., 1:-1]) / h[1:]

                def mm(a, b):
                    return np.where(a * b > 0, np.where(np.abs(a) < np.abs(b), a, b), 0.0)

                s = mm(dl, dr)
                if limited in (MONOTONIZED_CENTRAL, WENO5):  # WENO5: its end cells
                    s = mm(mm(2 * dl, 2 * dr), (pm[..., 2:] - pm[..., :-2]) / (h[:-1] + h[1:]))
                bound = 2 * pm[..., 1:-1] / w[1:-1]
                slope[..., 1:-1] = np.clip(s, -bound, bound)
            east = pm + 0.5 * w * slope  # every cell's face values
            west = pm - 0.5 * w * slope
            if limited == WENO5 and pm.shape[-1] >= 5:
                east[..., 2:-2], west[..., 2:-2] = _weno5_faces_ref(pm)
            flux = np.where(u > 0, u * east[..., :-1], u * west[..., 1:])
            out_r, out_l = 2 * np.maximum(u, 0), 2 * np.maximum(-u, 0)
        div = np.zeros_like(pm)
        div[..., :-1] -= flux / w[:-1]
        div[..., 1:] += flux / w[1:]
        rt = np.zeros_like(pm)
        rt[..., :-1] += out_r / w[:-1]
        rt[..., 1:] += out_l / w[1:]
        out += np.moveaxis(div, -1, axis)
        rate += np.moveaxis(rt, -1, axis)
    return out, rate


def _weno5_faces_ref(v):
    """NumPy twin of :func:`weno5_faces` along the last axis: (east, west) of cells 2 … n − 3."""
    vm2, vm1, v0, vp1, vp2 = (v[..., k : v.shape[-1] - 4 + k] for k in range(5))
    beta = [
        13 / 12 * (vm2 - 2 * vm1 + v0) ** 2 + 0.25 * (vm2 - 4 * vm1 + 3 * v0) ** 2,
        13 / 12 * (vm1 - 2 * v0 + vp1) ** 2 + 0.25 * (vm1 - vp1) ** 2,
        13 / 12 * (v0 - 2 * vp1 + vp2) ** 2 + 0.25 * (3 * v0 - 4 * vp1 + vp2) ** 2,
    ]
    tau5 = np.abs(beta[0] - beta[2])
    alpha = [1 + (tau5 / (b + WENO_EPSILON)) ** 2 for b in beta]
    east_candidates = [(2 * vm2 - 7 * vm1 + 11 * v0) / 6, (-vm1 + 5 * v0 + 2 * vp1) / 6,
                       (2 * v0 + 5 * vp1 - vp2) / 6]  # fmt: skip
    west_candidates = [(2 * vp2 - 7 * vp1 + 11 * v0) / 6, (-vp1 + 5 * v0 + 2 * vm1) / 6,
                       (2 * v0 + 5 * vm1 - vm2) / 6]  # fmt: skip
    linear = (0.1, 0.6, 0.3)
    faces = []
    for candidates, order in ((east_candidates, (0, 1, 2)), (west_candidates, (2, 1, 0))):
        weights = [d * alpha[k] for d, k in zip(linear, order, strict=True)]
        value = sum(wt * q for wt, q in zip(weights, candidates, strict=True)) / sum(weights)
        faces.append(np.clip(value, 0.0, 2 * v0))
    return faces
