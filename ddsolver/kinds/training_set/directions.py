r"""What the flows of balanced ReLU units on their sphere of directions share.

For ReLU units φ(θ; x) = b (a·x̃)₊ (x̃ = (x, 1) ∈ R^{d+1}) kept balanced (|b| = |a|, which the
flow preserves up to the factor e^{−2λt}), the measures ν_s = Σ_{j: s_j = s} m_j |a_j|² δ_{u_j}
of the directions u = a/|a| ∈ S^d of each sign s = ±1 follow a transport with growth,

    ∂_t ν_s + ∇_S · (ν_s (−s ∇_S G)) = −2(sG + λ) ν_s,      G(u) = Σ_i w_i (u · x̃_i)₊,

with the residual weights w_i = ℓ'(α f(x_i), y_i)/(α n) and the predictor
f(x) = Σ_s s ∫ (u · x̃)₊ dν_s(u) (Chizat & Bach 2018's lifting; the derivation is in
``docs/problems/training_set.md``). d = 1 is the circle (:mod:`.circle`), d = 2 the sphere
S² (:mod:`.sphere`). A subclass of :class:`DirectionFlow` holds the mesh: the exact cell
averages of (u · x̃_i)₊, the transport's right-hand side and the squared tangential speed at
the cells; this module holds the rest — the predictor, the weights, the SSP Runge–Kutta step
within the positivity bound, the observables and the run loop's integrator.
"""

from __future__ import annotations

import math

import numpy as np

from ...controllers import StepControl, cfl_step
from ...models.training_set import LOSSES, predictor_loss, residual_weights
from ...runloop import Advance
from ...tableaux import SSP_BY_ORDER

#: The species: s = +1 (b > 0) and s = −1 (b < 0), in this order along the first axis.
SIGNS = np.array([1.0, -1.0])


