r"""The one time loop: integrate a grid DD between stop points, observe, save, checkpoint.

Stop points are the multiples of ``time.observe_every`` and ``time.save_every`` up to
``time.t_end`` (computed as k·Δ, never accumulated). Between stops, the compiled stepper
runs (:func:`ddsolver.steppers.advance`); at observation stops the observables are
computed; at save stops the snapshot, the buffered observables and a checkpoint go to the
HDF5 file. The checkpoint is the complete solver state (density, t, controller state), so
a resumed run repeats the uninterrupted run's steps exactly.
"""

from __future__ import annotations

import logging
import math
import sys
import time as clock
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import io
from ._jit import compile_lock
from .config import to_toml
from .experiment import build_initial, build_system, check_solvable
from .grid import is_radial
from .steppers import STATUS_MESSAGES, STATUS_OK

log = logging.getLogger("ddsolver")
PROGRESS_MIN_SECONDS = 3.0
STEPS_PER_CALL = 5000


@dataclass(frozen=True)
class RunResult:
    """Outcome of :func:`run_grid`: ``status`` is "finished" or "failed: <reason>"."""

    path: Path
    status: str
    t: float
    steps: int
    wall_seconds: float

    @property
    def ok(self) -> bool:
        """True when the run finished."""
        return self.status == "finished"


