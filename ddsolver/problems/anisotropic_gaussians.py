r"""``problem.kind = "anisotropic_gaussians"``: variable selection with a ReLU and a bias.

y = ±1, x | y ~ N(0, diag((1 + yΔ)² I_{s₀}, I_{d−s₀})), σ*(x; θ) = a·ReLU(<w, x> + b) with
θ = (a, b, w) all trained. Reduced coordinates (a, b, r₁, r₂) — four, so the PDE is solved
by particles (the grid is the density output); kernels
:class:`~ddsolver.models.AnisotropicGaussians`, SGD
:func:`~ddsolver.sgd.anisotropic.relu_bias_sgd_steps`.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from ..grid import Axis, TensorGrid
from ..models import AnisotropicGaussians, AnisotropicInitial
from ..schedules import Schedule
from ..schema import (
    ConfigError,
    Key,
    check_interval,
    dimension_value,
    float_key,
    initial_dimension,
    int_key,
    kind_defaults,
)
from ..sgd.anisotropic import (
    exact_risk_anisotropic,
    initial_anisotropic_network,
    relu_bias_sgd_steps,
)
from ..sgd.network import Network
from .base import ReducedKind

#: Output grid where the config does not set it (the isotropic defaults would make a 4-D
#: snapshot of 96 × 24 × 800 × 800 cells).
GRID_DEFAULTS = {"r_cells": 24, "a_cells": 24}
#: Largest density snapshot (cells) of a 4-D particle run: 24⁴ ≈ 3.3e5 is typical.
MAX_DENSITY_CELLS = 2_000_000
#: Most particles of a 4-D particle run (the velocity is O(M) per evaluation).
MAX_PARTICLES = 200_000


class AnisotropicNetwork(Network):
    """N neurons a ReLU(<w, x> + b), all trained, on the anisotropic problem; one seed."""

    coords = ("a", "b", "r1", "r2")

    def __init__(self, cfg: dict, problem: AnisotropicGaussians, rng: np.random.Generator):
        super().__init__(cfg, problem, rng)
        self.w, self.a, self.b = initial_anisotropic_network(
            cfg["sgd"]["neurons"],
            int(problem.dimension),
            cfg["initial"]["scale"],
            cfg["initial"],
            rng,
        )
        self.arrays = (self.w, self.a, self.b)

    def advance(self, schedule: Schedule, k0: int, k1: int) -> None:
        sgd = self.cfg["sgd"]
        relu_bias_sgd_steps(
            self.w,
            self.a,
            self.b,
            self.problem.informative,
            self.problem.delta,
            sgd["eps"],
            schedule.code,
            schedule.params,
            self.cfg["dynamics"]["lam"],
            sgd["batch"],
            k0,
            k1,
            self.rng,
        )

    def risk(self) -> float:
        p = self.problem
        return exact_risk_anisotropic(p.delta, p.informative, self.a, self.b, self.w)

    def coordinates(self) -> dict[str, np.ndarray]:
        s0 = self.problem.informative
        return {
            "a": self.a.copy(),
            "b": self.b.copy(),
            "r1": np.linalg.norm(self.w[:, :s0], axis=1),
            "r2": np.linalg.norm(self.w[:, s0:], axis=1),
        }


class AnisotropicGaussiansKind(ReducedKind):
    """Variable selection: the informative block of s₀ coordinates carries the label."""

    name = "anisotropic_gaussians"
    summary = "y = ±1, only s₀ coordinates of x carry the label; a·ReLU(<w, x> + b) neurons"
    keys: ClassVar[dict[str, dict[str, Key]]] = {
        "problem": {
            "informative": int_key(
                10, "anisotropic: s₀, the coordinates whose variance carries the label", low=1
            ),
        },
        "initial": {
            "b_mean": float_key(0.0, "anisotropic: mean of the bias b"),
            "b_std": float_key(0.0, "anisotropic: standard deviation of b (0: point mass)", low=0),
        },
        "particles": {
            "b_count": int_key(
                1, "anisotropic: particles along b (r₁ and r₂ take r_count each)", low=1
            ),
        },
        "grid": {
            "b_min": float_key(-2.0, "anisotropic: lower edge of the b axis"),
            "b_max": float_key(2.0, "anisotropic: upper edge of the b axis"),
            "b_cells": int_key(
                24, "anisotropic: cells on the b axis (r₁, r₂ take r_cells each)", low=3
            ),
        },
    }
    methods = ("particles",)
    methods_reason = "it has 4 reduced coordinates (a, b, r1, r2)"
    network = AnisotropicNetwork

    def check_finite_step(self, cfg: dict) -> None:
        """Accepted: the particles carry the correction's Itô drift of r₁ and r₂ (order εs₀ and
        ε(d − s₀)) at the SGD's d; its O(ε) diffusions are not carried (docs/finite_step.md)."""

    def check(self, raw: dict, cfg: dict) -> None:
        problem = cfg["problem"]
        kind = raw.get("problem", {}).get("activation", {}).get("kind", "relu")
        if kind != "relu":
            raise ConfigError(
                "problem.activation.kind", kind, "anisotropic_gaussians has σ = ReLU; use 'relu'"
            )
        problem["activation"] = {"kind": "relu"}
        if problem["second_layer"]:
            raise ConfigError(
                "problem.second_layer",
                True,
                "anisotropic_gaussians always trains (a, b, w); leave second_layer false",
            )
        d = problem["dimension"]
        if d != math.inf and not problem["informative"] < d:
            raise ConfigError(
                "problem.informative",
                problem["informative"],
                f"must be below problem.dimension = {d}",
            )
        if cfg["dynamics"]["tau"] > 0:
            raise ConfigError(
                "dynamics.tau", cfg["dynamics"]["tau"], "anisotropic_gaussians is solved with τ = 0"
            )
        super().check(raw, cfg)
        initial_d = cfg["initial"]["dimension"] or d
        if initial_d == math.inf:
            raise ConfigError(
                "initial.dimension",
                cfg["initial"]["dimension"],
                "the anisotropic initial law needs a finite d (|w₁| ~ κ√(s₀/d)); with "
                'problem.dimension = "inf" set initial.dimension to the d of the data',
            )
        if not problem["informative"] < initial_d:
            raise ConfigError(
                "problem.informative",
                problem["informative"],
                f"must be below the initial law's d = {initial_d}",
            )
        grid, part = cfg["grid"], cfg["particles"]
        kind_defaults(grid, raw.get("grid", {}), GRID_DEFAULTS)
        initial = cfg["initial"]
        counts = {
            "r_count": 8,
            "a_count": 8 if initial["a_std"] > 0 else 1,
            "b_count": 8 if initial["b_std"] > 0 else 1,
        }
        kind_defaults(part, raw.get("particles", {}), counts)
        check_interval(grid, "b")
        cells = grid["a_cells"] * grid["b_cells"] * grid["r_cells"] ** 2
        if cells > MAX_DENSITY_CELLS:
            raise ConfigError(
                "grid.r_cells",
                grid["r_cells"],
                f"the 4-D density snapshot would have {cells} cells (a × b × r × r, at most "
                f"{MAX_DENSITY_CELLS}); use e.g. 24 cells per axis",
            )
        count = part["a_count"] * part["b_count"] * part["r_count"] ** 2
        if count > MAX_PARTICLES:
            raise ConfigError(
                "particles.r_count",
                part["r_count"],
                f"a_count × b_count × r_count² = {count} particles (at most {MAX_PARTICLES})",
            )

    def check_solvable(self, cfg: dict) -> None:
        p = cfg["problem"]
        if not math.isfinite(dimension_value(cfg)):
            return
        from ..models.anisotropic import MAX_TAIL_FACTOR

        tail = self.build_problem(cfg).tail_factor
        if tail > MAX_TAIL_FACTOR:
            raise ConfigError(
                "problem.informative",
                p["informative"],
                f"the finite-d anisotropic kernel converges too slowly for s0 = "
                f"{p['informative']}, d − s0 = {p['dimension'] - p['informative']} (tail factor "
                f'{tail:.1e} > {MAX_TAIL_FACTOR:g}); use problem.dimension = "inf" with '
                f"initial.dimension = {p['dimension']}",
            )

    def build_problem(self, cfg: dict) -> AnisotropicGaussians:
        p = cfg["problem"]
        return AnisotropicGaussians(p["delta"], p["informative"], dimension_value(cfg))

    def build_initial(self, cfg: dict) -> AnisotropicInitial:
        i = cfg["initial"]
        return AnisotropicInitial(
            i["scale"],
            initial_dimension(cfg),
            cfg["problem"]["informative"],
            i["a_mean"],
            i["a_std"],
            i["b_mean"],
            i["b_std"],
        )

    def grid_cells(self, cfg: dict) -> dict[str, int]:
        g = cfg["grid"]
        return {  # r₁ and r₂ both take r_cells: the key counts the product of the two
            "grid.a_cells": g["a_cells"],
            "grid.b_cells": g["b_cells"],
            "grid.r_cells": g["r_cells"] ** 2,
        }

    def build_grid(self, cfg: dict) -> TensorGrid:
        g = cfg["grid"]
        radial = [
            Axis.uniform(n, g["r_min"], g["r_max"], g["r_cells"], radial=True, key="r")
            for n in ("r1", "r2")
        ]
        return TensorGrid(
            (
                Axis.uniform("a", g["a_min"], g["a_max"], g["a_cells"]),
                Axis.uniform("b", g["b_min"], g["b_max"], g["b_cells"]),
                *radial,
            )
        )

    def particle_counts(self, cfg: dict) -> tuple[int, ...]:
        part = cfg["particles"]
        return (part["a_count"], part["b_count"], part["r_count"], part["r_count"])

    def warm_up_pde(self) -> None:
        AnisotropicGaussians(0.5, 2, 6).interaction_factors(np.ones((1, 4)))

    def warm_up_sgd(self) -> None:
        rng = np.random.default_rng(0)
        init = {"a_mean": 1.0, "a_std": 0.5, "b_mean": 0.0, "b_std": 0.5}
        w, a, b = initial_anisotropic_network(3, 4, 0.8, init, rng)
        sched = Schedule("constant")
        relu_bias_sgd_steps(
            w, a, b, 2, 0.5, 1e-3, sched.code, sched.params, 0.0, 1, np.int64(0), np.int64(1), rng
        )
        exact_risk_anisotropic(0.5, 2, a, b, w)


KIND = AnisotropicGaussiansKind()
