r"""Mean-field Langevin dynamics on a training set: the flow of the free energy with the blob
method, and the noisy networks' entropy.

With the temperature τ = ``dynamics.tau`` > 0 and the schedule ξ(t) = ``dynamics.xi``, the
measure ρ_t over θ = (b, a, bias) ∈ R^D, D = d + 2, follows

    ∂_t ρ = ξ(t) [ ∇·(ρ ∇ δJ/δρ) + τ Δρ ],   J(ρ) = (1/α²)(1/n) Σ ℓ(α f(x_i), y_i)
                                                     + (λ/2) ∫|θ|² dρ,

the Wasserstein gradient flow (time-changed by ξ) of the free energy F = J + τ H,
H(ρ) = ∫ ρ log ρ (Mei–Montanari–Nguyen 2018; Chizat 2022; Nitanda–Wu–Suzuki 2022). The
weight decay λ is the confinement: for λ > 0 a stationary point is the Gibbs measure
ρ* ∝ exp(−(δJ/δρ)(θ; ρ*)/τ), whose quadratic part is exp(−λ|θ|²/2τ). The noisy networks of
``ddsolver sgd`` take θ_j ← θ_j + s v_j + √(2 s τ) g_j, s = ε ξ(kε), g_j ~ N(0, I_D): per
unit time the noise adds the variance 2ξτ per coordinate, the diffusion ξτΔρ above.

(The population kinds write τ/D and a factor 2 — DESIGN §1 — because their risk is R and
their free energy ½R + (τ/D)H; a training set's flow already has J as its objective and
no factor 2, and τ here is the temperature of F = J + τH exactly as the papers above
write it.)

``ddsolver run`` solves the flow with M weighted particles and the blob method
(Carrillo, Craig & Patacchini 2019): H is replaced by the regularised entropy
H_h = Σ_i m_i log (K_h * ρ)(θ_i) with a Gaussian kernel K_h of fixed widths h, whose exact
particle gradient is :func:`~ddsolver.operators.blob.blob_velocity`. The particles then
follow dθ_i/dt = ξ(t) (v_J(θ_i) + τ v_H(θ_i)) = −ξ(t) ∇_{θ_i} F_h / m_i, so that

    dF_h/dt = −ξ(t) Σ_i m_i |v_J + τ v_H|² ≤ 0

exactly in continuous time: the free energy decreases monotonically at any M and h.

Widths: ``particles.blob_width`` when it is set, else the normal reference rule of the
initial particles per coordinate, h_k = σ_k (4/(D + 2))^{1/(D+4)} M^{−1/(D+4)}, with
σ_k = min(sd, IQR/1.34) (Silverman's robust spread). It minimises the integrated squared
error of a Gaussian-kernel density estimate of a normal law (the reference the confinement
makes the Gibbs measure near), and fixing it at t = 0 keeps F_h one functional along the run
— a width re-estimated at every time would make F_h a different function at each instant,
and its decrease would no longer be an identity.
"""

from __future__ import annotations

import math

import numpy as np

from ...models.training_set import TrainingSetFlow
from ...operators.blob import blob_log_density, blob_velocity
from ...schedules import Schedule, Temperature


def reference_widths(theta: np.ndarray, masses: np.ndarray, tau: float, lam: float,
                     width: float = 0.0) -> np.ndarray:  # fmt: skip
    """The blob's kernel widths h (D,) for the particles θ (M, D) (module docstring).

    ``width`` > 0 is the user's one width for every coordinate. A coordinate with no spread
    (a point-mass start) takes the Gibbs reference width √(τ/λ) (1 without weight decay).
    """
    count, dim = theta.shape
    if width > 0:
        return np.full(dim, float(width))
    mean = masses @ theta / masses.sum()
    sd = np.sqrt(np.maximum(masses @ (theta - mean) ** 2 / masses.sum(), 0.0))
    iqr = np.subtract(*np.percentile(theta, [75, 25], axis=0))
    spread = np.minimum(sd, np.where(iqr > 0, iqr / 1.34, sd))
    fallback = math.sqrt(tau / lam) if lam > 0 else 1.0
    spread = np.where(spread > 0, spread, fallback)
    factor = (4.0 / (dim + 2.0)) ** (1.0 / (dim + 4.0)) * count ** (-1.0 / (dim + 4.0))
    return spread * factor


def regularised_entropy(theta: np.ndarray, masses: np.ndarray, widths: np.ndarray) -> float:
    """H_h = Σ_i m_i log (K_h * ρ)(θ_i), the blob method's entropy of weighted particles."""
    log_rho = np.empty(theta.shape[0])
    blob_log_density(np.ascontiguousarray(theta), masses, widths, log_rho)
    return float(masses @ log_rho)


class LangevinFlow:
    """The blob particles of mean-field Langevin dynamics on one training set.

    Parameters
    ----------
    flow : the training set's noiseless flow (J and its particle velocity v_J)
    masses : (M,) the particles' masses (sum 1)
    tau : the temperature: τ > 0, or τ(t) (a :class:`~ddsolver.schedules.Temperature`)
    schedule : ξ(t)
    widths : (D,) the blob's kernel widths h (:func:`reference_widths`)
    """

    def __init__(self, flow: TrainingSetFlow, masses: np.ndarray, tau: float | Temperature,
                 schedule: Schedule, widths: np.ndarray):  # fmt: skip
        if not flow.train_positions:
            raise ValueError("the entropy is over θ = (b, a): both layers must train")
        self.flow, self.masses = flow, masses
        self.tau = tau if isinstance(tau, Temperature) else Temperature(float(tau))
        self.schedule, self.widths = schedule, np.asarray(widths, float)

    def free_velocity(self, theta: np.ndarray, t: float = 0.0) -> np.ndarray:
        """v = v_J + τ(t) v_H = −∇_{θ_i} F_h / m_i, (M, D), without ξ."""
        v = self.flow.velocity(theta, self.masses)
        blob = np.empty_like(theta)
        blob_velocity(np.ascontiguousarray(theta), self.masses, self.widths, blob)
        return v + self.tau(t) * blob

    def velocity(self, theta: np.ndarray, t: float) -> np.ndarray:
        """dθ/dt = ξ(t) (v_J + τ(t) v_H), (M, D)."""
        return self.schedule(t) * self.free_velocity(theta, t)

    def observables(self, theta: np.ndarray, t: float = 0.0) -> dict[str, float]:
        """The flow's observables, with ``entropy`` H_h and ``free_energy`` F_h = J + τ H_h;
        ``dissipation`` becomes ∫|v_J + τ v_H|² dρ, so that dF_h/dt = −ξ · dissipation at a
        constant τ; an annealed τ(t) adds ``temperature`` (and dF_h/dt gains τ'(t) H_h)."""
        out = self.flow.observables(theta, self.masses)
        entropy = regularised_entropy(theta, self.masses, self.widths)
        v = self.free_velocity(theta, t)
        tau = self.tau(t)
        out.update(
            entropy=entropy,
            free_energy=out["risk"] + tau * entropy,
            dissipation=float(self.masses @ np.einsum("jk,jk->j", v, v)),
        )
        if self.tau.anneal != "none":
            out["temperature"] = tau
        return out
