"""Build the objects of an experiment from a resolved config (config → problem kind → solver).

Everything that depends on ``problem.kind`` is asked of the kind (:mod:`ddsolver.kinds`);
this module only wires the kind's problem, initial law and grid into the discretisation named
by ``discretisation.method``. Each builder takes a resolved config or its
:class:`~ddsolver.settings.Settings`, and hands the kind the settings.
"""

from __future__ import annotations

import math

import numpy as np

from .grid import TensorGrid
from .kinds import get_kind
from .lagrangian import ParticleDD
from .models.step_noise import StepNoise
from .pde import GridDD
from .protocol import InitialLaw, ReducedProblem
from .schedules import Schedule, schedule_from
from .settings import Settings, settings


def build_problem(cfg: dict | Settings) -> ReducedProblem:
    """The reduced problem named by ``[problem]``."""
    cfg = settings(cfg)
    return get_kind(cfg).build_problem(cfg)


def build_initial(cfg: dict | Settings) -> InitialLaw:
    """The initial law named by ``[initial]``."""
    cfg = settings(cfg)
    return get_kind(cfg).build_initial(cfg)


def build_grid(cfg: dict | Settings) -> TensorGrid:
    """The tensor grid of ``[grid]`` over the kind's reduced coordinates."""
    cfg = settings(cfg)
    return get_kind(cfg).build_grid(cfg)


def build_schedule(cfg: dict | Settings) -> Schedule:
    """ξ(t) from ``dynamics.xi`` (a number or a table)."""
    return schedule_from(settings(cfg).dynamics.xi)


def build_system(cfg: dict | Settings) -> GridDD | ParticleDD:
    """The discretised dynamics named by ``discretisation.method``."""
    cfg = settings(cfg)
    if cfg.discretisation.method == "particles":
        return build_particle_dd(cfg)
    return build_grid_dd(cfg)


def build_particle_dd(cfg: dict | Settings) -> ParticleDD:
    """Particles per ``[particles]``; densities are estimated on the config's grid."""
    cfg = settings(cfg)
    part = cfg.particles
    kind = get_kind(cfg)
    counts = kind.particle_counts(cfg)
    problem, grid, law = kind.build_problem(cfg), kind.build_grid(cfg), kind.build_initial(cfg)
    widths = None
    tau = cfg.dynamics.tau
    if tau > 0 and not math.isinf(problem.entropy_dimension):
        # fixed for the whole run (exact dissipation) and derived from the config alone,
        # so that a resumed run uses the same width
        probe = ParticleDD(problem, grid, counts)
        width = part.blob_width
        widths = (
            np.full(len(counts), width) if width > 0 else probe.bandwidths(probe.initial_state(law))
        )
    return ParticleDD(
        problem,
        grid,
        counts,
        build_schedule(cfg),
        tau=tau,
        lam=cfg.dynamics.lam,
        rtol=part.rtol,
        atol=part.atol,
        blob_widths=widths,
        step_noise=build_step_noise(cfg),
        noise_dimension=noise_dimension(cfg),
    )


def build_step_noise(cfg: dict | Settings) -> StepNoise | None:
    """The SGD of ``[sgd]`` whose step noise ``dynamics.finite_step`` adds, or None.

    The residual is the mean-field one (no 1/N variance): the i.i.d. variance (h₂ − h²)/N
    holds for an untrained network only — trained neurons are not independent draws from ρ_t
    (docs/finite_step.md measures both).
    """
    cfg = settings(cfg)
    if not cfg.dynamics.finite_step:
        return None
    return StepNoise(
        cfg.sgd.eps, cfg.sgd.batch, implicit=cfg.solver.finite_step_scheme == "implicit"
    )


def noise_dimension(cfg: dict | Settings) -> float:
    """The SGD's d: ``problem.dimension``, or ``initial.dimension`` with the d = ∞ kernel."""
    return settings(cfg).sgd_dimension


def build_grid_dd(cfg: dict | Settings) -> GridDD:
    """The discretised dynamics of the config, ready to integrate."""
    cfg = settings(cfg)
    s = cfg.solver
    return GridDD(
        build_problem(cfg),
        build_grid(cfg),
        build_schedule(cfg),
        tau=cfg.dynamics.tau,
        lam=cfg.dynamics.lam,
        interaction=s.interaction,
        order=s.order,
        cfl=s.cfl,
        limiter=s.limiter,
        dt_max=s.dt_max if math.isfinite(s.dt_max) else math.inf,
        rtol=s.rtol,
        atol=s.atol,
        step_noise=build_step_noise(cfg),
    )
