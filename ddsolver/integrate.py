r"""``ddsolver run``: solve the DD of a config on the grid or with particles, through the run loop.

:func:`run_pde` builds the discretisation named by ``discretisation.method`` (via the problem
kind), wraps it as an :class:`~ddsolver.runloop.Integrator` and hands it to
:func:`~ddsolver.runloop.run_loop`. Between stops the compiled stepper runs
(:func:`ddsolver.steppers.advance`, or the particle stepper) at most
:data:`STEPS_PER_CALL` steps per call, so the progress bar moves; the checkpoint is the
complete solver state (density or particle positions, and the controller's ``dt_limit``).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import io
from ._jit import compile_lock
from .config import ConfigError, to_toml
from .experiment import build_schedule, build_system
from .fields import LAW_OF_A_DYNAMICAL, LAW_OF_A_NAMES, NOISE_SWITCHES, run_fields
from .kinds import get_kind
from .lagrangian import ParticleDD
from .ode import run_limit
from .pde import GridDD, InitialMassError, initial_cell_masses
from .resources import check_memory
from .runloop import Advance, non_finite_risk, run_loop, run_stop_times
from .settings import Settings, settings
from .status import STATUS_MESSAGES, STATUS_OK, RunResult

if TYPE_CHECKING:
    from .fluctuations.probe import DynamicalTerm
    from .fluctuations.step_noise import NoiseBudget

STEPS_PER_CALL = 5000


class PDEIntegrator:
    """A grid or particle DD with its state, as the run loop drives it.

    With a dynamical 1/N term (``term``, computed on the stop times before the run), the
    observations carry C(t) and its error, ``risk_finite_n`` = R(ρ_t) + C(t)/N and the i.i.d.
    version as ``risk_finite_n_iid``.
    """

    def __init__(
        self,
        system: GridDD | ParticleDD,
        state: np.ndarray,
        neurons: int,
        term: DynamicalTerm | None = None,
        noise: NoiseBudget | None = None,
        noise_terms: tuple[str, ...] = (),
        law: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    ):
        self.system, self.state, self.neurons, self.term = system, state, neurons, term
        self.noise, self.noise_terms, self.law = noise, noise_terms, law or {}
        self.dt_limit = math.inf
        self.t = 0.0

    def advance(self, t: float, t_stop: float) -> Advance:
        report = self.system.advance(self.state, t, t_stop, self.dt_limit, STEPS_PER_CALL)
        self.dt_limit = report.dt_limit
        self.t = report.t
        failure = None if report.status == STATUS_OK else STATUS_MESSAGES[report.status]
        return Advance(report.t, report.steps, report.last_dt if report.steps else np.nan, failure)

    def observe(self) -> dict[str, Any]:
        obs = self.system.observables(self.state, self.neurons)
        if self.term is not None:
            c, error = self.term.at(self.t)
            obs["risk_finite_n_iid"] = obs["risk_finite_n"]
            obs["risk_finite_n"] = obs["risk"] + c / self.neurons
            obs["finite_width_c"] = c
            obs["finite_width_c_error"] = error
        if self.noise is not None:
            terms = self.noise.at(self.t)
            obs.update(terms)
            predicted = obs["risk_finite_n"] + sum(terms[name] for name in self.noise_terms)
            obs["risk_predicted"] = predicted if self.noise.resolved(self.t) else math.nan
        return obs

    def snapshot(self) -> dict[str, np.ndarray]:
        out = self.system.snapshot_fields(self.state)
        for name, (times, terms) in self.law.items():  # computed on the snapshot times
            k = int(np.abs(times - self.t).argmin())
            on_time = abs(times[k] - self.t) <= 1e-9 * max(1.0, self.t)
            # NaN at any other time (a failed run's last snapshot)
            out[name] = terms[k] if on_time else np.full_like(terms[k], np.nan)
        return out

    @property
    def snapshot_shapes(self) -> dict[str, tuple[int, ...]]:
        """The system's snapshot arrays, and the law of a's terms (Q,) where they are on."""
        shapes = dict(self.system.snapshot_shapes)
        shapes.update({name: terms.shape[1:] for name, (_, terms) in self.law.items()})
        return shapes

    def checkpoint(self) -> tuple[np.ndarray, float, None]:
        return self.state.reshape(self.system.state_shape), self.dt_limit, None

    def restore(self, state: np.ndarray, dt_limit: float, extra: dict | None) -> None:
        self.state = self.system.state_from(state)
        self.dt_limit = dt_limit


def _law_series(
    budget: NoiseBudget | None, term: DynamicalTerm | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The law of a's snapshot datasets: name → (times (T,), values (T, Q)) — the step-noise
    terms and their error (a noise budget), the dynamical term and its error (C(t) with the
    law)."""
    out = {}
    if budget is not None:
        out.update({f"law_of_a_{name}": (budget.times, getattr(budget, name))
                    for name in LAW_OF_A_NAMES})  # fmt: skip
    if term is not None and term.law is not None:
        for name, values in zip(LAW_OF_A_DYNAMICAL, (term.law, term.law_error), strict=True):
            out[f"law_of_a_{name}"] = (term.law_times, values)
    return out


