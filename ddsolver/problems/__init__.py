r"""The problem kinds: one module each, looked up by ``problem.kind``.

Adding a kind is one module with a :class:`~ddsolver.problems.base.ProblemKind` subclass and
one line in :data:`KINDS` below (plus its tests, a ``grids/`` file and a docs page).
"""

from __future__ import annotations

from ..schema import ConfigError
from . import (
    anisotropic_gaussians,
    committee,
    isotropic_gaussians,
    teacher_student,
    training_set,
)
from .base import ProblemKind as ProblemKind
from .protocol import FactorisedProblem as FactorisedProblem
from .protocol import InitialLaw as InitialLaw
from .protocol import ReducedProblem as ReducedProblem

#: Every problem kind by its ``problem.kind`` name, in the order the docs list them.
KINDS: dict[str, ProblemKind] = {
    kind.name: kind
    for kind in (
        isotropic_gaussians.KIND,
        anisotropic_gaussians.KIND,
        teacher_student.KIND,
        committee.KIND,
        training_set.KIND,
    )
}


def get_kind(cfg_or_name: dict | str) -> ProblemKind:
    """The problem kind of a resolved config (or of a ``problem.kind`` name)."""
    name = cfg_or_name if isinstance(cfg_or_name, str) else cfg_or_name["problem"]["kind"]
    try:
        return KINDS[name]
    except KeyError:
        raise ConfigError("problem.kind", name, f"allowed: {', '.join(map(repr, KINDS))}") from None
