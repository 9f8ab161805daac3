r"""Experiment configuration: TOML in, validated nested dict out, nothing ever evaluated.

:data:`SCHEMA` lists every key with its type, default and allowed values; it is also the
reference table of the README. :func:`load_config` reads a file, applies ``--set``
overrides and validates *everything* before any compute. A mistake raises
:class:`ConfigError` naming the key, the value and what is allowed (unknown keys get a
"did you mean" suggestion).
"""

from __future__ import annotations

import copy
import difflib
import itertools
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A config key has a bad value: ``key``, ``value`` and what is ``allowed``."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"config key '{key}' = {value!r}: {allowed}")


@dataclass(frozen=True)
class Key:
    """One config key: ``kind`` is float, int, bool, str, int_list, float_list, or 'any'."""

    kind: str
    default: Any
    doc: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    allow_inf: bool = False
    nullable: bool = False

    def describe(self) -> str:
        """What is allowed, in words."""
        if self.choices:
            return "allowed: " + ", ".join(repr(c) for c in self.choices)
        words = {
            "float": "a number",
            "int": "an integer",
            "bool": "true or false",
            "str": "a string",
            "int_list": "a list of integers",
            "float_list": "a list of numbers",
            "any": "a number or a table",
        }[self.kind]
        if self.low is not None or self.high is not None:
            lo = "(" if self.low_open else "["
            hi = ")" if self.high_open else "]"
            low = "-inf" if self.low is None else f"{self.low:g}"
            high = "inf" if self.high is None else f"{self.high:g}"
            words += f" in {lo}{low}, {high}{hi}"
        if self.allow_inf:
            words += ' or "inf"'
        return "must be " + words


def _f(default, doc, **kw) -> Key:
    return Key("float", default, doc, **kw)


def _i(default, doc, **kw) -> Key:
    return Key("int", default, doc, **kw)


ACTIVATION_KINDS = ("ramp", "relu", "erf", "tanh", "sigmoid", "piecewise")
PROBLEM_KINDS = ("isotropic_gaussians", "anisotropic_gaussians", "teacher_student")
#: Largest density snapshot (cells) of a 4-D particle run: 24⁴ ≈ 3.3e5 is typical.
MAX_DENSITY_CELLS = 2_000_000
#: Most particles of a 4-D particle run (the velocity is O(M) per evaluation).
MAX_PARTICLES = 200_000
#: Largest grid of a dense (matrix) kernel: 8000 cells are 512 MB of float64.
MAX_DENSE_CELLS = 8000
#: (u, v) grid of the teacher–student problem where the config does not set it.
TEACHER_STUDENT_GRID_DEFAULTS = {"r_max": 2.0, "r_cells": 40}
#: Output grid of the anisotropic problem where the config does not set it (the isotropic
#: defaults would make a 4-D snapshot of 96 × 24 × 800 × 800 cells).
ANISOTROPIC_GRID_DEFAULTS = {"r_cells": 24, "a_cells": 24}
SCHEDULE_KINDS = ("constant", "power", "piecewise")

