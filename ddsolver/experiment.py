"""Build the objects of an experiment from a resolved config (config → models → grid → pde)."""

from __future__ import annotations

import math

import numpy as np

from .config import ConfigError, dimension_value
from .grid import Axis, TensorGrid
from .lagrangian import ParticleDD
from .models import (
    Activation,
    AnisotropicGaussians,
    AnisotropicInitial,
    GaussianInitial,
    IsotropicGaussians,
    TeacherStudent,
    TeacherStudentInitial,
)
from .pde import GridDD
from .schedules import Schedule


def build_problem(cfg: dict) -> IsotropicGaussians | AnisotropicGaussians | TeacherStudent:
    """The reduced problem named by ``[problem]``."""
    p = cfg["problem"]
    if p["kind"] == "anisotropic_gaussians":
        return AnisotropicGaussians(p["delta"], p["informative"], dimension_value(cfg))
    if p["kind"] == "teacher_student":
        return TeacherStudent(
            Activation.from_mapping(p["activation"]),
            dimension_value(cfg),
            p["teacher_norm"],
            p["label_noise"],
        )
    return IsotropicGaussians(
        Activation.from_mapping(p["activation"]),
        dimension_value(cfg),
        p["delta"],
        second_layer=p["second_layer"],
    )


def build_initial(cfg: dict) -> GaussianInitial | AnisotropicInitial | TeacherStudentInitial:
    """The initial law named by ``[initial]``."""
    i = cfg["initial"]
    dimension = float(i["dimension"]) if i["dimension"] else dimension_value(cfg)
    if cfg["problem"]["kind"] == "anisotropic_gaussians":
        return AnisotropicInitial(
            i["scale"],
            dimension,
            cfg["problem"]["informative"],
            i["a_mean"],
            i["a_std"],
            i["b_mean"],
            i["b_std"],
        )
    if cfg["problem"]["kind"] == "teacher_student":
        return TeacherStudentInitial(i["scale"], dimension)
    return GaussianInitial(i["scale"], dimension, i["a_mean"], i["a_std"])


def build_schedule(cfg: dict) -> Schedule:
    """ξ(t) from ``dynamics.xi`` (a number or a table)."""
    xi = cfg["dynamics"]["xi"]
    if not isinstance(xi, dict):
        return Schedule("constant", value=float(xi))
    return Schedule(
        xi["kind"],
        value=xi["value"],
        t0=xi["t0"],
        alpha=xi["alpha"],
        times=tuple(xi["times"]),
        values=tuple(xi["values"]),
    )


def build_grid(cfg: dict) -> TensorGrid:
    """The tensor grid over (r,), (a, r) or (a, b, r1, r2) from ``[grid]``."""
    g = cfg["grid"]
    if cfg["problem"]["kind"] == "anisotropic_gaussians":
        radial = [Axis.uniform(n, g["r_min"], g["r_max"], g["r_cells"]) for n in ("r1", "r2")]
        return TensorGrid(
            (
                Axis.uniform("a", g["a_min"], g["a_max"], g["a_cells"]),
                Axis.uniform("b", g["b_min"], g["b_max"], g["b_cells"]),
                *radial,
            )
        )
    if cfg["problem"]["kind"] == "teacher_student":
        return TensorGrid(
            (
                Axis.uniform("u", g["u_min"], g["u_max"], g["u_cells"]),
                Axis.stretched("v", g["r_min"], g["r_max"], g["r_cells"], g["r_stretch"]),
            )
        )
    r = Axis.stretched("r", g["r_min"], g["r_max"], g["r_cells"], g["r_stretch"])
    if cfg["problem"]["second_layer"]:
        return TensorGrid((Axis.uniform("a", g["a_min"], g["a_max"], g["a_cells"]), r))
    return TensorGrid((r,))


def check_solvable(cfg: dict) -> None:
    """Refuse, before any compute, a PDE the reduced kernels cannot solve (ConfigError)."""
    p = cfg["problem"]
    if p["kind"] == "anisotropic_gaussians" and math.isfinite(dimension_value(cfg)):
        from .models.anisotropic import MAX_TAIL_FACTOR

        tail = build_problem(cfg).tail_factor
        if tail > MAX_TAIL_FACTOR:
            raise ConfigError(
                "problem.informative",
                p["informative"],
                f"the finite-d anisotropic kernel converges too slowly for s0 = "
                f"{p['informative']}, d − s0 = {p['dimension'] - p['informative']} (tail factor "
                f'{tail:.1e} > {MAX_TAIL_FACTOR:g}); use problem.dimension = "inf" with '
                f"initial.dimension = {p['dimension']}",
            )


def build_system(cfg: dict):
    """The discretised dynamics named by ``discretisation.method``."""
    if cfg["discretisation"]["method"] == "particles":
        return build_particle_dd(cfg)
    return build_grid_dd(cfg)


def build_particle_dd(cfg: dict) -> ParticleDD:
    """Particles per ``[particles]``; densities are estimated on the config's grid."""
    part = cfg["particles"]
    second = cfg["problem"]["second_layer"]
    counts = (part["a_count"], part["r_count"]) if second else (part["r_count"],)
    if cfg["problem"]["kind"] == "anisotropic_gaussians":
        counts = (part["a_count"], part["b_count"], part["r_count"], part["r_count"])
    problem, grid, law = build_problem(cfg), build_grid(cfg), build_initial(cfg)
    widths = None
    tau = cfg["dynamics"]["tau"]
    if tau > 0 and not math.isinf(problem.entropy_dimension):
        # fixed for the whole run (exact dissipation) and derived from the config alone,
        # so that a resumed run uses the same width
        probe = ParticleDD(problem, grid, counts)
        width = part["blob_width"]
        widths = (
            np.full(len(counts), width) if width > 0 else probe.bandwidths(probe.initial_state(law))
        )
    return ParticleDD(
        problem,
        grid,
        counts,
        build_schedule(cfg),
        tau=tau,
        lam=cfg["dynamics"]["lam"],
        rtol=part["rtol"],
        atol=part["atol"],
        blob_widths=widths,
    )


def build_grid_dd(cfg: dict) -> GridDD:
    """The discretised dynamics of the config, ready to integrate."""
    s = cfg["solver"]
    return GridDD(
        build_problem(cfg),
        build_grid(cfg),
        build_schedule(cfg),
        tau=cfg["dynamics"]["tau"],
        lam=cfg["dynamics"]["lam"],
        interaction=s["interaction"],
        order=s["order"],
        cfl=s["cfl"],
        limiter=s["limiter"],
        dt_max=s["dt_max"] if math.isfinite(s["dt_max"]) else math.inf,
        rtol=s["rtol"],
        atol=s["atol"],
    )
