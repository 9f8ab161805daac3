r"""The factorised form of an interaction kernel, shared by every problem that has one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Factorisation:
    r"""U(z, z') ≈ Σ_k weights[k] · values[i, k] · values[j, k] on a set of points.

    Attributes
    ----------
    values : (M, K) float64, the factors φ_k at the points
    gradients : (M, K, n) float64, ∇_z φ_k at the points
    weights : (K,) float64
    error_bound : float, bound on |U − Σ_k …| for every pair (0 when exact)
    """

    values: np.ndarray
    gradients: np.ndarray
    weights: np.ndarray
    error_bound: float

    @property
    def rank(self) -> int:
        """Number of factors K."""
        return self.weights.shape[0]