SCHEMA: dict[str, dict[str, Key]] = {
    "problem": {
        "kind": Key(
            "str",
            "isotropic_gaussians",
            "data law and network (see the README's problem sections)",
            choices=PROBLEM_KINDS,
        ),
        "dimension": _i(40, 'input dimension d; "inf" for the d → ∞ kernel', low=2, allow_inf=True),
        "delta": _f(
            0.8, "Δ: x | y ~ N(0, (1 + yΔ)² I_d)", low=0, high=1, low_open=True, high_open=True
        ),
        "second_layer": Key("bool", False, "θ = (a, w), σ*(x; θ) = a σ(<w, x>)"),
        "teacher_norm": _f(
            1.0, "teacher–student: |w*|, y = σ(<w*, x>) + label noise", low=0, low_open=True
        ),
        "label_noise": _f(0.0, "teacher–student: standard deviation of the label noise", low=0),
        "informative": _i(
            10, "anisotropic: s₀, the coordinates whose variance carries the label", low=1
        ),
    },
    "problem.activation": {
        "kind": Key("str", "ramp", "activation σ", choices=ACTIVATION_KINDS),
        "t1": _f(0.5, "ramp: σ = s1 for t ≤ t1"),
        "t2": _f(1.5, "ramp: σ = s2 for t ≥ t2"),
        "s1": _f(-2.5, "ramp: lower level"),
        "s2": _f(7.5, "ramp: upper level"),
        "knots": Key(
            "float_list", [0.5, 1.5], "piecewise: knots t_k, increasing (σ flat outside them)"
        ),
        "values": Key("float_list", [-2.5, 7.5], "piecewise: σ(t_k), one per knot"),
    },
    "initial": {
        "kind": Key("str", "gaussian", "initial law", choices=("gaussian",)),
        "scale": _f(0.8, "κ: w ~ N(0, κ²/d · I_d)", low=0, low_open=True),
        "dimension": _i(
            0,
            "d of the initial law (0: problem.dimension), e.g. 40 with the d = ∞ kernel",
            low=0,
            allow_inf=True,
        ),
        "a_mean": _f(1.0, "second layer: mean of a"),
        "a_std": _f(0.0, "second layer: standard deviation of a (0: point mass)", low=0),
        "b_mean": _f(0.0, "anisotropic: mean of the bias b"),
        "b_std": _f(0.0, "anisotropic: standard deviation of b (0: point mass)", low=0),
    },
    "dynamics": {
        "xi": Key("any", 1.0, "step-size schedule ξ(t): a number, or a table (see dynamics.xi.*)"),
        "tau": _f(0.0, "temperature τ", low=0),
        "lam": _f(0.0, "ℓ2 penalty λ", low=0),
    },
    "dynamics.xi": {
        "kind": Key("str", "constant", "schedule kind", choices=SCHEDULE_KINDS),
        "value": _f(1.0, "constant value, or prefactor of the power law", low=0, low_open=True),
        "t0": _f(1.0, "power law: ξ = value·(t + t0)^(−alpha)", low=0, low_open=True),
        "alpha": _f(0.0, "power law exponent", low=0),
        "times": Key("float_list", [0.0], "piecewise: start times (first is 0)"),
        "values": Key("float_list", [1.0], "piecewise: values from each start time"),
    },
    "time": {
        "t_end": _f(10.0, "final time", low=0, low_open=True),
        "save_every": _f(0.1, "interval between density snapshots", low=0, low_open=True),
        "observe_every": _f(0.0, "interval between observables (0: save_every / 10)", low=0),
    },
    "sgd": {
        "neurons": _i(800, "N, also used by risk_finite_n", low=1),
        "eps": _f(1e-4, "ε: SGD step k ↔ time t = kε", low=0, low_open=True),
        "seeds": Key("int_list", [0], "random seeds, one run each"),
        "batch": _i(1, "samples per SGD step", low=1),
        "observe_every": _f(
            0.0, "interval between exact-risk evaluations (0: time.save_every)", low=0
        ),
    },
    "discretisation": {
        "method": Key(
            "str",
            "grid",
            "grid (Eulerian finite volumes) or particles",
            choices=("grid", "particles"),
        ),
    },
    "particles": {
        "r_count": _i(1000, "particles along r (quantile midpoints of the initial law)", low=1),
        "a_count": _i(16, "second layer (and anisotropic): particles along a", low=1),
        "b_count": _i(1, "anisotropic: particles along b (r₁ and r₂ take r_count each)", low=1),
        "rtol": _f(
            1e-6, "relative error tolerance of the particle time stepper", low=0, low_open=True
        ),
        "atol": _f(
            1e-9, "absolute error tolerance of the particle time stepper", low=0, low_open=True
        ),
        "blob_width": _f(
            0.0, "τ > 0, finite d: kernel width of the blob term (0: Silverman on ρ₀)", low=0
        ),
    },
    "grid": {
        "r_min": _f(
            0.0,
            "inner edge of the radial axis (> 0 avoids the stiff entropic drift near 0 when τ > 0)",
            low=0,
        ),
        "r_max": _f(8.0, "outer edge of the radial axis", low=0, low_open=True),
        "r_cells": _i(800, "cells on the radial axis", low=3),
        "r_stretch": _f(0.0, "refinement towards r = 0 (0: uniform)", low=0),
        "a_min": _f(-3.0, "second layer: lower edge of the a axis"),
        "a_max": _f(3.0, "second layer: upper edge of the a axis"),
        "a_cells": _i(96, "second layer: cells on the a axis", low=3),
        "u_min": _f(-1.0, "teacher–student: lower edge of u = <w, w*/|w*|> (v uses r_*)"),
        "u_max": _f(2.0, "teacher–student: upper edge of the u axis"),
        "u_cells": _i(48, "teacher–student: cells on the u axis", low=3),
        "b_min": _f(-2.0, "anisotropic: lower edge of the b axis"),
        "b_max": _f(2.0, "anisotropic: upper edge of the b axis"),
        "b_cells": _i(24, "anisotropic: cells on the b axis (r₁, r₂ take r_cells each)", low=3),
        "boundary_mass_max": _f(
            1e-4, "fail when this much mass sits in the outermost cells", low=0, low_open=True
        ),
    },
    "solver": {
        "order": Key("int", 3, "SSP Runge–Kutta order", choices=(1, 2, 3)),
        "cfl": _f(0.5, "fraction of the positivity step bound", low=0, high=1, low_open=True),
        "limiter": Key("str", "mc", "slope limiter (τ = 0)", choices=("mc", "minmod", "none")),
        "interaction": Key(
            "str", "auto", "nonlocal term", choices=("auto", "lowrank", "matrix", "onthefly")
        ),
        "rtol": _f(0.0, "embedded error control (order 3; 0: CFL only)", low=0),
        "atol": _f(1e-10, "absolute tolerance of the error control", low=0, low_open=True),
        "dt_max": _f(math.inf, "cap on the time step", low=0, low_open=True, allow_inf=True),
    },
    "output": {
        "path": Key("str", "", "output file (default: the config's name with .h5)"),
    },
}
TABLES = {"problem.activation", "dynamics.xi"}


