r"""Finite-width training on a training set: full-batch gradient descent or mini-batch SGD.

A width-m network f(x) = (1/m) Σ_j b_j σ(a_j·x̃) takes, at every step, the particle
velocity v_j of :class:`~ddsolver.models.training_set.TrainingSetFlow` on the step's batch
(all n points when ``sgd.batch`` is ≥ n — its default for this kind; else B points drawn
without replacement):

    θ_j ← θ_j + s_k v_j + √(2 s_k τ) g_j,   s_k = ε ξ(kε),   time t = kε,

which is gradient descent on L(θ) with the step s_k·m (the usual 1/m output scaling), plus
at the temperature τ > 0 the Gaussian noise g_j ~ N(0, I) of mean-field Langevin dynamics
(:mod:`ddsolver.kinds.training_set.langevin`: the diffusion ξτΔρ). Full batch without noise
is the explicit Euler scheme of the flow with M = m particles; its error is O(ε).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..schedules import Schedule


def gradient_steps(flow, theta: np.ndarray, masses: np.ndarray, eps: float, batch: int,
                   steps: int, rng: np.random.Generator, schedule: Schedule | None = None,
                   k0: int = 0, tau: float | Callable[[float], float] = 0.0) -> None:  # fmt: skip
    """Take ``steps`` steps (k0 ≤ k < k0 + steps) in place. theta (m, d+2); masses (m,) = 1/m.

    Each step draws its batch (when it is not the whole set) and then, at τ > 0, its noise
    √(2 s τ) g from ``rng``; without a schedule ξ = 1. ``tau``: a number, or τ(t) (an
    annealed :class:`~ddsolver.schedules.Temperature`, taken at the step's start t = kε)."""
    x, y = flow.data.x, flow.data.y
    n = y.shape[0]
    full = batch <= 0 or batch >= n
    for k in range(k0, k0 + steps):
        s = eps if schedule is None else eps * schedule(k * eps)
        if full:
            theta += s * flow.velocity(theta, masses)
        else:
            pick = rng.choice(n, size=batch, replace=False)
            theta += s * flow.velocity(theta, masses, x[pick], y[pick])
        tau_k = tau(k * eps) if callable(tau) else tau
        if tau_k > 0:
            theta += math.sqrt(2.0 * s * tau_k) * rng.standard_normal(theta.shape)
