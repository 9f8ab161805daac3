r"""Anisotropic Gaussians (Mei–Montanari–Nguyen's variable-selection example).

Data: y = ±1 with probability ½, x | y ~ N(0, diag((1 + yΔ)² I_{s₀}, I_{d−s₀})): only the
first s₀ coordinates carry the label. Neuron: σ*(x; θ) = a ReLU(<w, x> + b), θ = (a, b, w),
w = (w₁ ∈ R^{s₀}, w₂ ∈ R^{d−s₀}).

Given y = ±, <w, x> + b ~ N(b, S±²) with S±² = (1 ± Δ)² r₁² + r₂², r₁ = |w₁|, r₂ = |w₂|
(MATH.md, "Anisotropic Gaussians"), so with m(b, S) = E(b + S G)₊ = b Φ(b/S) + S φ(b/S):

    V(θ) = −(a/2) [m(b, S₊) − m(b, S₋)],
    U(θ, θ') = (a a'/2) Σ± E[(b + Z±)₊ (b' + Z'±)₊],
        Cov(Z±, Z'±) = (1 ± Δ)² <w₁, w₁'> + <w₂, w₂'>.

:func:`network_potential` and :func:`network_interaction` evaluate these exactly for the
neurons of a network in the full dimension (the exact risk of SGD).

**Reduced coordinates** (a, b, r₁, r₂). The reduced kernel averages U over the cosines c₁, c₂
between the blocks of two independent neurons (cosine laws in s₀ and d − s₀ dimensions).
For d → ∞ (s₀ and d − s₀ both large) they vanish, the cross-covariance drops out and U has
rank two,

    U = Σ± ½ φ±(θ) φ±(θ'),   φ±(θ) = a m(b, S±),

so R = ½(1 − M₊)² + ½(1 + M₋)² with M± = ∫ a m(b, S±) dρ. For finite d the average is a
Mehler double series with a rigorous tail bound (:func:`_finite_d_factors`). θ has
D = d + 2 coordinates; τ > 0 is not supported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._jit import jit
from .._scipy import special
from .factorisation import Factorisation
from .gaussian import biased_relu_product, norm_cdf, norm_pdf, relu_mean
from .risk import finite_width_correction, mean_field_risk

COORDINATES = ("a", "b", "r1", "r2")


def _relu_moments(b: np.ndarray, s: np.ndarray):
    """m = E(b + SG)₊, Φ(b/S) = ∂m/∂b and φ(b/S) = ∂m/∂S (the S → 0 limits where S = 0)."""
    positive = s > 0
    safe = np.where(positive, s, 1.0)
    z = b / safe
    cdf = np.where(positive, special.ndtr(z), np.where(b > 0, 1.0, np.where(b < 0, 0.0, 0.5)))
    pdf = np.where(positive, np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi), 0.0)
    m = np.where(positive, b * cdf + s * pdf, np.maximum(b, 0.0))
    return m, cdf, pdf


def relu_square_mean(b: np.ndarray, s: np.ndarray) -> np.ndarray:
    """E(b + S G)₊² = (b² + S²) Φ(b/S) + b S φ(b/S) (S = 0: b₊²)."""
    b, s = np.broadcast_arrays(np.asarray(b, float), np.asarray(s, float))
    _, cdf, pdf = _relu_moments(b, s)
    return np.where(s > 0, (b * b + s * s) * cdf + b * s * pdf, np.maximum(b, 0.0) ** 2)


@dataclass(frozen=True)
class AnisotropicGaussians:
    """The variable-selection problem in reduced coordinates (a, b, r₁, r₂).

    Parameters
    ----------
    delta : float
        Δ ∈ (0, 1).
    informative : int
        s₀, the number of coordinates that carry the label (used by SGD and the initial law).
    dimension : float
        d, or ``math.inf`` for the rank-two d = ∞ kernel.
    """

    delta: float
    informative: int
    dimension: float

    def __post_init__(self) -> None:
        if not 0.0 < self.delta < 1.0:
            raise ValueError(f"delta must lie in (0, 1), got {self.delta}")
        if self.informative < 1 or (
            math.isfinite(self.dimension) and self.informative >= self.dimension
        ):
            raise ValueError(
                f"informative (s0) must satisfy 1 ≤ s0 < d, got {self.informative}, "
                f"d = {self.dimension}"
            )

    coordinate_names = COORDINATES
    factorised = True  # the d = ∞ rank-two kernel or the finite-d Mehler series
    entropy_dimension = math.inf  # τ > 0 is refused for this problem
    label_second_moment = 1.0

    # ------------------------------------------------------------------ reduced kernel

    def _tail(self, degree: int) -> float:
        from .angular import even_moments

        n = degree // 2 + 1
        s0, d = self.informative, self.dimension
        return float(even_moments(s0, n)[n] + even_moments(d - s0, n)[n])

    @property
    def mehler_degree(self) -> int:
        """The smallest even K ≤ :data:`MEHLER_DEGREE` with tail factor ≤ :data:`TARGET_TAIL`."""
        if math.isinf(self.dimension):
            return 0
        for degree in range(0, MEHLER_DEGREE + 1, 2):
            if self._tail(degree) <= TARGET_TAIL:
                return degree
        return MEHLER_DEGREE

    @property
    def tail_factor(self) -> float:
        """E c₁^{K+2} + E c₂^{K+2} at K = :attr:`mehler_degree` (0 for d = ∞).

        E ĉ^{K+2} ≤ this, since |ĉ| ≤ max(|c₁|, |c₂|) (Cauchy–Schwarz: α + β ≤ S S').
        """
        return 0.0 if math.isinf(self.dimension) else self._tail(self.mehler_degree)

    def _fields(self, points: np.ndarray):
        z = np.asarray(points, dtype=float).reshape(-1, 4)
        a, b, r1, r2 = z.T
        out = []
        for sign in (1.0, -1.0):
            k2 = (1.0 + sign * self.delta) ** 2
            s = np.sqrt(k2 * r1 * r1 + r2 * r2)
            m, cdf, pdf = _relu_moments(b, s)
            safe = np.where(s > 0, s, 1.0)
            # ∂m/∂r₁ = φ(b/S) (1 ± Δ)² r₁/S, ∂m/∂r₂ = φ(b/S) r₂/S (bounded as S → 0)
            out.append((s, m, cdf, pdf * k2 * r1 / safe, pdf * r2 / safe))
        return a, b, r1, r2, out

    def step_noise_velocity(
        self,
        points: np.ndarray,
        masses: np.ndarray,
        eps: float,
        batch: int,
        neurons: float,
        xi: float,
        dimension: float,
    ) -> np.ndarray:
        r"""SGD's own step noise as an Itô drift of r₁ and r₂ (docs/finite_step.md), shape (M, 4).

        A step moves w by (2s/B) Σ e a 1{z > 0} x, z = <w, x> + b. Its parts orthogonal to w₁
        within the informative block and to w₂ within the other have (1 ± Δ)²(s₀ − 1) and
        (d − s₀ − 1) expected squared norm per unit x-variance, independent of z, so per unit
        time

            c₁ = (2εξ²/(B r₁)) a² Σ± ½ E e±² (1 ± Δ)² (s₀ − 1) Φ(b/S±),
            c₂ = (2εξ²/(B r₂)) a² Σ± ½ E e±² (d − s₀ − 1) Φ(b/S±),

        with the class residuals of the rank-two kernel, E e±² = (±1 − M±)² + (E[ŷᵢ²|±] −
        M±²)/N (the fluctuation of ŷ with |x| is O(1/d) and left out). ``dimension`` is the
        SGD's d (the d = ∞ kernel is solved for the law of a finite-d network).
        """
        a, b, r1, r2, fields = self._fields(points)
        m = np.asarray(masses, dtype=float)
        s0 = self.informative
        inv_n = 0.0 if math.isinf(neurons) else 1.0 / neurons
        acc1 = np.zeros_like(a)
        acc2 = np.zeros_like(a)
        for sign, (s, mean, cdf, _, _) in zip((1.0, -1.0), fields, strict=True):
            output = float(m @ (a * mean))
            second = float(m @ (a * a * relu_square_mean(b, s)))
            e2 = (sign - output) ** 2 + (second - output**2) * inv_n
            acc1 += 0.5 * e2 * (1.0 + sign * self.delta) ** 2 * (s0 - 1) * cdf
            acc2 += 0.5 * e2 * (dimension - s0 - 1) * cdf
        scale = 2.0 * eps * xi * xi / batch * a * a
        out = np.zeros((a.size, 4))
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, 2] = np.where(r1 > 0, scale * acc1 / r1, 0.0)
            out[:, 3] = np.where(r2 > 0, scale * acc2 / r2, 0.0)
        return out

    def potential(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""V(θ) = −(a/2)[m(b, S₊) − m(b, S₋)] and ∇V in (a, b, r₁, r₂); shapes (M,), (M, 4)."""
        a, _, _, _, ((_, mp, cp, p1, p2), (_, mm, cm, q1, q2)) = self._fields(points)
        v = -0.5 * a * (mp - mm)
        grad = np.column_stack(
            [-0.5 * (mp - mm), -0.5 * a * (cp - cm), -0.5 * a * (p1 - q1), -0.5 * a * (p2 - q2)]
        )
        return v, grad

    def interaction_factors(self, points: np.ndarray) -> Factorisation:
        """U = Σ w_k φ_k(θ) φ_k(θ'): rank 2 for d = ∞, the Mehler double series for finite d.

        d = ∞: φ± = a m(b, S±), weights ½. Finite d: see :func:`_finite_d_factors`.
        """
        if math.isfinite(self.dimension):
            return _finite_d_factors(self, points)
        a, _, _, _, signs = self._fields(points)
        values = np.column_stack([a * m for (_, m, _, _, _) in signs])
        gradients = np.stack(
            [np.column_stack([m, a * c, a * g1, a * g2]) for (_, m, c, g1, g2) in signs], axis=1
        )
        return Factorisation(values, gradients, np.array([0.5, 0.5]), 0.0)

    def interaction_matrix(
        self, points1: np.ndarray, points2: np.ndarray | None = None
    ) -> np.ndarray:
        """U(z1[i], z2[j]) of the d = ∞ kernel, shape (M1, M2)."""
        f1 = self.interaction_factors(points1)
        f2 = f1 if points2 is None else self.interaction_factors(points2)
        return (f1.values * f1.weights) @ f2.values.T

    def self_interaction(self, points: np.ndarray) -> np.ndarray:
        """U(θ, θ) = (a²/2) Σ± E(b + S± G)₊² (the same neuron: correlation one), shape (M,)."""
        a, b, _, _, signs = self._fields(points)
        return 0.5 * a * a * sum(relu_square_mean(b, s) for (s, _, _, _, _) in signs)

    def squared_norm(self, points: np.ndarray) -> np.ndarray:
        """|θ|² = a² + b² + r₁² + r₂², shape (M,)."""
        z = np.asarray(points, dtype=float).reshape(-1, 4)
        return np.sum(z * z, axis=1)

    def log_reference_density(self, points: np.ndarray) -> np.ndarray:
        """Zero: the problem is solved without noise (τ = 0)."""
        return np.zeros(np.asarray(points).reshape(-1, 4).shape[0])

    def log_reference_gradient(self, points: np.ndarray) -> np.ndarray:
        """Zero (τ = 0 only), shape (M, 4)."""
        return np.zeros(np.asarray(points, dtype=float).reshape(-1, 4).shape)

    def risk(self, points: np.ndarray, weights: np.ndarray) -> float:
        r"""R(ρ) for ρ = Σ_i weights[i] δ_{points[i]} (d = ∞ kernel)."""
        w = np.asarray(weights, dtype=float)
        v, _ = self.potential(points)
        return mean_field_risk(1.0, float(w @ v), float(w @ self.interaction_matrix(points) @ w))

    def risk_finite_n(self, points: np.ndarray, weights: np.ndarray, neurons: int) -> float:
        """R(ρ) plus the mean 1/N term of N i.i.d. neurons drawn from ρ."""
        w = np.asarray(weights, dtype=float)
        double = float(w @ self.interaction_matrix(points) @ w)
        mean_self = float(w @ self.self_interaction(points))
        return self.risk(points, w) + finite_width_correction(mean_self, double, neurons)

    # ------------------------------------------------------------------ full dimension

    def data_mc(self, samples: int, dimension: int, rng: np.random.Generator):
        """Samples (x (n, d), y (n,)) of the data law in the full dimension."""
        y = rng.choice([-1.0, 1.0], size=samples)
        x = rng.standard_normal((samples, dimension))
        x[:, : self.informative] *= (1.0 + y * self.delta)[:, None]
        return x, y


#: Highest Mehler degree K of the finite-d anisotropic kernel (even degrees 0..K).
MEHLER_DEGREE = 40
#: The series stops at the first even degree whose tail factor is below this.
TARGET_TAIL = 1e-10
#: The finite-d series is used when its geometric tail factor is at most this.
MAX_TAIL_FACTOR = 1e-9


def _finite_d_factors_ref(problem: AnisotropicGaussians, points: np.ndarray) -> Factorisation:
    r"""NumPy twin of :func:`_finite_d_factors`: ū_d = E_{c₁,c₂} U as a Mehler double series.

    With ĉ = Cov/(S S') = (α c₁ + β c₂)/(S S'), α = (1 ± Δ)² r₁r₁', β = r₂r₂', and c₁, c₂ the
    cosines between the blocks of two independent neurons (cosine laws in s₀ and d − s₀
    dimensions), Mehler's formula E[(b + SG)₊(b' + S'G')₊] = Σ_k ĉ^k g_k(b, S) g_k(b', S')
    with g_k(b, S) = E[(b + SG)₊ h_k(G)] gives, after averaging the binomial expansion of ĉ^k
    (odd moments of the cosines vanish),

        ū_d = ½ Σ± Σ_{k even} Σ_{j even ≤ k} C(k, j) E[c₁^j] E[c₂^{k−j}] φ_{kj}(θ) φ_{kj}(θ'),
        φ_{kj} = a ((1 ± Δ) r₁)^j r₂^{k−j} T_k(b, S),   T_k = g_k / S^k,

    where T₀ = m(b, S) (the d = ∞ term), and for k ≥ 2 (Stein's identity: f'' = S δ(G + b/S))
    g_k = S φ(u) h_{k−2}(−u)/√(k(k−1)), u = b/S. Truncated at k = :attr:`mehler_degree`; each
    factor has |φ_{kj}| ≤ |a| |T_k| S^k, and the tail is bounded by E[ĉ^{K+2}] E(b + SG)₊²
    (every term has |ĉ| ≤ 1), so the series converges geometrically in 1/s₀ and 1/(d − s₀).
    """
    from .hermite import normalised_hermite

    z = np.asarray(points, dtype=float).reshape(-1, 4)
    a, b, r1, r2 = (c[:, None] for c in z.T)
    degree = problem.mehler_degree
    kk, jj, weights = _series_terms(problem, degree)
    values, grads = [], []
    for sign in (1.0, -1.0):
        k1 = 1.0 + sign * problem.delta
        s = np.sqrt(k1 * k1 * r1 * r1 + r2 * r2)
        safe = np.where(s > 0, s, 1.0)
        u = b / safe
        pdf = np.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)
        m, cdf, _ = _relu_moments(b, s)
        # T_k and its partial derivatives in b and S, k = 0..degree (odd k unused)
        ks = np.arange(degree + 1, dtype=float)
        h = normalised_hermite(-u[:, 0], degree)  # (M, degree + 1)
        norm = 1.0 / np.sqrt((ks * (ks - 1.0)).clip(1.0))
        h_km2 = np.zeros_like(h)
        h_km2[:, 2:] = h[:, :-2]  # h_{k−2}(−u) at column k
        l_km2 = np.zeros_like(h)
        l_km2[:, 3:] = np.sqrt(ks[3:] - 2.0) * h[:, :-3]  # √(k−2) h_{k−3}(−u) = h'_{k−2}(−u)
        psi = pdf * h_km2 * norm
        dpsi = (-u * pdf * h_km2 - pdf * l_km2) * norm
        scale = safe ** (-ks)
        t = np.where(ks == 0, m, safe * psi * scale)
        dt_b = np.where(ks == 0, cdf, dpsi * scale)
        dt_s = np.where(ks == 0, pdf, ((1.0 - ks) * psi - u * dpsi) * scale)
        powers = np.arange(degree + 1, dtype=float)
        p1 = (k1 * r1) ** powers  # ((1 ± Δ) r₁)^j
        p2 = r2**powers
        d1 = np.zeros_like(p1)
        d1[:, 1:] = powers[1:] * k1 * p1[:, :-1]  # d/dr₁ ((1 ± Δ) r₁)^j
        d2 = np.zeros_like(p2)
        d2[:, 1:] = powers[1:] * p2[:, :-1]
        P1, P2, T = p1[:, jj], p2[:, kk - jj], t[:, kk]
        core = P1 * P2 * T
        ds_r1, ds_r2 = k1 * k1 * r1 / safe, r2 / safe
        values.append(a * core)
        grads.append(
            np.stack(
                [
                    core,
                    a * P1 * P2 * dt_b[:, kk],
                    a * (d1[:, jj] * P2 * T + P1 * P2 * dt_s[:, kk] * ds_r1),
                    a * (P1 * d2[:, kk - jj] * T + P1 * P2 * dt_s[:, kk] * ds_r2),
                ],
                axis=2,
            )
        )
    bound = _finite_d_tail_bound(problem, z)
    return Factorisation(
        np.hstack(values), np.concatenate(grads, axis=1), np.concatenate([weights, weights]), bound
    )