def _check_value(key: str, spec: Key, value: Any) -> Any:
    kind = spec.kind
    if kind == "any":
        return value
    if spec.allow_inf and isinstance(value, str) and value.strip().lower() in ("inf", "infinity"):
        return math.inf
    if spec.allow_inf and isinstance(value, float) and value == math.inf:
        return math.inf
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(key, value, spec.describe())
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigError(key, value, spec.describe())
    elif kind in ("int", "float"):
        ok = isinstance(value, int) and not isinstance(value, bool)
        ok = ok or (kind == "float" and isinstance(value, float))
        if not ok:
            raise ConfigError(key, value, spec.describe())
        if kind == "float":
            value = float(value)
            if math.isnan(value) or (math.isinf(value) and not spec.allow_inf):
                raise ConfigError(key, value, spec.describe())
    elif kind in ("int_list", "float_list"):
        item_ok = (
            (lambda v: isinstance(v, int) and not isinstance(v, bool))
            if kind == "int_list"
            else (
                lambda v: (
                    isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                )
            )
        )
        if not isinstance(value, list) or not value or not all(item_ok(v) for v in value):
            raise ConfigError(key, value, spec.describe() + " (non-empty)")
        return [float(v) for v in value] if kind == "float_list" else list(value)
    if spec.choices and value not in spec.choices:
        raise ConfigError(key, value, spec.describe())
    if isinstance(value, int | float) and not isinstance(value, bool):
        too_low = spec.low is not None and (
            value < spec.low or (spec.low_open and value == spec.low)
        )
        too_high = spec.high is not None and (
            value > spec.high or (spec.high_open and value == spec.high)
        )
        if too_low or too_high:
            raise ConfigError(key, value, spec.describe())
    return value


