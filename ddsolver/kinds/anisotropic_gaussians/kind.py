r"""``problem.kind = "anisotropic_gaussians"``: variable selection with a ReLU and a bias.

y = ±1, x | y ~ N(0, diag((1 + yΔ)² I_{s₀}, I_{d−s₀})), σ*(x; θ) = a·ReLU(<w, x> + b) with
θ = (a, b, w) all trained. Reduced coordinates (a, b, r₁, r₂) — four, so the PDE is solved
by particles (the grid is the density output); kernels
:class:`~ddsolver.models.AnisotropicGaussians`, SGD
:func:`~ddsolver.sgd.anisotropic.relu_bias_sgd_steps`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ...grid import Axis, TensorGrid
from ...models import AnisotropicGaussians, AnisotropicInitial
from ...schedules import Schedule
from ...schema import (
    ConfigError,
)
from ...sgd.anisotropic import (
    exact_risk_anisotropic,
    initial_anisotropic_network,
    relu_bias_sgd_steps,
)
from ...sgd.network import Network
from ..base import ReducedKind
from .config import AnisotropicGaussiansSpec

if TYPE_CHECKING:
    from ...settings import Settings


class AnisotropicNetwork(Network):
    """N neurons a ReLU(<w, x> + b), all trained, on the anisotropic problem; one seed."""

    coords = ("a", "b", "r1", "r2")

    def __init__(self, cfg: Settings, problem: AnisotropicGaussians, rng: np.random.Generator):
        super().__init__(cfg, problem, rng)
        i = cfg.initial
        self.w, self.a, self.b = initial_anisotropic_network(
            cfg.sgd.neurons, int(problem.dimension), i.scale, (i.a_mean, i.a_std),
            (i.b_mean, i.b_std), rng,
        )  # fmt: skip
        self.arrays = (self.w, self.a, self.b)

    def advance(self, schedule: Schedule, k0: int, k1: int) -> None:
        sgd = self.cfg.sgd
        relu_bias_sgd_steps(
            self.w,
            self.a,
            self.b,
            self.problem.informative,
            self.problem.delta,
            sgd.eps,
            schedule.code,
            schedule.params,
            self.cfg.dynamics.lam,
            sgd.batch,
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


class AnisotropicGaussiansKind(AnisotropicGaussiansSpec, ReducedKind):
    """Variable selection: the informative block of s₀ coordinates carries the label."""

    network = AnisotropicNetwork

    def check_solvable(self, cfg: Settings) -> None:
        p = cfg.problem
        if not math.isfinite(cfg.dimension):
            return
        from ...models.anisotropic import MAX_TAIL_FACTOR

        tail = self.build_problem(cfg).tail_factor
        if tail > MAX_TAIL_FACTOR:
            raise ConfigError(
                "problem.informative",
                p.informative,
                f"the finite-d anisotropic kernel converges too slowly for s0 = "
                f"{p.informative}, d − s0 = {p.dimension - p.informative} (tail factor "
                f'{tail:.1e} > {MAX_TAIL_FACTOR:g}); use problem.dimension = "inf" with '
                f"initial.dimension = {p.dimension}",
            )

    def build_problem(self, cfg: Settings) -> AnisotropicGaussians:
        p = cfg.problem
        return AnisotropicGaussians(p.delta, p.informative, cfg.dimension)

    def build_initial(self, cfg: Settings) -> AnisotropicInitial:
        i = cfg.initial
        return AnisotropicInitial(
            i.scale,
            cfg.initial_dimension,
            cfg.problem.informative,
            i.a_mean,
            i.a_std,
            i.b_mean,
            i.b_std,
        )

    def grid_cells(self, cfg: Settings) -> dict[str, int]:
        g = cfg.grid
        return {  # r₁ and r₂ both take r_cells: the key counts the product of the two
            "grid.a_cells": g.a_cells,
            "grid.b_cells": g.b_cells,
            "grid.r_cells": g.r_cells**2,
        }

    def build_grid(self, cfg: Settings) -> TensorGrid:
        g = cfg.grid
        radial = [
            Axis.uniform(n, g.r_min, g.r_max, g.r_cells, radial=True, key="r") for n in ("r1", "r2")
        ]
        return TensorGrid(
            (
                Axis.uniform("a", g.a_min, g.a_max, g.a_cells),
                Axis.uniform("b", g.b_min, g.b_max, g.b_cells),
                *radial,
            )
        )

    def particle_counts(self, cfg: Settings) -> tuple[int, ...]:
        part = cfg.particles
        return (part.a_count, part.b_count, part.r_count, part.r_count)

    def warm_up_pde(self) -> None:
        AnisotropicGaussians(0.5, 2, 6).interaction_factors(np.ones((1, 4)))

    def warm_up_sgd(self) -> None:
        rng = np.random.default_rng(0)
        w, a, b = initial_anisotropic_network(3, 4, 0.8, (1.0, 0.5), (0.0, 0.5), rng)
        sched = Schedule("constant")
        relu_bias_sgd_steps(
            w, a, b, 2, 0.5, 1e-3, sched.code, sched.params, 0.0, 1, np.int64(0), np.int64(1), rng
        )
        exact_risk_anisotropic(0.5, 2, a, b, w)


KIND = AnisotropicGaussiansKind()
