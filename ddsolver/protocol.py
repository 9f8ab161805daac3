r"""What the solvers need of a reduced problem and of an initial law (``typing.Protocol``).

A reduced problem is the DD of one data law and network written in a few coordinates z
(DESIGN.md §2): the potential V(z), the interaction U(z, z'), the constant E y², and the
geometry that the noise needs (the reference density of the reduced coordinates, whose log
is L(z), e.g. (d − 1) log r). The grid solver (:class:`~ddsolver.pde.GridDD`), the particle
solver (:class:`~ddsolver.lagrangian.ParticleDD`) and the interaction operators accept any
object with these members; the problem kinds of :mod:`ddsolver.kinds` build them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .models.factorisation import Factorisation


@runtime_checkable
class ReducedProblem(Protocol):
    r"""A DD in reduced coordinates z ∈ R^n (n = ``len(coordinate_names)``, 1 to 4).

    Attributes
    ----------
    coordinate_names : tuple of str, the reduced coordinates in the order of the points' columns
    entropy_dimension : float, D, the dimension of θ (``math.inf`` for the d → ∞ limit)
    label_second_moment : float, E y²
    factorised : bool, whether the problem is also a :class:`FactorisedProblem` (particles
        need it); otherwise the kernel is only the dense :meth:`interaction_matrix`
    """

    coordinate_names: tuple[str, ...]
    entropy_dimension: float
    label_second_moment: float
    factorised: bool

    def potential(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """V (M,) and ∇V (M, n) at points (M, n)."""
        ...

    def interaction_matrix(self, points1: np.ndarray, points2: np.ndarray | None = None):
        """U(z_i, z'_j), shape (M1, M2) (``points2`` None: the points against themselves)."""
        ...

    def self_interaction(self, points: np.ndarray) -> np.ndarray:
        """U(z, z), shape (M,)."""
        ...

    def squared_norm(self, points: np.ndarray) -> np.ndarray:
        """|θ(z)|², shape (M,): the ℓ2 penalty's (λ/2)|θ|²."""
        ...

    def log_reference_density(self, points: np.ndarray) -> np.ndarray:
        """L(z), the log of the volume element of R^D in reduced coordinates, shape (M,)."""
        ...

    def log_reference_gradient(self, points: np.ndarray) -> np.ndarray:
        """∇L(z), shape (M, n)."""
        ...


@runtime_checkable
class FactorisedProblem(ReducedProblem, Protocol):
    """A reduced problem whose kernel has a factorisation (what the particle solver needs)."""

    def interaction_factors(self, points: np.ndarray) -> Factorisation:
        """U ≈ Σ_k w_k φ_k(z) φ_k(z') at points (M, n), with its error bound."""
        ...


@runtime_checkable
class InitialLaw(Protocol):
    """An initial law as its marginals along the reduced coordinates (a product law)."""

    def axis_cdf(self, name: str, edges: np.ndarray) -> np.ndarray:
        """P(z_name ≤ x) at the points ``edges`` (any shape)."""
        ...

    def axis_quantiles(self, name: str, probabilities: np.ndarray) -> np.ndarray:
        """The inverse cdf of coordinate ``name`` at ``probabilities``."""
        ...

    def axis_point_mass(self, name: str) -> float | None:
        """The location of the marginal when it is a point mass, else None."""
        ...
