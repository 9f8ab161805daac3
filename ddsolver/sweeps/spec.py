r"""Sweep files: a base config, the keys to vary, and the points they make.

A sweep file (TOML) looks like::

    base = "quickstart.toml"            # relative to the sweep file
    verbs = ["run", "sgd"]              # per point: the PDE, SGD, or both
    risk_times = [1.0, 2.0]             # summary: risk at these times
    final = ["test_error"]              # summary: last value of these observables
    zip = [["sgd.neurons", "sgd.eps"]]  # axes that vary together (the rest are crossed)

    [set]                               # fixed overrides of every point
    "time.t_end" = 2.0

    [axes]                              # dotted config key = list or range
    "problem.delta" = [0.5, 0.6, 0.8]
    "sgd.neurons" = [200, 800]
    "sgd.eps" = { start = 1e-4, stop = 2.5e-5, num = 2, log = true }

A range is ``{start, stop, num}`` (evenly spaced, both ends included), the same with
``log = true`` (geometric), or ``{start, stop, step}`` (``stop`` included when the steps
land on it). The points are the Cartesian product of the axes, in file order (the last
axis varies fastest), except that the axes of one ``zip`` group advance together.

The file's *shape* (unknown keys, an axis that names no config key, ranges that do not
make sense) is checked before anything runs and refused with :class:`ConfigError`. The
*values* are checked per point: a point whose config is invalid is reported as failed
with the validation message and the others run.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import SCHEMA, ConfigError, read_config_file, read_toml, set_dotted, to_toml, validate
from ..toml_io import check_nesting

VERBS = ("run", "sgd")
TOP_KEYS = ("base", "verbs", "risk_times", "final", "zip", "set", "axes")
RANGE_KEYS = {"start", "stop", "num", "step", "log"}
#: Most points of one sweep (and values of one axis): each point is a run and a file.
MAX_POINTS = 10_000
HASH_LENGTH = 16


@dataclass
class Point:
    """One point of a sweep: its axis values, its resolved config or why it has none."""

    index: int
    values: dict[str, Any]
    config: dict | None = None
    error: str = ""
    key: str = field(default="")

    @property
    def label(self) -> str:
        """``key=value`` pairs of the swept axes, for messages."""
        return ", ".join(f"{k}={v!r}" for k, v in self.values.items())


@dataclass
class SweepSpec:
    """A parsed sweep file (see the module docstring)."""

    path: Path | None
    base_path: Path | None
    base_text: str
    base: dict
    verbs: tuple[str, ...]
    risk_times: list[float]
    fixed: dict[str, Any]
    axes: dict[str, list]
    zip_groups: list[list[str]]
    text: str
    final: list[str] = field(default_factory=list)

    def points(self) -> list[Point]:
        """Every point, with its resolved config (or the validation error)."""
        factors: list[list[str]] = []
        grouped = {key for group in self.zip_groups for key in group}
        for key in self.axes:
            if key not in grouped:
                factors.append([key])
            else:
                group = next(g for g in self.zip_groups if key in g)
                if group not in factors:
                    factors.append(group)
        columns = [list(zip(*(self.axes[k] for k in group), strict=True)) for group in factors]
        points = []
        for index, combo in enumerate(itertools.product(*columns)):
            values = {
                k: v
                for group, vals in zip(factors, combo, strict=True)
                for k, v in zip(group, vals, strict=True)
            }
            values = {k: values[k] for k in self.axes}  # file order
            points.append(self._resolve(index, values))
        return points

    def _resolve(self, index: int, values: dict[str, Any]) -> Point:
        raw = self.base
        for key, value in {**self.fixed, **values}.items():
            raw = set_dotted(raw, key, value)
        point = Point(index, values)
        try:
            cfg = validate(raw)
            if "sgd" in self.verbs and cfg["problem"]["dimension"] == math.inf:
                raise ConfigError("problem.dimension", "inf", "SGD needs a finite dimension")
        except ConfigError as exc:
            point.error = str(exc)
            return point
        cfg["output"]["path"] = ""  # the sweep names the files
        point.config = cfg
        point.key = config_hash(cfg)
        return point


def config_hash(cfg: dict) -> str:
    """First 16 hex digits of the SHA-256 of the resolved config's TOML text."""
    return hashlib.sha256(to_toml(cfg).encode()).hexdigest()[:HASH_LENGTH]