def _edge_keys(grid) -> str:
    """The config keys of the grid's edges, e.g. "grid.r_max" or "grid.a_min/a_max, …"."""
    keys = []
    for axis in grid.axes:  # a norm's lower edge is 0 or r_min: its upper edge is the one
        edge = f"grid.{axis.key}_max" if axis.radial else f"grid.{axis.key}_min/{axis.key}_max"
        if edge not in keys:
            keys.append(edge)
    return ", ".join(keys)


def boundary_guard(grid, boundary_max: float):
    """Guard: fail when more than ``boundary_max`` of the mass sits in the outermost cells."""

    def guard(obs: dict[str, Any]) -> str | None:
        if obs["boundary_mass"] <= boundary_max:
            return None
        return (
            f"mass {obs['boundary_mass']:.3g} reached the edge of the grid "
            f"(enlarge the grid: {_edge_keys(grid)})"
        )

    return guard


def grid_stepper_taus(cfg: dict | Settings | None) -> tuple[float, ...]:
    """The temperatures whose grid-stepper variants a run of ``cfg`` can take (all without one).

    :class:`~ddsolver.pde.GridDD` compiles the Scharfetter–Gummel flux only when it diffuses,
    τ > 0 at a finite dimension (at d = ∞ the noise is a drift); τ = 0.1 stands for that variant.
    """
    if cfg is None:
        return (0.0, 0.1)
    cfg = settings(cfg)
    return (0.0, 0.1) if cfg.dynamics.tau > 0 and not math.isinf(cfg.dimension) else (0.0,)


def warm_up_pde(
    kind: str = "isotropic_gaussians",
    method: str = "grid",
    blob: bool = True,
    cfg: dict | Settings | None = None,
) -> None:
    """Compile (or load) the kernels of a run of problem ``kind``, under the compile lock.

    Only what the run needs (a cold start compiles for seconds per kernel): the grid stepper
    (both interaction forms share it) for ``method = "grid"``, the blob term when ``blob``
    (particles with τ > 0), the kind's compiled particle loop for ``method = "particles"``,
    then the kind's kernels — those a run of ``cfg`` needs when it is given
    (:meth:`~ddsolver.kinds.base.ProblemKind.warm_up_pde`).
    """
    from .grid import Axis, TensorGrid
    from .models.analytic import HarmonicProblem
    from .operators.blob import blob_velocity

    problem_kind = get_kind(kind)
    cfg = None if cfg is None else settings(cfg)
    with compile_lock():
        grid = TensorGrid((Axis.uniform("x", -8.0, 8.0, 8),))
        for interaction in ("lowrank", "matrix") if method == "grid" else ():
            for tau in grid_stepper_taus(cfg):
                system = GridDD(
                    HarmonicProblem(coupling=0.5), grid, tau=tau, interaction=interaction
                )
                state = system.state_from(np.full(grid.shape, 1.0 / 16.0))  # mass 1 on [−8, 8]
                system.advance(state, 0.0, 1e-3, math.inf, 2)
        if blob:
            out = np.empty((3, 1))
            blob_velocity(np.ones((3, 1)), np.full(3, 1 / 3), np.ones(1), out)
        if method == "particles":
            problem_kind.warm_up_particles()
        if cfg is None:
            problem_kind.warm_up_pde()
        else:
            problem_kind.warm_up_config(cfg)


