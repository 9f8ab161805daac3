r"""Step-size rules, compiled: the positivity (CFL) bound and the embedded-error controller.

Both solvers call these; neither the grid loop (:mod:`ddsolver.steppers`) nor the particle
stepper (:mod:`ddsolver.lagrangian`) writes its own rule. The controller's state is a single
number ``dt_limit`` that the run loop checkpoints, so a resumed run repeats the steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ._jit import jit

#: Fraction of the step the error estimate allows that is taken.
SAFETY = 0.9


@dataclass(frozen=True)
class StepControl:
    """How a solver chooses its steps, as one value.

    Attributes
    ----------
    method : the Runge–Kutta method (:class:`~ddsolver.tableaux.ShuOsher` or
        :class:`~ddsolver.tableaux.Butcher`)
    cfl : fraction of the positivity bound a step takes (:func:`cfl_step`; the grid)
    dt_max : cap on the step
    rtol, atol : the embedded error control (rtol = 0 on the grid: the positivity bound only)
    grow, shrink : the largest and smallest factor between successive steps
        (:func:`error_step`)
    """

    method: Any
    cfl: float = 1.0
    dt_max: float = math.inf
    rtol: float = 0.0
    atol: float = 1e-10
    grow: float = 2.0
    shrink: float = 0.0

    @property
    def exponent(self) -> float:
        """The controller's exponent 1/(q + 1), q the method's embedded order (0: none)."""
        q = self.method.embedded_order
        return 1.0 / (q + 1) if q > 0 else 0.0


@jit
def cfl_step(max_rate, cfl, dt_max, dt_limit):
    """The positivity bound dt = cfl / max outflow rate, capped by dt_max and dt_limit."""
    dt = cfl / max_rate if max_rate > 0.0 else dt_max
    return min(dt, dt_max, dt_limit)


@jit
def error_step(dt, err, exponent, grow, shrink):
    r"""The next step after one of size dt whose scaled local error is ``err``.

    With the factor f = SAFETY·err^(−exponent) (``exponent`` = 1/(embedded order + 1)): a
    rejected step (err > 1) is retried with dt·max(shrink, f), an accepted one is followed by
    dt·min(grow, f) (dt·grow when err = 0).
    """
    factor = SAFETY * err ** (-exponent) if err > 0.0 else grow
    if err > 1.0:
        return dt * max(shrink, factor)
    return dt * min(grow, factor)
