r"""Initial laws in reduced coordinates.

``gaussian``: w ~ N(0, κ²/d · I_d), so r = |w| = (κ/√d) χ_d, with

    P(r ≤ x) = P(χ²_d ≤ d x²/κ²) = γ(d/2, d x²/(2κ²)) / Γ(d/2),

and for d = ∞ the point mass at r = κ. With a second layer the weight a is
independent of w: a point mass at ``a_mean`` (``a_std = 0``) or N(a_mean, a_std²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._scipy import special

#: relative size of the last term (series) or of the last factor's distance from 1 (fraction):
#: two units in the last place, which rounding lets the fraction's factors reach
GAMMA_TOLERANCE = 2.0 * np.finfo(float).eps
_TINY = 1e-300  # Lentz's guard against a zero denominator
#: Beyond this shape a the sums take ~30√a terms and the prefactor's error grows like εa:
#: SciPy's ``gammainc`` (Temme's uniform asymptotic expansion) takes over, in microseconds
#: for any a (d = 10³⁰ included).
SERIES_MAX_SHAPE = 1000.0


def regularised_lower_gamma(a: float, x: np.ndarray) -> np.ndarray:
    r"""P(a, x) = γ(a, x)/Γ(a) for a > 0 and x ≥ 0 (``scipy.special.gammainc``, without
    importing SciPy's special functions at start-up).

    With the prefactor e^{a ln x − x − ln Γ(a)}: for x < a + 1 the series
    P = prefactor · Σ_n xⁿ/(a (a+1) ⋯ (a+n)); else 1 − prefactor · (the continued fraction of
    Q by the modified Lentz method) — Numerical Recipes' split, both converging within a few
    √a terms. Its error is that of the prefactor, ≈ ε (a|ln x| + x + |ln Γ(a)|) relative
    (tested against SciPy). For a > :data:`SERIES_MAX_SHAPE` it is SciPy's ``gammainc``;
    P(a, ∞) = 1. Raises if a sum has not converged.
    """
    x = np.asarray(x, dtype=float)
    if a > SERIES_MAX_SHAPE:
        return np.asarray(special.gammainc(a, x), dtype=float)
    out = np.where(np.isposinf(x), 1.0, 0.0)
    x = np.where(np.isposinf(x), 0.0, x)
    limit = int(100 + 30 * math.sqrt(a))
    positive = x > 0.0
    series = positive & (x < a + 1.0)
    fraction = positive & ~series
    lgamma_a = math.lgamma(a)
    if series.any():
        xs = x[series]
        term = np.full(xs.shape, 1.0 / a)
        total = term.copy()
        for n in range(1, limit):
            term *= xs / (a + n)
            total += term
            if np.all(term <= GAMMA_TOLERANCE * total):
                break
        else:
            raise ArithmeticError(f"P({a}, x): the series did not converge in {limit} terms")
        out[series] = total * np.exp(a * np.log(xs) - xs - lgamma_a)
    if fraction.any():
        xf = x[fraction]
        b = xf + 1.0 - a
        c = np.full(xf.shape, 1.0 / _TINY)
        d = 1.0 / b
        h = d.copy()
        for i in range(1, limit):
            an = -i * (i - a)
            b = b + 2.0
            d = an * d + b
            d = np.where(np.abs(d) < _TINY, _TINY, d)
            c = b + an / c
            c = np.where(np.abs(c) < _TINY, _TINY, c)
            d = 1.0 / d
            delta = d * c
            h = h * delta
            if np.all(np.abs(delta - 1.0) <= GAMMA_TOLERANCE):
                break
        else:
            raise ArithmeticError(f"Q({a}, x): the fraction did not converge in {limit} terms")
        out[fraction] = 1.0 - np.exp(a * np.log(xf) - xf - lgamma_a) * h
    return out


def scaled_chi_cdf(x: np.ndarray, dof: float, scale: float) -> np.ndarray:
    """P(scale · χ_dof ≤ x): the law of |w| for w ~ N(0, scale² I_dof)."""
    x = np.maximum(np.asarray(x, dtype=float), 0.0)
    with np.errstate(over="ignore"):  # (x/scale)² beyond 1e308 is ∞, where P = 1
        return regularised_lower_gamma(0.5 * dof, 0.5 * (x / scale) ** 2)


def scaled_chi_quantile(q: np.ndarray, dof: float, scale: float) -> np.ndarray:
    """The inverse of :func:`scaled_chi_cdf` at probabilities ``q``."""
    return scale * np.sqrt(2.0 * special.gammaincinv(0.5 * dof, np.asarray(q, dtype=float)))


def point_mass_cdf(x: np.ndarray, location: float) -> np.ndarray:
    """The cdf of a point mass at ``location``."""
    return np.where(np.asarray(x, dtype=float) >= location, 1.0, 0.0)


@dataclass(frozen=True)
class GaussianInitial:
    """w ~ N(0, scale²/d · I_d) (and a ~ N(a_mean, a_std²) when there is a second layer).

    Parameters
    ----------
    scale : float
        κ > 0.
    dimension : float
        d (an int, or ``math.inf``).
    a_mean, a_std : float
        Law of the second-layer weight (ignored without a second layer).
    """

    scale: float
    dimension: float
    a_mean: float = 1.0
    a_std: float = 0.0

    @property
    def is_point_mass(self) -> bool:
        """True when the radial law is a Dirac mass (d = ∞)."""
        return math.isinf(self.dimension)

    def radial_cdf(self, r: np.ndarray) -> np.ndarray:
        """P(|w| ≤ r), shape of ``r``."""
        r = np.asarray(r, dtype=float)
        if self.is_point_mass:
            return point_mass_cdf(r, self.scale)
        return scaled_chi_cdf(r, self.dimension, self.scale / math.sqrt(self.dimension))

    def radial_quadrature(self, nodes: int = 80) -> tuple[np.ndarray, np.ndarray]:
        """Nodes r and probability weights with Σ w f(r) ≈ E f(|w|) (Gauss–Laguerre in r²).

        Exact for f polynomial in r² of degree < 2·nodes; for d = ∞ a single node at κ.
        """
        if self.is_point_mass:
            return np.array([self.scale]), np.array([1.0])
        d = self.dimension
        x, w = special.roots_genlaguerre(nodes, 0.5 * d - 1.0)
        return self.scale * np.sqrt(2.0 * x / d), w / w.sum()

    def a_cdf(self, a: np.ndarray) -> np.ndarray:
        """P(a' ≤ a) for the second-layer weight."""
        a = np.asarray(a, dtype=float)
        if self.a_std == 0.0:
            return point_mass_cdf(a, self.a_mean)
        return special.ndtr((a - self.a_mean) / self.a_std)

    def axis_cdf(self, name: str, edges: np.ndarray) -> np.ndarray:
        """CDF of the reduced coordinate ``name`` ("r" or "a") at ``edges``."""
        if name == "r":
            return self.radial_cdf(edges)
        if name == "a":
            return self.a_cdf(edges)
        raise ValueError(f"the Gaussian initial law has no coordinate {name!r}")

    def axis_quantiles(self, name: str, probabilities: np.ndarray) -> np.ndarray:
        """Inverse cdf of the reduced coordinate ``name`` at the given probabilities."""
        q = np.asarray(probabilities, dtype=float)
        if name == "r":
            if self.is_point_mass:
                return np.full(q.shape, self.scale)
            return scaled_chi_quantile(q, self.dimension, self.scale / math.sqrt(self.dimension))
        if name == "a":
            if self.a_std == 0.0:
                return np.full(q.shape, self.a_mean)
            return self.a_mean + self.a_std * special.ndtri(q)
        raise ValueError(f"the Gaussian initial law has no coordinate {name!r}")

    def axis_point_mass(self, name: str) -> float | None:
        """Where the marginal of ``name`` is a point mass (r for d = ∞, a for a_std = 0)."""
        if name == "r":
            return self.scale if self.is_point_mass else None
        if name == "a":
            return self.a_mean if self.a_std == 0.0 else None
        raise ValueError(f"the Gaussian initial law has no coordinate {name!r}")

    def a_quadrature(self, nodes: int = 40) -> tuple[np.ndarray, np.ndarray]:
        """Nodes and probability weights for the second-layer weight."""
        if self.a_std == 0.0:
            return np.array([self.a_mean]), np.array([1.0])
        x, w = np.polynomial.hermite_e.hermegauss(nodes)
        return self.a_mean + self.a_std * x, w / w.sum()

    def quadrature(self, second_layer: bool, nodes: int = 80) -> tuple[np.ndarray, np.ndarray]:
        """Product rule in the reduced coordinates ((r,) or (a, r)).

        Returns
        -------
        points : (Q, 1) or (Q, 2) float64
        weights : (Q,) float64, summing to 1
        """
        r, wr = self.radial_quadrature(nodes)
        if not second_layer:
            return r[:, None], wr
        a, wa = self.a_quadrature()
        aa, rr = np.meshgrid(a, r, indexing="ij")
        return np.column_stack([aa.ravel(), rr.ravel()]), np.outer(wa, wr).ravel()


@dataclass(frozen=True)
class AnisotropicInitial:
    """θ = (a, b, w): w ~ N(0, κ²/d I_d) split into blocks of s₀ and d − s₀ coordinates,
    a ~ N(a_mean, a_std²), b ~ N(b_mean, b_std²), all independent.

    Reduced coordinates: r₁ = |w₁| = (κ/√d) χ_{s₀} and r₂ = |w₂| = (κ/√d) χ_{d−s₀}
    (``dimension`` must be finite: for d = ∞ with s₀ fixed, r₁ would vanish).
    """

    scale: float
    dimension: float
    informative: int
    a_mean: float = 1.0
    a_std: float = 0.0
    b_mean: float = 0.0
    b_std: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.dimension) and 1 <= self.informative < self.dimension):
            raise ValueError(
                f"the anisotropic initial law needs a finite d > s0 ≥ 1, got "
                f"d = {self.dimension}, s0 = {self.informative}"
            )

    def _block(self, name: str) -> float:
        return self.informative if name == "r1" else self.dimension - self.informative

    def _normal(self, name: str) -> tuple[float, float]:
        return (self.a_mean, self.a_std) if name == "a" else (self.b_mean, self.b_std)

    def axis_cdf(self, name: str, edges: np.ndarray) -> np.ndarray:
        """CDF of the reduced coordinate ``name`` (a, b, r1, r2) at ``edges``."""
        x = np.asarray(edges, dtype=float)
        if name in ("a", "b"):
            mean, std = self._normal(name)
            return point_mass_cdf(x, mean) if std == 0 else special.ndtr((x - mean) / std)
        if name in ("r1", "r2"):
            return scaled_chi_cdf(x, self._block(name), self.scale / math.sqrt(self.dimension))
        raise ValueError(f"the anisotropic initial law has no coordinate {name!r}")

    def axis_quantiles(self, name: str, probabilities: np.ndarray) -> np.ndarray:
        """Inverse cdf of the reduced coordinate ``name`` at the given probabilities."""
        q = np.asarray(probabilities, dtype=float)
        if name in ("a", "b"):
            mean, std = self._normal(name)
            return np.full(q.shape, mean) if std == 0 else mean + std * special.ndtri(q)
        if name in ("r1", "r2"):
            return scaled_chi_quantile(q, self._block(name), self.scale / math.sqrt(self.dimension))
        raise ValueError(f"the anisotropic initial law has no coordinate {name!r}")

    def axis_point_mass(self, name: str) -> float | None:
        """Where the marginal of ``name`` is a point mass (a or b with zero spread)."""
        if name in ("a", "b"):
            mean, std = self._normal(name)
            return mean if std == 0 else None
        if name in ("r1", "r2"):
            return None
        raise ValueError(f"the anisotropic initial law has no coordinate {name!r}")