def run_pde(
    cfg: dict | Settings,
    path: str | Path,
    resume: bool = False,
    force: bool = False,
    quiet: bool = False,
) -> RunResult:
    """``ddsolver run``: solve the deterministic limit of a resolved config into ``path``.

    Checks what the kernels can solve and the memory the run needs, then hands the run to
    its driver: the reduced DD to :func:`run_reduced`; any other limit the kind describes
    (:meth:`~ddsolver.kinds.base.ProblemKind.describe`: the committee's ODEs, a training
    set's flow) to :func:`ddsolver.ode.run_limit`.
    """
    cfg = settings(cfg)
    kind = get_kind(cfg)
    kind.check_solvable(cfg)
    check_memory(cfg, "run")
    if kind.solved_as_reduced(cfg):  # the kind is its DD's description, solved here
        return run_reduced(cfg, Path(path), resume=resume, force=force, quiet=quiet)
    with compile_lock():
        kind.warm_up_pde()
    return run_limit(cfg, Path(path), kind.describe(cfg), resume=resume, force=force,
                     quiet=quiet)  # fmt: skip


def run_reduced(
    cfg: dict | Settings,
    path: Path,
    *,
    resume: bool = False,
    force: bool = False,
    quiet: bool = False,
) -> RunResult:
    """Solve the DD of a resolved config in reduced coordinates and write the HDF5 file ``path``.

    ``discretisation.method`` selects the grid (:class:`~ddsolver.pde.GridDD`) or the
    particles (:class:`~ddsolver.lagrangian.ParticleDD`); both write the same layout.
    """
    cfg = settings(cfg)
    kind = get_kind(cfg)
    if resume and path.exists():  # never start afresh over a file that is not a PDE run
        io.check_run_file(path, ("pde",), complete=False)
    law = kind.build_initial(cfg)
    if cfg.discretisation.method == "grid":
        grid = kind.build_grid(cfg)
        try:  # before the kernels are built: a grid that misses ρ₀ is a config error
            initial_cell_masses(grid, law)
        except InitialMassError as exc:
            raise ConfigError(
                _edge_keys(grid),
                exc.extent,
                f"the grid misses {exc.lost:.3g} of the initial mass; enlarge it",
            ) from None
    method = cfg.discretisation.method
    warm_up_pde(kind.name, method, method == "particles" and cfg.dynamics.tau > 0, cfg)
    system = build_system(cfg)
    times, is_save = run_stop_times(cfg)
    schedule = build_schedule(cfg)
    fw = cfg.config["finite_width"]
    if fw["dynamical"] and not quiet:  # before the progress bar
        law_part = " (and the law of a's, at the snapshots)" if fw.get("law_of_a") else ""
        print(f"ddsolver: computing C(t), the dynamical 1/N term{law_part}, on {times.size} "
              "stop times", file=sys.stderr, flush=True)  # fmt: skip
    law_times = times[is_save]
    term = kind.dynamical_term(cfg, times, schedule, law_times)
    switched = [name for name in NOISE_SWITCHES if fw.get(name)]
    if switched and not quiet:
        print(f"ddsolver: computing the step-noise terms ({', '.join(switched)}) on "
              f"{times.size} stop times", file=sys.stderr, flush=True)  # fmt: skip
    noise = kind.noise_budget(cfg, times, schedule)
    if fw.get("law_of_a") and switched and not quiet:
        print(f"ddsolver: computing the law of a's step-noise terms on {int(is_save.sum())} "
              "snapshot times", file=sys.stderr, flush=True)  # fmt: skip
    law_budget = kind.law_of_a_budget(cfg, law_times, schedule)
    points = kind.law_of_a_points(cfg)
    data = None if points is None else {"law_of_a_x": points}  # a resume checks them too
    integrator = PDEIntegrator(system, system.initial_state(law), cfg.sgd.neurons, term, noise,
                               tuple(NOISE_SWITCHES[name] for name in switched),
                               _law_series(law_budget, term))  # fmt: skip

    config_text = to_toml(cfg.config)
    words = kind.labels(cfg.config)
    fields = run_fields(words.symbol, words.objective, tuple(system.grid.names))
    fields.update(kind.fields(cfg.config))

    def create(first: dict[str, Any], overwrite: bool) -> None:
        io.create_run_file(
            path,
            config_text,
            "pde",
            system.grid,
            [name for name in first if name != "time"],
            integrator.snapshot_shapes,
            system.state_shape,
            force=force or overwrite,
            data=data,
            limit=words.limit,
            fields=fields,
        )

    guards = (non_finite_risk, boundary_guard(system.grid, cfg.grid.boundary_mass_max))
    return run_loop(
        integrator,
        path,
        times,
        is_save,
        create,
        config_text=config_text,
        resume=resume,
        quiet=quiet,
        guards=guards,
        data=data,
    )


#: The name of :func:`run_pde` before particles shared it; kept for scripts that use it.
run_grid = run_pde
