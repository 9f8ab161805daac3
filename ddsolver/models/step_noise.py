r"""SGD's own step noise in the isotropic problem: the tables of the finite-step correction.

One online SGD step (step size s = εξ, mini-batch of B fresh samples) moves neuron w by

    Δw = (2s/B) Σ_b e(x_b) σ'(<w, x_b>) x_b,        e(x) = y − ŷ(x).

Split Δw into its part along ŵ = w/r and the rest: Δ∥ = <ŵ, Δw>, Δ⊥ = P⊥Δw. To second order
in the step, r' = |w + Δw| = r + Δ∥ + |Δ⊥|²/(2r). The mean of Δw is the DD velocity, which is
radial for a rotation-invariant law, so E Δ⊥ = 0 and, per unit time (1/ε steps),

    drift of r:      v(r) + c(r),   c(r) = (2εξ²/(B r)) E[e² σ'(<w,x>)² |P⊥x|²],
    variance of r:   a(r) = (4εξ²/B) ( E[e² σ'² <ŵ,x>²] − E[e σ' <ŵ,x>]² ),

i.e. the radial density follows ∂_t p = −∂_r((v + c) p) + ½ ∂²_r(a p). c is of order εd (the
d − 1 directions orthogonal to w), a of order ε.

Evaluation (exact in the law of x, no d → ∞ approximation). Given the class y = ±, |x| = L is
s_y χ_d and the direction of x is uniform, independent of L; so <ŵ, x> = L u and
|P⊥x|² = L²(1 − u²) with u the first coordinate of a uniform unit vector (density
∝ (1 − u²)^{(d−3)/2}). For a rotation-invariant ρ with radial law p, ŷ(x) = h(L),

    h(L) = ∫ E_u σ(r' L u) p(r') dr',
    E_N e² = (y − h)² + (h₂ − h²)/N,   h₂(L) = ∫ E_u σ(r' L u)² p(r') dr',

the last term being the variance of a width-N network's output around its mean-field value
(i.i.d. neurons). L is integrated by generalised Gauss–Laguerre nodes in L²/(2s_y²) ~ Γ(d/2),
u by Gauss–Legendre in θ = arcsin u (the weight becomes cos^{d−2}θ), split at the kinks of σ
(at arcsin(t/(rL))) so that every piece is smooth.

So every quantity is a sum over Q = 2 × ``length_nodes`` nodes (class, L) of the tables

    G1 = E_u σ(r L u),  G2 = E_u σ(r L u)²,  P1 = L E_u[σ' u],
    A∥ = L² E_u[σ'² u²],  A⊥ = L² E_u[σ'² (1 − u²)],

each of shape (M, Q) at the M radii, against node weights (½ × the Laguerre weight).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._scipy import special
from .activations import KINKED_KINDS, Activation

#: Generalised Gauss–Laguerre nodes per class for |x|.
LENGTH_NODES = 24
#: Gauss–Legendre nodes per smooth piece of the u integral.
ANGLE_NODES = 32
#: Pseudo-kinks t of a smooth activation: the pieces resolve σ(rLu) where |rLu| ~ 1.
SMOOTH_BREAKS = np.array([-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0])
#: Radii per block of the table computation (bounds its memory).
BLOCK = 256

#: Row order of :attr:`StepNoiseTables.tables`.
G1, G2, P1, A_PARALLEL, A_PERP = range(5)


def _breakpoints(activation: Activation) -> np.ndarray:
    if activation.kind in KINKED_KINDS:
        return np.asarray(activation.kink_structure()[0], dtype=float)
    return SMOOTH_BREAKS


def length_nodes(dimension: int, delta: float, count: int) -> tuple[np.ndarray, ...]:
    """Nodes of (y, L = |x|): labels (Q,), lengths (Q,), probability weights (Q,), Q = 2·count.

    L = s_y √(2v) with v ~ Γ(d/2) (so L/s_y ~ χ_d); the weights include P(y = ±) = ½.
    """
    v, w = special.roots_genlaguerre(count, 0.5 * dimension - 1.0)
    w = w / w.sum()
    labels, lengths, weights = [], [], []
    for y in (1.0, -1.0):
        labels.append(np.full(count, y))
        lengths.append((1.0 + y * delta) * np.sqrt(2.0 * v))
        weights.append(0.5 * w)
    return np.concatenate(labels), np.concatenate(lengths), np.concatenate(weights)


def angle_tables(activation: Activation, dimension: int, scales: np.ndarray) -> np.ndarray:
    """E_u of σ(su), σ(su)², σ'(su)u, σ'(su)²u², σ'(su)²(1 − u²) at scales s ≥ 0.

    u has density ∝ (1 − u²)^{(d−3)/2} on (−1, 1). Returns shape (5,) + scales.shape.
    """
    s = np.asarray(scales, dtype=float)
    flat = s.ravel()
    x, wx = special.roots_legendre(ANGLE_NODES)
    kinks = _breakpoints(activation)
    half = 0.5 * math.pi
    out = np.empty((5, flat.size))
    log_norm = special.gammaln(0.5 * (dimension - 1)) - special.gammaln(0.5 * dimension)
    norm = math.sqrt(math.pi) * math.exp(log_norm)  # ∫ cos^{d−2}θ dθ over (−π/2, π/2)
    for start in range(0, flat.size, BLOCK):
        sb = flat[start : start + BLOCK]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(sb[:, None] > 0, kinks / sb[:, None], 2 * np.sign(kinks))
        inner = np.sort(np.arcsin(np.clip(ratio, -1.0, 1.0)), axis=1)
        ends = np.full((sb.size, 1), half)
        edges = np.concatenate([-ends, inner, ends], axis=1)
        lo, hi = edges[:, :-1], edges[:, 1:]  # (B, pieces)
        theta = 0.5 * (hi - lo)[:, :, None] * x + 0.5 * (hi + lo)[:, :, None]
        weight = 0.5 * (hi - lo)[:, :, None] * wx * np.cos(theta) ** (dimension - 2) / norm
        u = np.sin(theta)
        t = sb[:, None, None] * u
        val = activation(t)
        der = activation.derivative(t)
        d2 = der * der
        for row, f in enumerate((val, val * val, der * u, d2 * u * u, d2 * (1.0 - u * u))):
            out[row, start : start + sb.size] = (weight * f).sum(axis=(1, 2))
    return out.reshape((5, *s.shape))


@dataclass(frozen=True)
class StepNoiseTables:
    """The tables of the module docstring at fixed radii.

    Attributes
    ----------
    radii : (M,) float64
    labels, lengths, weights : (Q,) float64 — the (y, L) nodes and their probabilities
    tables : (5, M, Q) float64 — G1, G2, P1, A∥, A⊥ (rows :data:`G1` … :data:`A_PERP`)
    """

    radii: np.ndarray
    labels: np.ndarray
    lengths: np.ndarray
    weights: np.ndarray
    tables: np.ndarray

    @classmethod
    def build(
        cls,
        activation: Activation,
        dimension: float,
        delta: float,
        radii: np.ndarray,
        nodes: int = LENGTH_NODES,
    ) -> StepNoiseTables:
        """Tables at ``radii`` (M,) for the isotropic law of ``dimension`` (finite) and Δ."""
        if math.isinf(dimension):
            raise ValueError("the finite-step correction grows like εd: it needs a finite d")
        d = int(dimension)
        labels, lengths, weights = length_nodes(d, delta, nodes)
        r = np.asarray(radii, dtype=float)
        angular = angle_tables(activation, d, r[:, None] * lengths[None, :])
        tables = np.empty((5, r.size, lengths.size))
        tables[G1] = angular[0]
        tables[G2] = angular[1]
        tables[P1] = lengths * angular[2]
        tables[A_PARALLEL] = lengths**2 * angular[3]
        tables[A_PERP] = lengths**2 * angular[4]
        return cls(r, labels, lengths, weights, tables)

    def residuals(
        self, masses: np.ndarray, neurons: float, second_masses: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """e = y − h and E_N e² = (y − h)² + (h₂ − h²)/N at the (y, L) nodes, each (Q,).

        ``masses`` (M,) are the radial law's masses at the table's radii (summing to 1) — with
        a second layer, its a-weighted masses ∫ a dρ per radius, and ``second_masses`` the
        a²-weighted ones; ``neurons`` = N (``math.inf``: the mean-field residual).
        """
        m = np.asarray(masses, dtype=float)
        m2 = m if second_masses is None else np.asarray(second_masses, dtype=float)
        h = m @ self.tables[G1]
        h2 = m2 @ self.tables[G2]
        e = self.labels - h
        spread = 0.0 if math.isinf(neurons) else (h2 - h * h) / neurons
        return e, e * e + spread

    def moments(self, e: np.ndarray, e2: np.ndarray) -> dict[str, np.ndarray]:
        """The expectations at the radii (each (M,)) for residuals e, E e² at the nodes:
        ``perp`` E[e²σ'²|P⊥x|²], ``second`` E[e²σ'²<ŵ,x>²], ``mean_par`` E[eσ'<ŵ,x>],
        ``value2`` E[e²σ²], ``value`` E[eσ]."""
        we, we2 = self.weights * e, self.weights * e2
        return {
            "perp": self.tables[A_PERP] @ we2,
            "second": self.tables[A_PARALLEL] @ we2,
            "mean_par": self.tables[P1] @ we,
            "value2": self.tables[G2] @ we2,
            "value": self.tables[G1] @ we,
        }

    def coefficients(
        self, masses: np.ndarray, eps: float, batch: int, neurons: float, xi: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """The Itô drift c(r) and the radial variance rate a(r) at the radii, each (M,).

        c = (2εξ²/(B r)) E[e² σ'² |P⊥x|²],  a = (4εξ²/B)(E[e² σ'² <ŵ,x>²] − E[e σ' <ŵ,x>]²).
        """
        mom = self.moments(*self.residuals(masses, neurons))
        drift, var_r, _ = self._rates(mom, eps * xi * xi / batch)
        return drift, var_r

    def second_layer_coefficients(
        self,
        masses: np.ndarray,
        a: np.ndarray,
        eps: float,
        batch: int,
        neurons: float,
        xi: float = 1.0,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """θ = (a, w), σ*(x; θ) = a σ(<w, x>): the r-drift, r-variance and a-variance rates on
        a grid of masses (n_a, M) at second-layer values ``a`` (n_a,), each (n_a, M).

        Δw carries a factor a, so c and the r-variance are a² times those of θ = w; Δa =
        (2s/B) Σ e σ(<w, x>) has the variance rate (4εξ²/B)(E[e²σ²] − E[eσ]²) (order ε).
        The a–r covariance is not carried (see docs/finite_step.md).
        """
        m = np.asarray(masses, dtype=float)
        a = np.asarray(a, dtype=float)
        mom = self.moments(*self.residuals(a @ m, neurons, (a * a) @ m))
        drift, var_r, var_a = self._rates(mom, eps * xi * xi / batch)
        a2 = (a * a)[:, None]
        return a2 * drift, a2 * var_r, np.broadcast_to(var_a, m.shape).copy()

    def _rates(
        self, mom: dict[str, np.ndarray], scale: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """c, the r-variance and the a-variance rate (per unit a²) from :meth:`moments`, with
        ``scale`` = εξ²/B; each (M,)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            drift = np.where(self.radii > 0, 2.0 * scale * mom["perp"] / self.radii, 0.0)
        var_r = 4.0 * scale * np.maximum(mom["second"] - mom["mean_par"] ** 2, 0.0)
        var_a = 4.0 * scale * np.maximum(mom["value2"] - mom["value"] ** 2, 0.0)
        return drift, var_r, var_a


@dataclass(frozen=True)
class StepNoise:
    """The SGD whose finite step the corrected DD follows (``dynamics.finite_step``).

    Attributes
    ----------
    eps : float, ε (``sgd.eps``)
    batch : int, B (``sgd.batch``)
    neurons : float, N for the i.i.d. variance (h₂ − h²)/N in E e² (default ``math.inf``: the
        mean-field residual, what ``dynamics.finite_step`` uses)
    implicit : bool, the correction (drift and diffusion) by an upwind backward-Euler step
        after each explicit step instead of in the explicit stages (``solver.finite_step_scheme``)
    """

    eps: float
    batch: int = 1
    neurons: float = math.inf
    implicit: bool = False

    @property
    def parameters(self) -> np.ndarray:
        """[ε/B, 1/N, 1 if the correction is implicit else 0] as the compiled kernel takes them."""
        inv_n = 0.0 if math.isinf(self.neurons) else 1.0 / self.neurons
        return np.array([self.eps / self.batch, inv_n, float(self.implicit)])
