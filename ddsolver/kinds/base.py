r"""A problem kind's physics: its limit, its SGD network, its kernels' warm-ups.

Each kind is one package ``ddsolver/kinds/<name>/``: ``config.py`` holds its config section
(a :class:`~ddsolver.kinds.spec.KindSpec`), ``kind.py`` a :class:`ProblemKind` subclass of
that spec with the physics, registered by one line in ``ddsolver/kinds/__init__.py``. The
config, the experiment builders, the run loops and the comparison look a kind up by its name
(``problem.kind``) and call these methods; none of them branches on the name.

Most kinds are a distributional dynamics in reduced coordinates, solved on a grid or with
particles: they subclass :class:`ReducedKind`, which is its DD's description (problem,
initial law, grid, particles) for the driver :func:`ddsolver.integrate.run_reduced`. A kind
whose deterministic limit is something else (the committee machines' order-parameter ODEs,
a training set's flow) returns it from :meth:`ProblemKind.describe` as a value of
:mod:`ddsolver.limits`, which :func:`ddsolver.ode.run_limit` solves. No kind runs a driver.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..grid import TensorGrid
from ..limits import ODESystem, SteppedLimit
from ..protocol import InitialLaw, ReducedProblem
from ..schema import ConfigError
from ..sgd.network import Network
from .spec import KindSpec, ReducedSpec

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..fluctuations.probe import DynamicalTerm
    from ..fluctuations.step_noise import NoiseBudget
    from ..settings import Settings


class ProblemKind(KindSpec):
    """One ``problem.kind``: its config section (:class:`KindSpec`), its limit and its SGD.

    Class attributes
    ----------------
    network : the :class:`~ddsolver.sgd.network.Network` subclass that ``ddsolver sgd`` trains
    """

    network: ClassVar[type[Network]]

    def check_solvable(self, cfg: Settings) -> None:
        """Refuse, before any compute, a PDE its kernels cannot solve (default: all can)."""

    def sgd_pair_bytes(self, neurons: int, dimension: int) -> float:
        """Bytes one exact-risk evaluation of an SGD network holds beyond its weights (default:
        six N × N matrices of pairwise overlaps and moments). A worker thread evaluates one
        seed's at a time."""
        return 8.0 * 6 * neurons * neurons

    def memory_terms(self, cfg: Settings, verb: str) -> dict[str, float] | None:
        """Bytes a run of ``verb`` ("run" or "sgd") holds, by the config key that sets each
        term; None: the estimate of :mod:`ddsolver.resources` for grids, particles and SGD."""
        return None

    @abstractmethod
    def build_problem(self, cfg: Settings):
        """The problem of a resolved config (what ``ddsolver sgd`` trains on, too)."""

    def file_data(self, cfg: Settings, problem) -> dict[str, np.ndarray] | None:
        """Arrays a run file keeps under /data (a training set's points), or None."""
        return None

    def file_attrs(self, cfg: Settings, problem, verb: str) -> dict[str, str]:
        """Further root attributes of the file of ``ddsolver run`` or ``sgd`` (``verb``) of
        the built ``problem``, computed once when the file is made (a training set's
        ``max_margin``); JSON text, sealed by the file's checksums. A limit of
        :meth:`describe` carries them as its ``attrs``."""
        return {}

    def solved_as_reduced(self, cfg: Settings) -> bool:
        """Whether :func:`ddsolver.integrate.run_reduced` solves the config's limit as a DD in
        reduced coordinates (a :class:`ReducedKind`) rather than :meth:`describe` (default)."""
        return False

    def describe(self, cfg: Settings) -> ODESystem | SteppedLimit:
        """The limit of a resolved config when it is not a reduced DD (the committee's ODEs,
        the training set's flow), for :func:`ddsolver.ode.run_limit` to solve; the kind's
        kernels are compiled (the caller holds the compile lock). A :class:`ReducedKind`
        is its own description, solved by :func:`ddsolver.integrate.run_reduced`."""
        raise NotImplementedError(f"{self.name}: a reduced DD is described by the kind itself")

    # ------------------------------------------------------------------ SGD

    def sgd_network(self, cfg: Settings, problem, seed: int) -> Network:
        """The network of one seed, drawn from the initial law in the full dimension."""
        return self.network(cfg, problem, np.random.default_rng(seed))

    @abstractmethod
    def warm_up_sgd(self) -> None:
        """Compile (or load) the SGD step and exact-risk kernels with a real run's types (the
        caller holds :func:`ddsolver._jit.compile_lock`; a warm-up never takes it itself)."""


