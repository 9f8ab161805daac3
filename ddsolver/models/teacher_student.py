r"""Teacher–student with Gaussian inputs: x ~ N(0, I_d), y = σ(<w*, x>) + ς g.

The student's neurons are σ(<w, x>) with the teacher's activation σ. Write s* = |w*|,
e* = w*/s*, and for a neuron u = <w, e*> (overlap with the teacher direction) and
v = |w − u e*| (norm of the orthogonal part), ρ = √(u² + v²) = |w|. With
K(a, b, c) = E[σ(aG₁) σ(bG₂)], corr(G₁, G₂) = c (:mod:`~ddsolver.models.integrals`):

    V(w) = −E[y σ(<w, x>)] = −K(s*, ρ, u/ρ),
    U(w, w') = K(ρ, ρ', (u u' + v v' c)/(ρ ρ')),     E y² = K(s*, s*, 1) + ς²,

where c is the cosine between the orthogonal parts of w and w' — for independent uniform
directions in R^{d−1} it has density ∝ (1 − c²)^{(d−4)/2} — so the reduced kernel
ū_d(z, z') = E_c U averages over it (Gauss–Jacobi nodes; d = ∞: c = 0). The reduced
coordinates (u, v) ∈ R × [0, ∞) carry the reference measure v^{d−2} du dv.

ū_d has no low-rank factorisation that converges uniformly (the correlation reaches ±1
for aligned neurons), so the grid solver applies it as a dense matrix; the particle solver,
which needs a factorisation, is refused for this problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import prange

from .._jit import jit, jit_parallel
from .activations import Activation
from .angular import cosine_quadrature, log_radial_density
from .integrals import pair, pair_da, pair_dc, pair_moment

#: Gauss–Jacobi nodes over the cosine of the orthogonal parts (finite d).
COSINE_NODES = 24


@jit
def _norms(m, r):
    """ρ_i = √(|m_i|² + r_i²) of points (m (M, k), r (M,)), (M,)."""
    out = np.empty(r.shape[0])
    for i in range(r.shape[0]):
        acc = 0.0
        for ax in range(m.shape[1]):
            acc += m[i, ax] * m[i, ax]
        out[i] = math.sqrt(acc + r[i] * r[i])
    return out


@jit_parallel
def averaged_pair_matrix(code, params, m1, r1, m2, r2, c_nodes, c_weights, symmetric, out):
    """out[i, j] = Σ_q w_q K(ρᵢ, ρⱼ, (m1ᵢ·m2ⱼ + r1ᵢ r2ⱼ c_q)/(ρᵢρⱼ)) (compiled, parallel over i)
    of points with projections m (M, k) on a k-dimensional subspace and orthogonal norms r
    (M,): teacher–student's (u, v) at k = 1, the multi-index grid's (m, r⊥).

    With ``symmetric`` (the same points on both sides) only j ≥ i is computed and mirrored.
    """
    rho1, rho2 = _norms(m1, r1), _norms(m2, r2)
    k = m1.shape[1]
    for i in prange(m1.shape[0]):
        rho_i = rho1[i]
        start = i if symmetric else 0
        for j in range(start, m2.shape[0]):
            rho_j = rho2[j]
            acc = 0.0
            if rho_i == 0.0 or rho_j == 0.0:  # a zero scale: the correlation does not matter
                acc = pair_moment(code, params, rho_i, rho_j, 0.0)
            else:
                dot = 0.0
                for ax in range(k):
                    dot += m1[i, ax] * m2[j, ax]
                scale = 1.0 / (rho_i * rho_j)
                for q in range(c_nodes.shape[0]):
                    c = min(1.0, max(-1.0, (dot + r1[i] * r2[j] * c_nodes[q]) * scale))
                    acc += c_weights[q] * pair_moment(code, params, rho_i, rho_j, c)
            out[i, j] = acc
            if symmetric:
                out[j, i] = acc


@dataclass(frozen=True)
class TeacherStudent:
    """The teacher–student problem in the reduced coordinates (u, v).

    Parameters
    ----------
    activation : Activation, shared by teacher and student
    dimension : float, d ≥ 3 or ``math.inf``
    teacher_norm : float, s* = |w*| > 0
    label_noise : float, ς ≥ 0, the standard deviation of the additive label noise
    cosine_nodes : int, Gauss–Jacobi nodes of the average over c (finite d)
    """

    activation: Activation
    dimension: float
    teacher_norm: float = 1.0
    label_noise: float = 0.0
    cosine_nodes: int = COSINE_NODES

    def __post_init__(self) -> None:
        d = self.dimension
        if not (math.isinf(d) or (d >= 3 and d == int(d))):
            raise ValueError(f"dimension must be an integer ≥ 3 or inf, got {d}")
        if self.teacher_norm <= 0 or self.label_noise < 0:
            raise ValueError("teacher_norm must be > 0 and label_noise ≥ 0")

    coordinate_names = ("u", "v")
    factorised = False  # a dense kernel: grid with the matrix interaction only

    @property
    def entropy_dimension(self) -> float:
        """D = d: θ = w."""
        return self.dimension

    @property
    def label_second_moment(self) -> float:
        """E y² = E σ(s* G)² + ς²."""
        s = self.teacher_norm
        return float(pair(self.activation, s, s, 1.0)) + self.label_noise**2

    @staticmethod
    def _split(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = np.asarray(points, dtype=float).reshape(-1, 2)
        u, v = z[:, 0].copy(), z[:, 1].copy()
        return u, v, np.sqrt(u * u + v * v)

    def potential(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""V = −K(s*, ρ, u/ρ) and ∇V in (u, v); shapes (M,), (M, 2)."""
        u, v, rho = self._split(points)
        safe = np.where(rho > 0, rho, 1.0)
        c = np.where(rho > 0, u / safe, 0.0)
        s = self.teacher_norm
        value = -pair(self.activation, s, rho, c)
        d_rho = -pair_da(self.activation, rho, s, c)  # K is symmetric in its two scales
        d_c = -pair_dc(self.activation, s, rho, c)
        grad_u = d_rho * u / safe + d_c * (v * v) / safe**3
        grad_v = d_rho * v / safe - d_c * u * v / safe**3
        return value, np.column_stack([grad_u, grad_v])

    def _cosine_rule(self) -> tuple[np.ndarray, np.ndarray]:
        if math.isinf(self.dimension):
            return np.zeros(1), np.ones(1)
        return cosine_quadrature(int(self.dimension) - 1, self.cosine_nodes)

    def interaction_matrix(
        self, points1: np.ndarray, points2: np.ndarray | None = None
    ) -> np.ndarray:
        """ū_d(z1[i], z2[j]) = E_c U, shape (M1, M2)."""
        u1, v1, _ = self._split(points1)
        u2, v2, _ = (u1, v1, None) if points2 is None else self._split(points2)
        c, w = self._cosine_rule()
        out = np.empty((u1.size, u2.size))
        act = self.activation
        averaged_pair_matrix(act.code, act.param_array, u1[:, None], v1, u2[:, None], v2, c, w,
                             points2 is None, out)  # fmt: skip
        return out

    def self_interaction(self, points: np.ndarray) -> np.ndarray:
        """U(w, w) = E σ(ρG)², shape (M,)."""
        _, _, rho = self._split(points)
        return pair(self.activation, rho, rho, np.ones_like(rho))

    def squared_norm(self, points: np.ndarray) -> np.ndarray:
        """|w|² = u² + v², shape (M,)."""
        _, _, rho = self._split(points)
        return rho * rho

    def log_reference_density(self, points: np.ndarray) -> np.ndarray:
        """(d − 2) log v + log|S^{d−2}|; d = ∞: log v ((τ/d)(d − 2) log v → τ log v)."""
        _, v, _ = self._split(points)
        return log_radial_density(v, self.dimension - 1.0)  # v is a norm in R^{d−1}

    def log_reference_gradient(self, points: np.ndarray) -> np.ndarray:
        """∇ of :meth:`log_reference_density`: (0, (d − 2)/v), shape (M, 2)."""
        _, v, _ = self._split(points)
        factor = 1.0 if math.isinf(self.dimension) else self.dimension - 2.0
        return np.column_stack([np.zeros_like(v), factor / v])
