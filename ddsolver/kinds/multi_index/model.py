r"""The multi-index teacher and its mean-field flow in the reduced coordinates (m, r⊥).

Inputs x ~ N(0, I_d); the teacher has k units, y = Σ_j v_j σ(<u_j, x>) + ς g, with the
Gram matrix G = (u_i·u_j). Write G = L Lᵀ (Cholesky) and take the orthonormal basis
e_1 … e_k of the teacher subspace in which u_j = Σ_l L_jl e_l. A student σ(<w, x>) reduces
to its projections m = (<w, e_l>)_l ∈ R^k and the norm r⊥ of its orthogonal part, with
ρ = |w| = √(|m|² + r⊥²). With K(a, b, c) = E[σ(aG₁)σ(bG₂)], corr = c
(:mod:`~ddsolver.models.integrals`) and s_j = |u_j| = √G_jj:

    V(w)     = −E[y σ(<w, x>)] = −Σ_j v_j K(s_j, ρ, (Lm)_j / (s_j ρ)),
    U(w, w') = K(ρ, ρ', (m·m' + r⊥ r⊥' c) / (ρ ρ')),
    E y²     = Σ_ij v_i v_j K(s_i, s_j, G_ij / (s_i s_j)) + ς²,

where c is the cosine of the two orthogonal parts. The mean law stays invariant under
rotations of the orthogonal complement R^{d−k}, so c has the law of two independent uniform
directions there, density ∝ (1 − c²)^{(d−k−3)/2} (d = ∞: c = 0), and the reduced kernel
Ū = E_c U is a Gauss–Jacobi sum. The DD ∂_t ρ = 2∇·(ρ ∇(Ψ + λ|w|²/2)),
Ψ = V + ∫Ū dρ, is exact in these k + 1 coordinates at every d (for k = 1 it is
``teacher_student``'s); its particles move with

    dθ_i/dt = −2 (∇V(θ_i) + (1/M) Σ_l ∇_1 Ū(θ_i, θ_l) + λ θ_i),    θ = (m, r⊥),

and the risk is R = E y² + (2/M) Σ_i V(θ_i) + (1/M²) Σ_il Ū(θ_i, θ_l).

With a trained second layer (students a σ(<w, x>), ``second_layer``) a particle is
θ = (a, m, r⊥), the potential a V₁(w) and the interaction a a' Ū₁(w, w'), with V₁, Ū₁ the
first layer's above; with F(w) = (1/M) Σ_l a_l Ū₁(w, w_l) the particles move with

    da_i/dt = −2 (V₁(w_i) + F(w_i) + λ a_i),    dw_i/dt = −2 (a_i ∇(V₁ + F)(w_i) + λ w_i),

and R = E y² + (2/M) Σ_i a_i V₁(w_i) + (1/M) Σ_i a_i F(w_i).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import prange

from ..._jit import jit_parallel
from ...models.activations import Activation
from ...models.angular import cosine_quadrature
from ...models.integrals import (
    derivative_product,
    pair,
    pair_da,
    pair_dc,
    pair_moment,
    pair_moment_da,
)
from ...models.risk import mean_field_risk
from .hermite_teacher import HermitePolynomial
from .mixed import MIXED_PAIRS, mixed_pair


def cosine_nodes(orthogonal_dimension: float) -> int:
    """Gauss–Jacobi nodes of the average over the orthogonal cosine c in R^{d−k}.

    The law of c narrows like 1/√(d − k), and K is smooth in c away from ±1, so few nodes
    suffice at large d − k. Against 48 nodes (M = 200 particles, k = 2) the values and
    gradients of Ū differ by at most 2e-14 (ReLU) and 4e-16 (erf) with 8 nodes at d = 40,
    1.5e-12 (ReLU) with 16 at d = 10, 2.6e-11 (ReLU) with 24 at d = 5.
    """
    if orthogonal_dimension >= 30:
        return 8
    return 16 if orthogonal_dimension >= 8 else 32


def orthogonal_cosine_rule(
    dimension: float, k: int, nodes: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and probability weights of the cosine c of two independent uniform directions in
    R^{d−k}, density ∝ (1 − c²)^{(d−k−3)/2} (d = ∞: the point c = 0); ``nodes`` = 0: by
    :func:`cosine_nodes`."""
    if math.isinf(dimension):
        return np.zeros(1), np.ones(1)
    dof = int(dimension) - k
    return cosine_quadrature(dof, nodes or cosine_nodes(dof))


