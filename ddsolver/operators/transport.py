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

import numpy as np

from .._jit import jit


@jit
def bernoulli(x):
    """B(x) = x / (eˣ − 1), with B(0) = 1, accurate for all x."""
    if abs(x) < 1e-8:
        return 1.0 - 0.5 * x
    return x / math.expm1(x)


@jit
def minmod(a, b):
    """The smaller-magnitude of a and b if they share a sign, else 0."""
    if a * b <= 0.0:
        return 0.0
    return a if abs(a) < abs(b) else b


NO_LIMITER, MINMOD, MONOTONIZED_CENTRAL = 0, 1, 2
LIMITERS = {"none": NO_LIMITER, "minmod": MINMOD, "mc": MONOTONIZED_CENTRAL}


@jit
def limited_slope(pl, pc, pr, hl, hr, width, limiter):
    """Limited slope of cell c from its neighbours l, r (distances hl, hr), positivity-clamped."""
    if limiter == NO_LIMITER:
        return 0.0
    dl = (pc - pl) / hl
    dr = (pr - pc) / hr
    if limiter == MINMOD:
        s = minmod(dl, dr)
    else:
        s = minmod(minmod(2.0 * dl, 2.0 * dr), (pr - pl) / (hl + hr))
    bound = 2.0 * pc / width
    if s > bound:
        return bound
    if s < -bound:
        return -bound
    return s


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


@jit
def _line(p, phi, widths, dist, xi2, diffusivity, limited, out, rate):
    """Flux divergence along one grid line (1-D strided views); accumulates into out, rate."""
    n = p.shape[0]
    if n < 2:
        return
    slope_prev = 0.0  # σ of cell i during the face loop (σ = 0 in boundary cells)
    for f in range(n - 1):
        i = f
        j = f + 1
        if diffusivity > 0.0:
            delta = (phi[j] - phi[i]) / diffusivity
            coef = xi2 * diffusivity / dist[f]
            out_right = coef * bernoulli(delta)  # rate leaving i through this face
            out_left = coef * bernoulli(-delta)  # rate leaving j through this face
            flux = out_right * p[i] - out_left * p[j]
        else:
            u = -xi2 * (phi[j] - phi[i]) / dist[f]
            slope_next = 0.0
            if j < n - 1:
                slope_next = limited_slope(
                    p[i], p[j], p[j + 1], dist[f], dist[j], widths[j], limited
                )
            flux, out_right, out_left = upwind_face(
                u, p[i], p[j], widths[i], widths[j], slope_prev, slope_next
            )
            slope_prev = slope_next
        out[i] -= flux / widths[i]
        out[j] += flux / widths[j]
        rate[i] += out_right / widths[i]
        rate[j] += out_left / widths[j]


@jit
def flux_divergence(p, phi, w0, w1, w2, h0, h1, h2, xi2, diffusivity, limited, out, rate):
    """dp/dt of the drift–diffusion flux on a 3-D padded grid.

    Parameters
    ----------
    p, phi : (n0, n1, n2) float64 — density and drift potential at centres
    w0, w1, w2 : cell widths per axis, (n0,), (n1,), (n2,)
    h0, h1, h2 : centre distances per axis, (n0 − 1,), …
    xi2 : float, 2ξ(t)
    diffusivity : float, ν = τ/D (0 selects the MUSCL upwind flux)
    limited : int, the limiter code (:data:`LIMITERS`) for ν = 0
    out : (n0, n1, n2) float64, overwritten with dp/dt
    rate : (n0, n1, n2) float64, overwritten with each cell's outflow rate (CFL)
    """
    n0, n1, n2 = p.shape
    out[:] = 0.0
    rate[:] = 0.0
    if n0 > 1:
        for b in range(n1):
            for c in range(n2):
                _line(
                    p[:, b, c],
                    phi[:, b, c],
                    w0,
                    h0,
                    xi2,
                    diffusivity,
                    limited,
                    out[:, b, c],
                    rate[:, b, c],
                )
    if n1 > 1:
        for a in range(n0):
            for c in range(n2):
                _line(
                    p[a, :, c],
                    phi[a, :, c],
                    w1,
                    h1,
                    xi2,
                    diffusivity,
                    limited,
                    out[a, :, c],
                    rate[a, :, c],
                )
    if n2 > 1:
        for a in range(n0):
            for b in range(n1):
                _line(
                    p[a, b, :],
                    phi[a, b, :],
                    w2,
                    h2,
                    xi2,
                    diffusivity,
                    limited,
                    out[a, b, :],
                    rate[a, b, :],
                )


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
                if limited == MONOTONIZED_CENTRAL:
                    s = mm(mm(2 * dl, 2 * dr), (pm[..., 2:] - pm[..., :-2]) / (h[:-1] + h[1:]))
                bound = 2 * pm[..., 1:-1] / w[1:-1]
                slope[..., 1:-1] = np.clip(s, -bound, bound)
            east = left + 0.5 * w[:-1] * slope[..., :-1]
            west = right - 0.5 * w[1:] * slope[..., 1:]
            flux = np.where(u > 0, u * east, u * west)
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
