r"""The blob (regularised-entropy) velocity for noisy particle dynamics.

For particles z_i with masses m_i and a Gaussian kernel K_h of fixed width h (per
coordinate), the regularised entropy E_h = Σ_i m_i log(K_h * ρ)(z_i), (K_h * ρ)(z) =
Σ_j m_j K_h(z − z_j), has the gradient flow velocity (Carrillo, Craig & Patacchini 2019)

    −∇_{z_i} (δE_h/δρ) = −Σ_j m_j ∇K_h(z_i − z_j) [ 1/(K_h*ρ)(z_i) + 1/(K_h*ρ)(z_j) ],

so particles moved by ν times this velocity (plus the other drifts) dissipate
½R + … + ν E_h exactly in continuous time. Compiled, O(M²) per evaluation, parallel.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from .._jit import jit, jit_parallel


@jit
def kernel_sum(z, masses, widths, i):
    """Σ_j m_j exp(−½ Σ_k ((z_ik − z_jk)/h_k)²): the unnormalised (K_h * ρ)(z_i)."""
    acc = 0.0
    for j in range(z.shape[0]):
        q = 0.0
        for k in range(z.shape[1]):
            d = (z[i, k] - z[j, k]) / widths[k]
            q += d * d
        acc += masses[j] * math.exp(-0.5 * q)
    return acc


@jit_parallel
def blob_velocity(z, masses, widths, out):
    """out[i] = −Σ_j m_j ∇K(z_i − z_j)(1/ρ_h(z_i) + 1/ρ_h(z_j)); returns nothing.

    Parameters
    ----------
    z : (M, n) positions;  masses : (M,);  widths : (n,) kernel widths h_k
    out : (M, n), written in place
    """
    m, n = z.shape
    norm = 1.0
    for k in range(n):
        norm *= 1.0 / (math.sqrt(2.0 * math.pi) * widths[k])
    dens = np.empty(m)
    for i in prange(m):
        dens[i] = norm * kernel_sum(z, masses, widths, i)
    for i in prange(m):
        for k in range(n):
            out[i, k] = 0.0
        for j in range(m):
            q = 0.0
            for k in range(n):
                d = (z[i, k] - z[j, k]) / widths[k]
                q += d * d
            kern = norm * math.exp(-0.5 * q)
            coef = masses[j] * kern * (1.0 / dens[i] + 1.0 / dens[j])
            for k in range(n):
                # −∇K(z_i − z_j) = K · (z_i − z_j)/h²
                out[i, k] += coef * (z[i, k] - z[j, k]) / (widths[k] * widths[k])


@jit_parallel
def blob_log_density(z, masses, widths, out):
    """out[i] = log (K_h * ρ)(z_i) = log Σ_j m_j K_h(z_i − z_j); returns nothing.

    Compiled twin of :func:`regularised_log_density` in O(M) memory (the NumPy one holds an
    (M, M, n) array). z (M, n), masses (M,), widths (n,), out (M,).
    """
    m, n = z.shape
    log_norm = 0.0
    for k in range(n):
        log_norm -= math.log(math.sqrt(2.0 * math.pi) * widths[k])
    for i in prange(m):
        out[i] = log_norm + math.log(kernel_sum(z, masses, widths, i))


def regularised_log_density(z: np.ndarray, masses: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """log (K_h * ρ)(z_i) at the particles, shape (M,) (NumPy; observables only)."""
    diff = (z[:, None, :] - z[None, :, :]) / widths
    kern = np.exp(-0.5 * (diff**2).sum(-1)) / np.prod(np.sqrt(2 * np.pi) * widths)
    return np.log(kern @ masses)


def blob_velocity_ref(z, masses, widths):
    """NumPy twin of :func:`blob_velocity`."""
    diff = (z[:, None, :] - z[None, :, :]) / widths
    kern = np.exp(-0.5 * (diff**2).sum(-1)) / np.prod(np.sqrt(2 * np.pi) * widths)
    dens = kern @ masses
    coef = masses[None, :] * kern * (1 / dens[:, None] + 1 / dens[None, :])
    return np.einsum("ij,ijk->ik", coef, diff / widths)