def _all_keys() -> list[str]:
    return [f"{t}.{k}" for t, keys in SCHEMA.items() for k in keys]


def _unknown(key: str, value: Any) -> ConfigError:
    close = difflib.get_close_matches(key, _all_keys() + list(SCHEMA), n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else "see the README's config table"
    return ConfigError(key, value, f"unknown key; {hint}")


def validate(raw: dict) -> dict:
    """Fill defaults and validate every key; returns the resolved config (a new dict)."""
    resolved: dict[str, Any] = {}
    raw = copy.deepcopy(raw)
    for top, value in raw.items():
        if top not in {t.split(".")[0] for t in SCHEMA}:
            raise _unknown(top, value)
        if not isinstance(value, dict):
            raise ConfigError(top, value, "must be a table ([" + top + "])")
    for table, keys in SCHEMA.items():
        parts = table.split(".")
        node: Any = raw
        for part in parts:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if table == "dynamics.xi" and not isinstance(node, dict):
            continue  # a plain number, checked below
        if not isinstance(node, dict):
            raise ConfigError(table, node, "must be a table")
        out = resolved
        for part in parts:
            out = out.setdefault(part, {})
        for name, value in node.items():
            full = f"{table}.{name}"
            if name in keys:
                out[name] = _check_value(full, keys[name], value)
            elif f"{table}.{name}" not in TABLES:
                raise _unknown(full, value)
        for name, spec in keys.items():
            if name not in out and not (table == "dynamics" and name == "xi"):
                out[name] = copy.deepcopy(spec.default)
    _check_cross(raw, resolved)
    return resolved


def _check_cross(raw: dict, cfg: dict) -> None:
    """Relations between keys, and tables whose meaning depends on a kind."""
    xi = raw.get("dynamics", {}).get("xi", 1.0)
    if isinstance(xi, dict):
        cfg["dynamics"]["xi"] = {k: v for k, v in cfg["dynamics"]["xi"].items()}
        sched = cfg["dynamics"]["xi"]
        if sched["kind"] == "piecewise":
            times, values = sched["times"], sched["values"]
            if times[0] != 0.0 or any(b <= a for a, b in itertools.pairwise(times)):
                raise ConfigError("dynamics.xi.times", times, "must start at 0 and increase")
            if len(values) != len(times) or min(values) <= 0:
                raise ConfigError("dynamics.xi.values", values, "one value > 0 per entry of times")
    else:
        cfg["dynamics"]["xi"] = _check_value(
            "dynamics.xi", Key("float", 1.0, "", low=0, low_open=True), xi
        )
    _check_activation(raw, cfg)
    if cfg["initial"]["dimension"] == 1:
        raise ConfigError("initial.dimension", 1, 'must be 0 (problem.dimension), ≥ 2 or "inf"')
    grid = cfg["grid"]
    _check_interval(grid, "r")
    _check_interval(grid, "a")
    time = cfg["time"]
    if time["save_every"] > time["t_end"]:
        raise ConfigError(
            "time.save_every", time["save_every"], f"must not exceed time.t_end = {time['t_end']}"
        )
    if time["observe_every"] > time["save_every"]:
        raise ConfigError(
            "time.observe_every",
            time["observe_every"],
            f"must not exceed time.save_every = {time['save_every']}",
        )
    if cfg["solver"]["rtol"] > 0 and cfg["solver"]["order"] != 3:
        raise ConfigError(
            "solver.rtol", cfg["solver"]["rtol"], "error control needs solver.order = 3"
        )
    if len(set(cfg["sgd"]["seeds"])) != len(cfg["sgd"]["seeds"]):
        raise ConfigError("sgd.seeds", cfg["sgd"]["seeds"], "seeds must be distinct")
    if cfg["problem"]["kind"] == "anisotropic_gaussians":
        _check_anisotropic(raw, cfg)
    if cfg["problem"]["kind"] == "teacher_student":
        _check_teacher_student(raw, cfg)


def _check_interval(grid: dict, axis: str) -> None:
    """grid.<axis>_min < grid.<axis>_max, or the error naming the upper edge."""
    low, high = grid[f"{axis}_min"], grid[f"{axis}_max"]
    if not low < high:
        raise ConfigError(f"grid.{axis}_max", high, f"must exceed grid.{axis}_min = {low}")


def _kind_defaults(table: dict, given: dict, defaults: dict) -> None:
    """A problem kind's own defaults for the keys of ``table`` the config file did not set."""
    for key, value in defaults.items():
        table[key] = given.get(key, value)


def _check_teacher_student(raw: dict, cfg: dict) -> None:
    """Teacher–student: a dense kernel on a (u, v) grid; the teacher shares σ."""
    problem, grid = cfg["problem"], cfg["grid"]
    if problem["second_layer"]:
        raise ConfigError(
            "problem.second_layer", True, "teacher_student trains w only (σ(<w, x>) students)"
        )
    if problem["dimension"] != math.inf and problem["dimension"] < 3:
        raise ConfigError("problem.dimension", problem["dimension"], 'must be ≥ 3 or "inf"')
    if cfg["discretisation"]["method"] != "grid":
        raise ConfigError(
            "discretisation.method",
            cfg["discretisation"]["method"],
            "teacher_student has a dense kernel (no factorisation for particles): use 'grid'",
        )
    _kind_defaults(grid, raw.get("grid", {}), TEACHER_STUDENT_GRID_DEFAULTS)
    _check_interval(grid, "u")
    cells = grid["u_cells"] * grid["r_cells"]
    if cells > MAX_DENSE_CELLS:
        raise ConfigError(
            "grid.u_cells",
            grid["u_cells"],
            f"u_cells × r_cells = {cells}: the dense kernel holds (cells)² numbers; at most "
            f"{MAX_DENSE_CELLS} cells",
        )
    if cfg["dynamics"]["tau"] > 0 and grid["r_min"] == 0:
        raise ConfigError(
            "grid.r_min",
            0.0,
            "with τ > 0 the reference measure v^(d−2) needs the v axis to start above 0",
        )


def _check_anisotropic(raw: dict, cfg: dict) -> None:
    """The variable-selection problem: a ReLU neuron a·ReLU(<w, x> + b), no noise, particles."""
    problem = cfg["problem"]
    given = raw.get("problem", {})
    kind = given.get("activation", {}).get("kind", "relu")
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
            "problem.informative", problem["informative"], f"must be below problem.dimension = {d}"
        )
    if cfg["dynamics"]["tau"] > 0:
        raise ConfigError(
            "dynamics.tau", cfg["dynamics"]["tau"], "anisotropic_gaussians is solved with τ = 0"
        )
    method = raw.get("discretisation", {}).get("method", "particles")
    if method != "particles":
        raise ConfigError(
            "discretisation.method",
            method,
            "anisotropic_gaussians has 4 reduced coordinates (a, b, r1, r2): use 'particles'",
        )
    cfg["discretisation"]["method"] = "particles"
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
    _kind_defaults(grid, raw.get("grid", {}), ANISOTROPIC_GRID_DEFAULTS)
    initial = cfg["initial"]
    counts = {
        "r_count": 8,
        "a_count": 8 if initial["a_std"] > 0 else 1,
        "b_count": 8 if initial["b_std"] > 0 else 1,
    }
    _kind_defaults(part, raw.get("particles", {}), counts)
    _check_interval(grid, "b")
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


