r"""The training-set flow of 2-homogeneous units as a PDE on the circle of directions.

For ReLU units φ(θ; x) = b (a·x̃)₊ on inputs x ∈ R (x̃ = (x, 1), a ∈ R²) the flow of
:mod:`ddsolver.models.training_set` keeps every particle **balanced** if it starts so:
d(b² − |a|²)/dt = −2λ(b² − |a|²). For balanced particles write a = r (cos ψ, sin ψ),
b = s r with the sign s = ±1. With the residual weights w_i = ℓ'(α f(x_i), y_i)/(α n) and

    G(ψ) = Σ_i w_i (x_i cos ψ + sin ψ)₊                          (the first variation per |a|²)
    G'(ψ) = Σ_i w_i 1{x_i cos ψ + sin ψ > 0} (cos ψ − x_i sin ψ),

the velocity −∇J' gives d r²/dt = −2(sG(ψ) + λ) r² and dψ/dt = −s G'(ψ) (Chizat & Bach
2018's lifting; the derivation is in ``docs/problems/training_set.md``). The measures
ν_s = Σ_{j: s_j = s} m_j r_j² δ_{ψ_j} (s = ±1) therefore follow a transport with growth on
the circle,

    ∂_t ν_s − ∂_ψ(ν_s s G') = −2(sG + λ) ν_s,        f(x) = Σ_s s ∫ (x cos ψ + sin ψ)₊ dν_s(ψ),

a nonlocal, periodic 1-D PDE (G depends on ν through f). :class:`CircleFlow` solves it by
finite volumes on a periodic grid of N cells: the grid's reconstructions on a periodic axis
(:func:`~ddsolver.operators.transport.periodic_faces`: limited slopes, or fifth-order
WENO-Z), upwind fluxes at the exact face velocities (a conservative transport: the fluxes
telescope, so only the growth term changes a species' mass), the growth term with the exact
cell averages of G, and the grid's SSP Runge–Kutta methods (:mod:`ddsolver.tableaux`, stages
combined as :mod:`ddsolver.steppers` combines them) within the positivity bound

    dt ≤ cfl / (2 max|G'| / h + max(2(sG + λ))₊).

The predictor uses the exact cell integrals of (x cos ψ + sin ψ)₊, so f is exact for the
piecewise-constant density.
"""

from __future__ import annotations

import math

import numpy as np

from ...grid import Axis, TensorGrid
from ...operators.transport import LIMITERS, periodic_faces
from .directions import SIGNS, DirectionFlow, DirectionIntegrator


def relu_cos_antiderivative(u: np.ndarray) -> np.ndarray:
    """H(u) = ∫₀ᵘ (cos v)₊ dv, continuous and non-decreasing (2 per period of 2π)."""
    shifted = np.asarray(u, float) + 0.5 * math.pi  # (cos v)₊ > 0 for shifted mod 2π ∈ (0, π)
    periods = np.floor(shifted / (2 * math.pi))
    phase = shifted - 2 * math.pi * periods
    within = np.where(phase < math.pi, 1.0 - np.cos(phase), 2.0)  # ∫ from −π/2 of (cos v)₊
    return 2.0 * periods + within - 1.0


