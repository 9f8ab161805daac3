r"""``problem.kind = "teacher_student"``: Gaussian inputs and a one-unit teacher.

x ~ N(0, I_d), y = σ(<w*, x>) + ς g with |w*| = s*; students σ(<w, x>). Reduced coordinates
(u, v): the overlap with the teacher direction and the norm of the orthogonal part. The kernel
is dense (:class:`~ddsolver.models.TeacherStudent`), so the PDE is solved on the grid only;
SGD :func:`~ddsolver.sgd.teacher_student.teacher_sgd_steps`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...grid import Axis, TensorGrid
from ...models import Activation, TeacherStudent, TeacherStudentInitial
from ...schedules import Schedule
from ...sgd.isotropic import initial_network
from ...sgd.network import Network
from ...sgd.pair_sums import GRAM_TILE
from ...sgd.teacher_student import exact_risk_teacher_student, teacher_sgd_steps
from ..base import ReducedKind
from .config import TeacherStudentSpec

if TYPE_CHECKING:
    from ...settings import Settings


class TeacherStudentNetwork(Network):
    """N students σ(<w, x>) of the teacher σ(s* x₁) (+ label noise); one seed."""

    coords = ("u", "v")

    def __init__(self, cfg: Settings, problem: TeacherStudent, rng: np.random.Generator):
        super().__init__(cfg, problem, rng)
        init = cfg.initial
        self.w, _ = initial_network(
            cfg.sgd.neurons, int(problem.dimension), init.scale, 1.0, 0.0, rng
        )
        self.arrays = (self.w,)

    def advance(self, schedule: Schedule, k0: int, k1: int) -> None:
        act, dyn, sgd = self.problem.activation, self.cfg.dynamics, self.cfg.sgd
        teacher_sgd_steps(
            self.w,
            act.code,
            act.param_array,
            self.problem.teacher_norm,
            self.problem.label_noise,
            sgd.eps,
            schedule.code,
            schedule.params,
            dyn.lam,
            dyn.tau,
            sgd.batch,
            k0,
            k1,
            self.rng,
        )

    def risk(self) -> float:
        return exact_risk_teacher_student(self.problem, self.w)

    def coordinates(self) -> dict[str, np.ndarray]:
        return {"u": self.w[:, 0].copy(), "v": np.linalg.norm(self.w[:, 1:], axis=1)}


class TeacherStudentKind(TeacherStudentSpec, ReducedKind):
    """Students σ(<w, x>) learning a teacher σ(<w*, x>) from Gaussian inputs."""

    network = TeacherStudentNetwork

    def build_problem(self, cfg: Settings) -> TeacherStudent:
        p = cfg.problem
        return TeacherStudent(
            Activation.from_mapping(p.activation),
            cfg.dimension,
            p.teacher_norm,
            p.label_noise,
        )

    def build_initial(self, cfg: Settings) -> TeacherStudentInitial:
        return TeacherStudentInitial(cfg.initial.scale, cfg.initial_dimension)

    def grid_cells(self, cfg: Settings) -> dict[str, int]:
        g = cfg.grid
        return {"grid.u_cells": g.u_cells, "grid.r_cells": g.r_cells}

    def build_grid(self, cfg: Settings) -> TensorGrid:
        g = cfg.grid
        return TensorGrid(
            (
                Axis.uniform("u", g.u_min, g.u_max, g.u_cells),
                Axis.stretched("v", g.r_min, g.r_max, g.r_cells, g.r_stretch, radial=True, key="r"),
            )
        )

    def warm_up_pde(self) -> None:
        TeacherStudent(Activation.from_mapping({"kind": "erf"}), 5).interaction_matrix(
            np.ones((2, 2))
        )

    def sgd_pair_bytes(self, neurons: int, dimension: int) -> float:
        """The exact risk a tile of cosines at a time (:mod:`ddsolver.sgd.pair_sums`): the
        unit rows (N × d), one tile and O(N) vectors."""
        return 8.0 * (neurons * dimension + GRAM_TILE[0] * GRAM_TILE[1] + 16 * neurons)

    def warm_up_sgd(self) -> None:
        rng = np.random.default_rng(0)
        problem = TeacherStudent(Activation.from_mapping({"kind": "erf"}), 4)
        w, _ = initial_network(3, 4, 0.8, 1.0, 0.0, rng)
        sched, act = Schedule("constant"), problem.activation
        teacher_sgd_steps(
            w, act.code, act.param_array, 1.0, 0.1, 1e-3, sched.code, sched.params, 0.0, 0.0, 1,
            np.int64(0), np.int64(1), rng,
        )  # fmt: skip
        exact_risk_teacher_student(problem, w)


KIND = TeacherStudentKind()
