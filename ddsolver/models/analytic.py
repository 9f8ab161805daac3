r"""Problems with known solutions, for convergence tests and benchmarks.

:class:`HarmonicProblem`: θ = z ∈ R^n (n = 1..4, coordinates x, y, z, w), Lebesgue reference
measure (log_reference_density = 0), and

    V(z) = ½ k |z − c|²,     U(z, z') = coupling · g(z) g(z'),  g(z) = z₁,

so U = 0 by default. With U = 0 and noise the DD is an Ornstein–Uhlenbeck process:
dZ = −2ξk(Z − c)dt + √(4ξτ/D) dW, whose Gaussian law is known in closed form
(:meth:`HarmonicProblem.gaussian_moments`), and whose Gibbs state is N(c, (τ/(Dk)) I).
With τ = 0 the characteristics are z(t) = c + (z₀ − c) e^{−2ξkt}.

:class:`GaussianLaw`: a product Gaussian initial law with exact cell masses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._scipy import special
from .factorisation import Factorisation

NAMES = ("x", "y", "z", "w")


@dataclass(frozen=True)
class HarmonicProblem:
    """Quadratic potential with an optional rank-one interaction (see module docstring)."""

    ndim: int = 1
    stiffness: float = 1.0
    centre: float = 0.0
    coupling: float = 0.0
    entropy_dimension: float = 1.0
    factorised = True  # U = coupling · z₁ z₁': one factor
    #: the constant of the "risk" observable, 1 + 2∫V + ∫∫U (there are no labels here)
    label_second_moment: float = 1.0

    @property
    def coordinate_names(self) -> tuple[str, ...]:
        """("x",), ("x", "y") or ("x", "y", "z")."""
        return NAMES[: self.ndim]

    def potential(self, points):
        """V and ∇V at points (M, n)."""
        shifted = np.asarray(points, float) - self.centre
        return 0.5 * self.stiffness * (shifted**2).sum(1), self.stiffness * shifted

    def interaction_factors(self, points) -> Factorisation:
        """U = coupling · z₁ z₁' as one factor."""
        points = np.asarray(points, float)
        grads = np.zeros((points.shape[0], 1, self.ndim))
        grads[:, 0, 0] = 1.0
        return Factorisation(points[:, :1].copy(), grads, np.array([self.coupling]), 0.0)

    def interaction_matrix(self, points1, points2=None):
        """U(z_i, z_j), shape (M1, M2)."""
        p2 = points1 if points2 is None else points2
        return self.coupling * np.outer(np.asarray(points1)[:, 0], np.asarray(p2)[:, 0])

    def self_interaction(self, points):
        """U(z, z)."""
        return self.coupling * np.asarray(points)[:, 0] ** 2

    def squared_norm(self, points):
        """|z|²."""
        return (np.asarray(points) ** 2).sum(1)

    def log_reference_density(self, points):
        """0: the reference measure is Lebesgue."""
        return np.zeros(np.asarray(points).shape[0])

    def log_reference_gradient(self, points):
        """0, shape (M, n)."""
        return np.zeros(np.asarray(points).shape)

    def gaussian_moments(self, mean0, var0, t, xi, tau):
        """Mean and variance per coordinate at time t of the OU process (U = 0)."""
        rate = 2.0 * xi * self.stiffness
        eps = tau / self.entropy_dimension
        mean = self.centre + (np.asarray(mean0) - self.centre) * math.exp(-rate * t)
        var_inf = eps / self.stiffness
        var = var_inf + (np.asarray(var0) - var_inf) * math.exp(-2.0 * rate * t)
        return mean, var


@dataclass(frozen=True)
class GaussianLaw:
    """Independent N(mean_k, std_k²) per coordinate, with exact cell masses."""

    means: tuple[float, ...]
    stds: tuple[float, ...]

    def axis_quantiles(self, name: str, probabilities: np.ndarray) -> np.ndarray:
        """Inverse cdf of coordinate ``name``."""
        k = NAMES.index(name)
        return self.means[k] + self.stds[k] * special.ndtri(np.asarray(probabilities, dtype=float))

    def axis_point_mass(self, name: str) -> float | None:
        """Never a point mass (std > 0)."""
        return None

    def axis_cdf(self, name: str, edges: np.ndarray) -> np.ndarray:
        """P(z_k ≤ edge) for the coordinate called ``name``."""
        k = NAMES.index(name)
        return special.ndtr((np.asarray(edges) - self.means[k]) / self.stds[k])