@dataclass(frozen=True)
class TeacherStudentInitial:
    """w ~ N(0, κ²/d I_d) in the teacher–student coordinates: u = <w, e*> ~ N(0, κ²/d) and
    v = |w − u e*| = (κ/√d) χ_{d−1}, independent; for d = ∞ the point (0, κ).
    """

    scale: float
    dimension: float

    def axis_cdf(self, name: str, edges: np.ndarray) -> np.ndarray:
        """CDF of the reduced coordinate ``name`` ("u" or "v") at ``edges``."""
        x = np.asarray(edges, dtype=float)
        d = self.dimension
        if name == "u":
            if math.isinf(d):
                return point_mass_cdf(x, 0.0)
            return special.ndtr(x * math.sqrt(d) / self.scale)
        if name == "v":
            if math.isinf(d):
                return point_mass_cdf(x, self.scale)
            return scaled_chi_cdf(x, d - 1, self.scale / math.sqrt(d))
        raise ValueError(f"the teacher–student initial law has no coordinate {name!r}")

    def axis_quantiles(self, name: str, probabilities: np.ndarray) -> np.ndarray:
        """Inverse cdf of ``name`` at the given probabilities."""
        q = np.asarray(probabilities, dtype=float)
        d = self.dimension
        if name == "u":
            if math.isinf(d):
                return np.zeros(q.shape)
            return self.scale / math.sqrt(d) * special.ndtri(q)
        if name == "v":
            if math.isinf(d):
                return np.full(q.shape, self.scale)
            return scaled_chi_quantile(q, d - 1, self.scale / math.sqrt(d))
        raise ValueError(f"the teacher–student initial law has no coordinate {name!r}")

    def axis_point_mass(self, name: str) -> float | None:
        """For d = ∞ both marginals are point masses: u at 0, v at κ."""
        if name not in ("u", "v"):
            raise ValueError(f"the teacher–student initial law has no coordinate {name!r}")
        if not math.isinf(self.dimension):
            return None
        return 0.0 if name == "u" else self.scale