@jit_parallel
def interaction_field(code, params, a, m, r, c_nodes, c_weights, value, grad):
    """value[i] = (1/M) Σ_l a_l Ū(θ_i, θ_l) and grad[i] = its gradient in θ_i = (m_i, r⊥_i).

    Parameters
    ----------
    code, params : the activation's kernel code and parameters
    a : (M,) the second layers (ones for students σ(<w, x>): x · 1.0 = x, so the sums are
        bit for bit those without them)
    m : (M, k) projections; r : (M,) orthogonal norms
    c_nodes, c_weights : (Q,) the cosine rule (probability weights)
    value : (M,) out; grad : (M, k + 1) out
    """
    n, k = m.shape
    norms = np.empty(n)  # ρ = |θ| = √(|m|² + r²), once per particle rather than per pair
    for i in range(n):
        squares = 0.0
        for ax in range(k):
            squares += m[i, ax] * m[i, ax]
        norms[i] = math.sqrt(squares + r[i] * r[i])
    for i in prange(n):
        rho_i = norms[i]
        acc = 0.0
        g = np.zeros(k + 1)
        for j in range(n):
            rho_j = norms[j]
            if rho_i == 0.0 or rho_j == 0.0:  # no direction: K does not depend on c
                acc += a[j] * pair_moment(code, params, rho_i, rho_j, 0.0)
                continue
            dot = 0.0
            for ax in range(k):
                dot += m[i, ax] * m[j, ax]
            inv = 1.0 / (rho_i * rho_j)
            for q in range(c_nodes.shape[0]):
                w = c_weights[q] * a[j]
                c = min(1.0, max(-1.0, (dot + r[i] * r[j] * c_nodes[q]) * inv))
                acc += w * pair_moment(code, params, rho_i, rho_j, c)
                k_rho = w * pair_moment_da(code, params, rho_i, rho_j, c)
                k_c = w * rho_i * rho_j * derivative_product(code, params, rho_i, rho_j, c)
                # ∂ρ_i/∂θ_i = θ_i/ρ_i; ∂c/∂m_i = m_j/(ρ_iρ_j) − c m_i/ρ_i²,
                # ∂c/∂r_i = r_j c_q/(ρ_iρ_j) − c r_i/ρ_i²
                for ax in range(k):
                    g[ax] += k_rho * m[i, ax] / rho_i + k_c * (
                        m[j, ax] * inv - c * m[i, ax] / (rho_i * rho_i)
                    )
                g[k] += k_rho * r[i] / rho_i + k_c * (
                    r[j] * c_nodes[q] * inv - c * r[i] / (rho_i * rho_i)
                )
        value[i] = acc / n
        for ax in range(k + 1):
            grad[i, ax] = g[ax] / n


