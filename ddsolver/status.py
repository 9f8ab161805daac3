r"""How a run ends: the compiled steppers' status codes and the result of a run.

The lowest layer of the solvers: the grid stepper (:mod:`ddsolver.steppers`), the particle
stepper (:mod:`ddsolver.lagrangian`), SGD and the run loop (:mod:`ddsolver.runloop`) all
speak these words. A status is a value, never an exception thrown from inside a loop: the
loop turns it into the file's ``status`` attribute, ``"finished"`` or ``"failed: <reason>"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

STATUS_OK, STATUS_NAN, STATUS_NEGATIVE, STATUS_STEP_UNDERFLOW = 0, 1, 2, 3
STATUS_MESSAGES = {
    STATUS_NAN: "non-finite density (NaN or Inf)",
    STATUS_NEGATIVE: "density lost positivity",
    STATUS_STEP_UNDERFLOW: "step size underflow (dt < 1e-14)",
}
FINISHED = "finished"
#: Most time steps a deterministic solver may need to reach ``time.t_end``. A config whose
#: step cap allows no fewer is refused; a run whose step size falls so far that the steps
#: still to take exceed it has failed (it would never end).
MAX_STEPS = 10**9


class StepReport(NamedTuple):
    """What a stepper's ``advance`` reports (the grid's and the particles').

    Attributes
    ----------
    t : the time reached
    dt_limit : the controller's state, the next step's bound (checkpointed)
    steps, rejected : steps accepted and rejected in this call
    status : ``STATUS_OK`` or the code of the fault that stopped the loop
    last_dt : the last accepted step (0 when none)
    """

    t: float
    dt_limit: float
    steps: int
    rejected: int
    status: int
    last_dt: float


@dataclass(frozen=True)
class RunResult:
    """Outcome of a run: ``status`` is "finished" or "failed: <reason>".

    Attributes
    ----------
    path : the HDF5 file written
    status : the file's final status attribute
    t : the time reached
    steps : time steps taken (SGD: steps × seeds), counted over the whole run, resumes included
    wall_seconds : wall time of this call
    """

    path: Path
    status: str
    t: float
    steps: int
    wall_seconds: float

    @property
    def ok(self) -> bool:
        """True when the run finished."""
        return self.status == FINISHED


def failed(reason: str, t: float) -> str:
    """The status of a run that stopped for ``reason`` at time ``t``."""
    return f"failed: {reason} at t = {t:.6g}"
