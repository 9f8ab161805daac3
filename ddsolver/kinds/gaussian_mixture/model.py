r"""A Gaussian mixture and its mean-field flow in the reduced coordinates (a, m, r⊥).

Clusters c = 1 … C with probabilities π_c, means μ_c ∈ span(e_1 … e_p) and widths s_c:
x | c ~ N(μ_c, s_c² I_d), label y = y_c (+ ς g). The students are a σ(<w, x>) with both
layers trained. The law is invariant under rotations of the complement of the means' span,
so a neuron reduces, as in the multi-index kind (:mod:`ddsolver.kinds.multi_index.model`),
to its second layer a, its projections m = (<w, e_l>)_l ∈ R^p and the norm r⊥ of its
orthogonal part, ρ = |w|. On cluster c, <w, x> has mean <m, μ̃_c> (μ̃_c the coordinates of
μ_c) and variance s_c² ρ², and two neurons' covariance is s_c² (m·m' + r⊥ r⊥' c), c the
cosine of their orthogonal parts (law ∝ (1 − c²)^{(d−p−3)/2}; d = ∞: c = 0). With P and S
of :mod:`.moments`:

    V(θ)      = −a Σ_c π_c y_c P(<m, μ̃_c>, s_c² ρ²),
    U(θ, θ')  = a a' Σ_c π_c E_c S(<m, μ̃_c>, <m', μ̃_c>, s_c² ρ², s_c² ρ'², s_c² (m·m' + r⊥ r⊥' c)),
    E y²      = Σ_c π_c y_c² + ς².

The DD ∂_t ρ = 2∇·(ρ ∇(Ψ + λ|θ|²/2)), Ψ = V + ∫U dρ, is exact in these p + 2 coordinates;
its particles move with dθ_i/dt = −2(∇V(θ_i) + (1/M) Σ_l ∇_1 U(θ_i, θ_l) + λθ_i), and
R = E y² + (2/M) Σ_i V(θ_i) + (1/M²) Σ_il U(θ_i, θ_l).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import prange

from ..._jit import jit_parallel
from ...models.activations import Activation
from ...models.risk import mean_field_risk
from ..multi_index.model import orthogonal_cosine_rule
from .moments import ERF_T, ERF_W, biased_mean, biased_pair, mirrored_pair


@jit_parallel
def mixture_interaction(code, means, widths, probs, mirror, a, m, r, c_nodes, c_weights,
                        t_nodes, t_weights, value, grad):  # fmt: skip
    """value[i] = (1/M) Σ_l a_l Ū₁(w_i, w_l) and grad[i] its gradient in (m_i, r⊥_i), where
    U = a a' Ū₁ (the second layers factored out).

    Each unordered pair {i, l} is evaluated once (Ū₁ is symmetric; its kernel gives the
    derivatives in both arguments): row i of a work array (M, M, p + 2) holds what the pairs
    (i, l ≥ i) give to i and to l, and the sums over it run afterwards in a fixed order.

    Parameters
    ----------
    code : the activation's kernel code
    means : (C, p) the clusters' means; widths : (C,) s_c; probs : (C,) π_c
    mirror : (C,) int, the index of an earlier cluster with mean −μ_c and the same width (its
        pair kernel gives this one's by :func:`.moments.mirrored_pair`), or −1
    a : (M,) second layers; m : (M, p) projections; r : (M,) orthogonal norms
    c_nodes, c_weights : (Q,) the orthogonal cosine's rule (probability weights)
    t_nodes, t_weights : the erf kernel's rule (:data:`.moments.ERF_T`)
    value : (M,) out; grad : (M, p + 1) out
    """
    n, p = m.shape
    # work[i, l] = (Ū₁(w_i, w_l), ∇_{w_i} Ū₁(w_i, w_l)) for l ≥ i, and its mirror work[l, i]
    work = np.zeros((n, n, p + 2))
    rho2 = np.empty(n)
    proj = np.empty((n, means.shape[0]))
    for i in range(n):
        rho2[i] = np.sum(m[i] * m[i]) + r[i] * r[i]
        for c in range(means.shape[0]):
            acc = 0.0
            for e in range(p):
                acc += m[i, e] * means[c, e]
            proj[i, c] = acc
    for row in prange(n):
        # rows paired from both ends, so every thread's share of the triangle is alike
        i = row // 2 if row % 2 == 0 else n - 1 - row // 2
        outs = np.empty((means.shape[0], c_nodes.shape[0], 6))  # each cluster's, each node's
        for j in range(i, n):
            dot = 0.0
            for e in range(p):
                dot += m[i, e] * m[j, e]
            for c in range(means.shape[0]):
                s2 = widths[c] * widths[c]
                for q in range(c_nodes.shape[0]):
                    w = probs[c] * c_weights[q]
                    cov = s2 * (dot + r[i] * r[j] * c_nodes[q])
                    out = outs[c, q]
                    if mirror[c] >= 0:
                        mirrored_pair(code, proj[i, c], proj[j, c], s2 * rho2[i], s2 * rho2[j],
                                      cov, outs[mirror[c], q], out)  # fmt: skip
                    else:
                        biased_pair(code, proj[i, c], proj[j, c], s2 * rho2[i], s2 * rho2[j],
                                    cov, t_nodes, t_weights, out)  # fmt: skip
                    work[i, j, 0] += w * out[0]
                    # ∂μ_i/∂m_i = μ̃_c, ∂A/∂θ_i = 2s²θ_i, ∂C/∂m_i = s² m_j, ∂C/∂r_i = s² r_j c_q
                    da, dc = 2.0 * s2 * out[3], s2 * out[5]
                    for e in range(p):
                        work[i, j, 1 + e] += w * (
                            out[1] * means[c, e] + da * m[i, e] + dc * m[j, e]
                        )
                    work[i, j, p + 1] += w * (da * r[i] + dc * r[j] * c_nodes[q])
                    if j != i:  # the same pair seen from j: (μ₂, B) are j's
                        db = 2.0 * s2 * out[4]
                        for e in range(p):
                            work[j, i, 1 + e] += w * (
                                out[2] * means[c, e] + db * m[j, e] + dc * m[i, e]
                            )
                        work[j, i, p + 1] += w * (db * r[j] + dc * r[i] * c_nodes[q])
            work[j, i, 0] = work[i, j, 0]
    for i in prange(n):
        acc = 0.0
        g = np.zeros(p + 1)
        for j in range(n):
            acc += a[j] * work[i, j, 0]
            for e in range(p + 1):
                g[e] += a[j] * work[i, j, 1 + e]
        value[i] = acc / n
        for e in range(p + 1):
            grad[i, e] = g[e] / n


@dataclass(frozen=True)
class GaussianMixture:
    """The mixture problem in the reduced coordinates θ = (a, m, r⊥).

    Parameters
    ----------
    activation : Activation σ (erf, relu or square: :data:`.moments.MIXTURE_CODES`)
    dimension : float, d ≥ p + 2 or ``math.inf``
    means : (C, p) the clusters' means in the first p axes
    labels : (C,) y_c
    widths : (C,) s_c > 0
    probs : (C,) π_c, summing to 1
    label_noise : float, ς ≥ 0
    lam : float, λ ≥ 0, the ℓ2 penalty (λ/2)|θ|²
    """

    activation: Activation
    dimension: float
    means: np.ndarray
    labels: np.ndarray
    widths: np.ndarray
    probs: np.ndarray
    label_noise: float = 0.0
    lam: float = 0.0

    def __post_init__(self) -> None:
        means = np.array(self.means, dtype=float, ndmin=2)
        count, p = means.shape
        d = self.dimension
        if not (math.isinf(d) or (d >= p + 2 and d == int(d))):
            raise ValueError(f"dimension must be an integer ≥ p + 2 = {p + 2} or inf, got {d}")
        object.__setattr__(self, "means", means)
        for name in ("labels", "widths", "probs"):
            values = np.broadcast_to(np.asarray(getattr(self, name), float), (count,)).copy()
            object.__setattr__(self, name, values)
        if not math.isclose(float(self.probs.sum()), 1.0, rel_tol=1e-12):
            raise ValueError(f"the cluster probabilities must sum to 1, got {self.probs.sum()}")

    @property
    def span(self) -> int:
        """p, the dimension of the means' coordinates."""
        return self.means.shape[1]

    @property
    def label_second_moment(self) -> float:
        """E y² = Σ_c π_c y_c² + ς²."""
        return float(self.probs @ self.labels**2) + self.label_noise**2

    def mirrors(self) -> np.ndarray:
        """(C,) int: for each cluster the first earlier one with mean −μ_c and the same width
        that is not itself a mirror (its pair kernel gives this one's), else −1."""
        out = np.full(len(self.widths), -1, dtype=np.int64)
        for c in range(len(self.widths)):
            for c0 in range(c):
                same = self.widths[c] == self.widths[c0]
                if out[c0] < 0 and same and np.array_equal(self.means[c], -self.means[c0]):
                    out[c] = c0
                    break
        return out

    def cosine_rule(self) -> tuple[np.ndarray, np.ndarray]:
        """Nodes and probability weights of the orthogonal cosine c (d = ∞: c = 0)."""
        return orthogonal_cosine_rule(self.dimension, self.span)

    @staticmethod
    def split(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a (M,), m (M, p), r⊥ (M,)) of particles θ (M, p + 2)."""
        return theta[:, 0], theta[:, 1:-1], theta[:, -1]

    def first_layer_potential(self, m: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """V₁(w) = −Σ_c π_c y_c P(<m, μ̃_c>, s_c²ρ²) (M,) and its gradient in (m, r⊥) (M, p + 1)."""
        rho2 = np.sum(m * m, axis=1) + r * r
        value = np.zeros(r.size)
        grad = np.zeros((r.size, m.shape[1] + 1))
        out = np.empty(3)
        code = self.activation.code
        clusters = zip(self.means, self.widths, self.probs, self.labels, strict=True)
        for mu, s, prob, y in clusters:
            weight = prob * y
            if weight == 0.0:
                continue
            proj = m @ mu
            for i in range(r.size):
                biased_mean(code, proj[i], s * s * rho2[i], out)
                value[i] -= weight * out[0]
                grad[i, :-1] -= weight * (out[1] * mu + 2.0 * s * s * out[2] * m[i])
                grad[i, -1] -= weight * 2.0 * s * s * out[2] * r[i]
        return value, grad

    def interaction(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(1/M) Σ_l a_l Ū₁(w_i, w_l) (M,) and its gradient in (m_i, r⊥_i) (M, p + 1)."""
        a, m, r = self.split(theta)
        c, w = self.cosine_rule()
        value, grad = np.empty(r.size), np.empty((r.size, self.span + 1))
        mixture_interaction(
            self.activation.code, self.means, self.widths, self.probs, self.mirrors(),
            np.ascontiguousarray(a), np.ascontiguousarray(m), np.ascontiguousarray(r),
            c, w, ERF_T, ERF_W, value, grad,
        )  # fmt: skip
        return value, grad

    def velocity(self, theta: np.ndarray) -> np.ndarray:
        """dθ/dt = −2(∇_θ Ψ + λθ) of every particle, (M, p + 2): ∂Ψ/∂a = V₁ + F,
        ∇_w Ψ = a (∇V₁ + ∇F), F = (1/M) Σ_l a_l Ū₁(w, w_l)."""
        a, m, r = self.split(theta)
        v1, grad_v1 = self.first_layer_potential(m, r)
        field, grad_field = self.interaction(theta)
        vel = np.empty_like(theta)
        vel[:, 0] = v1 + field
        vel[:, 1:] = a[:, None] * (grad_v1 + grad_field)
        return -2.0 * (vel + self.lam * theta)

    def risk_terms(self, theta: np.ndarray) -> tuple[float, float, float]:
        """(R(ρ), ∫U(θ, θ) dρ, ∫∫U dρ dρ) of the particles' empirical law (equal masses);
        the last two give the i.i.d. 1/N term
        (:func:`~ddsolver.models.risk.finite_width_correction`)."""
        a, m, r = self.split(theta)
        v1, _ = self.first_layer_potential(m, r)
        field, _ = self.interaction(theta)
        double = float(np.mean(a * field))
        risk = mean_field_risk(self.label_second_moment, float(np.mean(a * v1)), double)
        return risk, float(np.mean(a * a * self.self_moment(m, r))), double

    def self_moment(self, m: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Σ_c π_c E σ(<w, x>)² on each cluster, the diagonal Ū₁(w, w), (M,)."""
        rho2 = np.sum(m * m, axis=1) + r * r
        out = np.empty(6)
        total = np.zeros(r.size)
        for mu, s, prob in zip(self.means, self.widths, self.probs, strict=True):
            proj = m @ mu
            for i in range(r.size):
                var = s * s * rho2[i]
                biased_pair(self.activation.code, proj[i], proj[i], var, var, var, ERF_T,
                            ERF_W, out)  # fmt: skip
                total[i] += prob * out[0]
        return total

    def risk(self, theta: np.ndarray) -> float:
        """R(ρ) of the particles' empirical law (equal masses)."""
        return self.risk_terms(theta)[0]
