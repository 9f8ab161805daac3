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
form. Cost O(N² K) in a parallel kernel.
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
from .engine import forward, update


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
    for k in range(k_start, k_stop):
        s = eps * schedule_value(scode, sparams, k * eps)
        for b in range(batch):
            label = 1.0 if rng.random() < 0.5 else -1.0
            scale = 1.0 + label * delta
            for j in range(d):
                x[b, j] = scale * rng.standard_normal()
            y[b] = label
        forward(w, a, x, y, code, params, pre, val, der, resid)
        noise = math.sqrt(4.0 * s * tau / dim) if tau > 0.0 else 0.0
        update(w, a, train_a, x, resid, val, der, 1.0 - 2.0 * lam * s, 2.0 * s / batch, noise,
               rng, grad_w)  # fmt: skip


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


@jit_parallel
def _pair_sum(code, params, scales_p, scales_m, coef_p, coef_m, unit, a, max_cos, out_rows):
    n = unit.shape[0]
    kmax = coef_p.shape[1]
    for i in prange(n):
        acc = 0.0
        for j in range(i, n):
            if j == i:
                c = 1.0
            else:
                c = 0.0
                for q in range(unit.shape[1]):
                    c += unit[i, q] * unit[j, q]
            if abs(c) <= max_cos and j != i:
                sp = 0.0
                sm = 0.0
                power = 1.0
                for k in range(kmax):
                    sp += power * coef_p[i, k] * coef_p[j, k]
                    sm += power * coef_m[i, k] * coef_m[j, k]
                    power *= c
                u = 0.5 * (sp + sm)
            else:
                u = 0.5 * (
                    pair_moment(code, params, scales_p[i], scales_p[j], c)
                    + pair_moment(code, params, scales_m[i], scales_m[j], c)
                )
            weight = 1.0 if j == i else 2.0
            acc += weight * a[i] * a[j] * u
        out_rows[i] = acc


def exact_risk(problem, w: np.ndarray, a: np.ndarray | None = None) -> float:
    """R_N(θ) of the network (w (N, d), a (N,) or None) for an isotropic problem."""
    n = w.shape[0]
    a = np.ones(n) if a is None else np.asarray(a, dtype=float)
    r = np.linalg.norm(w, axis=1)
    unit = w / np.where(r > 0, r, 1.0)[:, None]
    sp, sm = problem.scales(r)
    act = problem.activation
    coef_p, _ = hermite_coefficients(act, sp, SERIES_ORDER)
    coef_m, _ = hermite_coefficients(act, sm, SERIES_ORDER)
    rows = np.empty(n)
    _pair_sum(
        act.code,
        act.param_array,
        sp,
        sm,
        coef_p,
        coef_m,
        np.ascontiguousarray(unit),
        a,
        SERIES_MAX_COSINE,
        rows,
    )
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