def _check_activation(raw: dict, cfg: dict) -> None:
    """Each kind takes its own parameters: ramp t1, t2, s1, s2; piecewise knots, values."""
    act = cfg["problem"]["activation"]
    given = raw.get("problem", {}).get("activation", {})
    own = {"ramp": ("t1", "t2", "s1", "s2"), "piecewise": ("knots", "values")}
    for kind, names in own.items():
        extra = [k for k in names if k in given]
        if act["kind"] != kind and extra:
            raise ConfigError(
                f"problem.activation.{extra[0]}",
                given[extra[0]],
                f"only kind = {kind!r} takes {', '.join(names)} (kind is {act['kind']!r})",
            )
    if act["kind"] == "ramp":
        if not act["t1"] < act["t2"]:
            raise ConfigError("problem.activation.t2", act["t2"], f"must exceed t1 = {act['t1']}")
        cfg["problem"]["activation"] = {k: act[k] for k in ("kind", *own["ramp"])}
    elif act["kind"] == "piecewise":
        knots, values = act["knots"], act["values"]
        if len(knots) < 2 or any(b <= a for a, b in itertools.pairwise(knots)):
            raise ConfigError("problem.activation.knots", knots, "≥ 2 knots, strictly increasing")
        if len(values) != len(knots):
            raise ConfigError("problem.activation.values", values, "one value per knot")
        cfg["problem"]["activation"] = {"kind": "piecewise", "knots": knots, "values": values}
    else:
        cfg["problem"]["activation"] = {"kind": act["kind"]}