def _config_key_exists(key: str) -> bool:
    table, _, name = key.rpartition(".")
    return (table in SCHEMA and name in SCHEMA[table]) or key in SCHEMA


def _expand_range(key: str, spec: dict) -> list:
    where = f"axes.{key}"
    unknown = set(spec) - RANGE_KEYS
    if unknown:
        raise ConfigError(
            where,
            spec,
            f"unknown range key {sorted(unknown)[0]!r}; a range is "
            "{start, stop, num[, log]} or {start, stop, step}",
        )
    numbers = {k: v for k, v in spec.items() if k != "log"}
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in numbers.values()
    ):
        raise ConfigError(where, spec, "start, stop, num and step must be finite numbers")
    if "start" not in spec or "stop" not in spec or ("num" in spec) == ("step" in spec):
        raise ConfigError(where, spec, "a range needs start, stop and exactly one of num, step")
    start, stop = spec["start"], spec["stop"]
    if "num" in spec:
        num = spec["num"]
        if not isinstance(num, int) or not 1 <= num <= MAX_POINTS:
            raise ConfigError(where, spec, f"num must be an integer in [1, {MAX_POINTS}]")
        if spec.get("log", False):
            if start <= 0 or stop <= 0:
                raise ConfigError(where, spec, "a log range needs start > 0 and stop > 0")
            values = np.geomspace(start, stop, num)
        else:
            values = np.linspace(start, stop, num)
    else:
        step = spec["step"]
        if "log" in spec:
            raise ConfigError(where, spec, "log goes with num, not with step")
        if step == 0 or (stop - start) / step < 0:
            raise ConfigError(where, spec, "step must be non-zero and point from start to stop")
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > MAX_POINTS:
            raise ConfigError(where, spec, f"{count} values; at most {MAX_POINTS}")
        values = start + step * np.arange(count)
    return _typed(key, [float(v) for v in values])


def _typed(key: str, values: list[float]) -> list:
    """Range values as integers where the config key takes integers."""
    table, _, name = key.rpartition(".")
    spec = SCHEMA.get(table, {}).get(name)
    if spec is None or spec.kind != "int":
        return values
    rounded = [round(v) for v in values]
    if any(abs(r - v) > 1e-9 * max(1.0, abs(v)) for r, v in zip(rounded, values, strict=True)):
        raise ConfigError(
            f"axes.{key}", values, "this key takes integers; the range gives fractions"
        )
    return rounded


def read_sweep(path: str | Path) -> SweepSpec:
    """Parse and check the shape of a sweep file (values are checked per point)."""
    path = Path(path)
    return parse_sweep(read_toml(path), path.parent, path.read_text(), path)


def sweep_from_dict(sweep: dict) -> SweepSpec:
    """A sweep given as a dict of the sweep file's tables (``base`` a config file, relative to
    the current directory, or a config dict), checked as a file is."""
    if not isinstance(sweep, dict):
        raise ConfigError("SWEEP", sweep, "a sweep file's path or a dict of its tables")
    check_nesting(sweep, "SWEEP", "(a dict)")
    return parse_sweep(sweep, Path.cwd(), _sweep_text(sweep), None)