@dataclass(frozen=True)
class MultiIndex:
    """The multi-index problem in the reduced coordinates (m, r⊥).

    Parameters
    ----------
    activation : Activation σ, shared by the teacher's units and the students
    dimension : float, d ≥ k + 2 or ``math.inf``
    gram : (k, k) positive definite, the Gram matrix of the teacher's directions
    v : (k,) the teacher's second layer
    label_noise : float, ς ≥ 0
    lam : float, λ ≥ 0, the ℓ2 penalty (λ/2)|w|²
    cosine_nodes : int, Gauss–Jacobi nodes of the orthogonal cosine at finite d (0: by
        :func:`cosine_nodes`)
    polynomial : HermitePolynomial or None, a teacher y = Σ_α c_α Π h_{α_l}(z_l) in place of
        the network (its directions orthonormal: ``gram`` the identity, ``v`` unused)
    teacher_activation : Activation or None, the teacher's g when it is not σ (a pair of
        :data:`.mixed.MIXED_PAIRS`; None: g = σ)
    second_layer : bool, students a σ(<w, x>) with a trained (particles θ = (a, m, r⊥))
    """

    activation: Activation
    dimension: float
    gram: np.ndarray
    v: np.ndarray
    label_noise: float = 0.0
    lam: float = 0.0
    cosine_nodes: int = 0
    polynomial: HermitePolynomial | None = None
    teacher_activation: Activation | None = None
    second_layer: bool = False
    chol: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        gram = np.array(self.gram, dtype=float, ndmin=2)
        k = gram.shape[0]
        d = self.dimension
        if not (math.isinf(d) or (d >= k + 2 and d == int(d))):
            raise ValueError(f"dimension must be an integer ≥ k + 2 = {k + 2} or inf, got {d}")
        object.__setattr__(self, "gram", gram)
        object.__setattr__(self, "v", np.broadcast_to(np.asarray(self.v, float), (k,)).copy())
        object.__setattr__(self, "chol", np.linalg.cholesky(gram))
        poly = self.polynomial
        if poly is not None and (poly.units != k or not np.array_equal(gram, np.eye(k))):
            raise ValueError("a polynomial teacher has k orthonormal directions (gram = I_k)")
        g = self.teacher_activation
        if g is not None and g.kind == self.activation.kind:
            object.__setattr__(self, "teacher_activation", None)  # (the same σ: K's own)
        elif g is not None and (g.kind, self.activation.kind) not in MIXED_PAIRS:
            raise ValueError(f"no closed mixed moment for teacher {g.kind!r}, student "
                             f"{self.activation.kind!r}")  # fmt: skip

    @property
    def teacher(self) -> Activation:
        """The teacher's activation g (σ unless ``teacher_activation`` is given)."""
        return self.teacher_activation or self.activation

    def teacher_pair(self, s, rho, c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(K, ∂K/∂ρ, ∂K/∂c) of K = E[g(sZ₁)σ(ρZ₂)], corr c: the teacher's unit of norm s
        against a student of norm ρ, broadcast."""
        if self.teacher_activation is None:
            act = self.activation
            return pair(act, s, rho, c), pair_da(act, rho, s, c), pair_dc(act, s, rho, c)
        return mixed_pair(self.teacher_activation.kind, self.activation.kind, s, rho, c)

    @property
    def units(self) -> int:
        """k, the teacher's units."""
        return self.gram.shape[0]

    @property
    def teacher_norms(self) -> np.ndarray:
        """s_j = |u_j|, (k,)."""
        return np.sqrt(np.diag(self.gram))

    @property
    def label_second_moment(self) -> float:
        """E y² = Σ_ij v_i v_j K(s_i, s_j, G_ij/(s_i s_j)) + ς² (a polynomial: Σ_α c_α² + ς²)."""
        if self.polynomial is not None:
            return self.polynomial.second_moment + self.label_noise**2
        s = self.teacher_norms
        corr = np.clip(self.gram / np.outer(s, s), -1.0, 1.0)
        k = pair(self.teacher, s[:, None], s[None, :], corr)
        return float(self.v @ k @ self.v) + self.label_noise**2

    def cosine_rule(self) -> tuple[np.ndarray, np.ndarray]:
        """Nodes and probability weights of the orthogonal cosine c (d = ∞: c = 0)."""
        return orthogonal_cosine_rule(self.dimension, self.units, self.cosine_nodes)

    @staticmethod
    def split(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(m (M, k), r⊥ (M,), ρ (M,)) of first layers θ = (m, r⊥) (M, k + 1)."""
        m, r = theta[:, :-1], theta[:, -1]
        return m, r, np.sqrt(np.sum(m * m, axis=1) + r * r)

    def layers(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(a (M,), (m, r⊥) (M, k + 1)) of particles θ: a = θ[:, 0] with a trained second
        layer, else ones and θ itself."""
        if self.second_layer:
            return theta[:, 0], theta[:, 1:]
        return np.ones(theta.shape[0]), theta

    def potential(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""V(θ_i) (M,) and ∇V (M, k + 1): with c_j = (Lm)_j/(s_j ρ),
        ∇_m = −Σ_j v_j [K_ρ m/ρ + K_c (L_j/(s_j ρ) − c_j m/ρ²)], ∇_r the same with r and
        no L_j term. A polynomial teacher: :meth:`HermitePolynomial.potential`."""
        if self.polynomial is not None:
            return self.polynomial.potential(self.activation, theta)
        m, r, rho = self.split(theta)
        safe = np.where(rho > 0, rho, 1.0)
        value = np.zeros(rho.size)
        grad = np.zeros(theta.shape)
        for j, s in enumerate(self.teacher_norms):
            c = np.clip(np.where(rho > 0, m @ self.chol[j] / (s * safe), 0.0), -1.0, 1.0)
            k_val, k_rho, k_c = self.teacher_pair(s, rho, c)
            value -= self.v[j] * k_val
            k_c = np.where(rho > 0, k_c, 0.0)
            grad[:, :-1] -= self.v[j] * (
                (k_rho / safe - k_c * c / safe**2)[:, None] * m
                + (k_c / (s * safe))[:, None] * self.chol[j]
            )
            grad[:, -1] -= self.v[j] * (k_rho / safe - k_c * c / safe**2) * r
        return value, grad

    def interaction(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """F = (1/M) Σ_l a_l Ū(w_i, w_l) (M,) and its gradient in w_i = (m_i, r⊥_i)
        (M, k + 1) (compiled; a = 1 without a second layer)."""
        a, first = self.layers(theta)
        m, r, _ = self.split(first)
        c, w = self.cosine_rule()
        value, grad = np.empty(r.size), np.empty(first.shape)
        act = self.activation
        interaction_field(act.code, act.param_array, np.ascontiguousarray(a),
                          np.ascontiguousarray(m), np.ascontiguousarray(r), c, w, value,
                          grad)  # fmt: skip
        return value, grad

    def velocity(self, theta: np.ndarray) -> np.ndarray:
        """dθ/dt = −2(∇_θ Ψ + λθ) of every particle, (M, dims): ∇_w Ψ = ∇V + ∇F, and with
        a second layer ∂Ψ/∂a = V₁ + F, ∇_w Ψ = a (∇V₁ + ∇F)."""
        a, first = self.layers(theta)
        value_v, grad_v = self.potential(first)
        value_u, grad_u = self.interaction(theta)
        if not self.second_layer:
            return -2.0 * (grad_v + grad_u + self.lam * theta)
        vel = np.empty_like(theta)
        vel[:, 0] = value_v + value_u
        vel[:, 1:] = a[:, None] * (grad_v + grad_u)
        return -2.0 * (vel + self.lam * theta)

    def risk_terms(self, theta: np.ndarray) -> tuple[float, float, float]:
        """(R(ρ), ∫U(θ, θ) dρ, ∫∫U dρ dρ) of the particles' empirical law (equal masses),
        R = E y² + 2∫a V₁ dρ + ∫a F dρ; the last two give the i.i.d. 1/N term
        (:func:`~ddsolver.models.risk.finite_width_correction`)."""
        a, first = self.layers(theta)
        value_v, _ = self.potential(first)
        value_u, _ = self.interaction(theta)
        double = float(np.mean(a * value_u))
        risk = mean_field_risk(self.label_second_moment, float(np.mean(a * value_v)), double)
        _, _, rho = self.split(first)
        mean_self = float(np.mean(a * a * pair(self.activation, rho, rho, np.ones_like(rho))))
        return risk, mean_self, double

    def risk(self, theta: np.ndarray) -> float:
        """R(ρ) = E y² + 2∫V dρ + ∫∫Ū dρ dρ of the particles' empirical law (equal masses)."""
        return self.risk_terms(theta)[0]
