r"""The distributional dynamics discretised on a grid of reduced coordinates.

    ∂_t p = ∇·( 2ξ(t) p ∇[ Ψ(z; p) + (λ/2)|θ(z)|² − c L(z) ] ) + ∇·( 2ξ(t) ν ∇p ),
    Ψ(z; p) = V(z) + ∫U(z, z') p(z') dz',

with L = log of the volume element of R^D in reduced coordinates
(e.g. (d − 1) log r), ν = τ/D and c = ν for finite D. For the radial d → ∞ limit the
noise becomes the deterministic entropic drift: ν = 0 and c = τ (L = log r), i.e. the
velocity 2ξτ/r of DESIGN.md §2.

The free energy that the flow dissipates (dF/dt ≤ 0 for ξ > 0) is

    F = ½R(p) + (λ/2)∫|θ|² p + ν ∫ p (log p − L)      (finite D),
    F = ½R(p) + (λ/2)∫|θ|² p − τ ∫ p log r           (d = ∞, up to a constant).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .controllers import StepControl
from .grid import TensorGrid
from .models.risk import finite_width_correction, mean_field_risk
from .models.step_noise import StepNoise
from .observables import coordinate_statistics
from .operators.interaction import Interaction, build_interaction
from .operators.transport import LIMITERS, flux_work
from .protocol import InitialLaw, ReducedProblem
from .schedules import Schedule
from .status import StepReport
from .steppers import GridOperands, StepNoiseOperands, advance, evaluate_rhs
from .tableaux import SSP_BY_ORDER


class InitialMassError(ValueError):
    """The grid does not hold the initial law: some of its mass falls outside."""

    def __init__(self, extent: dict[str, list[float]], lost: float):
        self.extent, self.lost = extent, lost
        super().__init__(f"the grid {extent} misses {lost:.3g} of the initial mass; enlarge it")


#: Initial mass a grid may miss (round-off of the cdf differences).
LOST_MASS_TOLERANCE = 1e-9
#: widths of a "uniform" axis agree to this (relative): linspace edges differ by round-off
UNIFORM_WIDTHS = 1e-9
#: The grid's step may at most double after an accepted step; a rejected one is retried at
#: the controller's proposal however small (positivity, not the error, bounds it from below).
GROWTH, SHRINK = 2.0, 0.0


def initial_cell_masses(grid: TensorGrid, law: InitialLaw) -> np.ndarray:
    """The initial law's mass in every cell, shape ``grid.shape``.

    Along a coordinate with a continuous marginal the cell masses are exact (differences of
    the cdf at the edges); a point-mass marginal (d = ∞, a fixed second-layer weight) is split
    between the two nearest cells so that its mean is exact
    (:meth:`~ddsolver.grid.Axis.point_mass`). Raises :class:`InitialMassError` when more than
    :data:`LOST_MASS_TOLERANCE` of the mass falls outside the grid.
    """
    masses = np.ones(())
    for axis in grid.axes:
        at = law.axis_point_mass(axis.name)
        cells = np.diff(law.axis_cdf(axis.name, axis.edges)) if at is None else axis.point_mass(at)
        masses = np.multiply.outer(masses, cells)
    lost = 1.0 - masses.sum()
    if lost > LOST_MASS_TOLERANCE:
        raise InitialMassError({a.name: a.edges[[0, -1]].tolist() for a in grid.axes}, lost)
    return masses


@dataclass
class GridDD:
    """A reduced problem on a grid with its dynamics parameters, ready to integrate.

    Parameters
    ----------
    problem : reduced problem (e.g. :class:`~ddsolver.models.IsotropicGaussians`)
    grid : TensorGrid whose axis names match ``problem.coordinate_names``
    schedule : Schedule, ξ(t)
    tau, lam : float, temperature and ℓ2 penalty
    interaction : str, ``auto``, ``lowrank``, ``matrix`` or ``onthefly``
    order : int, Runge–Kutta order (1, 2, 3)
    cfl : float in (0, 1], fraction of the positivity step bound
    limiter : str, reconstruction of the τ = 0 upwind flux: slope limiters ``mc`` (default),
        ``minmod``, ``none`` (first order), or ``weno5`` (fifth-order WENO-Z; uniform cells
        along every axis)
    dt_max : float, cap on the step
    rtol, atol : float, embedded error control (rtol = 0: CFL only)
    step_noise : StepNoise or None, the finite-step correction of SGD's own step noise
        (:mod:`ddsolver.models.step_noise`; grids over (r) or (a, r))
    """

    problem: ReducedProblem
    grid: TensorGrid
    schedule: Schedule = field(default_factory=lambda: Schedule("constant"))
    tau: float = 0.0
    lam: float = 0.0
    interaction: str = "auto"
    order: int = 3
    cfl: float = 0.5
    limiter: str = "mc"
    dt_max: float = math.inf
    rtol: float = 0.0
    atol: float = 1e-10
    step_noise: StepNoise | None = None

    def __post_init__(self) -> None:
        self.grid.require_names(self.problem.coordinate_names)
        if self.grid.ndim > 3:
            raise ValueError("the grid solver takes 1 to 3 coordinates; use particles for 4")
        if self.order not in SSP_BY_ORDER:
            raise ValueError(f"order {self.order}; allowed: {tuple(SSP_BY_ORDER)}")
        self.method = SSP_BY_ORDER[self.order]
        self.control = StepControl(self.method, self.cfl, self.dt_max, self.rtol, self.atol,
                                   grow=GROWTH, shrink=SHRINK)  # fmt: skip
        if self.limiter not in LIMITERS:
            raise ValueError(f"limiter {self.limiter!r}; allowed: {sorted(LIMITERS)}")
        if self.limiter == "weno5":
            for axis in self.grid.axes:
                w = axis.widths
                if w.size > 1 and np.ptp(w) > UNIFORM_WIDTHS * w.max():
                    raise ValueError(
                        f"limiter 'weno5' needs uniform cells; axis {axis.name!r} has widths "
                        f"{w.min():.3g} … {w.max():.3g} (use a uniform axis, or limiter 'mc')"
                    )
        if not 0 < self.cfl <= 1:
            raise ValueError(f"cfl must lie in (0, 1], got {self.cfl}")
        if self.tau < 0 or self.lam < 0:
            raise ValueError("tau and lam must be ≥ 0")
        points = self.grid.points()
        self.points = points
        self.volumes = self.grid.volumes.ravel()
        self.potential, _ = self.problem.potential(points)
        self.squared_norm = self.problem.squared_norm(points)
        self.self_interaction = self.problem.self_interaction(points)
        dim = self.problem.entropy_dimension
        finite = not math.isinf(dim)
        self.diffusivity = self.tau / dim if finite else 0.0
        self.reference_coefficient = self.diffusivity if finite else self.tau
        self.log_reference = (
            self.problem.log_reference_density(points)
            if self.reference_coefficient > 0
            else np.zeros(points.shape[0])
        )
        self.base = (
            self.potential
            + 0.5 * self.lam * self.squared_norm
            - self.reference_coefficient * self.log_reference
        )
        self.operator: Interaction = build_interaction(self.problem, points, self.interaction)
        self._scratch = [np.empty(points.shape[0]) for _ in range(3)] + [
            flux_work(self.grid.shape3)
        ]
        self._step_noise_arrays()

    def _step_noise_arrays(self) -> None:
        """The correction's tables at the r centres (None when it is off)."""
        self.step_noise_tables = None
        self._noise = None
        if self.step_noise is None:
            return
        if self.grid.names not in (("r",), ("a", "r")):
            raise ValueError(
                f"the finite-step correction is built for the coordinates (r,) or (a, r); "
                f"this grid has {self.grid.names}"
            )
        second_layer = self.grid.names == ("a", "r")
        r = self.grid.axes[-1].centres
        tables = self.problem.step_noise_tables(r)
        self.step_noise_tables = tables
        inv_r = np.where(r > 0, 1.0 / np.where(r > 0, r, 1.0), 0.0)
        a_values = self.grid.axes[0].centres if second_layer else np.zeros(0)
        q, longest = tables.weights.size, max(self.grid.shape)
        self._noise = StepNoiseOperands(
            np.ascontiguousarray(tables.tables),
            np.ascontiguousarray(tables.tables.transpose(0, 2, 1)), tables.weights, tables.labels,
            inv_r,
            np.ascontiguousarray(a_values), self.step_noise.parameters, np.empty((2, q)),
            np.empty((5, r.size)), np.empty((2, r.size)), np.empty(longest), np.empty(longest),
        )  # fmt: skip

    # ------------------------------------------------------------------ kernels

    def kernel_arguments(self) -> tuple[GridOperands, StepNoiseOperands | None]:
        """The arrays and scalars the compiled right-hand side takes: the operator's and the
        finite-step correction's (None when it is off)."""
        w = self.grid.padded("widths")
        h = self.grid.padded("centre_distances")
        op = self.operator
        return GridOperands(
            self.volumes.reshape(self.grid.shape3),
            self.base,
            op.code,
            op.factors_t,
            op.weights,
            op.matrix,
            *w,
            *h,
            self.diffusivity if self.diffusivity > 0 else None,  # None: no SG flux compiled
            LIMITERS[self.limiter],
            self.schedule.code,
            self.schedule.params,
            *self._scratch,
        ), self._noise

    def rhs(self, p: np.ndarray, t: float) -> np.ndarray:
        """dp/dt for a density of shape ``grid.shape``."""
        p3 = np.ascontiguousarray(p, dtype=float).reshape(self.grid.shape3)
        out = np.empty_like(p3)
        rate = np.empty_like(p3)
        evaluate_rhs(p3, t, *self.kernel_arguments(), out, rate)
        return out.reshape(self.grid.shape)

    def advance(self, p3, t, t_stop, dt_limit=math.inf, max_steps=10**9) -> StepReport:
        """Integrate the padded density ``p3`` in place; see :func:`ddsolver.steppers.advance`."""
        control, method = self.control, self.method
        a, c = method.arrays()
        return StepReport(*advance(
            p3, t, t_stop, dt_limit, max_steps, a, c, method.embedded_stage, method.embedded_a,
            control.exponent, control.cfl, control.dt_max, control.rtol, control.atol,
            control.grow, control.shrink, *self.kernel_arguments(),
        ))  # fmt: skip

    # ------------------------------------------------------------------ state (run-loop API)

    @property
    def state_shape(self) -> tuple[int, ...]:
        """Shape of a checkpointed state: the grid's."""
        return self.grid.shape

    @property
    def snapshot_shapes(self) -> dict[str, tuple[int, ...]]:
        """Datasets of /snapshots besides time, with their shapes."""
        return {"density": self.grid.shape}

    def initial_state(self, law) -> np.ndarray:
        """The initial density, padded to three axes for the kernels."""
        return self.state_from(self.initial_density(law))

    def state_from(self, stored: np.ndarray) -> np.ndarray:
        """A working (padded, contiguous) copy of a stored state."""
        return np.ascontiguousarray(stored, dtype=float).reshape(self.grid.shape3).copy()

    def snapshot_fields(self, state: np.ndarray) -> dict[str, np.ndarray]:
        """What a snapshot stores: the density on the grid."""
        return {"density": state.reshape(self.grid.shape).copy()}

    # ------------------------------------------------------------------ initial data

    def initial_density(self, law: InitialLaw) -> np.ndarray:
        """Cell-averaged density of an initial law (shape ``grid.shape``); see
        :func:`initial_cell_masses`."""
        masses = initial_cell_masses(self.grid, law)
        return masses / masses.sum() / self.grid.volumes

    # ------------------------------------------------------------------ observables

    def observables(self, p: np.ndarray, neurons: int) -> dict[str, float]:
        """Risk, 1/N-corrected risk, free energy, mass and coordinate statistics of p."""
        m = (np.asarray(p).reshape(-1)) * self.volumes
        upsi = self.operator.apply(m)
        double = float(m @ upsi)
        risk = mean_field_risk(self.problem.label_second_moment, float(m @ self.potential), double)
        correction = finite_width_correction(float(m @ self.self_interaction), double, neurons)
        out = {
            "risk": risk,
            "risk_finite_n": risk + correction,
            "mass": float(m.sum()),
            "free_energy": self._free_energy(m, p, risk),
            "boundary_mass": self._boundary_mass(m),
        }
        if self.step_noise is not None:
            out.update(self.step_noise_observables(m))
        edges = [axis.edges for axis in self.grid.axes]
        out.update(coordinate_statistics(self.grid.names, self.points, m, edges))
        return out

    def step_noise_observables(self, masses: np.ndarray) -> dict[str, float]:
        """The correction's size per unit ξ²: ``step_drift`` = ∫ c p (mean Itô drift of r) and
        ``step_spread`` = ∫ a p (mean variance rate of r), both ∝ ε; with a second layer also
        ``step_spread_a`` (the variance rate of a)."""
        noise, tables = self.step_noise, self.step_noise_tables
        args = (noise.eps, noise.batch, noise.neurons)
        if self.grid.names == ("r",):
            drift, var = tables.coefficients(masses, *args)
            return {"step_drift": float(masses @ drift), "step_spread": float(masses @ var)}
        m = masses.reshape(self.grid.shape)
        drift, var_r, var_a = tables.second_layer_coefficients(m, self.grid.axes[0].centres, *args)
        return {
            "step_drift": float((m * drift).sum()),
            "step_spread": float((m * var_r).sum()),
            "step_spread_a": float((m * var_a).sum()),
        }

    def gibbs_map(self, p: np.ndarray) -> np.ndarray:
        r"""The Gibbs density of the potential that ``p`` creates, shape (n_cells,).

        G(p) ∝ exp(log π − Ψ_λ(θ; p)/ν) with ν = τ/D and π the reference density of the
        reduced coordinates, normalised on the grid. The stationary states of the noisy
        DD are its fixed points, ρ* = G(ρ*) (self-consistent Gibbs states); ∫|p − G(p)|
        measures how far ``p`` is from one. Needs τ > 0 and a finite dimension.
        """
        if self.diffusivity <= 0:
            raise ValueError("the Gibbs map needs tau > 0 and a finite entropy dimension")
        m = np.asarray(p).reshape(-1) * self.volumes
        psi = self.potential + self.operator.apply(m) + 0.5 * self.lam * self.squared_norm
        log_gibbs = self.log_reference - psi / self.diffusivity
        gibbs = np.exp(log_gibbs - log_gibbs.max())
        return gibbs / (gibbs @ self.volumes)

    def _free_energy(self, m, p, risk) -> float:
        f = 0.5 * risk + 0.5 * self.lam * float(m @ self.squared_norm)
        if self.tau == 0:
            return f
        if self.diffusivity > 0:
            pos = m > 0
            dens = np.asarray(p).reshape(-1)[pos]
            return f + self.diffusivity * float(m[pos] @ (np.log(dens) - self.log_reference[pos]))
        return f - self.tau * float(m @ self.log_reference)

    def _boundary_mass(self, m) -> float:
        """Mass in the outermost cells (the far edge of a norm, both edges of other axes)."""
        mass = m.reshape(self.grid.shape)
        touched = np.zeros(self.grid.shape, dtype=bool)
        for k, axis in enumerate(self.grid.axes):
            idx = [slice(None)] * self.grid.ndim
            idx[k] = -1
            touched[tuple(idx)] = True
            if not axis.radial:
                idx[k] = 0
                touched[tuple(idx)] = True
        return float(mass[touched].sum())
