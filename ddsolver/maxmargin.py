r"""The max-margin classifiers that logistic-loss training converges to, computed independently.

* **F1 (variation norm), both layers trained** (Chizat & Bach 2020): over a dictionary of unit
  directions a_k ∈ S^d of x̃ = (x, 1), the linear program

      max γ   s.t.   y_i Σ_k c_k (a_k·x̃_i)₊ ≥ γ  (all i),   Σ_k |c_k| ≤ 1,

  solved by HiGHS (:func:`scipy.optimize.linprog`) with c = c⁺ − c⁻. The dictionary is
  refined (its size doubled) until the value changes by less than ``tol``; for inputs in
  R² the directions are a Fibonacci lattice on S².
* **Output layer only**: the positions are fixed and b moves in the metric Σ_j m_j db_j², so
  the limit is the hard-margin SVM (no intercept) on the features ψ_ij = √m_j σ(a_j·x̃_i):
  γ = 1/|u*| with u* the minimum-norm u with y_i ψ_i·u ≥ 1, from the dual
  max Σα − ½ αᵀGα, α ≥ 0 (G_il = y_i y_l ψ_i·ψ_l).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog, minimize


def sphere_directions(count: int, dim: int, seed: int = 0) -> np.ndarray:
    """``count`` unit vectors of R^dim: a Fibonacci lattice on S² (dim = 3), the circle's
    equally spaced points (dim = 2), else Gaussian draws normalised. (count, dim)."""
    if dim == 2:
        angle = 2 * math.pi * np.arange(count) / count
        return np.column_stack([np.cos(angle), np.sin(angle)])
    if dim == 3:
        k = np.arange(count) + 0.5
        z = 1 - 2 * k / count
        phi = math.pi * (3 - math.sqrt(5)) * k
        r = np.sqrt(1 - z * z)
        return np.column_stack([r * np.cos(phi), r * np.sin(phi), z])
    u = np.random.default_rng(seed).standard_normal((count, dim))
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def f1_margin_lp(x: np.ndarray, y: np.ndarray, directions: np.ndarray) -> tuple[float, np.ndarray]:
    """The LP's value γ and coefficients c (K,) for one dictionary. x (n, d), y (n,) = ±1."""
    features = np.maximum(np.column_stack([x, np.ones(len(x))]) @ directions.T, 0.0)  # (n, K)
    n, k = features.shape
    signed = y[:, None] * features
    # variables (c⁺ (K), c⁻ (K), γ); minimise −γ
    cost = np.zeros(2 * k + 1)
    cost[-1] = -1.0
    a_ub = np.vstack([
        np.hstack([-signed, signed, np.ones((n, 1))]),  # γ − y_i Σ c_k φ_ik ≤ 0
        np.hstack([np.ones((1, 2 * k)), np.zeros((1, 1))]),  # Σ c⁺ + c⁻ ≤ 1
    ])  # fmt: skip
    b_ub = np.concatenate([np.zeros(n), [1.0]])
    bounds = [(0, None)] * (2 * k) + [(None, None)]
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"the max-margin LP failed: {res.message}")
    return float(-res.fun), res.x[:k] - res.x[k : 2 * k]


@dataclass(frozen=True)
class MarginResult:
    """A refined max-margin value: ``value``, the values per dictionary size, ``converged``."""

    value: float
    sizes: tuple[int, ...]
    values: tuple[float, ...]
    converged: bool


def f1_max_margin(
    x: np.ndarray, y: np.ndarray, start: int = 256, tol: float = 1e-4, max_size: int = 65536
) -> MarginResult:
    """The F1 max-margin, the dictionary doubled until two successive values differ by
    less than ``tol`` (or ``max_size`` directions)."""
    dim = x.shape[1] + 1
    sizes, values = [], []
    size = start
    while size <= max_size:
        value, _ = f1_margin_lp(x, y, sphere_directions(size, dim))
        sizes.append(size)
        values.append(value)
        if len(values) > 1 and abs(values[-1] - values[-2]) < tol:
            return MarginResult(values[-1], tuple(sizes), tuple(values), True)
        size *= 2
    return MarginResult(values[-1], tuple(sizes), tuple(values), False)


def svm_margin(features: np.ndarray, y: np.ndarray, weights: np.ndarray) -> float:
    """The hard-margin SVM value of the fixed features: features (n, M) = σ(a_j·x̃_i),
    weights (M,) = the masses m_j; 0 when the points cannot be separated.

    By minimax duality, max_{|u| ≤ 1} min_i y_i ψ_i·u = min over the simplex of |Σ λ_i y_i ψ_i|:
    the distance from 0 to the convex hull of the signed points, a small QP on the simplex
    (SLSQP). ψ_ij = √m_j σ(a_j·x̃_i).
    """
    signed = y[:, None] * features * np.sqrt(weights)[None, :]
    gram = signed @ signed.T
    n = len(y)
    res = minimize(
        lambda lam: (lam @ gram @ lam, 2 * gram @ lam),
        np.full(n, 1.0 / n),
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * n,
        constraints=[{"type": "eq", "fun": lambda lam: lam.sum() - 1.0, "jac": np.ones_like}],
        options={"maxiter": 1000, "ftol": 1e-16},
    )
    u = signed.T @ res.x  # the nearest point of the hull
    norm = float(np.linalg.norm(u))
    if norm <= 1e-9 * max(1.0, float(np.abs(signed).max())):
        return 0.0
    margin = float(np.min(signed @ u) / norm)  # the margin of the direction found
    return max(margin, 0.0)
