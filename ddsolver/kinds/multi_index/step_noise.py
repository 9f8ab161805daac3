r"""SGD's own step noise in the multi-index flow: the Itô drift of r⊥ (``dynamics.finite_step``).

One online SGD step (step ε, mini-batch of B fresh samples) moves a neuron by

    Δw = (2ε/B) Σ_b e(x_b) a σ'(<w, x_b>) x_b,        e = y − ŷ,

(a = 1 without a trained second layer). Split x = (z, x⊥), z ∈ R^k its projections on the
teacher subspace, and x⊥ = ξ ŵ⊥ + x⊥⊥ with ŵ⊥ the direction of the neuron's orthogonal part:
<w, x> = m·z + r⊥ ξ, and x⊥⊥ (d − k − 1 dimensions) is independent of z and ξ. To second order
r⊥' = |w⊥ + Δw⊥| = r⊥ + <ŵ⊥, Δw⊥> + |Δw⊥⊥|²/(2r⊥); the mean of the first-order part is the
DD's velocity, so per unit time (1/ε steps) the finite step adds the Itô drift

    c(θ) = (2ε a² (d − k − 1) / (B r⊥)) E_{z,ξ}[e² σ'(m·z + r⊥ξ)²]                    (order εd)

to r⊥ (E|x⊥⊥|² = d − k − 1). With the mean-field residual e = y(z) + ς g − h(z),

    h(z) = ∫ a' E_ξ σ(m'·z + r⊥'ξ) dρ,     E[e² σ'²] = E_z[((y(z) − h(z))² + ς²) S(m·z, r⊥)],

    S(u, r) = E_ξ σ'(u + rξ)²,     G(u, r) = E_ξ σ(u + rξ)     (ξ ~ N(0, 1)).

This is the correction :mod:`ddsolver.models.step_noise` makes for the isotropic kind, taken
here as its leading term, as the anisotropic kind takes it: the O(ε) diffusions of m, ξ and a
are not carried by particles, and h is the output at d = ∞ (at finite d the other neurons'
orthogonal parts make ŷ depend on |x⊥| too, an O(1/d) change of c, so O(ε)). The committee's
η² term restricted to its diagonal pairs is the same drift: d(r⊥² + |m|²)/dt = 4εd E[e²σ'²]
at d → ∞ (docs/problems/committee.md, "The bridge").

G and S are closed forms: erf, G = erf(u/√(1 + 2r²)), S = (4/π)(1 + 4r²)^{-1/2}
exp(−2u²/(1 + 4r²)); a kinked σ = σ(−∞) + s Σ_k ±relu(t − t_k) sums ReLU's
G = uΦ(u/r) + rφ(u/r) and Φ over the pieces of σ'; the square and the cubic by Gauss–Hermite
nodes exact for their degree. E_z is a Gauss–Hermite product rule for k ≤ 3 and a scrambled
Sobol sample (fixed seed) beyond.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..._scipy import special
from ...models.activations import KINKED_KINDS, Activation
from .model import MultiIndex

#: Gauss–Hermite nodes per axis of the z rule, by k (beyond: :data:`SOBOL_POINTS`).
AXIS_NODES = {1: 96, 2: 40, 3: 16}
#: Points of the scrambled Sobol rule in z for k > 3 (a power of two).
SOBOL_POINTS = 4096
#: Particles per block of the (z nodes × particles) tables: bounds their memory.
BLOCK = 2048


def smoothed(activation: Activation, u: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, ...]:
    """(G, S) = (E σ(u + rξ), E σ'(u + rξ)²), ξ ~ N(0, 1), broadcast over u and r."""
    u, r = np.broadcast_arrays(np.asarray(u, float), np.asarray(r, float))
    kind = activation.kind
    if kind == "erf":
        q = 1.0 + 2.0 * r * r
        s = 1.0 + 4.0 * r * r
        return special.erf(u / np.sqrt(q)), 4.0 / math.pi / np.sqrt(s) * np.exp(-2.0 * u * u / s)
    if kind in KINKED_KINDS:
        return _kinked(activation, u, r)
    if kind in ("square", "cubic"):  # polynomials of degree ≤ 3: 4 Hermite nodes are exact
        nodes, weights = np.polynomial.hermite_e.hermegauss(4)
        t = u[..., None] + r[..., None] * nodes
        w = weights / weights.sum()
        return activation(t) @ w, activation.derivative(t) ** 2 @ w
    raise ValueError(f"no Gaussian smoothing of σ = {kind!r} for the finite-step drift")


def _kinked(activation: Activation, u: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, ...]:
    """G and S of σ = σ(−∞) + s Σ_k sign_k relu(t − t_k): ReLU pieces and the σ' steps."""
    kinks, signs, slope = activation.kink_structure()
    order = np.argsort(kinks)
    kinks, signs = kinks[order], signs[order]
    base = float(activation(kinks[0] - 1.0))  # σ is flat left of its first kink
    r_safe = np.maximum(r, 1e-300)  # r = 0: the limits σ(u) and σ'(u)² (Φ(0) = ½ at a kink)
    value = np.full(u.shape, base)
    square = np.zeros(u.shape)
    levels = slope * np.cumsum(signs)  # σ' right of each kink
    for t_k, sign, level, nxt in zip(kinks, signs, levels, [*kinks[1:], math.inf], strict=True):
        z = np.clip((u - t_k) / r_safe, -40.0, 40.0)  # (Φ and φ are 0 or 1 beyond)
        value += slope * sign * ((u - t_k) * special.ndtr(z) + r * np.exp(-0.5 * z * z)
                                 / math.sqrt(2.0 * math.pi))  # fmt: skip
        beyond = special.ndtr(np.clip((u - nxt) / r_safe, -40.0, 40.0)) if nxt < math.inf else 0.0
        square += level * level * (special.ndtr(z) - beyond)  # σ' = level on (t_k, next)
    return value, square


def input_rule(k: int, per_axis: dict[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z (Q, k) and probability weights (Q,) of E over z ~ N(0, I_k): a Gauss–Hermite
    product rule with ``per_axis[k]`` nodes an axis (default :data:`AXIS_NODES`), else
    scrambled Sobol points."""
    per_axis = AXIS_NODES if per_axis is None else per_axis
    if k in per_axis:
        x, w = np.polynomial.hermite_e.hermegauss(per_axis[k])
        w = w / w.sum()
        grids = np.meshgrid(*([x] * k), indexing="ij")
        weights = np.prod(np.meshgrid(*([w] * k), indexing="ij"), axis=0)
        return np.column_stack([g.ravel() for g in grids]), weights.ravel()
    from scipy.stats import qmc  # (scipy.stats costs start-up time: only when asked)

    u = qmc.Sobol(k, scramble=True, seed=np.random.default_rng(0)).random(SOBOL_POINTS)
    z = special.ndtri(np.clip(u, 1e-16, 1.0 - 1e-16))
    return z, np.full(SOBOL_POINTS, 1.0 / SOBOL_POINTS)


@dataclass(frozen=True)
class InputNodes:
    """A rule for E over the input's projections on the reduced subspace: x's projections
    z_q (Q, k), its standard deviation s_q in every other direction (Q,), the label y_q (Q,)
    and the probability weights (Q,). One standard Gaussian (the multi-index kind): s = 1; a
    mixture: each cluster's nodes μ_c + s_c·(Gauss–Hermite), weighted by π_c."""

    nodes: np.ndarray
    scales: np.ndarray
    labels: np.ndarray
    weights: np.ndarray


def teacher_nodes(model: MultiIndex) -> InputNodes:
    """x ~ N(0, I_d) and the multi-index teacher's y(z) (network or polynomial)."""
    z, w = input_rule(model.units)
    if model.polynomial is not None:
        y = model.polynomial(z)
    else:
        y = model.teacher(z @ model.chol.T) @ model.v
    return InputNodes(z, np.ones(w.size), y, w)


@dataclass(frozen=True)
class StepNoiseDrift:
    """The finite step's Itô drift of r⊥ in a flow of particles ((a,) m, r⊥).

    Parameters
    ----------
    activation : σ
    inputs : :class:`InputNodes`, the law of (z, s, y)
    label_noise : ς
    second_layer : whether particles carry a as their first column
    eps : float, ε (``sgd.eps``)
    batch : int, B (``sgd.batch``)
    dimension : float, the SGD's d (finite)
    """

    activation: Activation
    inputs: InputNodes
    label_noise: float
    second_layer: bool
    eps: float
    batch: int
    dimension: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.dimension):
            raise ValueError("the finite-step drift needs the SGD's finite d")

    @classmethod
    def multi_index(
        cls, model: MultiIndex, eps: float, batch: int, dimension: float
    ) -> StepNoiseDrift:
        """The drift of the multi-index flow of ``model``."""
        return cls(model.activation, teacher_nodes(model), model.label_noise, model.second_layer,
                   eps, batch, dimension)  # fmt: skip

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a (M,), m (M, k), r⊥ (M,)) of particles θ; a = 1 without a second layer."""
        a = theta[:, 0] if self.second_layer else np.ones(theta.shape[0])
        return a, theta[:, int(self.second_layer) : -1], theta[:, -1]

    def _smoothed(self, m: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(G, S) at every node and particle, (Q, M): u = m·z_q, spread r⊥ s_q."""
        nodes = self.inputs
        return smoothed(self.activation, nodes.nodes @ m.T, nodes.scales[:, None] * r[None, :])

    def output(self, theta: np.ndarray) -> np.ndarray:
        """h(z_q) = (1/M) Σ_l a_l G(m_l·z_q, r⊥_l s_q) at the nodes, (Q,), of particles θ."""
        a, m, r = self.split(theta)
        out = np.zeros(self.inputs.weights.size)
        for lo in range(0, r.size, BLOCK):
            hi = lo + BLOCK
            g, _ = self._smoothed(m[lo:hi], r[lo:hi])
            out += g @ a[lo:hi]
        return out / r.size

    def noise_moment(self, theta: np.ndarray, residual: np.ndarray) -> np.ndarray:
        """Σ_q w_q s_q² e_q² S(m·z_q, r⊥ s_q) of each particle (M,), given e² at the nodes."""
        _, m, r = self.split(theta)
        out = np.empty(r.size)
        we = self.inputs.weights * self.inputs.scales**2 * residual
        for lo in range(0, r.size, BLOCK):
            hi = lo + BLOCK
            _, s = self._smoothed(m[lo:hi], r[lo:hi])
            out[lo:hi] = we @ s
        return out

    def drift(self, theta: np.ndarray, law: np.ndarray | None = None) -> np.ndarray:
        """c(θ_i) (M,): the Itô drift of r⊥ of particles θ in the mean law of ``law`` (default
        θ itself), both (·, dims); 0 where r⊥ = 0."""
        law = theta if law is None else law
        e2 = (self.inputs.labels - self.output(law)) ** 2 + self.label_noise**2
        a, m, r = self.split(theta)
        scale = 2.0 * self.eps * (self.dimension - m.shape[1] - 1) / self.batch
        moment = self.noise_moment(theta, e2)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(r > 0, scale * a * a * moment / r, 0.0)

    def velocity(self, theta: np.ndarray) -> np.ndarray:
        """The drift as a velocity of every coordinate, (M, dims): c in the r⊥ column."""
        out = np.zeros_like(theta)
        out[:, -1] = self.drift(theta)
        return out