def stop_times(
    t_end: float, save_every: float, observe_every: float
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted stop times and a mask of those that are save points (t = 0 included)."""
    obs = observe_every if observe_every > 0 else save_every / 10.0

    def grid(step):
        n = math.floor(t_end / step * (1 + 1e-12))
        times = step * np.arange(n + 1)
        return times if math.isclose(times[-1], t_end, rel_tol=1e-12) else np.append(times, t_end)

    saves = grid(save_every)
    merged = np.unique(np.concatenate([grid(obs), saves]))
    keep = np.concatenate([[True], np.diff(merged) > 1e-12 * max(1.0, t_end)])
    merged = merged[keep]
    is_save = np.isclose(merged[:, None], saves[None, :], rtol=0, atol=1e-12 * max(1.0, t_end)).any(
        1
    )
    return merged, is_save


class _Progress:
    """tqdm bar over simulated time, shown on a terminal for runs longer than a few seconds."""

    def __init__(self, t0: float, t_end: float, quiet: bool):
        self.enabled = not quiet and sys.stderr.isatty()
        self.t0, self.t_end, self.bar, self.start = t0, t_end, None, clock.monotonic()

    def update(self, t: float, dt: float) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if clock.monotonic() - self.start < PROGRESS_MIN_SECONDS:
                return
            from tqdm import tqdm

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
        if self.bar is not None:
            self.bar.close()


def _edge_keys(grid) -> str:
    """The config keys of the grid's edges, e.g. "grid.r_max" or "grid.a_min/a_max, …"."""
    keys = []
    for name in grid.names:
        key = "r" if is_radial(name) else name  # r1, r2 and v take the r keys
        edge = f"grid.{key}_max" if key == "r" else f"grid.{key}_min/{key}_max"
        if edge not in keys:
            keys.append(edge)
    return ", ".join(keys)


def warm_up_grid(kind: str = "isotropic_gaussians") -> None:
    """Compile (or load) the kernels of a run of problem ``kind``, with a real run's types.

    The common kernels (solver, isotropic integrals, blob) always; the anisotropic series and
    the teacher–student matrix only for their kinds (loading them costs start-up time).
    """
    from .grid import Axis, TensorGrid
    from .models import (
        Activation,
        AnisotropicGaussians,
        GaussianInitial,
        IsotropicGaussians,
        TeacherStudent,
    )
    from .operators.blob import blob_velocity
    from .pde import GridDD

    with compile_lock():
        r = np.array([0.5, 1.0])
        for kind in ("tanh", "ramp"):
            problem = IsotropicGaussians(Activation.from_mapping({"kind": kind}), 40, 0.5)
            problem.radial_potential(r)
            problem.radial_self(r)
        small_d = IsotropicGaussians(Activation.from_mapping({"kind": "ramp"}), 3, 0.5)
        small_d.radial_interaction(r, r)
        system = GridDD(problem, TensorGrid((Axis.uniform("r", 0.0, 3.0, 8),)), tau=0.1)
        system.advance(system.initial_state(GaussianInitial(0.8, 40)), 0.0, 1e-3, math.inf, 2)
        blob = np.empty((3, 1))
        blob_velocity(np.ones((3, 1)), np.full(3, 1 / 3), np.ones(1), blob)
        if kind == "anisotropic_gaussians":
            AnisotropicGaussians(0.5, 2, 6).interaction_factors(np.ones((1, 4)))
        if kind == "teacher_student":
            student = TeacherStudent(Activation.from_mapping({"kind": "erf"}), 5)
            student.interaction_matrix(np.ones((2, 2)))


def run_grid(
    cfg: dict, path: str | Path, resume: bool = False, force: bool = False, quiet: bool = False
) -> RunResult:
    """Solve the DD of a resolved config and write the HDF5 file ``path``.

    ``discretisation.method`` selects the grid (:class:`~ddsolver.pde.GridDD`) or the
    particles (:class:`~ddsolver.lagrangian.ParticleDD`); both write the same layout.
    """
    check_solvable(cfg)
    path = Path(path)
    started = clock.monotonic()
    warm_up_grid(cfg["problem"]["kind"])
    config_text = to_toml(cfg)
    system = build_system(cfg)
    grid = system.grid
    neurons = cfg["sgd"]["neurons"]
    law = build_initial(cfg)
    times, is_save = stop_times(
        cfg["time"]["t_end"], cfg["time"]["save_every"], cfg["time"]["observe_every"]
    )
    boundary_max = cfg["grid"]["boundary_mass_max"]

    checkpoint = io.read_checkpoint(path) if resume else None
    if checkpoint is None:
        if resume and not path.exists():
            raise FileNotFoundError(f"--resume: {path} does not exist")
        state = system.initial_state(law)
        first = {**system.observables(state, neurons), "time": 0.0, "dt": np.nan}
        if not (resume and path.exists()):
            io.create_run_file(
                path,
                config_text,
                "pde",
                grid,
                [name for name in first if name != "time"],
                system.snapshot_shapes,
                system.state_shape,
                force=force,
            )
        t, dt_limit, steps, k0 = 0.0, math.inf, 0, 0
        ckpt = (state.reshape(system.state_shape), {"t": 0.0, "dt_limit": dt_limit, "steps": 0})
        io.append(path, [first], [(0.0, system.snapshot_fields(state))], ckpt)
    else:
        stored, saved = checkpoint
        state = system.state_from(stored)
        t, dt_limit, steps = saved["t"], saved["dt_limit"], int(saved["steps"])
        k0 = int(np.searchsorted(times, t - 1e-12 * max(1.0, t)))
        log.info("resuming %s at t = %g (%d steps)", path, t, steps)

    progress = _Progress(t, cfg["time"]["t_end"], quiet)
    pending: list[dict] = []
    status = "finished"
    last_dt = np.nan
    try:
        for k in range(k0 + 1, len(times)):
            target = times[k]
            while t < target:
                t, dt_limit, n, _, code, last = system.advance(
                    state, t, target, dt_limit, STEPS_PER_CALL
                )
                steps += n
                last_dt = last if n else last_dt
                progress.update(t, last_dt)
                if code != STATUS_OK:
                    status = f"failed: {STATUS_MESSAGES[code]} at t = {t:.6g}"
                    break
            if status != "finished":
                break
            obs = {**system.observables(state, neurons), "time": target, "dt": last_dt}
            pending.append(obs)
            if obs["boundary_mass"] > boundary_max:
                status = (
                    f"failed: mass {obs['boundary_mass']:.3g} reached the edge of the grid "
                    f"at t = {target:.6g} (enlarge the grid: {_edge_keys(grid)})"
                )
            if not math.isfinite(obs["risk"]):
                status = f"failed: non-finite risk at t = {target:.6g}"
            if is_save[k] or status != "finished":
                keep = is_save[k] and status == "finished"
                snap = [(target, system.snapshot_fields(state))] if keep else []
                ckpt = (
                    (
                        state.reshape(system.state_shape),
                        {"t": t, "dt_limit": dt_limit, "steps": steps},
                    )
                    if status == "finished"
                    else None
                )
                io.append(path, pending, snap, ckpt)
                pending = []
            if status != "finished":
                break
        if pending:
            io.append(path, pending, [], None)
    finally:
        progress.close()
    io.set_status(path, status)
    wall = clock.monotonic() - started
    (log.info if status == "finished" else log.error)(
        "%s: %s after %d steps, %.2f s", path, status, steps, wall
    )
    return RunResult(path, status, t, steps, wall)
