r"""The multi-index DD on a grid of (m, r⊥): the dense kernel and the initial law's marginals.

For k + 1 ≤ 3 reduced coordinates the density p(m, r⊥) is solved by the grid solver
(:class:`~ddsolver.pde.GridDD`) like teacher–student's (u, v) — which is this problem at
k = 1. The solver needs the potential V (that of :class:`.model.MultiIndex`), the averaged
kernel as a dense matrix over the cell centres,

    Ū(θ_i, θ_j) = Σ_q w_q K(ρ_i, ρ_j, (m_i·m_j + r⊥_i r⊥_j c_q)/(ρ_i ρ_j)),

(c_q, w_q the Gauss–Jacobi rule of the orthogonal cosine; d = ∞: c = 0; teacher–student's
kernel :func:`~ddsolver.models.teacher_student.averaged_pair_matrix`), the self-interaction
K(ρ, ρ, 1) of the 1/N term and |θ|² for λ. The initial law w ~ N(0, κ²/d₀ I_d) is a product
law in these coordinates: each m_l ~ N(0, κ²/d₀), r⊥ ~ (κ/√d₀) χ_{d−k} (d = ∞: χ_{d₀−k};
d₀ = ∞: the point m = 0, r⊥ = κ), as the particles draw it
(:func:`.kind.draw_reduced`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..._scipy import special
from ...models.angular import log_radial_density
from ...models.initial import point_mass_cdf, scaled_chi_cdf, scaled_chi_quantile
from ...models.integrals import pair
from ...models.teacher_student import averaged_pair_matrix
from .model import MultiIndex


@dataclass(frozen=True)
class MultiIndexGrid(MultiIndex):
    """:class:`.model.MultiIndex` (first layer only) as the grid solver's reduced problem
    (:class:`~ddsolver.protocol.ReducedProblem`): points are cell centres θ = (m_1 … m_k, r⊥),
    (M, k + 1); V is the model's. Still a :class:`.model.MultiIndex`, so SGD trains on it."""

    factorised = False

    @property
    def coordinate_names(self) -> tuple[str, ...]:
        """m_1 … m_k, r_perp — the names of the SGD file's coordinates."""
        return (*(f"m_{j + 1}" for j in range(self.units)), "r_perp")

    @property
    def entropy_dimension(self) -> float:
        """d, the dimension of w."""
        return self.dimension

    def interaction_matrix(
        self, points1: np.ndarray, points2: np.ndarray | None = None
    ) -> np.ndarray:
        """Ū(θ1_i, θ2_j), shape (M1, M2) (compiled)."""
        m1, r1, _ = MultiIndex.split(points1)
        m2, r2, _ = (m1, r1, None) if points2 is None else MultiIndex.split(points2)
        c, w = self.cosine_rule()
        out = np.empty((r1.size, r2.size))
        act = self.activation
        averaged_pair_matrix(act.code, act.param_array, np.ascontiguousarray(m1), r1.copy(),
                             np.ascontiguousarray(m2), r2.copy(), c, w, points2 is None,
                             out)  # fmt: skip
        return out

    def self_interaction(self, points: np.ndarray) -> np.ndarray:
        """U(w, w) = E σ(ρG)², shape (M,)."""
        _, _, rho = MultiIndex.split(points)
        return pair(self.activation, rho, rho, np.ones_like(rho))

    def squared_norm(self, points: np.ndarray) -> np.ndarray:
        """|w|² = |m|² + r⊥², shape (M,)."""
        _, _, rho = MultiIndex.split(points)
        return rho * rho

    def log_reference_density(self, points: np.ndarray) -> np.ndarray:
        """(d − k − 1) log r⊥ + log|S^{d−k−1}| (d = ∞: log r⊥), the volume element of R^d in
        (m, r⊥)."""
        return log_radial_density(points[:, -1], self.dimension - self.units)  # r⊥ in R^{d−k}

    def log_reference_gradient(self, points: np.ndarray) -> np.ndarray:
        """∇ of :meth:`log_reference_density`: (0 … 0, (d − k − 1)/r⊥), shape (M, k + 1)."""
        d, k = self.dimension, self.units
        out = np.zeros(points.shape)
        out[:, -1] = (1.0 if math.isinf(d) else d - k - 1.0) / points[:, -1]
        return out


@dataclass(frozen=True)
class MultiIndexInitial:
    """The marginals of w ~ N(0, κ²/d₀ I_d) in (m_1 … m_k, r⊥).

    Parameters
    ----------
    scale : κ
    dimension : d (``math.inf``: the d = ∞ kernel)
    initial_dimension : d₀
    units : k
    """

    scale: float
    dimension: float
    initial_dimension: float
    units: int

    @property
    def point(self) -> bool:
        """Whether the law is the point m = 0, r⊥ = κ (d = d₀ = ∞, or d₀ = ∞)."""
        return math.isinf(self.initial_dimension)

    @property
    def _chi(self) -> tuple[float, float]:
        """(degrees of freedom, scale) of r⊥ = (κ/√d₀) χ_dof."""
        d, d0 = self.dimension, self.initial_dimension
        return (d if not math.isinf(d) else d0) - self.units, self.scale / math.sqrt(d0)

    def _check(self, name: str) -> bool:
        """True for r_perp, False for an m_l; raises for any other name."""
        if name == "r_perp":
            return True
        if name.startswith("m_") and name[2:].isdigit() and 1 <= int(name[2:]) <= self.units:
            return False
        raise ValueError(f"the multi-index initial law has no coordinate {name!r}")

    def axis_cdf(self, name: str, edges: np.ndarray) -> np.ndarray:
        """P(coordinate ≤ x) at ``edges``."""
        x = np.asarray(edges, dtype=float)
        radial = self._check(name)
        if self.point:
            return point_mass_cdf(x, self.scale if radial else 0.0)
        dof, s = self._chi
        return scaled_chi_cdf(x, dof, s) if radial else special.ndtr(x / s)

    def axis_quantiles(self, name: str, probabilities: np.ndarray) -> np.ndarray:
        """The inverse cdf at ``probabilities``."""
        q = np.asarray(probabilities, dtype=float)
        radial = self._check(name)
        if self.point:
            return np.full(q.shape, self.scale if radial else 0.0)
        dof, s = self._chi
        return scaled_chi_quantile(q, dof, s) if radial else s * special.ndtri(q)

    def axis_point_mass(self, name: str) -> float | None:
        """The point of a point-mass marginal (d₀ = ∞), else None."""
        radial = self._check(name)
        if not self.point:
            return None
        return self.scale if radial else 0.0
