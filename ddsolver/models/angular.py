r"""The law of the cosine between two independent uniform directions in R^d.

c = <u, u'> has density ∝ (1 − c²)^{(d−3)/2} on [−1, 1] (a Beta((d−1)/2, (d−1)/2)
law mapped to [−1, 1]), odd moments 0 and

    E c^{2j} = Π_{i=0}^{j−1} (2i + 1)/(d + 2i)        (E c² = 1/d).
"""

from __future__ import annotations

import math

import numpy as np

from .._scipy import special


def even_moments(dimension: float, jmax: int) -> np.ndarray:
    """E c^{2j} for j = 0..jmax; for d = ∞ all but the first are 0.

    Returns
    -------
    (jmax + 1,) float64
    """
    out = np.zeros(jmax + 1)
    out[0] = 1.0
    if math.isinf(dimension):
        return out
    for j in range(1, jmax + 1):
        out[j] = out[j - 1] * (2 * j - 1) / (dimension + 2 * j - 2)
    return out


def cosine_quadrature(dimension: int, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Jacobi nodes and probability weights for E f(c), exact for degree < 2·nodes.

    Returns
    -------
    c, w : (nodes,) float64, with Σ w = 1
    """
    if dimension < 2:
        raise ValueError(f"the cosine law needs dimension ≥ 2, got {dimension}")
    alpha = 0.5 * (dimension - 3)
    c, w = special.roots_jacobi(nodes, alpha, alpha)
    return c, w / w.sum()


def sample_cosines(dimension: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Monte-Carlo cosines of independent uniform directions (for tests and checks)."""
    u = rng.standard_normal((size, dimension))
    v = rng.standard_normal((size, dimension))
    return np.einsum("ij,ij->i", u, v) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)


def log_radial_density(r: np.ndarray, dimension: float) -> np.ndarray:
    """(n − 1) log r + log|S^{n−1}|: the log of the volume element of R^n in the norm r
    (n = ``dimension``; n = ∞: log r, the diverging constant dropped), shape of ``r``."""
    if math.isinf(dimension):
        return np.log(r)
    n = dimension
    log_sphere = math.log(2.0) + 0.5 * n * math.log(math.pi) - special.gammaln(0.5 * n)
    return (n - 1.0) * np.log(r) + log_sphere
