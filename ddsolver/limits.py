r"""Descriptions of the deterministic limits that are not a reduced DD.

A problem kind describes its limit as a value; a driver solves it (:func:`ddsolver.ode.run_limit`,
called by ``ddsolver run``). The reduced DD's description is the kind itself
(:class:`~ddsolver.kinds.base.ReducedKind`: problem, initial law, grid, particles), solved
by :func:`ddsolver.integrate.run_reduced`.

* :class:`ODESystem` — dX/dt = F(X) for a state vector X: the committee machines' order
  parameters, a training set's weighted particles. The driver integrates it with an adaptive
  Dormand–Prince pair.
* :class:`SteppedLimit` — a limit that brings its own stepper (an object with the run loop's
  integrator methods): the training set's flow on the circle, a conservative finite-volume
  scheme with growth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ODESystem:
    """dX/dt = rhs(X), X (n,), with what the run file keeps of it.

    Attributes
    ----------
    rhs : X (n,) → dX/dt (n,), or (X, t) → dX/dt when ``timed``
    state : X at t = 0, (n,)
    observe : (X, t) → {name: float}, the observables, ``risk`` among them
    snapshot : (X, t) → {name: array}, the snapshot fields
    rtol, atol : the error tolerances per step
    method : "DOP853" (8th order, a few large states) or "RK45" (many particles at moderate
        tolerances)
    data : arrays the file keeps under /data (a training set), or None
    attrs : () → further root attributes of the file (JSON text; a training set's
        ``max_margin``), called once when the file is made (not on a resume), or None
    timed : whether ``rhs`` takes the time too (a schedule ξ(t): not autonomous)
    """

    rhs: Callable[..., np.ndarray]
    state: np.ndarray
    observe: Callable[[np.ndarray, float], dict[str, Any]]
    snapshot: Callable[[np.ndarray, float], dict[str, np.ndarray]]
    rtol: float
    atol: float
    method: str = "DOP853"
    data: dict[str, np.ndarray] | None = None
    attrs: Callable[[], dict[str, str]] | None = None
    timed: bool = False


@dataclass(frozen=True)
class SteppedLimit:
    """A limit with its own stepper.

    Attributes
    ----------
    integrator : an object with the run loop's integrator methods (``advance``, ``observe``,
        ``snapshot``, ``checkpoint``, ``restore``)
    data : arrays the file keeps under /data, or None
    grid : the :class:`~ddsolver.grid.TensorGrid` its state lives on (written to /grid), or None
    attrs : as for :class:`ODESystem`
    """

    integrator: Any
    data: dict[str, np.ndarray] | None = None
    grid: Any = None
    attrs: Callable[[], dict[str, str]] | None = None
