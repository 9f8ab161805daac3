r"""The isotropic Gaussian problem of Mei, Montanari & Nguyen (2018), reduced to radii.

Data: y = ±1 with probability ½, x | y ~ N(0, (1 + yΔ)² I_d); neuron σ*(x; w) = σ(<w, x>)
(or a·σ(<w, x>) with a second layer). Given y = ±, <w, x> = (1 ± Δ) r G with r = |w|, so

    v(r) = −½ [q₊(r) − q₋(r)],          q±(r) = E σ((1 ± Δ) r G),
    ū_d(r, r') = ½ Σ± E_c K((1±Δ)r, (1±Δ)r', c),

where c is the cosine between two independent uniform directions in R^d
(:mod:`~ddsolver.models.angular`). By Mehler's formula and E c^{odd} = 0,

    ū_d(r, r') = Σ± Σ_j  ½ E[c^{2j}] f̂_{2j}(a±(r)) f̂_{2j}(a±(r')),

a factorisation of rank 2(J + 1) whose truncation error is at most
E[c^{2J+2}] · max E σ(aG)² (Cauchy–Schwarz and Parseval). It is used whenever that bound
is below ``tolerance`` with J ≤ :data:`MAX_MEHLER_ORDER`; otherwise (small d) the
cosine average is a Gauss–Jacobi rule over the closed-form K. For d = ∞ only j = 0
survives: ū_∞(r, r') = ½ Σ± q±(r) q±(r') (rank two).

Reduced coordinates ("points", arrays of shape (M, n)):
    n = 1: (r,);  θ = w, D = d
    n = 2: (a, r); θ = (a, w), D = d + 1, V = a v(r), U = a a' ū_d(r, r').
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import prange

from .._jit import jit_parallel
from .activations import KINKED_KINDS, Activation
from .angular import cosine_quadrature, even_moments, log_radial_density
from .factorisation import Factorisation
from .hermite import hermite_coefficients, kink_offset, kinked_even_columns
from .integrals import mean, pair_moment, pair_moment_da, second_moment
from .risk import finite_width_correction, mean_field_risk
from .step_noise import StepNoiseTables

#: Highest Mehler order j (degree 2j) before falling back to angular quadrature.
MAX_MEHLER_ORDER = 150
#: Gauss–Jacobi nodes over the cosine when the Mehler series converges too slowly.
COSINE_NODES = 200
#: E[y²] for labels ±1.
LABEL_SECOND_MOMENT = 1.0


@jit_parallel
def angular_average_matrix(code, params, rows, cols, c_nodes, c_weights, derivative, out):
    """out[i, j] = Σ_q w_q K(rows[i], cols[j], c_q)   (or ∂K/∂a if ``derivative``).

    Parameters
    ----------
    rows : (M1,) scales a ≥ 0;  cols : (M2,) scales b ≥ 0
    c_nodes, c_weights : (Q,) cosine quadrature
    out : (M1, M2) float64, written in place
    """
    for i in prange(rows.shape[0]):
        for j in range(cols.shape[0]):
            acc = 0.0
            for q in range(c_nodes.shape[0]):
                if derivative:
                    acc += c_weights[q] * pair_moment_da(code, params, rows[i], cols[j], c_nodes[q])
                else:
                    acc += c_weights[q] * pair_moment(code, params, rows[i], cols[j], c_nodes[q])
            out[i, j] = acc


@dataclass(frozen=True)
class IsotropicGaussians:
    """The isotropic Gaussian classification problem in reduced coordinates.

    Parameters
    ----------
    activation : Activation
    dimension : float
        d ≥ 2, or ``math.inf`` for the d → ∞ kernel.
    delta : float
        Δ ∈ (0, 1).
    second_layer : bool
        θ = (a, w) with σ*(x; θ) = a σ(<w, x>) when true.
    tolerance : float
        Target absolute accuracy of ū_d.
    """

    activation: Activation
    dimension: float
    delta: float
    second_layer: bool = False
    tolerance: float = 1e-13
    _mehler_order: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.delta < 1.0:
            raise ValueError(f"delta must lie in (0, 1), got {self.delta}")
        if not (
            math.isinf(self.dimension)
            or (self.dimension >= 2 and self.dimension == int(self.dimension))
        ):
            raise ValueError(f"dimension must be an integer ≥ 2 or inf, got {self.dimension}")
        object.__setattr__(self, "_mehler_order", self._choose_mehler_order())

    # ------------------------------------------------------------------ structure

    @property
    def coordinate_names(self) -> tuple[str, ...]:
        """Names of the reduced coordinates, in column order of ``points``."""
        return ("a", "r") if self.second_layer else ("r",)

    @property
    def entropy_dimension(self) -> float:
        """D, the dimension of θ (the noise is (τ/D)Δ per coordinate)."""
        return self.dimension + 1 if self.second_layer else self.dimension

    @property
    def label_second_moment(self) -> float:
        """E y² = 1 for labels ±1."""
        return LABEL_SECOND_MOMENT

    @property
    def radial_column(self) -> int:
        """Column of r in ``points``."""
        return len(self.coordinate_names) - 1

    def scales(self, r: np.ndarray) -> np.ndarray:
        """(1 + Δ) r and (1 − Δ) r: the standard deviations of <w, x> given y = ±. Shape (2, M)."""
        r = np.asarray(r, dtype=float)
        return np.stack([(1.0 + self.delta) * r, (1.0 - self.delta) * r])

    @property
    def factorised(self) -> bool:
        """Whether ū_d is evaluated by its (exactly bounded) Mehler factorisation."""
        return self._mehler_order >= 0

    def _choose_mehler_order(self) -> int:
        if math.isinf(self.dimension):
            return 0
        moments = even_moments(self.dimension, MAX_MEHLER_ORDER + 1)
        ok = np.nonzero(moments[1:] * self._second_moment_bound() <= self.tolerance)[0]
        return int(ok[0]) if ok.size else -1

    def _second_moment_bound(self) -> float:
        """sup_a E σ(aG)² (bounded activations) — the Parseval bound in the truncation error."""
        if self.activation.kind == "ramp":
            _, _, s1, s2 = self.activation.params
            return max(s1 * s1, s2 * s2)
        if self.activation.kind == "piecewise":
            return float(np.max(self.activation.values**2))
        if self.activation.kind in ("erf", "tanh", "sigmoid"):
            return 1.0
        return math.inf  # ReLU is unbounded: the factorisation is exact only for d = ∞

    # ------------------------------------------------------------------ radial functions

    def radial_potential(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """v(r) and v'(r), each of shape (M,)."""
        r = np.asarray(r, dtype=float)
        ap, am = self.scales(r)
        fp, dfp = self._even_coefficients(ap, 0)
        fm, dfm = self._even_coefficients(am, 0)
        v = -0.5 * (fp[:, 0] - fm[:, 0])
        dv = -0.5 * ((1 + self.delta) * dfp[:, 0] - (1 - self.delta) * dfm[:, 0])
        return v, dv

    def radial_factors(self, r: np.ndarray) -> Factorisation:
        """Mehler factorisation of ū_d at radii ``r`` (M,): values (M, K), gradients (M, K, 1)."""
        if not self.factorised:
            raise ValueError(
                f"the Mehler series of ū_d does not reach tolerance {self.tolerance} at d = "
                f"{self.dimension}; use radial_interaction (angular quadrature)"
            )
        order = self._mehler_order
        r = np.asarray(r, dtype=float)
        weights = 0.5 * even_moments(self.dimension, order)
        values, grads = [], []
        for sign, a in zip((1.0, -1.0), self.scales(r), strict=True):
            f, df = self._even_coefficients(a, order)
            values.append(f)
            grads.append((1.0 + sign * self.delta) * df)
        bound = 0.0
        if not math.isinf(self.dimension):
            bound = even_moments(self.dimension, order + 1)[-1] * self._second_moment_bound()
        return Factorisation(
            values=np.hstack(values),
            gradients=np.hstack(grads)[:, :, None],
            weights=np.concatenate([weights, weights]),
            error_bound=float(bound),
        )

    def _even_coefficients(self, a: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
        """f̂_{2j}(a), d f̂_{2j}/da for j ≤ order: compiled for ramp/ReLU, else by quadrature."""
        act = self.activation
        if act.kind not in KINKED_KINDS:
            f, df = hermite_coefficients(act, a, 2 * order)
            return f[:, ::2], df[:, ::2]
        kinks, signs, slope = act.kink_structure()
        a = np.ascontiguousarray(a, dtype=float)
        vals = np.empty((order + 1, a.size))
        grads = np.empty((order + 1, a.size))
        kinked_even_columns(kinks, signs, slope, kink_offset(act), a, order, vals, grads)
        return vals.T, grads.T

    def radial_interaction(
        self, r1: np.ndarray, r2: np.ndarray, derivative: bool = False
    ) -> np.ndarray:
        """ū_d(r1[i], r2[j]) (or ∂ū_d/∂r1 if ``derivative``), shape (M1, M2)."""
        r1 = np.asarray(r1, dtype=float)
        r2 = np.asarray(r2, dtype=float)
        if self.factorised:
            f1, f2 = self.radial_factors(r1), self.radial_factors(r2)
            left = f1.gradients[:, :, 0] if derivative else f1.values
            return (left * f1.weights) @ f2.values.T
        c, w = cosine_quadrature(int(self.dimension), COSINE_NODES)
        out = np.zeros((r1.size, r2.size))
        tmp = np.empty_like(out)
        act = self.activation
        for sign, a1, a2 in zip((1.0, -1.0), self.scales(r1), self.scales(r2), strict=True):
            angular_average_matrix(act.code, act.param_array, a1, a2, c, w, derivative, tmp)
            out += 0.5 * (1.0 + sign * self.delta if derivative else 1.0) * tmp
        return out

    def radial_self(self, r: np.ndarray) -> np.ndarray:
        """U(θ, θ) = ½ Σ± E σ((1±Δ) r G)² at radii r, shape (M,)."""
        ap, am = self.scales(r)
        return 0.5 * (second_moment(self.activation, ap) + second_moment(self.activation, am))

    def step_noise_tables(self, r: np.ndarray) -> StepNoiseTables:
        """Tables of SGD's own step noise at radii ``r`` (M,) (:mod:`~.step_noise`)."""
        return StepNoiseTables.build(self.activation, self.dimension, self.delta, r)

    # ------------------------------------------------------------------ generic reduced API

    def _split(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        points = np.asarray(points, dtype=float)
        if points.ndim != 2 or points.shape[1] != len(self.coordinate_names):
            raise ValueError(
                f"points must have shape (M, {len(self.coordinate_names)}) for coordinates "
                f"{self.coordinate_names}, got {points.shape}"
            )
        r = points[:, -1]
        a = points[:, 0] if self.second_layer else np.ones_like(r)
        return a, r

    def potential(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """V at points (M, n) and its gradient (M, n)."""
        a, r = self._split(points)
        v, dv = self.radial_potential(r)
        if not self.second_layer:
            return v, dv[:, None]
        return a * v, np.column_stack([v, a * dv])

    def interaction_factors(self, points: np.ndarray) -> Factorisation:
        """Factorisation of U on the points; in (a, r) the factors are a·A_k(r)."""
        a, r = self._split(points)
        fac = self.radial_factors(r)
        if not self.second_layer:
            return fac
        vals = a[:, None] * fac.values
        grads = np.stack([fac.values, a[:, None] * fac.gradients[:, :, 0]], axis=2)
        return Factorisation(vals, grads, fac.weights, fac.error_bound)

    def interaction_matrix(
        self, points1: np.ndarray, points2: np.ndarray | None = None
    ) -> np.ndarray:
        """U(z1[i], z2[j]) of shape (M1, M2)."""
        a1, r1 = self._split(points1)
        a2, r2 = (a1, r1) if points2 is None else self._split(points2)
        return a1[:, None] * self.radial_interaction(r1, r2) * a2[None, :]

    def interaction_gradient(self, points1: np.ndarray, points2: np.ndarray) -> np.ndarray:
        """∇_{z1} U(z1[i], z2[j]) of shape (M1, M2, n)."""
        a1, r1 = self._split(points1)
        a2, r2 = self._split(points2)
        du = a1[:, None] * self.radial_interaction(r1, r2, derivative=True) * a2[None, :]
        if not self.second_layer:
            return du[:, :, None]
        da = self.radial_interaction(r1, r2) * a2[None, :]
        return np.stack([da, du], axis=2)

    def self_interaction(self, points: np.ndarray) -> np.ndarray:
        """U(θ, θ) at the points, shape (M,)."""
        a, r = self._split(points)
        return a * a * self.radial_self(r)

    def squared_norm(self, points: np.ndarray) -> np.ndarray:
        """|θ|² at the points (r² or a² + r²), shape (M,)."""
        a, r = self._split(points)
        return r * r + (a * a if self.second_layer else 0.0)

    def log_reference_density(self, points: np.ndarray) -> np.ndarray:
        r"""log of the volume element of R^D in reduced coordinates: (d−1) log r + log|S^{d−1}|.

        A reduced density p relates to ρ on R^D by ρ = p / exp(log_reference_density), so
        ∫ρ log ρ dθ = ∫ p (log p − log_reference_density). For d = ∞ the (diverging)
        constant log|S^{d−1}| is dropped. Shape (M,).
        """
        _, r = self._split(points)  # d = ∞: only (τ/d)(d − 1) log r → τ log r is used
        return log_radial_density(r, self.dimension)

    def log_reference_gradient(self, points: np.ndarray) -> np.ndarray:
        """∇ of :meth:`log_reference_density`: (d − 1)/r in r (1/r for d = ∞), 0 in a. (M, n)."""
        _, r = self._split(points)
        out = np.zeros((r.size, len(self.coordinate_names)))
        factor = 1.0 if math.isinf(self.dimension) else self.dimension - 1.0
        out[:, -1] = factor / r
        return out

    # ------------------------------------------------------------------ risk

    def risk(self, points: np.ndarray, weights: np.ndarray) -> float:
        r"""R(ρ) = E y² + 2∫V dρ + ∫∫U dρ dρ for ρ = Σ_i weights[i] δ_{points[i]}."""
        w = np.asarray(weights, dtype=float)
        v, _ = self.potential(points)
        double = float(w @ self.interaction_matrix(points) @ w)
        return mean_field_risk(self.label_second_moment, float(w @ v), double)

    def risk_finite_n(self, points: np.ndarray, weights: np.ndarray, neurons: int) -> float:
        r"""R(ρ) + (1/N)(∫U(θ,θ)dρ − ∫∫U dρ dρ): the mean risk of N i.i.d. neurons from ρ."""
        w = np.asarray(weights, dtype=float)
        double = float(w @ self.interaction_matrix(points) @ w)
        v, _ = self.potential(points)
        mean_self = float(w @ self.self_interaction(points))
        return mean_field_risk(self.label_second_moment, float(w @ v), double) + (
            finite_width_correction(mean_self, double, neurons)
        )

    def population_potential_mc(
        self, w: np.ndarray, samples: int, rng: np.random.Generator
    ) -> tuple[float, float]:
        """Monte-Carlo V(w) = −E[y σ(<w, x>)] in the full dimension (mean, standard error)."""
        d = w.shape[0]
        y = rng.choice([-1.0, 1.0], size=samples)
        x = rng.standard_normal((samples, d)) * (1.0 + y * self.delta)[:, None]
        vals = -y * self.activation(x @ w)
        return float(vals.mean()), float(vals.std(ddof=1) / math.sqrt(samples))

    def mean_activation(self, r: np.ndarray) -> np.ndarray:
        """q±(r) = E σ((1 ± Δ) r G), shape (2, M)."""
        return np.stack([mean(self.activation, 0.0, a) for a in self.scales(r)])
