r"""A problem kind: everything the package needs to know about one family of problems.

Each kind lives in one module of :mod:`ddsolver.problems` as a :class:`ProblemKind` subclass
and is registered by one line in ``ddsolver/problems/__init__.py``. The config, the
experiment builders, the run loops and the comparison look a kind up by its name
(``problem.kind``) and call these methods; none of them branches on the name.

Most kinds are a distributional dynamics in reduced coordinates, solved on a grid or with
particles: they subclass :class:`ReducedKind`, which supplies :meth:`ProblemKind.solve`. A
kind whose deterministic limit is something else (the committee machines' order-parameter
ODEs) implements :meth:`ProblemKind.solve` itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..grid import TensorGrid
from ..schema import ConfigError, Key, dimension_value
from ..sgd.network import Network
from ..status import RunResult
from .protocol import InitialLaw, ReducedProblem

#: The activations of ``problem.activation.kind`` the reduced kinds' Gaussian integrals cover.
REDUCED_ACTIVATIONS = ("ramp", "relu", "erf", "tanh", "sigmoid", "piecewise")


class ProblemKind(ABC):
    """One ``problem.kind``: its config keys and checks, its PDE and its SGD network.

    Class attributes
    ----------------
    name : the value of ``problem.kind``
    summary : one line for the docs and the config reference
    keys : config keys of this kind only, {table: {name: Key}}, merged into the schema
    methods : the values of ``discretisation.method`` it can be solved with, the default first
    methods_reason : why other methods are refused (said in the error)
    network : the :class:`~ddsolver.sgd.network.Network` subclass that ``ddsolver sgd`` trains
    activations : the values of ``problem.activation.kind`` it takes
    default_activation : its activation where the config names none (None: the package's)
    initial_kinds : the values of ``initial.kind`` it takes
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    keys: ClassVar[dict[str, dict[str, Key]]] = {}
    methods: ClassVar[tuple[str, ...]] = ("grid", "particles")
    methods_reason: ClassVar[str] = ""
    network: ClassVar[type[Network]]
    activations: ClassVar[tuple[str, ...]] = REDUCED_ACTIVATIONS
    default_activation: ClassVar[str | None] = None
    initial_kinds: ClassVar[tuple[str, ...]] = ("gaussian",)
    #: The least problem.dimension it takes (the reductions in |w| need d ≥ 2).
    min_dimension: ClassVar[int] = 2

    # ------------------------------------------------------------------ config

    def check(self, raw: dict, cfg: dict) -> None:
        """Cross-key checks and the kind's own defaults, on the resolved ``cfg`` in place.

        ``raw`` is the config as given (before defaults), to tell what the user set. The
        default refuses a discretisation the kind has no solver for and sets the kind's
        default method where the user named none.
        """
        if dimension_value(cfg) < self.min_dimension:
            raise ConfigError("problem.dimension", cfg["problem"]["dimension"],
                              f"{self.name}: d ≥ {self.min_dimension} (or \"inf\")")  # fmt: skip
        given = raw.get("problem", {}).get("activation", {})
        if not (isinstance(given, dict) and "kind" in given) and self.default_activation:
            cfg["problem"]["activation"] = {"kind": self.default_activation}
        for key, value, allowed in (
            ("problem.activation.kind", cfg["problem"]["activation"]["kind"], self.activations),
            ("initial.kind", cfg["initial"]["kind"], self.initial_kinds),
        ):
            if value not in allowed:
                raise ConfigError(key, value, f"{self.name} takes {', '.join(map(repr, allowed))}")
        method = raw.get("discretisation", {}).get("method", self.methods[0])
        if method not in self.methods:
            raise ConfigError(
                "discretisation.method",
                method,
                f"{self.name} is solved by {' or '.join(map(repr, self.methods))}"
                + (f": {self.methods_reason}" if self.methods_reason else ""),
            )
        cfg["discretisation"]["method"] = method
        if cfg["dynamics"].get("finite_step"):
            self.check_finite_step(cfg)

    def check_finite_step(self, cfg: dict) -> None:
        """Refuse ``dynamics.finite_step`` where the kind has no correction (the default)."""
        raise ConfigError(
            "dynamics.finite_step",
            True,
            f"{self.name} has no finite-step correction; it exists for isotropic_gaussians "
            '(finite problem.dimension, discretisation.method = "grid", with or without a '
            "second layer) and anisotropic_gaussians (particles)",
        )

    def check_solvable(self, cfg: dict) -> None:  # noqa: B027 (a hook; most kinds need none)
        """Refuse, before any compute, a PDE its kernels cannot solve (default: all can)."""

    def memory_terms(self, cfg: dict, verb: str) -> dict[str, float] | None:
        """Bytes a run of ``verb`` ("run" or "sgd") holds, by the config key that sets each
        term; None: the estimate of :mod:`ddsolver.resources` for grids, particles and SGD."""
        return None

    @abstractmethod
    def build_problem(self, cfg: dict):
        """The problem of a resolved config (what ``ddsolver sgd`` trains on, too)."""

    def file_data(self, cfg: dict, problem) -> dict[str, np.ndarray] | None:
        """Arrays a run file keeps under /data (a training set's points), or None."""
        return None

    @abstractmethod
    def solve(self, cfg: dict, path: Path, *, resume: bool, force: bool, quiet: bool) -> RunResult:
        """``ddsolver run``: the deterministic limit of a resolved config, written to ``path``
        (the config and memory checks are done)."""

    # ------------------------------------------------------------------ SGD

    def sgd_network(self, cfg: dict, problem, seed: int) -> Network:
        """The network of one seed, drawn from the initial law in the full dimension."""
        return self.network(cfg, problem, np.random.default_rng(seed))

    @abstractmethod
    def warm_up_sgd(self) -> None:
        """Compile (or load) the SGD step and exact-risk kernels with a real run's types (the
        caller holds :func:`ddsolver._jit.compile_lock`; a warm-up never takes it itself)."""


class ReducedKind(ProblemKind):
    """A kind whose limit is a DD in reduced coordinates, solved on a grid or with particles."""

    def solve(self, cfg: dict, path: Path, *, resume: bool, force: bool, quiet: bool) -> RunResult:
        from ..integrate import run_reduced

        return run_reduced(cfg, path, resume=resume, force=force, quiet=quiet)

    # ------------------------------------------------------------------ PDE

    @abstractmethod
    def build_problem(self, cfg: dict) -> ReducedProblem:
        """The reduced problem of a resolved config."""

    @abstractmethod
    def build_initial(self, cfg: dict) -> InitialLaw:
        """The initial law of a resolved config, in the reduced coordinates."""

    @abstractmethod
    def build_grid(self, cfg: dict) -> TensorGrid:
        """The grid of ``[grid]`` (the solution grid, or the particles' density output grid)."""

    @abstractmethod
    def grid_cells(self, cfg: dict) -> dict[str, int]:
        """The cells of each axis of :meth:`build_grid` by their config key, in axis order
        (e.g. {"grid.a_cells": 96, "grid.r_cells": 800}), read from the config without
        building anything (the memory estimate uses it)."""

    def particle_counts(self, cfg: dict) -> tuple[int, ...]:
        """Particles along each reduced coordinate (``[particles]``)."""
        raise ConfigError(
            "discretisation.method", "particles", f"{self.name} has no particle discretisation"
        )

    @abstractmethod
    def warm_up_pde(self) -> None:
        """Compile (or load) this kind's own kernels with a real run's argument types."""

    def warm_up_config(self, cfg: dict) -> None:
        """Compile (or load) what a run of ``cfg`` needs of the kind's kernels (default: all
        of :meth:`warm_up_pde`); a kind whose kernels depend on the config compiles less."""
        self.warm_up_pde()

    def warm_up_particles(self) -> None:
        """Compile (or load) the kind's compiled particle loop, if it has one (default: none)."""