class ReducedKind(ReducedSpec, ProblemKind):
    """A kind whose limit is a DD in reduced coordinates, solved on a grid or with particles."""

    def solved_as_reduced(self, cfg: Settings) -> bool:
        """Always, unless the kind also describes another limit for some methods."""
        return True

    # ------------------------------------------------------------------ PDE

    @abstractmethod
    def build_problem(self, cfg: Settings) -> ReducedProblem:
        """The reduced problem of a resolved config."""

    @abstractmethod
    def build_initial(self, cfg: Settings) -> InitialLaw:
        """The initial law of a resolved config, in the reduced coordinates."""

    @abstractmethod
    def build_grid(self, cfg: Settings) -> TensorGrid:
        """The grid of ``[grid]`` (the solution grid, or the particles' density output grid)."""

    @abstractmethod
    def grid_cells(self, cfg: Settings) -> dict[str, int]:
        """The cells of each axis of :meth:`build_grid` by their config key, in axis order
        (e.g. {"grid.a_cells": 96, "grid.r_cells": 800}), read from the config without
        building anything (the memory estimate uses it)."""

    def particle_counts(self, cfg: Settings) -> tuple[int, ...]:
        """Particles along each reduced coordinate (``[particles]``)."""
        raise ConfigError(
            "discretisation.method", "particles", f"{self.name} has no particle discretisation"
        )

    @abstractmethod
    def warm_up_pde(self) -> None:
        """Compile (or load) this kind's own kernels with a real run's argument types."""

    def warm_up_config(self, cfg: Settings) -> None:
        """Compile (or load) what a run of ``cfg`` needs of the kind's kernels (default: all
        of :meth:`warm_up_pde`); a kind whose kernels depend on the config compiles less."""
        self.warm_up_pde()

    def dynamical_term(
        self,
        cfg: Settings,
        times: np.ndarray,
        xi: Callable[[float], float],
        law_times: np.ndarray | None = None,
    ) -> DynamicalTerm | None:
        """C(t), the dynamical 1/N term of :mod:`ddsolver.fluctuations`, on a run's stop
        ``times`` under the schedule ``xi``, when ``finite_width.dynamical`` asks for it (with
        ``finite_width.law_of_a``, the law of a's term too, at ``law_times``); None where it
        does not (the default: a kind without one refuses the key)."""
        return None

    def noise_budget(
        self, cfg: Settings, times: np.ndarray, xi: Callable[[float], float]
    ) -> NoiseBudget | None:
        """SGD's first-order step-noise terms (:mod:`ddsolver.fluctuations.step_noise`) on a
        run's stop ``times``, when a ``finite_width`` noise switch asks for them; None where
        none does (the default: a kind without them refuses the keys)."""
        return None

    def law_of_a_points(self, cfg: Settings) -> np.ndarray | None:
        """The points x (Q,) of the smoothed law of the second-layer weight, with
        ``finite_width.law_of_a``; None otherwise (the default)."""
        return None

    def law_of_a_budget(
        self, cfg: Settings, times: np.ndarray, xi: Callable[[float], float]
    ) -> NoiseBudget | None:
        """The step-noise terms of the smoothed law of the second-layer weight at the
        snapshot ``times``, each (T, Q), with ``finite_width.law_of_a`` and a noise switch;
        None otherwise (the default)."""
        return None

    def warm_up_particles(self) -> None:
        """Compile (or load) the kind's compiled particle loop, if it has one (default: none)."""
