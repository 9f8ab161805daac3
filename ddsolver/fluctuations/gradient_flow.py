r"""N-neuron gradient flow on the exact risk of the isotropic kind, in the full dimension d.

The ε → 0 limit of one-pass SGD at a fixed width N: with rᵢ = |wᵢ|, ŵᵢ = wᵢ/rᵢ and
cᵢⱼ = ŵᵢ·ŵⱼ,

    dwᵢ/dt = −2ξ(t) [∇v(wᵢ) + (1/N) Σⱼ ∇₁U(wᵢ, wⱼ) + λwᵢ],
    ∇₁U(wᵢ, wⱼ) = K^a_ij ŵᵢ + K^c_ij (ŵⱼ − cᵢⱼ ŵᵢ)/rᵢ,
    K^a_ij = ½ Σ± (1 ± Δ) ∂_aK(s±ᵢ, s±ⱼ, cᵢⱼ),       K^c_ij = ½ Σ± ∂_cK(s±ᵢ, s±ⱼ, cᵢⱼ),

K(a, b, c) = E σ(aZ₁)σ(bZ₂) the pair moment and s± = (1 ± Δ)r. The diagonal j = i is
U(wᵢ, wᵢ)'s own gradient, ½∇U(w, w) = K^a_ii ŵᵢ. A pair with |c| ≤ :data:`MAX_COSINE` sums
the Mehler series (∂_aK = Σ_k c^k f̂'_k(a) f̂_k(b), ∂_cK = Σ_k k c^{k−1} f̂_k(a) f̂_k(b)) until
its rest is below :data:`TAIL`; other pairs and the diagonal take the closed form.

This is an independent check of :mod:`.probe` — no symmetry reduction, no linearisation:
the mean of R_N(t) over draws of the initial network, against R(ρ_t) + C(t)/N.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numba import prange

from .._jit import jit_parallel
from ..models.hermite import hermite_coefficients
from ..models.integrals import derivative_product, pair_moment_da
from ..models.isotropic import IsotropicGaussians
from ..sgd.isotropic import exact_risk

MAX_COSINE = 0.6
ORDER = 80
#: What a pair's series may leave out, in K^a and in K^c.
TAIL = 1e-16


@jit_parallel
def pair_kernels(code, params, sp, sm, fp, dfp, fm, dfm, delta, gram, tail_a, tail_c, max_cos,
                 tol, ka, kc):  # fmt: skip
    """K^a and K^c (N, N) of every pair (module docstring), written in place.

    sp, sm : (N,) the scales (1 ± Δ)r; fp, dfp, fm, dfm : (N, K + 1) f̂_k and f̂'_k at them;
    gram : (N, N) cosines; tail_a, tail_c : (K + 2,) bounds on the rest of each series from
    degree k on (for |c| ≤ 1).
    """
    n = gram.shape[0]
    order = fp.shape[1] - 1
    up, down = 1.0 + delta, 1.0 - delta
    for i in prange(n):
        for j in range(n):
            c = min(1.0, max(-1.0, gram[i, j]))
            if i != j and abs(c) <= max_cos:
                sa = 0.0
                sc = 0.0
                power = 1.0  # c^k
                lower = 0.0  # c^{k−1}
                for k in range(order + 1):
                    sa += power * (up * dfp[i, k] * fp[j, k] + down * dfm[i, k] * fm[j, k])
                    sc += k * lower * (fp[i, k] * fp[j, k] + fm[i, k] * fm[j, k])
                    lower = power
                    power *= c
                    if abs(power) * tail_a[k + 1] <= tol and abs(lower) * tail_c[k + 1] <= tol:
                        break
                ka[i, j] = 0.5 * sa
                kc[i, j] = 0.5 * sc
            else:
                if i == j:
                    c = 1.0
                da_p = pair_moment_da(code, params, sp[i], sp[j], c)
                da_m = pair_moment_da(code, params, sm[i], sm[j], c)
                dc_p = sp[i] * sp[j] * derivative_product(code, params, sp[i], sp[j], c)
                dc_m = sm[i] * sm[j] * derivative_product(code, params, sm[i], sm[j], c)
                ka[i, j] = 0.5 * (up * da_p + down * da_m)
                kc[i, j] = 0.5 * (dc_p + dc_m)


def _tails(fp, dfp, fm, dfm, delta) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on the rest of the K^a and K^c series from degree k on, shape (K + 2,)."""
    k = np.arange(fp.shape[1])
    term_a = 0.5 * ((1 + delta) * np.abs(dfp).max(0) * np.abs(fp).max(0)
                    + (1 - delta) * np.abs(dfm).max(0) * np.abs(fm).max(0))  # fmt: skip
    term_c = 0.5 * k * (np.abs(fp).max(0) ** 2 + np.abs(fm).max(0) ** 2)
    rest = lambda x: np.append(np.cumsum(x[::-1])[::-1], 0.0)  # noqa: E731
    return rest(term_a), rest(term_c)


