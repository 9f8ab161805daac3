r"""Online SGD of soft committee machines in dimension d (Saad & Solla; Goldt et al. 2019).

Student ŷ(x) = c Σ_k v_k g(λ_k), λ_k = w_k·x/√d; teacher y = Σ_n v*_n g(ν_n) + σζ,
ν_n = w*_n·x/√d; x ~ N(0, I_d). One step (time t = steps/d) over a mini-batch of B samples,
e_b = y_b − ŷ(x_b), every update from the weights before the step:

    w_k ← w_k + (η/√d)(1/B) Σ_b c v_k g'(λ_k,b) e_b x_b − (η/d) λ w_k
    v_k ← v_k + (η_v/d)[(1/B) Σ_b c g(λ_k,b) e_b − λ v_k]

Per sample the d coordinates of x are drawn first, then the label noise ζ (when σ > 0).
The order parameters of the weights are Q = w wᵀ/d, R = w w*ᵀ/d, and ε_g is exact for them.
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import jit
from ..models.committee import g_derivative, g_value


@jit
def committee_sgd_steps(
    w, v, teacher_w, teacher_v, code, gain, c, eta, eta_v, lam, label_noise, batch,
    k_start, k_stop, rng,
):  # fmt: skip
    """Advance the student (w (K, d), v (K,)) in place by k_stop − k_start steps."""
    n_students, d = w.shape
    n_teachers = teacher_w.shape[0]
    root = math.sqrt(d)
    x = np.empty((batch, d))
    coef_w = np.empty((batch, n_students))
    grad_v = np.zeros(n_students)
    fields = np.empty(n_students)
    shrink_w = 1.0 - eta * lam / d
    shrink_v = 1.0 - eta_v * lam / d
    step_w = eta / root / batch
    step_v = eta_v / d / batch
    for _ in range(k_start, k_stop):
        for k in range(n_students):
            grad_v[k] = 0.0
        for b in range(batch):
            for j in range(d):
                x[b, j] = rng.standard_normal()
            y = 0.0
            for n in range(n_teachers):
                nu = 0.0
                for j in range(d):
                    nu += teacher_w[n, j] * x[b, j]
                y += teacher_v[n] * g_value(code, gain, nu / root)
            if label_noise > 0.0:
                y += label_noise * rng.standard_normal()
            yhat = 0.0
            for k in range(n_students):
                lam_k = 0.0
                for j in range(d):
                    lam_k += w[k, j] * x[b, j]
                fields[k] = lam_k / root
                yhat += v[k] * g_value(code, gain, fields[k])
            err = y - c * yhat
            for k in range(n_students):
                coef_w[b, k] = c * v[k] * g_derivative(code, gain, fields[k]) * err
                grad_v[k] += c * g_value(code, gain, fields[k]) * err
        for k in range(n_students):
            for j in range(d):
                acc = 0.0
                for b in range(batch):
                    acc += coef_w[b, k] * x[b, j]
                w[k, j] = shrink_w * w[k, j] + step_w * acc
            v[k] = shrink_v * v[k] + step_v * grad_v[k]


def committee_sgd_steps_ref(
    w, v, teacher_w, teacher_v, g, g_prime, c, eta, eta_v, lam, label_noise, batch, steps, rng
):
    """NumPy twin of :func:`committee_sgd_steps`, drawing the random numbers in the same order."""
    d = w.shape[1]
    for _ in range(steps):
        x = np.empty((batch, d))
        y = np.empty(batch)
        for b in range(batch):
            x[b] = rng.standard_normal(d)
            y[b] = teacher_v @ g(teacher_w @ x[b] / math.sqrt(d))
            if label_noise > 0:
                y[b] += label_noise * rng.standard_normal()
        fields = x @ w.T / math.sqrt(d)  # (B, K)
        err = y - c * g(fields) @ v
        coef = c * v[None, :] * g_prime(fields) * err[:, None]
        grad_v = (c * g(fields) * err[:, None]).sum(axis=0)
        w_new = (1 - eta * lam / d) * w + eta / math.sqrt(d) / batch * coef.T @ x
        v[:] = (1 - eta_v * lam / d) * v + eta_v / d / batch * grad_v
        w[:] = w_new


def order_parameters(
    w: np.ndarray, teacher_w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Q = w wᵀ/d (K, K), R = w w*ᵀ/d (K, M), T = w* w*ᵀ/d (M, M)."""
    d = w.shape[1]
    return w @ w.T / d, w @ teacher_w.T / d, teacher_w @ teacher_w.T / d


def weights_with_overlaps(overlaps: np.ndarray, d: int, rng: np.random.Generator) -> np.ndarray:
    """Rows u_p ∈ R^d with u_p·u_q/d = overlaps[p, q] exactly: √d L Oᵀ, L Lᵀ = overlaps,
    O (d, P) with orthonormal random columns. overlaps (P, P) positive semi-definite, P ≤ d."""
    size = overlaps.shape[0]
    basis, upper = np.linalg.qr(rng.standard_normal((d, size)))
    basis = basis * np.sign(np.diag(upper))  # Haar-distributed columns
    values, vectors = np.linalg.eigh(0.5 * (overlaps + overlaps.T))
    root = vectors * np.sqrt(np.clip(values, 0.0, None))
    return math.sqrt(d) * root @ basis.T
