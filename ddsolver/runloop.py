r"""The one run loop: advance between stop points, observe, guard, save, checkpoint, resume.

The grid solver, the particle solver and SGD all run through :func:`run_loop`. Each hands it
an :class:`Integrator` — a solver state that advances itself, reports its observables and
snapshot fields, and packs itself into a checkpoint — and the loop does the rest:

* **stop points** are the multiples of the observation and save intervals up to ``t_end``
  (:func:`stop_times`, computed as k·Δ, never accumulated), or as many per decade from
  ``time.first`` (:func:`log_stop_times`, ``time.spacing = "log"``);
* at every stop the observables are computed and passed through the **guards** (functions
  of the observations that name a failure: a non-finite risk, mass at the grid's edge);
* at save stops the buffered observables, the snapshot and a **checkpoint** go to the HDF5
  file (:mod:`ddsolver.io`); the checkpoint is the integrator's complete state, so a resumed
  run takes exactly the steps of an uninterrupted one;
* a **progress** bar over simulated time on a terminal (tqdm), for runs longer than a few
  seconds.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time as clock
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from . import io
from .errors import DiskFullError
from .status import FINISHED, MAX_STEPS, RunResult, failed

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger("ddsolver")
PROGRESS_MIN_SECONDS = 3.0

#: Set by the command line's SIGINT handler. Python raises KeyboardInterrupt at the next
#: bytecode, and one that lands in a finaliser (an HDF5 object's, say) is printed and dropped;
#: the loop checks this flag after every advance so that an interrupt is never lost.
INTERRUPT_REQUESTED = threading.Event()

#: A guard looks at one stop's observations and returns a failure reason, or None.
Guard = Callable[[dict[str, Any]], str | None]


@dataclass(frozen=True)
class Advance:
    """What one :meth:`Integrator.advance` call did.

    Attributes
    ----------
    t : the time reached
    steps : steps taken
    last_dt : the last step's size (NaN when no step was taken)
    failure : why it stopped early, or None
    """

    t: float
    steps: int
    last_dt: float
    failure: str | None = None


class Integrator(Protocol):
    """A solver state that :func:`run_loop` drives."""

    def advance(self, t: float, t_stop: float) -> Advance:
        """Integrate from t towards t_stop (it may return before, to report progress)."""
        ...

    def observe(self) -> dict[str, Any]:
        """The observables of the current state (floats, or per-seed arrays)."""
        ...

    def snapshot(self) -> dict[str, np.ndarray]:
        """The datasets of one /snapshots row."""
        ...

    def checkpoint(self) -> tuple[np.ndarray, float, dict | None]:
        """(state array, step-size controller state ``dt_limit``, JSON-able extra state)."""
        ...

    def restore(self, state: np.ndarray, dt_limit: float, extra: dict | None) -> None:
        """Take the state of a :meth:`checkpoint`."""
        ...


def stop_times(
    t_end: float, save_every: float, observe_every: float
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted stop times and a mask of those that are save points (t = 0 included): the
    multiples k·Δ of the save and observation intervals up to ``t_end``, and ``t_end``."""
    obs = observe_every if observe_every > 0 else save_every / 10.0

    def grid(step):
        n = math.floor(t_end / step * (1 + 1e-12))
        times = step * np.arange(n + 1)
        return times if math.isclose(times[-1], t_end, rel_tol=1e-12) else np.append(times, t_end)

    return _merged(grid(obs), grid(save_every), t_end)


def log_stop_times(
    t_end: float, first: float, save_per_decade: int, observe_per_decade: int
) -> tuple[np.ndarray, np.ndarray]:
    r"""Log-spaced stop times and a mask of the save points: t = 0, then

    .. math:: t_k = t_\text{first}\,10^{k/n}, \qquad k = 0, 1, \dots, \quad t_k \le t_\text{end},

    and ``t_end`` itself, with n = ``save_per_decade`` for the saves and
    ``observe_per_decade`` (0: 10 × ``save_per_decade``) for the observations. Each t_k is
    computed from its own k, never by accumulated products; with n a divisor of the
    observations' count, every save time is one of the observation times, bit for bit.
    """
    obs = observe_per_decade or 10 * save_per_decade

    def grid(per_decade):
        n = math.floor(per_decade * math.log10(t_end / first) + 1e-9)
        times = first * 10.0 ** (np.arange(n + 1) / per_decade)
        times = times[times <= t_end * (1 + 1e-12)]
        if not math.isclose(times[-1], t_end, rel_tol=1e-12):
            times = np.append(times, t_end)
        return np.concatenate([[0.0], times])

    return _merged(grid(obs), grid(save_per_decade), t_end)