def gradient(problem: IsotropicGaussians, w: np.ndarray, lam: float = 0.0) -> np.ndarray:
    r"""∇_{wᵢ}[v(wᵢ) + (1/N) Σⱼ U(wᵢ, wⱼ) + (λ/2)|wᵢ|²] for every neuron, shape (N, d)."""
    n = w.shape[0]
    r = np.linalg.norm(w, axis=1)
    unit = w / r[:, None]
    gram = unit @ unit.T
    sp, sm = problem.scales(r)
    act = problem.activation
    fp, dfp = hermite_coefficients(act, sp, ORDER)
    fm, dfm = hermite_coefficients(act, sm, ORDER)
    tail_a, tail_c = _tails(fp, dfp, fm, dfm, problem.delta)
    ka = np.empty((n, n))
    kc = np.empty((n, n))
    pair_kernels(act.code, act.param_array, sp, sm, fp, dfp, fm, dfm, problem.delta, gram,
                 tail_a, tail_c, MAX_COSINE, TAIL, ka, kc)  # fmt: skip
    _, dv = problem.radial_potential(r)
    radial = dv + (ka.sum(1) - (kc * gram).sum(1) / r) / n
    return radial[:, None] * unit + (kc @ unit) / (n * r[:, None]) + lam * w


def gradient_flow_risks(
    problem: IsotropicGaussians,
    w: np.ndarray,
    times: np.ndarray,
    *,
    step: float = 0.05,
    xi: Callable[[float], float] = lambda t: 1.0,
    lam: float = 0.0,
) -> np.ndarray:
    """R_N at ``times`` (multiples of ``step``) along the RK4 gradient flow from ``w`` (N, d).

    Returns
    -------
    (T,) float64
    """
    times = np.asarray(times, dtype=float)
    counts = np.rint(times / step).astype(np.int64)
    if np.any(np.abs(counts * step - times) > 1e-9 * max(1.0, float(times.max(initial=0.0)))):
        raise ValueError(f"every time must be a multiple of the step {step}")
    w = np.array(w, dtype=float)
    out = np.empty(times.size)
    done = 0
    for i, target in enumerate(counts):
        while done < target:
            t = done * step
            f = lambda t, x: -2.0 * xi(t) * gradient(problem, x, lam)  # noqa: E731
            k1 = f(t, w)
            k2 = f(t + 0.5 * step, w + 0.5 * step * k1)
            k3 = f(t + 0.5 * step, w + 0.5 * step * k2)
            k4 = f(t + step, w + step * k3)
            w = w + step / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            done += 1
        out[i] = exact_risk(problem, w)
    return out


def initial_weights(dimension: int, neurons: int, scale: float, seed: int) -> np.ndarray:
    """w ~ N(0, κ²/d I_d) for ``neurons`` neurons from ``seed``, shape (N, d)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((neurons, dimension)) * (scale / math.sqrt(dimension))
