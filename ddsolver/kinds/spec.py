r"""What a problem kind says about its config: its keys, its checks, the keys that apply.

The config layer of a kind, apart from its physics: :mod:`ddsolver.config` validates a file
with these classes alone, so checking a config imports no kernel (no numba, no h5py). Each
kind's ``ddsolver/kinds/<name>/config.py`` subclasses :class:`KindSpec` (or
:class:`ReducedSpec`); its ``kind.py`` adds the physics (:class:`~ddsolver.kinds.base.ProblemKind`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from ..fields import Field
from ..schema import ConfigError, Key, dimension_value, largest_factor

#: The activations of ``problem.activation.kind`` the reduced kinds' Gaussian integrals cover.
REDUCED_ACTIVATIONS = ("ramp", "relu", "erf", "tanh", "sigmoid", "piecewise", "square")

#: Keys every kind takes: what the file is, when it is observed, and the SGD run of ``[sgd]``
#: (one config serves ``ddsolver run`` and ``ddsolver sgd``, so a key applies to a kind when it
#: changes either; where ``ddsolver sgd`` refuses the config — d = ∞ — it says so, and the
#: ``[sgd]`` keys are kept for the same file at a finite d).
COMMON_KEYS = frozenset(
    {
        "problem.kind",
        "problem.dimension",
        "time.t_end",
        "time.spacing",
        "output.path",
        "discretisation.method",
        "sgd.neurons",
        "sgd.eps",
        "sgd.seeds",
        "sgd.batch",
    }
)
#: The keys of the stop times, by ``time.spacing``: intervals, counts per decade, or a list.
SPACING_KEYS = {
    "linear": frozenset({"time.save_every", "time.observe_every", "sgd.observe_every"}),
    "log": frozenset(
        {"time.first", "time.save_per_decade", "time.observe_per_decade", "sgd.observe_per_decade"}
    ),
    "list": frozenset({"time.at"}),
}
#: The grid solver's keys (``[solver]``), taken by every kind solved on a reduced grid
#: (``solver.atol`` and ``solver.limiter`` only where they act: :func:`grid_solver_keys`).
GRID_SOLVER_KEYS = frozenset(
    f"solver.{k}" for k in ("order", "cfl", "interaction", "rtol", "dt_max")
)


def grid_solver_keys(cfg: dict) -> set[str]:
    """The grid solver's keys: the absolute tolerance where the error control is on, and the
    reconstruction (``limiter``) where the flux is the upwind one — with τ > 0 at a finite d
    the Scharfetter–Gummel flux takes its place and no reconstruction is made."""
    keys = set(GRID_SOLVER_KEYS)
    if cfg["solver"]["rtol"] > 0:
        keys.add("solver.atol")
    diffusive = cfg["dynamics"]["tau"] > 0 and math.isfinite(dimension_value(cfg))
    if not diffusive:
        keys.add("solver.limiter")
    return keys


#: The parameters of each activation kind of ``[problem.activation]``.
#: Largest grid of a dense kernel (teacher–student, the multi-index grid): 8000 cells are
#: 512 MB of float64.
MAX_DENSE_CELLS = 8000


def check_dense_cells(grid: dict, names: tuple[str, ...], cells: int, product: str) -> None:
    """A grid of ``cells`` cells for a dense kernel, which holds (cells)² numbers: at most
    :data:`MAX_DENSE_CELLS`, or the error naming the largest of the ``grid.<names>`` keys
    (``product``: how the cells multiply, e.g. "u_cells × r_cells")."""
    if cells > MAX_DENSE_CELLS:
        raise ConfigError(
            *largest_factor(grid, "grid", names),
            f"{product} = {cells}: the dense kernel holds (cells)² numbers; at most "
            f"{MAX_DENSE_CELLS} cells",
        )


ACTIVATION_PARAMETERS = {
    "ramp": ("t1", "t2", "s1", "s2"),
    "piecewise": ("knots", "values"),
    "cubic": ("coefficients",),
}


def activation_keys(cfg: dict) -> set[str]:
    """``problem.activation.kind`` and the parameters of the resolved activation's kind."""
    kind = cfg["problem"]["activation"]["kind"]
    own = ACTIVATION_PARAMETERS.get(kind, ())
    return {"problem.activation.kind", *keys_of("problem.activation", *own)}


#: The parameters of each schedule kind of ``dynamics.xi`` (a table).
SCHEDULE_PARAMETERS = {
    "constant": ("value",),
    "power": ("value", "t0", "alpha"),
    "piecewise": ("times", "values"),
}


def keys_of(table: str, *names: str) -> set[str]:
    """The dotted keys ``table.name`` of ``names``."""
    return {f"{table}.{name}" for name in names}


def schedule_keys(cfg: dict) -> set[str]:
    """``dynamics.xi`` and, where it is a table, the keys its schedule kind takes."""
    xi = cfg["dynamics"]["xi"]
    if not isinstance(xi, dict):
        return {"dynamics.xi"}
    own = SCHEDULE_PARAMETERS[xi["kind"]]
    return {"dynamics.xi", "dynamics.xi.kind", *keys_of("dynamics.xi", *own)}