def parse_override(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` → (key, value); VALUE is read as a TOML value, else as a plain string."""
    if "=" not in text:
        raise ConfigError(text, None, "--set takes KEY=VALUE, e.g. --set problem.delta=0.6")
    key, value = (s.strip() for s in text.split("=", 1))
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return key, parsed


def set_dotted(raw: dict, key: str, value: Any) -> dict:
    """A copy of the raw config with the dotted ``key`` set to ``value``."""
    raw = copy.deepcopy(raw)
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(key, value, f"'{part}' is not a table")
    node[parts[-1]] = copy.deepcopy(value)
    return raw


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Set the dotted keys of ``KEY=VALUE`` texts in a copy of the raw config."""
    for text in overrides:
        raw = set_dotted(raw, *parse_override(text))
    return copy.deepcopy(raw)


def read_toml(path: str | Path) -> dict:
    """Parse a TOML file; a syntax error becomes a ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("CONFIG", str(path), "no such file")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("CONFIG", str(path), f"not valid TOML ({exc})") from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> dict:
    """Read, override and validate a config file; returns the resolved config."""
    return validate(apply_overrides(read_toml(path), overrides or []))


def to_toml(cfg: dict) -> str:
    """Serialise a resolved config (tables of scalars and lists) as TOML text."""

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return repr(v)
        if isinstance(v, int):
            return str(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        raise TypeError(f"cannot write {v!r} to TOML")

    lines: list[str] = []

    def table(name: str, node: dict) -> None:
        plain = {k: v for k, v in node.items() if not isinstance(v, dict)}
        subs = {k: v for k, v in node.items() if isinstance(v, dict)}
        if plain:
            lines.append(f"[{name}]")
            lines.extend(f"{k} = {scalar(v)}" for k, v in plain.items())
            lines.append("")
        for k, v in subs.items():
            table(f"{name}.{k}", v)

    for name, node in cfg.items():
        table(name, node)
    return "\n".join(lines)


def schema_markdown() -> str:
    """The table of every config key (key, default, allowed, meaning) for the README."""
    rows = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for table, keys in SCHEMA.items():
        for name, spec in keys.items():
            default = spec.default
            if isinstance(default, bool):
                default = str(default).lower()
            elif isinstance(default, str):
                default = f'"{default}"'
            elif isinstance(default, float) and math.isinf(default):
                default = "inf"
            allowed = spec.describe().removeprefix("must be ").removeprefix("allowed: ")
            doc = spec.doc.replace("|", "\\|")
            rows.append(f"| `{table}.{name}` | `{default}` | {allowed} | {doc} |")
    return "\n".join(rows)


def dimension_value(cfg: dict) -> float:
    """problem.dimension as a float (``math.inf`` for "inf")."""
    return float(cfg["problem"]["dimension"])