def cell_averages(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    r"""(1/h_c) ∫_{cell c} (x_i cos ψ + sin ψ)₊ dψ, (n, N), exactly.

    x cos ψ + sin ψ = R cos(ψ − φ) with R = (x² + 1)^{1/2}, φ = atan2(1, x).
    """
    x = np.asarray(x, float)[:, None]
    radius, phase = np.sqrt(x * x + 1.0), np.arctan2(1.0, x)
    antider = radius * relu_cos_antiderivative(edges[None, :] - phase)
    return np.diff(antider, axis=1) / np.diff(edges)[None, :]


def relu_slopes(x: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """d/dψ (x_i cos ψ + sin ψ)₊ at the angles, (n, len(angles))."""
    x = np.asarray(x, float)[:, None]
    c, s = np.cos(angles)[None, :], np.sin(angles)[None, :]
    return np.where(x * c + s > 0.0, c - x * s, 0.0)


class CircleFlow(DirectionFlow):
    r"""The flow of balanced ReLU units on 1-D inputs as a PDE on the circle (module docstring).

    Parameters
    ----------
    data : :class:`~ddsolver.data.TrainingSet` with d = 1
    loss : "square" or "logistic"
    alpha, lam : the output scale α and the weight decay λ
    cells : N, cells of the periodic angle axis [0, 2π)
    order : SSP Runge–Kutta order (1, 2, 3)
    limiter : "mc", "minmod", "none" (first order in space) or "weno5"
    cfl : the fraction of the positivity bound each step takes
    """

    snapshot_name = "angle_density"

    def __init__(self, data, loss: str, alpha: float, lam: float, cells: int, order: int = 3,
                 limiter: str = "mc", cfl: float = 0.5):  # fmt: skip
        if data.dimension != 1:
            raise ValueError(f"the circle flow takes inputs in R (d = 1), not d = {data.dimension}")
        if limiter not in LIMITERS:
            raise ValueError(f"limiter {limiter!r}; allowed: {', '.join(LIMITERS)}")
        if cells < 5:
            raise ValueError(f"the circle needs at least 5 cells, not {cells}")
        super().__init__(data, loss, alpha, lam, order, cfl)
        self.limiter = limiter
        self._faces = (np.empty((2, cells)), np.empty((2, cells)))
        axis = Axis.uniform("angle", 0.0, 2 * math.pi, cells, periodic=True)
        self.grid = TensorGrid((axis,))
        self.h = 2 * math.pi / cells
        self.volumes = np.full(cells, self.h)
        x = data.x[:, 0]
        self.averages = cell_averages(x, axis.edges)  # (n, N)
        self.test_averages = cell_averages(data.x_test[:, 0], axis.edges)
        self.face_slopes = relu_slopes(x, axis.edges[:-1])  # at the left face of each cell
        self.centre_slopes = relu_slopes(x, axis.centres)

    # ------------------------------------------------------------------ the fields

    def rates_and_velocities(self, masses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Growth rates −2(sG_c + λ) (2, N) at the cells and the velocities −sG'(ψ_f) (2, N)
        at the left faces."""
        w = self.weights(masses)
        return self.growth_rates(w), -SIGNS[:, None] * (w @ self.face_slopes)[None, :]

    def rhs(self, masses: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """dν/dt (2, N), the growth Σ_c rate ν per species (2,), and the largest outflow rate
        of a cell (the positivity bound is dt ≤ 1/rate)."""
        rates, v = self.rates_and_velocities(masses)
        east, west = self._faces
        periodic_faces(masses / self.h, LIMITERS[self.limiter], east, west)
        # face f is the left face of cell f: upwind between cell f − 1 (its east face value)
        flux = np.maximum(v, 0.0) * np.roll(east, 1, axis=1) + np.minimum(v, 0.0) * west
        growth_density = rates * masses
        dmass = -(np.roll(flux, -1, axis=1) - flux) + growth_density
        decay = float(np.max(np.maximum(-rates, 0.0)))
        return dmass, growth_density.sum(axis=1), 2.0 * float(np.max(np.abs(v))) / self.h + decay

    def tangent_speed2(self, w: np.ndarray) -> np.ndarray:
        """G'(ψ)² at the cell centres, (N,)."""
        return (w @ self.centre_slopes) ** 2

    # ------------------------------------------------------------------ laws and observables

    def from_particles(self, theta: np.ndarray, masses: np.ndarray) -> np.ndarray:
        """Cell masses (2, N) of balanced particles θ = (b, a) (M, 3): each particle's m|a|²
        split between the two cells whose centres bracket ψ = atan2(a₂, a₁), so that the
        mean angle is kept (cloud in cell, periodic)."""
        angle = np.mod(np.arctan2(theta[:, 2], theta[:, 1]), 2 * math.pi)
        weight = masses * (theta[:, 1] ** 2 + theta[:, 2] ** 2)
        position = angle / self.h - 0.5
        left = np.floor(position)
        frac = position - left
        n = self.grid.size
        out = np.zeros((2, n))
        species = (theta[:, 0] < 0).astype(int)
        np.add.at(out, (species, left.astype(int) % n), weight * (1.0 - frac))
        np.add.at(out, (species, (left.astype(int) + 1) % n), weight * frac)
        return out


#: The run loop's integrator of the circle flow (kept under the name it was published with).
CircleIntegrator = DirectionIntegrator