def _merged(observations: np.ndarray, saves: np.ndarray, t_end: float):
    """The union of two sorted time grids (times within 1e-12·t_end are one) and which of
    its times are save points."""
    tol = 1e-12 * max(1.0, t_end)
    merged = np.unique(np.concatenate([observations, saves]))
    merged = merged[np.concatenate([[True], np.diff(merged) > tol])]
    # the nearest save on either side (sorted grids: O(n log n), not an n × n_saves table)
    right = np.clip(np.searchsorted(saves, merged), 0, saves.size - 1)
    left = np.clip(right - 1, 0, saves.size - 1)
    gap = np.minimum(np.abs(saves[right] - merged), np.abs(saves[left] - merged))
    is_save = gap <= tol
    return merged, is_save


def run_stop_times(cfg: Settings, trainer: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The stop times of a run of ``cfg`` and which are save points, as ``time.spacing``
    says (``"list"``: t = 0, every time of ``time.at`` and ``t_end``, each a save).
    ``trainer``: SGD or GD observes (its exact risk) at ``sgd.observe_every`` /
    ``sgd.observe_per_decade``, by default at every save; under log or list spacing each
    stop time is rounded to the nearest step k·ε, and times that round to one step are one
    stop (a save if either was) — linear times stay the multiples of their intervals, which
    the config check keeps at least a step apart."""
    time = cfg.time
    if time.spacing == "linear":
        observe = (cfg.sgd.observe_every or time.save_every) if trainer else time.observe_every
        return stop_times(time.t_end, time.save_every, observe)
    if time.spacing == "list":  # every listed time is a snapshot and an observation
        times = np.unique(np.array([0.0, *time.at, time.t_end]))
        is_save = np.ones(times.size, dtype=bool)
    else:
        observe = (cfg.sgd.observe_per_decade or time.save_per_decade) if trainer else None
        times, is_save = log_stop_times(
            time.t_end, time.first, time.save_per_decade,
            time.observe_per_decade if observe is None else observe,
        )  # fmt: skip
    return snapped_to_steps(times, is_save, cfg.sgd.eps) if trainer else (times, is_save)


def snapped_to_steps(
    times: np.ndarray, is_save: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Stop times moved to the nearest step k·ε; times that meet are one stop."""
    steps = np.rint(times / eps).astype(np.int64)
    unique, index = np.unique(steps, return_inverse=True)
    saves = np.zeros(unique.size, dtype=bool)
    np.logical_or.at(saves, index, is_save)
    return unique * eps, saves


def _in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (its output is a notebook, not a terminal)."""
    return "ipykernel" in sys.modules


class Progress:
    """tqdm bar over simulated time for runs longer than a few seconds: on a terminal, or in a
    notebook (tqdm's notebook widget); silent when ``quiet``."""

    def __init__(self, t0: float, t_end: float, quiet: bool):
        self.enabled = not quiet and (sys.stderr.isatty() or _in_notebook())
        self.t0, self.t_end, self.bar, self.start = t0, t_end, None, clock.monotonic()

    def update(self, t: float, dt: float) -> None:
        """Show time t and the last step dt."""
        if not self.enabled:
            return
        if self.bar is None:
            if clock.monotonic() - self.start < PROGRESS_MIN_SECONDS:
                return
            from tqdm.auto import tqdm  # the notebook widget in Jupyter, text elsewhere

            self.bar = tqdm(
                total=self.t_end,
                initial=self.t0,
                unit="t",
                dynamic_ncols=True,
                bar_format="{l_bar}{bar}| t={n:.3f}/{total:g} [{elapsed}<{remaining}{postfix}]",
            )
        self.bar.n = t
        self.bar.set_postfix_str(f"dt={dt:.2e}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()


def non_finite_risk(obs: dict[str, Any]) -> str | None:
    """Guard: the risk (every seed's, for SGD) must stay finite."""
    return None if np.all(np.isfinite(obs["risk"])) else "non-finite risk"


def _checkpoint(integrator: Integrator, t: float, steps: int) -> io.Checkpoint:
    state, dt_limit, extra = integrator.checkpoint()
    return state, {"t": t, "dt_limit": dt_limit, "steps": steps}, extra


def run_loop(
    integrator: Integrator,
    path: Path,
    times: np.ndarray,
    is_save: np.ndarray,
    create: Callable[[dict[str, Any], bool], None],
    *,
    config_text: str,
    resume: bool = False,
    quiet: bool = False,
    guards: Sequence[Guard] = (non_finite_risk,),
    data: dict[str, np.ndarray] | None = None,
) -> RunResult:
    """Run ``integrator`` through the stop ``times`` and write the file ``path``.

    Parameters
    ----------
    integrator : the solver state, at t = 0 unless a checkpoint is resumed
    path : the HDF5 file; the run holds :func:`ddsolver.io.exclusive_writer` on it throughout
    times, is_save : the stop times and which of them are save points (:func:`stop_times`)
    create : ``create(first, overwrite)`` creates the file, given the first observations
        (their names make the datasets); ``overwrite`` when a resumed file has no checkpoint
    config_text : the resolved config; a resume stores it (a new ``time.t_end``)
    resume : continue from the file's last checkpoint (a file without one starts afresh)
    quiet : no progress bar
    guards : checks of each stop's observations; the first failure ends the run
    data : the arrays the run is computed from (a training set), which ``create`` stores under
        /data; a resume refuses a file whose /data differ
    """
    with io.exclusive_writer(path):
        return _run_locked(
            integrator, path, times, is_save, create, config_text, resume, quiet, guards, data
        )


def _run_locked(integrator, path, times, is_save, create, config_text, resume, quiet, guards, data):
    started = clock.monotonic()
    if resume and path.exists() and io.has_checkpoint(path):
        io.check_same_data(path, data)
    checkpoint = io.read_checkpoint(path) if resume and path.exists() else None
    if checkpoint is None:
        if resume and not path.exists():
            raise FileNotFoundError(f"--resume: {path} does not exist")
        first = {**integrator.observe(), "time": 0.0, "dt": np.nan}
        create(first, resume)  # a resumed file without a checkpoint died being made: anew
        t, steps, k0 = 0.0, 0, 0
        io.append(path, [first], [(0.0, integrator.snapshot())], _checkpoint(integrator, t, 0))
    else:
        io.verify(path)  # the rows it keeps are intact (rows past the checkpoint were dropped)
        state, saved, extra = checkpoint
        integrator.restore(state, saved["dt_limit"], extra)
        t, steps = saved["t"], int(saved["steps"])
        k0 = int(np.searchsorted(times, t - 1e-12 * max(1.0, t)))
        io.set_attrs(path, config=config_text)
        log.info("resuming %s at t = %g (%d steps)", path, t, steps)

    progress = Progress(t, float(times[-1]), quiet)
    pending: list[dict] = []
    status = FINISHED
    last_dt = np.nan
    try:
        for k in range(k0 + 1, len(times)):
            target = times[k]
            while t < target and status == FINISHED:
                try:
                    step = integrator.advance(t, target)
                except MemoryError as exc:  # past the estimate: a fault, the file is kept
                    status = failed(f"out of memory ({' '.join(str(exc).split())})", t)
                    break
                if INTERRUPT_REQUESTED.is_set():
                    raise KeyboardInterrupt
                t, steps = step.t, steps + step.steps
                last_dt = step.last_dt if step.steps else last_dt
                progress.update(t, last_dt)
                if step.failure is not None:
                    status = failed(step.failure, t)
                elif t < target and step.steps and (times[-1] - t) > MAX_STEPS * step.last_dt:
                    status = failed(  # the call stopped short: its last step was not clipped
                        f"step size collapsed (dt = {step.last_dt:.3g}: more than "
                        f"{MAX_STEPS:.0e} steps to t = {times[-1]:g})",
                        t,
                    )
            if status != FINISHED:
                break
            obs = {**integrator.observe(), "time": target, "dt": last_dt}
            pending.append(obs)
            for guard in guards:
                reason = guard(obs)
                if reason is not None:
                    status = failed(reason, target)
                    break
            if is_save[k] or status != FINISHED:
                keep = is_save[k] and status == FINISHED
                snap = [(target, integrator.snapshot())] if keep else []
                bad = (
                    [name for name, a in snap[0][1].items() if not np.all(np.isfinite(a))]
                    if snap
                    else []
                )
                if bad:  # stored, so that the failure can be seen; no checkpoint past it
                    status = failed(f"non-finite {bad[0]} in the snapshot", target)
                ckpt = _checkpoint(integrator, t, steps) if status == FINISHED else None
                try:
                    io.append(path, pending, snap, ckpt)
                except DiskFullError as exc:  # checked before anything was written
                    status = failed(f"disk full ({exc})", target)
                    break
                pending = []
            if status != FINISHED:
                break
        if pending and not status.startswith("failed: disk full"):
            io.append(path, pending, [], None)
    finally:
        progress.close()
    io.set_status(path, status)
    wall = clock.monotonic() - started
    (log.info if status == FINISHED else log.error)(
        "%s: %s after %d steps, %.2f s", path, status, steps, wall
    )
    return RunResult(path, status, t, steps, wall)
