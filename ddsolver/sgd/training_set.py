r"""Finite-width training on a training set: full-batch gradient descent or mini-batch SGD.

A width-m network f(x) = (1/m) Σ_j b_j σ(a_j·x̃) takes, at every step, the particle
velocity v_j of :class:`~ddsolver.models.training_set.TrainingSetFlow` on the step's batch
(all n points when ``sgd.batch`` is ≥ n — its default for this kind; else B points drawn
without replacement):

    θ_j ← θ_j + ε v_j,   time t = kε,

which is gradient descent on L(θ) with the step ε·m (the usual 1/m output scaling). Full
batch is the explicit Euler scheme of the flow with M = m particles; its error is O(ε).
"""

from __future__ import annotations

import numpy as np


def gradient_steps(flow, theta: np.ndarray, masses: np.ndarray, eps: float, batch: int,
                   steps: int, rng: np.random.Generator) -> None:  # fmt: skip
    """Take ``steps`` steps in place. theta (m, d+2); masses (m,) = 1/m."""
    x, y = flow.data.x, flow.data.y
    n = y.shape[0]
    full = batch <= 0 or batch >= n
    for _ in range(steps):
        if full:
            theta += eps * flow.velocity(theta, masses)
        else:
            pick = rng.choice(n, size=batch, replace=False)
            theta += eps * flow.velocity(theta, masses, x[pick], y[pick])