class DirectionFlow:
    """The mesh-independent part of a flow on the directions (module docstring).

    A subclass sets ``averages`` (n, C) and ``test_averages`` (n_test, C), the exact cell
    averages of (u · x̃_i)₊, ``volumes`` (C,), the cells' sizes (radians or steradians), and
    ``snapshot_name``, and implements :meth:`rhs` and :meth:`tangent_speed2`.

    Parameters
    ----------
    data : :class:`~ddsolver.data.TrainingSet`
    loss : "square" or "logistic"
    alpha, lam : the output scale α and the weight decay λ
    order : SSP Runge–Kutta order (1, 2, 3)
    cfl : the fraction of the positivity bound each step takes
    """

    averages: np.ndarray
    test_averages: np.ndarray
    volumes: np.ndarray
    snapshot_name: str

    def __init__(self, data, loss: str, alpha: float, lam: float, order: int, cfl: float):
        self.data, self.loss, self.loss_code = data, loss, LOSSES[loss]
        self.alpha, self.lam = alpha, lam
        self.control = StepControl(SSP_BY_ORDER[order], cfl)

    @property
    def cells(self) -> int:
        return int(self.volumes.size)

    # ------------------------------------------------------------------ the fields

    def predict(self, masses: np.ndarray, test: bool = False) -> np.ndarray:
        """f at the training (or test) points from the cell masses ν (2, C) (without α)."""
        table = self.test_averages if test else self.averages
        return table @ (masses[0] - masses[1])

    def weights(self, masses: np.ndarray, f: np.ndarray | None = None) -> np.ndarray:
        """w_i = ℓ'(α f(x_i), y_i)/(α n), (n,) (``f``: the predictions, if already made)."""
        f = self.predict(masses) if f is None else f
        out = np.empty(self.data.y.size)
        residual_weights(self.loss_code, f, self.data.y, self.alpha, out)
        return out / self.data.y.size

    def growth_rates(self, w: np.ndarray) -> np.ndarray:
        """−2(sG_c + λ) at the cells, (2, C), from the exact cell averages of G."""
        g_cells = w @ self.averages
        return -2.0 * (SIGNS[:, None] * g_cells[None, :] + self.lam)

    def rhs(self, masses: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """dν/dt (2, C), the growth Σ_c rate ν per species (2,), and the largest outflow rate
        of a cell (the positivity bound is dt ≤ 1/rate)."""
        raise NotImplementedError

    def tangent_speed2(self, w: np.ndarray) -> np.ndarray:
        """|∇_S G|² at the cells, (C,)."""
        raise NotImplementedError

    def step(self, masses: np.ndarray, dt_max: float) -> tuple[np.ndarray, np.ndarray, float]:
        """One step of the SSP Runge–Kutta method (:data:`~ddsolver.tableaux.SSP_BY_ORDER`),
        stages as the grid's stepper combines them, of at most ``dt_max`` within the
        positivity bound (:func:`~ddsolver.controllers.cfl_step`): (ν, the growth integrated
        over the step per species (2,), dt), the growth with the method's weights b."""
        method = self.control.method
        k, g, rate = self.rhs(masses)
        dt = float(cfl_step(rate, self.control.cfl, dt_max, math.inf))
        u, growth = masses, np.zeros(2)
        for i, (a, b) in enumerate(zip(method.a, method.weights, strict=True)):
            if i > 0:
                k, g, _ = self.rhs(u)
            u = masses + (1.0 - a) * (u + dt * k - masses)
            growth += (dt * b) * g
        return u, growth, dt

    # ------------------------------------------------------------------ laws and observables

    def uniform(self, kappa: float) -> np.ndarray:
        """Cell masses (2, C) of the balanced sphere law: u uniform, |a|² = κ², s = ±1 with
        probability ½ each (ν_± = κ²/2 × the uniform law of the directions)."""
        share = self.volumes / self.volumes.sum()
        return np.stack([0.5 * kappa**2 * share] * 2)

    def observables(self, masses: np.ndarray) -> dict[str, float]:
        """risk, loss and test_loss (the predictor's: (1/n) Σ ℓ(α f, y)), test_error, margin,
        norm2 = ∫|θ|² dρ = 2 Σ_s ν_s(S^d), dissipation = ∫|v|² dρ
        = Σ_s ∫ [2(sG + λ)² + |∇_S G|²] dν_s, mass_plus, mass_minus."""
        data, alpha = self.data, self.alpha
        f = self.predict(masses)
        loss = predictor_loss(self.loss_code, f, data.y, alpha)
        totals = masses.sum(axis=1)
        norm2 = 2.0 * float(totals.sum())
        w = self.weights(masses, f)
        g_cells = w @ self.averages
        with np.errstate(over="ignore"):  # an overflowed speed is recorded as inf
            speed2 = (2.0 * (SIGNS[:, None] * g_cells[None, :] + self.lam) ** 2
                      + self.tangent_speed2(w)[None, :])  # fmt: skip
        out = {
            "risk": float(loss / (alpha * alpha) + 0.5 * self.lam * norm2),
            "loss": float(loss),
            "margin": float(np.min(data.y * f) / totals.sum()) if totals.sum() > 0 else math.nan,
            "norm2": norm2,
            "dissipation": float(np.sum(speed2 * masses)),
            "mass_plus": float(totals[0]),
            "mass_minus": float(totals[1]),
        }
        if data.y_test.size:
            g = self.predict(masses, test=True)
            out["test_loss"] = float(predictor_loss(self.loss_code, g, data.y_test, alpha))
            out["test_error"] = float(np.mean(np.sign(g) != np.sign(data.y_test)))
        else:
            out["test_loss"] = out["test_error"] = math.nan
        return out


class DirectionIntegrator:
    """A :class:`DirectionFlow` as the run loop drives it: the cell masses ν (2, C) and the
    growth each species has integrated so far (``growth_plus``, ``growth_minus``: a species'
    mass at t is its mass at 0 plus its growth, to round-off — the fluxes only move mass).

    Parameters
    ----------
    flow : the :class:`DirectionFlow`
    masses : ν at t = 0, (2, C)
    dt_max : cap on the step (``solver.dt_max``)
    """

    #: Most steps per :meth:`advance` call (the progress bar moves in between).
    STEPS_PER_CALL = 5000

    def __init__(self, flow: DirectionFlow, masses: np.ndarray, dt_max: float = math.inf):
        self.flow, self.masses = flow, np.array(masses, float)
        self.growth = np.zeros(2)
        self.dt_max = dt_max
        self.dt_limit = math.inf

    def advance(self, t: float, t_stop: float) -> Advance:
        steps, last = 0, math.nan
        while t < t_stop and steps < self.STEPS_PER_CALL:
            remaining = t_stop - t
            masses, growth, dt = self.flow.step(self.masses, min(self.dt_max, remaining))
            if not np.all(np.isfinite(masses)):
                return Advance(t, steps, last, "non-finite density")
            self.masses, self.growth = masses, self.growth + growth
            t = t_stop if dt >= remaining else t + dt
            steps, last = steps + 1, dt
            self.dt_limit = dt
        return Advance(t, steps, last)

    def observe(self) -> dict[str, float]:
        return {
            **self.flow.observables(self.masses),
            "growth_plus": float(self.growth[0]),
            "growth_minus": float(self.growth[1]),
        }

    def snapshot(self) -> dict[str, np.ndarray]:
        """The densities of ν₊, ν₋ (2, C) per unit length (circle) or area (sphere) of the
        directions, under the flow's ``snapshot_name``."""
        return {self.flow.snapshot_name: self.masses / self.flow.volumes[None, :]}

    def checkpoint(self) -> tuple[np.ndarray, float, dict]:
        return self.masses.copy(), self.dt_limit, {"growth": self.growth.tolist()}

    def restore(self, state: np.ndarray, dt_limit: float, extra: dict | None) -> None:
        self.masses = np.array(state, float).reshape(2, -1)
        self.dt_limit = dt_limit
        self.growth = np.array((extra or {}).get("growth", [0.0, 0.0]), float)