def _finite_d_factors(problem: AnisotropicGaussians, points: np.ndarray) -> Factorisation:
    """The finite-d factorisation of :func:`_finite_d_factors_ref`, by a compiled loop.

    Values (M, 2T) and gradients (M, 2T, 4) for the T series terms of each sign.
    """
    z = np.ascontiguousarray(np.asarray(points, dtype=float).reshape(-1, 4))
    degree = problem.mehler_degree
    kk, jj, weights = _series_terms(problem, degree)
    values = np.empty((z.shape[0], 2 * kk.size))
    grads = np.empty((z.shape[0], 2 * kk.size, 4))
    for half, sign in enumerate((1.0, -1.0)):
        cols = slice(half * kk.size, (half + 1) * kk.size)
        out_v = np.empty((z.shape[0], kk.size))
        out_g = np.empty((z.shape[0], kk.size, 4))
        finite_d_factor_loop(z, 1.0 + sign * problem.delta, degree, kk, jj, out_v, out_g)
        values[:, cols] = out_v
        grads[:, cols] = out_g
    bound = _finite_d_tail_bound(problem, z)
    return Factorisation(values, grads, np.concatenate([weights, weights]), bound)


@jit
def finite_d_factor_loop(points, k1, degree, kk, jj, values, grads):
    """φ_{kj} = a (k1 r₁)^j r₂^{k−j} T_k(b, S) and ∇φ in (a, b, r₁, r₂), for one sign (compiled).

    points (M, 4); k1 = 1 ± Δ; kk, jj (T,) the even degrees k and j ≤ k; values (M, T) and
    grads (M, T, 4) written in place. T_0 = m(b, S); T_k = S^{1−k} φ(u) h_{k−2}(−u)/√(k(k−1)).
    """
    h = np.empty(degree + 1)
    t = np.empty(degree + 1)
    dtb = np.empty(degree + 1)
    dts = np.empty(degree + 1)
    p1 = np.empty(degree + 1)
    p2 = np.empty(degree + 1)
    d1 = np.empty(degree + 1)
    d2 = np.empty(degree + 1)
    for m in range(points.shape[0]):
        a, b, r1, r2 = points[m, 0], points[m, 1], points[m, 2], points[m, 3]
        s = math.sqrt(k1 * k1 * r1 * r1 + r2 * r2)
        safe = s if s > 0.0 else 1.0
        u = b / safe
        pdf = math.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)
        if s > 0.0:
            cdf = norm_cdf(u)
            t[0] = b * cdf + s * pdf
            dts[0] = pdf
        else:
            cdf = 1.0 if b > 0.0 else (0.0 if b < 0.0 else 0.5)
            t[0] = max(b, 0.0)
            dts[0] = 0.0
        dtb[0] = cdf
        h[0] = 1.0
        if degree >= 1:
            h[1] = -u
        for n in range(1, degree):
            h[n + 1] = (-u * h[n] - math.sqrt(n) * h[n - 1]) / math.sqrt(n + 1.0)
        for k in range(2, degree + 1, 2):
            norm = 1.0 / math.sqrt(k * (k - 1.0))
            psi = pdf * h[k - 2] * norm
            lower = math.sqrt(k - 2.0) * h[k - 3] if k >= 3 else 0.0
            dpsi = (-u * pdf * h[k - 2] - pdf * lower) * norm
            scale = safe ** (-k)
            t[k] = safe * psi * scale
            dtb[k] = dpsi * scale
            dts[k] = ((1.0 - k) * psi - u * dpsi) * scale
        x1 = k1 * r1
        p1[0] = 1.0
        p2[0] = 1.0
        d1[0] = 0.0
        d2[0] = 0.0
        for n in range(1, degree + 1):
            p1[n] = p1[n - 1] * x1
            p2[n] = p2[n - 1] * r2
            d1[n] = n * k1 * p1[n - 1]
            d2[n] = n * p2[n - 1]
        ds1 = k1 * k1 * r1 / safe
        ds2 = r2 / safe
        for q in range(kk.shape[0]):
            k = kk[q]
            j = jj[q]
            pp = p1[j] * p2[k - j]
            core = pp * t[k]
            values[m, q] = a * core
            grads[m, q, 0] = core
            grads[m, q, 1] = a * pp * dtb[k]
            grads[m, q, 2] = a * (d1[j] * p2[k - j] * t[k] + pp * dts[k] * ds1)
            grads[m, q, 3] = a * (p1[j] * d2[k - j] * t[k] + pp * dts[k] * ds2)


