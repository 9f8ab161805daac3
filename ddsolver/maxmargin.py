r"""The max-margin classifiers that logistic-loss training converges to, computed independently.

* **F1 (variation norm), both layers trained** (Chizat & Bach 2020): over a dictionary of unit
  directions a_k ∈ S^d of x̃ = (x, 1), the linear program

      max γ   s.t.   y_i Σ_k c_k (a_k·x̃_i)₊ ≥ γ  (all i),   Σ_k |c_k| ≤ 1,

  solved by HiGHS (:func:`scipy.optimize.linprog`) with c = c⁺ − c⁻, by column generation
  (a few directions at a time, those the duals price above the value joining until none
  does: the LP over the whole dictionary). The dictionary is refined (its size doubled)
  until the value changes by less than ``tol``; for inputs in R² the directions are a
  Fibonacci lattice on S².
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
    value, coef, _ = _restricted_lp(y[:, None] * features)
    return value, coef


def _restricted_lp(signed: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """max γ s.t. Σ_k c_k signed_ik ≥ γ, Σ|c_k| ≤ 1 over the columns of ``signed`` (n, K):
    (γ, c (K,), the margin rows' duals λ (n,), λ ≥ 0 with Σλ = 1)."""
    n, k = signed.shape
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
    return float(-res.fun), res.x[:k] - res.x[k : 2 * k], -res.ineqlin.marginals[:n]


#: Directions scored per block in :func:`f1_margin_columns` (bounds its memory: n × block).
SCORE_BLOCK = 4096


def _scores(xt: np.ndarray, y: np.ndarray, directions: np.ndarray, dual: np.ndarray) -> np.ndarray:
    """|Σ_i λ_i y_i (a_k·x̃_i)₊| of every direction (K,), a block of directions at a time."""
    weights = dual * y
    out = np.empty(len(directions))
    for start in range(0, len(directions), SCORE_BLOCK):
        block = directions[start : start + SCORE_BLOCK]
        out[start : start + len(block)] = np.abs(weights @ np.maximum(xt @ block.T, 0.0))
    return out


def f1_margin_columns(
    x: np.ndarray, y: np.ndarray, directions: np.ndarray, start: np.ndarray | None = None,
    batch: int = 64,
) -> tuple[float, np.ndarray, np.ndarray]:  # fmt: skip
    r"""The value of :func:`f1_margin_lp` over the whole dictionary by column generation.

    The LP over a few directions gives γ and the duals λ (a distribution over the points);
    it is optimal over the whole dictionary exactly when no direction has
    |Σ_i λ_i y_i (a_k·x̃_i)₊| > γ (LP duality: min_λ max_k of that is the value). Until then
    the ``batch`` directions that exceed γ most join, and the LP is solved again. ``start``:
    the indices to begin with (default: ``batch`` spread over the dictionary). Returns (γ,
    coefficients c (K,), λ (n,)).
    """
    xt = np.column_stack([x, np.ones(len(x))])
    active = np.unique(np.linspace(0, len(directions) - 1, batch).astype(int)
                       if start is None else start)  # fmt: skip
    while True:
        signed = y[:, None] * np.maximum(xt @ directions[active].T, 0.0)
        value, coef, dual = _restricted_lp(signed)
        scores = _scores(xt, y, directions, dual)
        scores[active] = -np.inf
        slack = 1e-9 * max(abs(value), 1e-12)
        violated = np.flatnonzero(scores > value + slack)
        if not violated.size:
            full = np.zeros(len(directions))
            full[active] = coef
            return value, full, dual
        worst = violated[np.argsort(scores[violated])[::-1][:batch]]
        active = np.union1d(active, worst)


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
    less than ``tol`` (or ``max_size`` directions). Each size is solved exactly over its whole
    dictionary by column generation (:func:`f1_margin_columns`), warm-started from the
    previous size's duals."""
    dim = x.shape[1] + 1
    xt = np.column_stack([x, np.ones(len(x))])
    sizes, values = [], []
    size, dual = start, None
    while size <= max_size:
        directions = sphere_directions(size, dim)
        begin = None  # the previous size's duals pick the new lattice's first directions
        if dual is not None:
            begin = np.argsort(_scores(xt, y, directions, dual))[::-1][:64]
        value, _, dual = f1_margin_columns(x, y, directions, begin)
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