def _sweep_text(sweep: dict) -> str:
    """A dict sweep as the TOML text of a sweep file (stored in the summary)."""

    def value(v: Any) -> str:
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(str(k))} = {value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        return repr(v) if isinstance(v, float) else str(v)

    lines = [f"{k} = {value(v)}" for k, v in sweep.items() if not isinstance(v, dict)]
    for name, table in sweep.items():
        if isinstance(table, dict) and name != "base":
            lines += ["", f"[{name}]"] + [f"{json.dumps(k)} = {value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def parse_sweep(raw: dict, where: Path, text: str, path: Path | None) -> SweepSpec:
    """Check the shape of a sweep's tables (``base`` relative to ``where``, or a config dict);
    ``text`` is what the summary stores of it."""
    for key, value in raw.items():
        if key not in TOP_KEYS:
            raise ConfigError(key, value, "unknown sweep key; allowed: " + ", ".join(TOP_KEYS))
    given = raw.get("base")
    if isinstance(given, dict):
        check_nesting(given, "base", "(a dict)")
        try:
            base_text = to_toml(given)
        except (AttributeError, TypeError, ValueError):
            raise ConfigError("base", given, "a config dict: tables of keys") from None
        base, base_path = copy.deepcopy(given), None
    elif isinstance(given, str | Path):
        base_path = (where / given).resolve()
        base = read_config_file(base_path)
        base_text = base_path.read_text()
    else:
        raise ConfigError(
            "base", given, "the base config file (a path, relative to the sweep file) or a dict"
        )
    verbs = raw.get("verbs", ["run"])
    if (
        not isinstance(verbs, list)
        or not verbs
        or not set(verbs) <= set(VERBS)
        or len(set(verbs)) != len(verbs)
    ):
        raise ConfigError("verbs", verbs, "a list of distinct verbs from 'run', 'sgd'")
    times = raw.get("risk_times", [])
    if not isinstance(times, list) or not all(
        isinstance(t, int | float) and not isinstance(t, bool) and t >= 0 for t in times
    ):
        raise ConfigError("risk_times", times, "a list of times ≥ 0")
    final = raw.get("final", [])
    if not isinstance(final, list) or not all(
        isinstance(n, str) and n.isidentifier() and n != "time" for n in final
    ):
        raise ConfigError("final", final, "a list of observable names (e.g. test_error)")
    fixed = raw.get("set", {})
    axes_raw = raw.get("axes", {})
    for table, name in ((fixed, "set"), (axes_raw, "axes")):
        if not isinstance(table, dict):
            raise ConfigError(name, table, "must be a table of dotted config keys")
    if not axes_raw:
        raise ConfigError("axes", axes_raw, "name at least one config key to vary")
    axes: dict[str, list] = {}
    for key, value in {**fixed, **axes_raw}.items():
        where = ("axes." if key in axes_raw else "set.") + key
        if isinstance(value, dict) and key in fixed and key not in axes_raw:
            continue  # a table value (e.g. dynamics.xi), checked per point
        if not _config_key_exists(key):
            raise ConfigError(
                where, value, "names no config key (see the config reference, docs/config.md)"
            )
        if key.startswith("output."):
            raise ConfigError(where, value, "the sweep names its output files")
    for key, value in axes_raw.items():
        if isinstance(value, dict):
            axes[key] = _expand_range(key, value)
        elif isinstance(value, list) and value:
            axes[key] = value
        else:
            raise ConfigError(f"axes.{key}", value, "a non-empty list of values or a range table")
    overlap = set(axes) & set(fixed)
    if overlap:
        key = sorted(overlap)[0]
        raise ConfigError(f"set.{key}", fixed[key], "is also swept in [axes]; keep one")
    groups = raw.get("zip", [])
    if not isinstance(groups, list) or not all(isinstance(g, list) and len(g) >= 2 for g in groups):
        raise ConfigError("zip", groups, "a list of groups, each a list of ≥ 2 axis keys")
    seen: set[str] = set()
    for group in groups:
        for key in group:
            if key not in axes:
                raise ConfigError("zip", key, "every key of a zip group must be an axis in [axes]")
            if key in seen:
                raise ConfigError("zip", key, "an axis may be in one zip group only")
            seen.add(key)
        lengths = {len(axes[k]) for k in group}
        if len(lengths) != 1:
            raise ConfigError(
                "zip", group, f"zipped axes need equal lengths, got {sorted(lengths)}"
            )
    zipped = {key for group in groups for key in group}
    count = math.prod(len(axes[k]) for k in axes if k not in zipped) * math.prod(
        len(axes[group[0]]) for group in groups
    )
    if count > MAX_POINTS:
        raise ConfigError("axes", f"{count} points", f"a sweep has at most {MAX_POINTS} points")
    return SweepSpec(
        path=path,
        base_path=base_path,
        base_text=base_text,
        base=base,
        verbs=tuple(verbs),
        risk_times=[float(t) for t in times],
        fixed=fixed,
        axes=axes,
        zip_groups=groups,
        text=text,
        final=list(dict.fromkeys(final)),
    )
