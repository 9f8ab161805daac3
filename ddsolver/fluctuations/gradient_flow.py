r"""N-neuron gradient flow on the exact risk of the isotropic kind, in the full dimension d.

The ε → 0 limit of one-pass SGD at a fixed width N: with rᵢ = |wᵢ|, ŵᵢ = wᵢ/rᵢ and
cᵢⱼ = ŵᵢ·ŵⱼ,

    dwᵢ/dt = −2ξ(t) [∇v(wᵢ) + (1/N) Σⱼ ∇₁U(wᵢ, wⱼ) + λwᵢ]
    (with a second layer: aᵢ∇v + (1/N)Σⱼ aᵢaⱼ∇₁U + λwᵢ, and daᵢ/dt = −2ξ[v + (1/N)Σⱼ aⱼUᵢⱼ + λaᵢ]),
    ∇₁U(wᵢ, wⱼ) = K^a_ij ŵᵢ + K^c_ij (ŵⱼ − cᵢⱼ ŵᵢ)/rᵢ,
    K^a_ij = ½ Σ± (1 ± Δ) ∂_aK(s±ᵢ, s±ⱼ, cᵢⱼ),       K^c_ij = ½ Σ± ∂_cK(s±ᵢ, s±ⱼ, cᵢⱼ),

K(a, b, c) = E σ(aZ₁)σ(bZ₂) the pair moment and s± = (1 ± Δ)r. The diagonal j = i is
U(wᵢ, wᵢ)'s own gradient, ½∇U(w, w) = K^a_ii ŵᵢ. A pair with |c| ≤ 0.6 (the exact risk's
``SERIES_MAX_COSINE``) sums the Mehler series (∂_aK = Σ_k c^k f̂'_k(a) f̂_k(b),
∂_cK = Σ_k k c^{k−1} f̂_k(a) f̂_k(b)) until its rest is below :data:`TAIL`; other pairs and
the diagonal take the closed form.

This is an independent check of :mod:`.probe` — no symmetry reduction, no linearisation:
the mean of R_N(t) over draws of the initial network, against R(ρ_t) + C(t)/N.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
from numba import prange

from .._jit import jit_parallel
from ..models.hermite import hermite_coefficients
from ..models.integrals import derivative_product, pair_moment, pair_moment_da
from ..models.isotropic import IsotropicGaussians
from ..sgd.isotropic import SERIES_MAX_COSINE, SERIES_ORDER, exact_risk, series_tail_bounds
from ..sgd.pair_sums import unit_rows

#: What a pair's series may leave out, in K^a, K^c and U (the series' cosine bound and order
#: are the exact risk's, :data:`~ddsolver.sgd.isotropic.SERIES_MAX_COSINE` and ``SERIES_ORDER``).
TAIL = 1e-16


@jit_parallel
def pair_kernels(code, params, sp, sm, fp, dfp, fm, dfm, delta, gram, tail_a, tail_c, tail_u,
                 max_cos, tol, ka, kc, ku):  # fmt: skip
    """K^a, K^c and U (N, N) of every pair (module docstring), written in place.

    sp, sm : (N,) the scales (1 ± Δ)r; fp, dfp, fm, dfm : (N, K + 1) f̂_k and f̂'_k at them;
    gram : (N, N) cosines; tail_a, tail_c, tail_u : (K + 2,) bounds on the rest of each
    series from degree k on (for |c| ≤ 1).
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
                su = 0.0
                power = 1.0  # c^k
                lower = 0.0  # c^{k−1}
                for k in range(order + 1):
                    both = fp[i, k] * fp[j, k] + fm[i, k] * fm[j, k]
                    sa += power * (up * dfp[i, k] * fp[j, k] + down * dfm[i, k] * fm[j, k])
                    sc += k * lower * both
                    su += power * both
                    lower = power
                    power *= c
                    rest = abs(power) * max(tail_a[k + 1], tail_u[k + 1])
                    if rest <= tol and abs(lower) * tail_c[k + 1] <= tol:
                        break
                ka[i, j] = 0.5 * sa
                kc[i, j] = 0.5 * sc
                ku[i, j] = 0.5 * su
            else:
                if i == j:
                    c = 1.0
                da_p = pair_moment_da(code, params, sp[i], sp[j], c)
                da_m = pair_moment_da(code, params, sm[i], sm[j], c)
                dc_p = sp[i] * sp[j] * derivative_product(code, params, sp[i], sp[j], c)
                dc_m = sm[i] * sm[j] * derivative_product(code, params, sm[i], sm[j], c)
                ka[i, j] = 0.5 * (up * da_p + down * da_m)
                kc[i, j] = 0.5 * (dc_p + dc_m)
                ku[i, j] = 0.5 * (pair_moment(code, params, sp[i], sp[j], c)
                                  + pair_moment(code, params, sm[i], sm[j], c))  # fmt: skip


