r"""The Gibbs fixed point of mean-field Langevin dynamics on a training set with inputs in R,
by quadrature: an independent solution of the stationary state the blob particles approach.

For d = 1, θ = (b, u), u = (a, c) ∈ R² (weight and bias), φ_i(u) = σ(a x_i + c). With the
residual weights w_i = ℓ'(α f_i, y_i)/α of the predictions f_i = f(x_i), the first variation
of J (:mod:`~ddsolver.kinds.training_set.langevin`) is

    δJ/δρ(θ) = b S(u) + (λ/2)(b² + |u|²),   S(u) = (1/n) Σ_i w_i φ_i(u),

so the Gibbs measure ρ ∝ exp(−(δJ/δρ)/τ) is, given u, Gaussian in b with mean −S(u)/λ and
variance τ/λ, and its marginal in u is

    p(u) ∝ exp(−λ|u|²/(2τ) + S(u)²/(2λτ)).

It is normalisable where λ|u|² > S(u)²/λ at large |u| (for ReLU, λ > sup |S(u)|/|u|: a
weight decay stronger than the residuals). The stationary predictions solve the n equations

    f_j = ∫ b φ_j(u) dρ = −(1/λ) ∫ S(u) φ_j(u) p(u) du,

whose u-integrals are sums over a tensor grid in u (the b-integral is exact), and
f = T(f) is solved by :func:`scipy.optimize.root`. Then

    ∫|θ|² dρ = ∫ (S²/λ² + τ/λ + |u|²) p du,
    H(ρ) = ∫ p log p du − ½ log(2πe τ/λ),   F = J + τ H.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from ...models.training_set import loss_derivative, loss_value


@dataclass(frozen=True)
class GibbsState:
    """The stationary state of the free energy (d = 1).

    Attributes
    ----------
    predictions : (n,) f(x_i) at the training points
    norm2 : ∫|θ|² dρ
    entropy : H(ρ) = ∫ ρ log ρ
    objective : J = (1/α²)(1/n) Σ ℓ(α f_i, y_i) + (λ/2)∫|θ|² dρ
    free_energy : J + τ H
    tail_mass : p's mass in the grid's outer ring of cells (should be ≪ the tolerance)
    """

    predictions: np.ndarray
    norm2: float
    entropy: float
    objective: float
    free_energy: float
    tail_mass: float


def gibbs_state(
    x: np.ndarray, y: np.ndarray, activation, loss_code: int, alpha: float, lam: float,
    tau: float, half_width: float, nodes: int = 801,
) -> GibbsState:  # fmt: skip
    """The Gibbs fixed point for inputs x (n,) in R and labels y (n,), by quadrature.

    Parameters
    ----------
    activation : σ (:class:`~ddsolver.models.activations.Activation`)
    loss_code : the loss (:data:`ddsolver.models.training_set.LOSSES`)
    alpha, lam, tau : the output scale α, weight decay λ > 0 and temperature τ > 0
    half_width : the grid in u covers [−half_width, half_width]²
    nodes : grid nodes per axis (the trapezoidal rule: spectrally accurate for a density
        that vanishes at the edges, second order where σ has a kink)
    """
    if lam <= 0 or tau <= 0:
        raise ValueError("the Gibbs measure needs λ > 0 and τ > 0")
    x, y = np.asarray(x, float), np.asarray(y, float)
    axis = np.linspace(-half_width, half_width, nodes)
    a, c = np.meshgrid(axis, axis, indexing="ij")
    cell = (axis[1] - axis[0]) ** 2
    phi = activation(a[None] * x[:, None, None] + c[None])  # (n, nodes, nodes)
    square = a * a + c * c

    def marginal(f: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(S (nodes, nodes), p normalised on the grid, log of its normaliser)."""
        pairs = zip(f, y, strict=True)
        w = np.array([loss_derivative(loss_code, alpha * fi, yi) for fi, yi in pairs])
        s = np.tensordot(w / (alpha * len(y)), phi, axes=1)
        log_p = -lam * square / (2 * tau) + s * s / (2 * lam * tau)
        top = log_p.max()
        z = np.exp(log_p - top).sum() * cell
        return s, np.exp(log_p - top) / z, top + math.log(z)

    def residual(f: np.ndarray) -> np.ndarray:
        s, p, _ = marginal(f)
        return f + np.tensordot(phi, s * p, axes=([1, 2], [0, 1])) * cell / lam

    solution = optimize.root(residual, np.zeros(len(y)), tol=1e-13)
    if not solution.success:
        raise RuntimeError(f"the Gibbs fixed point was not found: {solution.message}")
    f = solution.x
    s, p, log_z = marginal(f)
    norm2 = float(((s * s / lam**2 + tau / lam + square) * p).sum() * cell)
    log_p = -lam * square / (2 * tau) + s * s / (2 * lam * tau) - log_z
    entropy = float((p * log_p).sum() * cell) - 0.5 * math.log(2 * math.pi * math.e * tau / lam)
    loss = np.mean([loss_value(loss_code, alpha * fi, yi) for fi, yi in zip(f, y, strict=True)])
    objective = float(loss / alpha**2 + 0.5 * lam * norm2)
    ring = np.ones_like(p, dtype=bool)
    ring[1:-1, 1:-1] = False
    return GibbsState(f, norm2, entropy, objective, objective + tau * entropy,
                      float(p[ring].sum() * cell))  # fmt: skip