def _series_terms(problem: AnisotropicGaussians, degree: int):
    """Indices (k, j), both even, j ≤ k ≤ degree, and weights ½ C(k, j) E c₁^j E c₂^{k−j}."""
    from .angular import even_moments

    half = degree // 2
    m1 = even_moments(problem.informative, half)
    m2 = even_moments(problem.dimension - problem.informative, half)
    kk, jj, weights = [], [], []
    for k in range(0, degree + 1, 2):
        for j in range(0, k + 1, 2):
            kk.append(k)
            jj.append(j)
            weights.append(0.5 * math.comb(k, j) * m1[j // 2] * m2[(k - j) // 2])
    return np.array(kk), np.array(jj), np.array(weights)


def _finite_d_tail_bound(problem: AnisotropicGaussians, points: np.ndarray) -> float:
    """A bound on the dropped terms: max E[ĉ^{K+2}] × max E(b + SG)₊² × max a²."""
    worst = problem.tail_factor  # E ĉ^{2n} ≤ E (c₁² ∨ c₂²)^n ≤ E c₁^{2n} + E c₂^{2n}
    a, b, r1, r2 = points.T
    second = max(
        float(
            np.max(
                a * a * relu_square_mean(b, np.sqrt((1 + sg * problem.delta) ** 2 * r1**2 + r2**2))
            )
        )
        for sg in (1.0, -1.0)
    )
    return float(worst * second)


def network_potential(delta: float, informative: int, a, b, w) -> np.ndarray:
    """V(θᵢ) for the neurons of a network in the full dimension, shape (N,).

    a, b : (N,);  w : (N, d), the first ``informative`` columns being the informative block.
    """
    r1 = np.linalg.norm(w[:, :informative], axis=1)
    r2 = np.linalg.norm(w[:, informative:], axis=1)
    problem = AnisotropicGaussians(delta, informative, math.inf)
    v, _ = problem.potential(np.column_stack([a, b, r1, r2]))
    return v


def network_interaction(delta: float, informative: int, a, b, w) -> np.ndarray:
    r"""U(θᵢ, θⱼ) for every pair of neurons, exactly in the full dimension, shape (N, N).

    (a a'/2) Σ± S S' M(b/S, b'/S', c) with S² = (1 ± Δ)²|w₁|² + |w₂|², c the correlation of
    the two pre-activations and M the biased-ReLU moment of MATH.md §4.2.
    """
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    w1, w2 = w[:, :informative], w[:, informative:]
    g1, g2 = w1 @ w1.T, w2 @ w2.T
    out = np.zeros((a.size, a.size))
    for sign in (1.0, -1.0):
        cov = (1.0 + sign * delta) ** 2 * g1 + g2
        s = np.sqrt(np.diag(cov))
        out += 0.5 * _pair_relu_matrix(b, s, cov)
    return out * np.outer(a, a)


def _pair_relu_matrix(b: np.ndarray, s: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """E[(bᵢ + Zᵢ)₊ (bⱼ + Zⱼ)₊] for Z ~ N(0, cov), every pair, shape (N, N)."""
    out = np.empty((b.size, b.size))
    pair_relu_loop(np.ascontiguousarray(b), np.ascontiguousarray(s), np.ascontiguousarray(cov), out)
    return out


@jit
def pair_relu_loop(b, s, cov, out):
    """out[i, j] = E[(bᵢ + Zᵢ)₊ (bⱼ + Zⱼ)₊], Var Zᵢ = sᵢ², Cov = cov[i, j] (compiled, symmetric)."""
    n = b.shape[0]
    for i in range(n):
        for j in range(i, n):
            if i == j and s[i] > 0.0:  # E(b + sG)₊² in closed form (Φ₂ at c = 1 loses digits)
                z = b[i] / s[i]
                val = (b[i] * b[i] + s[i] * s[i]) * norm_cdf(z) + b[i] * s[i] * norm_pdf(z)
            elif s[i] > 0.0 and s[j] > 0.0:
                c = cov[i, j] / (s[i] * s[j])
                val = s[i] * s[j] * biased_relu_product(b[i] / s[i], b[j] / s[j], c)
            elif s[i] > 0.0:
                val = max(b[j], 0.0) * relu_mean(b[i], s[i])
            else:
                val = max(b[i], 0.0) * relu_mean(b[j], s[j])
            out[i, j] = val
            out[j, i] = val