def _tails(fp, dfp, fm, dfm, delta) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bounds on the rest of the K^a, K^c and U series from degree k on, shape (K + 2,); U's
    is the exact risk's own (:func:`~ddsolver.sgd.isotropic.series_tail_bounds`)."""
    k = np.arange(fp.shape[1])
    term_a = 0.5 * ((1 + delta) * np.abs(dfp).max(0) * np.abs(fp).max(0)
                    + (1 - delta) * np.abs(dfm).max(0) * np.abs(fm).max(0))  # fmt: skip
    term_c = 0.5 * k * (np.abs(fp).max(0) ** 2 + np.abs(fm).max(0) ** 2)
    rest = lambda x: np.append(np.cumsum(x[::-1])[::-1], 0.0)  # noqa: E731
    return rest(term_a), rest(term_c), series_tail_bounds(fp, fm)


def gradient(
    problem: IsotropicGaussians, w: np.ndarray, a: np.ndarray | None = None, lam: float = 0.0
) -> tuple[np.ndarray, np.ndarray | None]:
    r"""The gradients of aᵢv(wᵢ) + (1/N) Σⱼ aᵢaⱼU(wᵢ, wⱼ) + (λ/2)(|wᵢ|² + aᵢ²) in wᵢ, shape
    (N, d), and in aᵢ, shape (N,) — None without a second layer (``a`` None: aᵢ = 1)."""
    n = w.shape[0]
    r, unit = unit_rows(w)
    gram = unit @ unit.T
    sp, sm = problem.scales(r)
    act = problem.activation
    fp, dfp = hermite_coefficients(act, sp, SERIES_ORDER)
    fm, dfm = hermite_coefficients(act, sm, SERIES_ORDER)
    ka, kc, ku = np.empty((n, n)), np.empty((n, n)), np.empty((n, n))
    pair_kernels(act.code, act.param_array, sp, sm, fp, dfp, fm, dfm, problem.delta, gram,
                 *_tails(fp, dfp, fm, dfm, problem.delta), SERIES_MAX_COSINE, TAIL, ka, kc,
                 ku)  # fmt: skip
    v, dv = problem.radial_potential(r)
    amp = np.ones(n) if a is None else np.asarray(a, dtype=float)
    radial = amp * dv + amp * ((ka - kc * gram / r[:, None]) @ amp) / n
    grad_w = radial[:, None] * unit + amp[:, None] * ((kc * amp) @ unit) / (n * r[:, None])
    grad_w += lam * w
    if a is None:
        return grad_w, None
    return grad_w, v + (ku @ amp) / n + lam * amp


def gradient_flow_states(
    problem: IsotropicGaussians,
    w: np.ndarray,
    times: np.ndarray,
    a: np.ndarray | None = None,
    *,
    step: float = 0.05,
    xi: Callable[[float], float] = lambda t: 1.0,
    lam: float = 0.0,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """The network (w (N, d), a (N,) or None) at each of ``times`` (multiples of ``step``)
    along the RK4 gradient flow from ``w`` (and the second layer ``a``, trained with it)."""
    times = np.asarray(times, dtype=float)
    counts = np.rint(times / step).astype(np.int64)
    if np.any(np.abs(counts * step - times) > 1e-9 * max(1.0, float(times.max(initial=0.0)))):
        raise ValueError(f"every time must be a multiple of the step {step}")
    n, d = np.shape(w)
    x = np.array(w, dtype=float).ravel()
    if a is not None:
        x = np.concatenate([x, np.asarray(a, dtype=float)])

    def velocity(t: float, x: np.ndarray) -> np.ndarray:
        gw, ga = gradient(problem, x[: n * d].reshape(n, d), None if a is None else x[n * d :],
                          lam)  # fmt: skip
        out = gw.ravel() if ga is None else np.concatenate([gw.ravel(), ga])
        return -2.0 * xi(t) * out

    done = 0
    for target in counts:
        while done < target:
            t = done * step
            k1 = velocity(t, x)
            k2 = velocity(t + 0.5 * step, x + 0.5 * step * k1)
            k3 = velocity(t + 0.5 * step, x + 0.5 * step * k2)
            k4 = velocity(t + step, x + step * k3)
            x = x + step / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            done += 1
        yield x[: n * d].reshape(n, d).copy(), None if a is None else x[n * d :].copy()


def gradient_flow_risks(
    problem: IsotropicGaussians,
    w: np.ndarray,
    times: np.ndarray,
    a: np.ndarray | None = None,
    *,
    step: float = 0.05,
    xi: Callable[[float], float] = lambda t: 1.0,
    lam: float = 0.0,
) -> np.ndarray:
    """R_N at ``times`` (multiples of ``step``) along the RK4 gradient flow from ``w`` (N, d)
    (and the second layer ``a`` (N,), trained with it) (:func:`gradient_flow_states`).

    Returns
    -------
    (T,) float64
    """
    states = gradient_flow_states(problem, w, times, a, step=step, xi=xi, lam=lam)
    return np.array([exact_risk(problem, wt, at) for wt, at in states])


def initial_weights(dimension: int, neurons: int, scale: float, seed: int) -> np.ndarray:
    """w ~ N(0, κ²/d I_d) for ``neurons`` neurons from ``seed``, shape (N, d)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((neurons, dimension)) * (scale / math.sqrt(dimension))


def initial_second_layer(neurons: int, mean: float, std: float, seed: int) -> np.ndarray:
    """a ~ N(mean, std²) for ``neurons`` neurons, from its own stream (``seed`` + 1 000 003)."""
    rng = np.random.default_rng(seed + 1_000_003)
    return mean + std * rng.standard_normal(neurons)
