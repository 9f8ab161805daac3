r"""Deterministic limits that are ordinary differential equations, through the run loop.

A problem kind whose limit is an ODE dX/dt = F(X) for a state vector X (the committee
machines' order parameters, a training set's particles) describes it as an
:class:`~ddsolver.limits.ODESystem` — its right-hand side, observables and snapshot fields —
and :func:`run_limit` solves it. Between stops :class:`ODEIntegrator` takes adaptive steps of the
Dormand–Prince 8(5,3) pair (:class:`scipy.integrate.DOP853`, error per step within
rtol·|X| + atol, the step free to grow); it restarts at each stop from the last step size,
which is checkpointed, so a resumed run takes exactly the steps of an uninterrupted one.
The file has the layout of a PDE run (``kind = "pde"``) with no grid: the snapshots are the
kind's named arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from . import io
from .config import to_toml
from .fields import STEP, TIME, Field, observables, snapshots
from .kinds import get_spec
from .limits import ODESystem, SteppedLimit
from .runloop import Advance, non_finite_risk, run_loop, run_stop_times
from .settings import Settings, settings
from .status import RunResult

#: Most steps per :meth:`ODEIntegrator.advance` call (the progress bar moves in between).
STEPS_PER_CALL = 2000


class NonFiniteRate(ArithmeticError):
    """The right-hand side overflowed (or is NaN): the run has failed."""

    reason = "the right-hand side is not finite (overflow or NaN)"


class ODEIntegrator:
    """dX/dt = rhs(X) with its state, as the run loop drives it.

    Parameters
    ----------
    rhs : X (n,) → dX/dt (n,), or (X, t) → dX/dt when ``timed``
    state : X at t = 0, (n,)
    observe : (X, t) → {name: float}, the observables (``risk`` among them)
    snapshot : (X, t) → {name: array}, the snapshot fields
    rtol, atol : the error tolerances per step
    method : "DOP853" (8th order, a few large states) or "RK45" (Dormand–Prince 5(4), many
        particles at moderate tolerances)
    timed : whether ``rhs`` takes the time as its second argument (a schedule ξ(t))
    """

    #: The scipy.integrate classes by name (imported on first use: SciPy's integrators bring
    #: scipy.special, 0.16–0.28 s that a reduced-DD run never needs).
    METHODS: ClassVar[tuple[str, ...]] = ("DOP853", "RK45")

    def __init__(
        self,
        rhs: Callable[[np.ndarray], np.ndarray],
        state: np.ndarray,
        observe: Callable[[np.ndarray, float], dict[str, Any]],
        snapshot: Callable[[np.ndarray, float], dict[str, np.ndarray]],
        rtol: float,
        atol: float,
        method: str = "DOP853",
        timed: bool = False,
    ):
        self.rhs, self.state, self.timed = rhs, np.array(state, dtype=float), timed
        self._observe, self._snapshot = observe, snapshot
        self.rtol, self.atol = rtol, atol
        import scipy.integrate

        if method not in self.METHODS:
            raise ValueError(f"ODE method {method!r}; allowed: {', '.join(self.METHODS)}")
        self.method = getattr(scipy.integrate, method)
        self.dt_limit = math.inf
        self.t = 0.0  # the time of ``state`` (observables may depend on it)

    def _finite_rhs(self, t: float, x: np.ndarray) -> np.ndarray:
        """rhs(x) (or rhs(x, t)), or :class:`NonFiniteRate` when it overflowed (a fault, like
        NaN)."""
        with np.errstate(over="ignore", invalid="ignore"):
            dx = self.rhs(x, t) if self.timed else self.rhs(x)
        if not np.all(np.isfinite(dx)):
            raise NonFiniteRate
        return dx

    def advance(self, t: float, t_stop: float) -> Advance:
        # SciPy's step control may overflow on a huge but finite rate; what it produces is
        # judged here (a non-finite rate or state fails, a collapsed step is the run loop's)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._advance(t, t_stop)

    def _advance(self, t: float, t_stop: float) -> Advance:
        first = self.dt_limit if math.isfinite(self.dt_limit) else None
        if first is not None:
            first = min(first, t_stop - t)
        steps, last = 0, math.nan
        try:
            solver = self.method(
                self._finite_rhs, t, self.state, t_stop,
                rtol=self.rtol, atol=self.atol, first_step=first,
            )  # fmt: skip
        except NonFiniteRate:
            return Advance(t, steps, last, NonFiniteRate.reason)
        while solver.status == "running" and steps < STEPS_PER_CALL:
            before = solver.t
            try:
                message = solver.step()
            except NonFiniteRate:
                return Advance(before, steps, last, NonFiniteRate.reason)
            if solver.status == "failed" or not np.all(np.isfinite(solver.y)):
                return Advance(before, steps, last, f"the ODE solver failed ({message})")
            steps += 1
            last = solver.t - before
            if solver.status == "running":  # the step it proposes next (a last step is
                self.dt_limit = solver.h_abs  # clipped to t_stop: its proposal is not kept)
        self.state = np.array(solver.y)
        self.t = float(solver.t)
        return Advance(float(solver.t), steps, last)

    def observe(self) -> dict[str, Any]:
        return self._observe(self.state, self.t)

    def snapshot(self) -> dict[str, np.ndarray]:
        return self._snapshot(self.state, self.t)

    def checkpoint(self) -> tuple[np.ndarray, float, None]:
        return self.state.copy(), self.dt_limit, {"t": self.t}

    def restore(self, state: np.ndarray, dt_limit: float, extra: dict | None) -> None:
        self.state = np.array(state, dtype=float)
        self.dt_limit = dt_limit
        self.t = float((extra or {}).get("t", 0.0))


def run_limit(
    cfg: dict | Settings,
    path: Path,
    limit: ODESystem | SteppedLimit,
    *,
    resume: bool = False,
    force: bool = False,
    quiet: bool = False,
) -> RunResult:
    """``ddsolver run`` of a limit a kind describes (:mod:`ddsolver.limits`): an ODE system
    integrated by :class:`ODEIntegrator`, or a limit with its own stepper."""
    if isinstance(limit, SteppedLimit):
        integrator, grid = limit.integrator, limit.grid
    else:
        integrator = ODEIntegrator(limit.rhs, limit.state, limit.observe, limit.snapshot,
                                   limit.rtol, limit.atol, limit.method, limit.timed)  # fmt: skip
        grid = None
    return run_ode(cfg, path, integrator, resume=resume, force=force, quiet=quiet,
                   data=limit.data, grid=grid, attrs=limit.attrs)  # fmt: skip


def run_ode(
    cfg: dict | Settings,
    path: Path,
    integrator: ODEIntegrator,
    *,
    resume: bool = False,
    force: bool = False,
    quiet: bool = False,
    data: dict[str, np.ndarray] | None = None,
    grid=None,
    attrs: Callable[[], dict[str, str]] | None = None,
) -> RunResult:
    """Integrate to ``time.t_end``, observing and saving like the PDE runs, into ``path``
    (``data``: arrays the file keeps under /data, e.g. a training set; ``grid``: the
    :class:`~ddsolver.grid.TensorGrid` of an integrator whose state lives on one — the
    circle flow — written to /grid). ``integrator``: an :class:`ODEIntegrator` or any
    object with the run loop's integrator methods."""
    cfg = settings(cfg)
    if resume and path.exists():  # never start afresh over a file that is not a PDE run
        io.check_run_file(path, ("pde",), complete=False)
    times, is_save = run_stop_times(cfg)
    config_text = to_toml(cfg.config)
    shapes = {name: np.shape(value) for name, value in integrator.snapshot().items()}
    spec = get_spec(cfg)
    words = spec.labels(cfg.config)
    risk = Field(words.symbol, f"{words.objective} of the limit")
    fields = {
        **observables({"time": TIME, "dt": STEP, "risk": risk}),
        **snapshots({"time": TIME}),
        **spec.fields(cfg.config),
    }

    def create(first: dict[str, Any], overwrite: bool) -> None:
        io.create_run_file(
            path,
            config_text,
            "pde",
            grid,
            [name for name in first if name != "time"],
            shapes,
            integrator.checkpoint()[0].shape,
            force=force or overwrite,
            data=data,
            limit=words.limit,
            fields=fields,
            attrs=attrs() if attrs is not None else None,
        )

    return run_loop(
        integrator,
        path,
        times,
        is_save,
        create,
        config_text=config_text,
        resume=resume,
        quiet=quiet,
        guards=(non_finite_risk,),
        data=data,
    )
