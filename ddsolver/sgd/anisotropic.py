r"""One-pass online SGD for the anisotropic problem: neurons a·ReLU(<w, x> + b), all trained.

Data: y = ±1, x_j = (1 + yΔ) g_j for the first s₀ coordinates and g_j for the rest. Step k
(time t = kε, s_k = εξ(kε)), over a mini-batch of B samples, with h = <wᵢ, x> + bᵢ:

    θᵢ ← (1 − 2λs_k) θᵢ + 2 s_k (1/B) Σ_b (y_b − ŷ(x_b)) ∇_θ σ*(x_b; θᵢ),
    ∇_w σ* = aᵢ 1{h > 0} x,   ∂_b σ* = aᵢ 1{h > 0},   ∂_a σ* = h₊,

the update of :mod:`ddsolver.sgd.isotropic` (no noise: τ = 0 for this problem). Every
gradient is taken at the parameters before the step.
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import jit
from ..models.anisotropic import network_interaction, network_potential
from ..models.risk import mean_field_risk
from ..schedules import schedule_value


@jit
def relu_bias_sgd_steps(
    w, a, b, informative, delta, eps, scode, sparams, lam, batch, k_start, k_stop, rng
):
    """Advance (w (N, d), a (N,), b (N,)) in place from step k_start to k_stop (exclusive)."""
    n, d = w.shape
    x = np.empty((batch, d))
    y = np.empty(batch)
    pre = np.empty((batch, n))
    resid = np.empty(batch)
    grad_w = np.empty(d)
    for k in range(k_start, k_stop):
        s = eps * schedule_value(scode, sparams, k * eps)
        for m in range(batch):
            label = 1.0 if rng.random() < 0.5 else -1.0
            scale = 1.0 + label * delta
            for j in range(d):
                g = rng.standard_normal()
                x[m, j] = scale * g if j < informative else g
            y[m] = label
        for m in range(batch):
            yhat = 0.0
            for i in range(n):
                h = b[i]
                for j in range(d):
                    h += w[i, j] * x[m, j]
                pre[m, i] = h
                if h > 0.0:
                    yhat += a[i] * h
            resid[m] = y[m] - yhat / n
        shrink = 1.0 - 2.0 * lam * s
        coef = 2.0 * s / batch
        for i in range(n):
            grad_a = 0.0
            grad_b = 0.0
            for j in range(d):
                grad_w[j] = 0.0
            for m in range(batch):
                h = pre[m, i]
                if h > 0.0:
                    g = resid[m] * a[i]
                    for j in range(d):
                        grad_w[j] += g * x[m, j]
                    grad_b += g
                    grad_a += resid[m] * h
            for j in range(d):
                w[i, j] = shrink * w[i, j] + coef * grad_w[j]
            a[i] = shrink * a[i] + coef * grad_a
            b[i] = shrink * b[i] + coef * grad_b


def relu_bias_sgd_steps_ref(
    w, a, b, informative, delta, eps, schedule, lam, batch, k_start, k_stop, rng
):
    """NumPy twin of :func:`relu_bias_sgd_steps`, drawing the random numbers in the same order."""
    n, d = w.shape
    for k in range(k_start, k_stop):
        s = eps * schedule(k * eps)
        x = np.empty((batch, d))
        y = np.empty(batch)
        for m in range(batch):
            y[m] = 1.0 if rng.random() < 0.5 else -1.0
            x[m] = rng.standard_normal(d)
            x[m, :informative] *= 1.0 + y[m] * delta
        pre = x @ w.T + b  # (B, N)
        active = (pre > 0).astype(float)
        resid = y - np.maximum(pre, 0.0) @ a / n
        grad_w = (resid[:, None] * active * a).T @ x
        grad_b = (resid[:, None] * active * a).sum(0)
        grad_a = (resid[:, None] * np.maximum(pre, 0.0)).sum(0)
        shrink = 1.0 - 2.0 * lam * s
        w[:] = shrink * w + 2.0 * s / batch * grad_w
        a[:], b[:] = shrink * a + 2.0 * s / batch * grad_a, shrink * b + 2.0 * s / batch * grad_b


def exact_risk_anisotropic(delta: float, informative: int, a, b, w) -> float:
    r"""R_N(θ) = 1 + (2/N) Σ V(θᵢ) + (1/N²) Σ U(θᵢ, θⱼ), exact in the full dimension."""
    n = a.size
    v = network_potential(delta, informative, a, b, w)
    u = network_interaction(delta, informative, a, b, w)
    return mean_field_risk(1.0, float(v.sum()) / n, float(u.sum()) / (n * n))


def initial_anisotropic_network(
    neurons: int, dimension: int, scale: float, a_law: tuple[float, float],
    b_law: tuple[float, float], rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """w ~ N(0, κ²/d I_d), then a ~ N(a_mean, a_std²), then b ~ N(b_mean, b_std²); the laws
    of a and b as (mean, std). Returns w (N, d), a (N,), b (N,)."""
    w = rng.standard_normal((neurons, dimension)) * (scale / math.sqrt(dimension))
    a = a_law[0] + a_law[1] * rng.standard_normal(neurons)
    b = b_law[0] + b_law[1] * rng.standard_normal(neurons)
    return w, a, b