@dataclass(frozen=True)
class Labels:
    """The words a kind's figures, reports and files use for its run.

    Attributes
    ----------
    limit : the deterministic limit, as a file's ``limit`` attribute and a legend say it
        ("PDE", "ODE", "particle flow", "PDE on the circle")
    objective : the quantity ``/observables/risk`` holds, for an axis ("population risk",
        "generalisation error ε_g", "training objective")
    symbol : its symbol in a legend ("R(ρ_t)", "ε_g", "J(ρ_t)")
    finite : the SGD run's name for the same quantity at finite width ("R_N", "ε_g", "J")
    trainer : "SGD", or "GD" for full-batch gradient descent
    step : the SGD step as a legend says it ("ε = 0.0001", "η = 0.5")
    """

    limit: str
    objective: str
    symbol: str
    finite: str
    trainer: str
    step: str


class KindSpec(ABC):
    """One ``problem.kind`` as the config sees it: its keys, checks and applicable keys.

    Class attributes
    ----------------
    name : the value of ``problem.kind``
    summary : one line for the docs and the config reference
    keys : config keys of this kind only, {table: {name: Key}}, merged into the schema
    methods : the values of ``discretisation.method`` it can be solved with, the default first
    methods_reason : why other methods are refused (said in the error)
    activations : the values of ``problem.activation.kind`` it takes
    default_activation : its activation where the config names none (None: the package's)
    initial_kinds : the values of ``initial.kind`` it takes
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    keys: ClassVar[dict[str, dict[str, Key]]] = {}
    methods: ClassVar[tuple[str, ...]] = ("grid", "particles")
    methods_reason: ClassVar[str] = ""
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

    def applicable_keys(self, cfg: dict) -> frozenset[str]:
        """The dotted keys that change a run or an SGD run of the resolved ``cfg``.

        Every other key the user sets, even at its default, is refused before compute
        (:func:`ddsolver.config.validate`), and ``ddsolver info`` shows only these.
        """
        spacing = SPACING_KEYS[cfg["time"]["spacing"]]
        return COMMON_KEYS | spacing | activation_keys(cfg) | self.own_keys(cfg)

    def inapplicable_reason(self, key: str, cfg: dict) -> str | None:
        """Why ``key``, a key this kind has, does not apply to the resolved ``cfg`` — the
        setting that turns it off — or None (the refusal then lists the keys that apply)."""
        return None

    @abstractmethod
    def own_keys(self, cfg: dict) -> set[str]:
        """The keys beyond :data:`COMMON_KEYS` this kind takes for the resolved ``cfg`` (they
        may depend on it: a method's own table, a second layer's axis)."""

    def labels(self, cfg: dict, points: int | None = None) -> Labels:
        """The words of this kind's figures for a resolved (or a run file's stored) config;
        ``points``: the size of a training set where the caller knows it (a run file's /data).
        The default is the mean-field DD's."""
        return Labels(
            limit="PDE",
            objective="population risk",
            symbol="R(ρ_t)",
            finite="R_N",
            trainer="SGD",
            step=f"ε = {cfg['sgd']['eps']:g}",
        )

    def figures(self, cfg: dict) -> tuple[str, ...]:
        """The figures ``ddsolver plot`` draws of this kind's run file, by name (those of
        :func:`ddsolver.plotting.file_figures`: risk, density, overlaps, training, lazy,
        circle, classifier); an SGD file draws ``risk`` and ``neurons`` and, of these,
        ``overlaps`` and ``classifier``. Default: the DD's risk and density."""
        return ("risk", "density")

    def fields(self, cfg: dict) -> dict[str, Field]:
        """The series of this kind's run and SGD files beyond the shared ones
        (:func:`ddsolver.fields.run_fields`, :func:`~ddsolver.fields.sgd_fields`), by dataset
        path; a kind's own override a shared one of the same path (default: none)."""
        return {}

    def check_finite_step(self, cfg: dict) -> None:
        """Refuse ``dynamics.finite_step`` where the kind has no correction (the default)."""
        raise ConfigError(
            "dynamics.finite_step",
            True,
            f"{self.name} has no finite-step correction; it exists for isotropic_gaussians "
            '(finite problem.dimension, discretisation.method = "grid", with or without a '
            "second layer), anisotropic_gaussians, multi_index and gaussian_mixture (particles, "
            "finite d)",
        )


class ReducedSpec(KindSpec):
    """The config side of a kind whose limit is a DD in reduced coordinates."""

    def own_keys(self, cfg: dict) -> set[str]:
        """The initial law's scale and d, ξ and λ, and the method's own keys: the grid solver's
        ``[solver]``, or the particle stepper's tolerances; then :meth:`reduced_keys`."""
        keys = {"initial.kind", "initial.scale", "initial.dimension", "dynamics.lam"}
        keys |= schedule_keys(cfg) | {"grid.boundary_mass_max"}
        if cfg["discretisation"]["method"] == "grid":
            keys |= grid_solver_keys(cfg)
        else:
            keys |= keys_of("particles", "rtol", "atol")
        return keys | self.reduced_keys(cfg)

    @abstractmethod
    def reduced_keys(self, cfg: dict) -> set[str]:
        """The keys of this kind's data law, reduced coordinates and axes (beyond
        :meth:`own_keys`' shared ones) for the resolved ``cfg``."""
