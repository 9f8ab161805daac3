r"""One-pass online SGD of a two-layer network in the full input dimension d.

Network ŷ(x) = (1/N) Σᵢ aᵢ σ(<wᵢ, x>) with wᵢ ∈ R^d (and aᵢ = 1 unless the second layer is
trained). Data: the isotropic Gaussian law, y = ±1, x = (1 + yΔ) g, g ~ N(0, I_d), a fresh
sample every step. Step k (time t = kε, s_k = εξ(kε)), over a mini-batch of B samples:

    θᵢ ← (1 − 2λs_k) θᵢ + 2 s_k (1/B) Σ_b (y_b − ŷ(x_b)) ∇_θ σ*(x_b; θᵢ) + √(4 s_k τ / D) gᵢ,

with ∇_w σ* = aᵢ σ'(<wᵢ, x>) x, ∂_a σ* = σ(<wᵢ, x>), D = d (+1 with a second layer),
gᵢ ~ N(0, I_D). This is DESIGN.md §1 verbatim; the DD is its N → ∞, ε → 0 limit with
velocity −2ξ∇Ψ_λ and diffusion 2ξ(τ/D)Δ.

Random numbers come from the ``np.random.Generator`` passed in, so a run is reproducible
from its seed.

The exact population risk of a finite network on this law (no Monte Carlo):

    R_N(θ) = 1 + (2/N) Σᵢ aᵢ v(rᵢ) + (1/N²) Σᵢⱼ aᵢ aⱼ ½ Σ± K((1±Δ)rᵢ, (1±Δ)rⱼ, cᵢⱼ),

with rᵢ = |wᵢ| and cᵢⱼ the cosine between wᵢ and wⱼ — Gaussian integrals over the actual
pairwise overlaps. For a pair with |c| ≤ :data:`SERIES_MAX_COSINE` the moment is the Mehler
series Σ_{k ≤ K} c^k f̂_k f̂_k (K = :data:`SERIES_ORDER`), whose tail is at most
|c|^{K+1} max E σ² (< 1e-16 for the ramp); other pairs, and the diagonal, use the closed
form. Cost O(N² d) in BLAS for the cosines (a tile at a time, O(N) memory beyond the
weights) and O(N²) series terms of about a dozen at d = 500 in a parallel kernel.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from .._jit import jit, jit_parallel
from ..models.hermite import hermite_coefficients
from ..models.integrals import pair_moment
from ..models.risk import mean_field_risk
from ..schedules import schedule_value
from .engine import copy_back, forward, fused_start, fused_step, update
from .pair_sums import GRAM_TILE, gram_tiles, unit_rows


@jit
def sgd_steps(
    w, a, train_a, code, params, delta, eps, scode, sparams, lam, tau, batch, k_start, k_stop, rng
):
    """Advance the network in place from step k_start to k_stop (exclusive).

    Parameters
    ----------
    w : (N, d) float64, first-layer weights (updated in place)
    a : (N,) float64, second-layer weights (updated in place when ``train_a``)
    code, params : the activation's kernel encoding
    delta : float, Δ of the isotropic data law
    eps : float, ε (time per step)
    scode, sparams : the encoded schedule ξ(t)
    lam, tau : float, ℓ2 penalty and temperature
    batch : int, samples per step
    rng : np.random.Generator
    """
    n, d = w.shape
    dim = d + 1 if train_a else d
    x = np.empty((batch, d))
    y = np.empty(batch)
    pre = np.empty((batch, n))
    val = np.empty((batch, n))  # σ(<w_i, x_b>)
    der = np.empty((batch, n))  # σ'(<w_i, x_b>)
    resid = np.empty(batch)
    grad_w = np.empty(d)
    if batch == 1 and tau == 0.0 and k_start < k_stop:
        # one pass over W a step, on a transposed copy: the update fused with the next
        # sample's products (:func:`~ddsolver.sgd.engine.fused_step`: the same numbers and
        # random stream)
        _draw(rng, delta, x, y)
        wt, x_next, y_next, g = fused_start(w, a, x, y, code, params, pre, val, der, resid)
        for k in range(k_start, k_stop):
            s = eps * schedule_value(scode, sparams, k * eps)
            last = k + 1 == k_stop
            if not last:
                _draw(rng, delta, x_next, y_next)
            fused_step(wt, a, train_a, x, y, x_next, y_next, code, params, 1.0 - 2.0 * lam * s,
                       2.0 * s, last, pre, val, der, resid, g)  # fmt: skip
        copy_back(wt, w)
        return
    for k in range(k_start, k_stop):
        s = eps * schedule_value(scode, sparams, k * eps)
        _draw(rng, delta, x, y)
        forward(w, a, x, y, code, params, pre, val, der, resid)
        noise = math.sqrt(4.0 * s * tau / dim) if tau > 0.0 else 0.0
        update(w, a, train_a, x, resid, val, der, 1.0 - 2.0 * lam * s, 2.0 * s / batch, noise,
               rng, grad_w)  # fmt: skip


@jit
def _draw(rng, delta, x, y):
    """A batch of the isotropic law in place: per sample the label, then its d normals."""
    for b in range(x.shape[0]):
        label = 1.0 if rng.random() < 0.5 else -1.0
        scale = 1.0 + label * delta
        for j in range(x.shape[1]):
            x[b, j] = scale * rng.standard_normal()
        y[b] = label


def sgd_steps_ref(
    w, a, train_a, activation, delta, eps, schedule, lam, tau, batch, k_start, k_stop, rng
):
    """NumPy twin of :func:`sgd_steps`, drawing the random numbers in the same order."""
    n, d = w.shape
    dim = d + 1 if train_a else d
    for k in range(k_start, k_stop):
        s = eps * schedule(k * eps)
        x = np.empty((batch, d))
        y = np.empty(batch)
        for b in range(batch):
            y[b] = 1.0 if rng.random() < 0.5 else -1.0
            x[b] = (1.0 + y[b] * delta) * rng.standard_normal(d)
        pre = x @ w.T  # (B, N)
        resid = y - activation(pre) @ a / n
        grad_w = (resid[:, None] * activation.derivative(pre) * a).T @ x  # (N, d)
        grad_a = (resid[:, None] * activation(pre)).sum(0)
        shrink = 1.0 - 2.0 * lam * s
        noise = math.sqrt(4.0 * s * tau / dim) if tau > 0 else 0.0
        for i in range(n):
            w[i] = shrink * w[i] + 2.0 * s / batch * grad_w[i]
            if noise > 0:
                w[i] += noise * rng.standard_normal(d)
            if train_a:
                a[i] = shrink * a[i] + 2.0 * s / batch * grad_a[i]
                if noise > 0:
                    a[i] += noise * rng.standard_normal()


def initial_network(
    neurons: int,
    dimension: int,
    scale: float,
    a_mean: float,
    a_std: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """w ~ N(0, κ²/d I_d) and a ~ N(a_mean, a_std²) (a = a_mean when a_std = 0)."""
    w = rng.standard_normal((neurons, dimension)) * (scale / math.sqrt(dimension))
    a = np.full(neurons, float(a_mean))
    if a_std > 0:
        a += a_std * rng.standard_normal(neurons)
    return w, a


SERIES_MAX_COSINE = 0.6
SERIES_ORDER = 80
#: What each pair's Mehler series may leave out: it stops at the first k where the rest of
#: the series is bounded by this (below).
SERIES_TAIL = 1e-17


def series_tail_bounds(coef_p: np.ndarray, coef_m: np.ndarray) -> np.ndarray:
    r"""S_k = ½ Σ_{m ≥ k} (max_i |f̂ᵖ_{i,m}|² + max_i |f̂ᵐ_{i,m}|²), shape (K + 1,), S_K = 0.

    For any pair and |c| ≤ 1, the terms of ½ Σ± Σ_m c^m f̂_{i,m} f̂_{j,m} from m = k on add
    to at most |c|^k S_k, since |c|^m ≤ |c|^k for m ≥ k. ``coef_p``, ``coef_m`` : (N, K).
    """
    peak = 0.5 * (np.abs(coef_p).max(axis=0) ** 2 + np.abs(coef_m).max(axis=0) ** 2)
    return np.append(np.cumsum(peak[::-1])[::-1], 0.0)


#: Bins of |c| ∈ [0, SERIES_MAX_COSINE] for the series' lengths (:func:`series_lengths`).
LENGTH_BINS = 4096


def series_lengths(tail: np.ndarray, max_cos: float, tol: float) -> np.ndarray:
    """For each of :data:`LENGTH_BINS` bins of |c| ∈ [0, max_cos], the number of terms k a
    pair needs: the first k with c_hi^k S_k ≤ tol at the bin's upper edge c_hi (so at every
    |c| in the bin), at most K. ``tail`` : (K + 1,) from :func:`series_tail_bounds`."""
    upper = max_cos * np.arange(1, LENGTH_BINS + 1) / LENGTH_BINS
    k = np.arange(tail.size)
    with np.errstate(divide="ignore"):
        log_rest = k[None, :] * np.log(upper)[:, None] + np.log(tail)[None, :]
    enough = log_rest <= math.log(tol)
    return np.where(enough.any(axis=1), enough.argmax(axis=1), tail.size - 1).astype(np.int64)


@jit
def _pair_moment(code, params, scales_p, scales_m, coef_p, coef_m, lengths, max_cos, i, j, c):
    """½ Σ± U of one pair: its Mehler series by Horner's rule where |c| ≤ ``max_cos``, the
    closed form elsewhere."""
    if abs(c) <= max_cos:
        bins = lengths.shape[0]
        u = 0.0
        for k in range(lengths[min(bins - 1, int(abs(c) / max_cos * bins))] - 1, -1, -1):
            u = u * c + (coef_p[i, k] * coef_p[j, k] + coef_m[i, k] * coef_m[j, k])
        return 0.5 * u
    return 0.5 * (
        pair_moment(code, params, scales_p[i], scales_p[j], c)
        + pair_moment(code, params, scales_m[i], scales_m[j], c)
    )


@jit_parallel
def _pair_tile(code, params, scales_p, scales_m, coef_p, coef_m, lengths, gram, i0, j0, a,
               max_cos, out_rows):  # fmt: skip
    """Add the pairs j ≥ i of one tile to Σ_j (2 − δ_ij) aᵢ aⱼ U(θᵢ, θⱼ), row by row.

    ``gram`` : (b, c), the cosines of rows i0 … i0 + b − 1 with columns j0 … j0 + c − 1
    (BLAS); ``out_rows`` : (N,), row i's running sum. A pair with |c| ≤ ``max_cos`` sums
    ½ Σ_{k < L} c^k (f̂ᵖ_{ik} f̂ᵖ_{jk} + f̂ᵐ_{ik} f̂ᵐ_{jk}) by Horner's rule, L from its |c|'s
    bin of ``lengths`` (:func:`series_lengths`); other pairs, and the diagonal, take the
    closed form. Four pairs whose series all apply run as four independent Horner chains of
    their longest L (extra terms only add accuracy), so the multiply–add latency of one
    chain is hidden by the others.
    """
    rows, cols = gram.shape
    bins = lengths.shape[0]
    for ii in prange(rows):
        i = i0 + ii
        j = max(i, j0)
        acc = 0.0
        if j == i:
            acc += a[i] * a[i] * _pair_moment(code, params, scales_p, scales_m, coef_p, coef_m,
                                              lengths, max_cos, i, i, 1.0)  # fmt: skip
            j += 1
        end = j0 + cols
        while j < end:
            if j + 3 < end:
                c0 = gram[ii, j - j0]
                c1 = gram[ii, j + 1 - j0]
                c2 = gram[ii, j + 2 - j0]
                c3 = gram[ii, j + 3 - j0]
                top = max(abs(c0), abs(c1), abs(c2), abs(c3))
                if top <= max_cos:
                    u0 = 0.0
                    u1 = 0.0
                    u2 = 0.0
                    u3 = 0.0
                    for k in range(lengths[min(bins - 1, int(top / max_cos * bins))] - 1, -1, -1):
                        p = coef_p[i, k]
                        m = coef_m[i, k]
                        u0 = u0 * c0 + (p * coef_p[j, k] + m * coef_m[j, k])
                        u1 = u1 * c1 + (p * coef_p[j + 1, k] + m * coef_m[j + 1, k])
                        u2 = u2 * c2 + (p * coef_p[j + 2, k] + m * coef_m[j + 2, k])
                        u3 = u3 * c3 + (p * coef_p[j + 3, k] + m * coef_m[j + 3, k])
                    acc += a[i] * (a[j] * u0 + a[j + 1] * u1 + a[j + 2] * u2 + a[j + 3] * u3)
                    j += 4
                    continue
            c = min(1.0, max(-1.0, gram[ii, j - j0]))
            acc += 2.0 * a[i] * a[j] * _pair_moment(code, params, scales_p, scales_m, coef_p,
                                                    coef_m, lengths, max_cos, i, j, c)  # fmt: skip
            j += 1
        out_rows[i] += acc


def exact_risk(problem, w: np.ndarray, a: np.ndarray | None = None) -> float:
    r"""R_N(θ) of the network (w (N, d), a (N,) or None) for an isotropic problem.

    The cosines come from BLAS a tile at a time (:func:`~ddsolver.sgd.pair_sums.gram_tiles`);
    each pair's Mehler series stops once its rest is
    below :data:`SERIES_TAIL`, so the double sum differs from the series to order K by at
    most max|a|²·SERIES_TAIL. At d = 500 a typical |c| is 1/√d ≈ 0.045 and a pair takes about
    a dozen terms instead of K = 80.
    """
    n = w.shape[0]
    a = np.ones(n) if a is None else np.asarray(a, dtype=float)
    r, unit = unit_rows(w)
    sp, sm = problem.scales(r)
    act = problem.activation
    coef_p, _ = hermite_coefficients(act, sp, SERIES_ORDER)
    coef_m, _ = hermite_coefficients(act, sm, SERIES_ORDER)
    lengths = series_lengths(series_tail_bounds(coef_p, coef_m), SERIES_MAX_COSINE, SERIES_TAIL)
    rows = np.zeros(n)
    for i0, j0, gram in gram_tiles(unit, GRAM_TILE):
        _pair_tile(act.code, act.param_array, sp, sm, coef_p, coef_m, lengths, gram, i0, j0, a,
                   SERIES_MAX_COSINE, rows)  # fmt: skip
    v, _ = problem.radial_potential(r)
    return mean_field_risk(problem.label_second_moment, (a @ v) / n, rows.sum() / n**2)


def exact_risk_ref(problem, w: np.ndarray, a: np.ndarray | None = None) -> float:
    """NumPy twin of :func:`exact_risk`: every pair by the closed form."""
    from ..models.integrals import pair

    n = w.shape[0]
    a = np.ones(n) if a is None else np.asarray(a, dtype=float)
    r = np.linalg.norm(w, axis=1)
    c = np.clip((w @ w.T) / np.outer(r, r), -1.0, 1.0)
    np.fill_diagonal(c, 1.0)
    sp, sm = problem.scales(r)
    u = 0.5 * (
        pair(problem.activation, sp[:, None], sp[None, :], c)
        + pair(problem.activation, sm[:, None], sm[None, :], c)
    )
    v, _ = problem.radial_potential(r)
    return mean_field_risk(problem.label_second_moment, (a @ v) / n, a @ u @ a / n**2)


def monte_carlo_risk(problem, w, a, samples: int, rng: np.random.Generator) -> tuple[float, float]:
    """(mean, standard error) of (y − ŷ(x))² over fresh samples, in chunks."""
    n, d = w.shape
    a = np.ones(n) if a is None else a
    sums, sq, done = 0.0, 0.0, 0
    while done < samples:
        m = min(20_000, samples - done)
        y = rng.choice([-1.0, 1.0], size=m)
        x = rng.standard_normal((m, d)) * (1 + problem.delta * y)[:, None]
        err = (y - problem.activation(x @ w.T) @ a / n) ** 2
        sums += err.sum()
        sq += (err**2).sum()
        done += m
    mean = sums / samples
    return mean, float(np.sqrt((sq / samples - mean**2) / samples))
