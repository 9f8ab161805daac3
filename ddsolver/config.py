r"""Experiment configuration: TOML in, validated nested dict out, nothing ever evaluated.

:data:`SCHEMA` (:mod:`ddsolver.config_keys`, re-exported here) lists every key with its type,
default and allowed values; it is also the config reference of the docs. This module checks a
config against it: :func:`load_config` reads a file, applies ``--set``
overrides and validates *everything* before any compute. A mistake raises
:class:`ConfigError` naming the key, the value and what is allowed (unknown keys get a
"did you mean" suggestion), and refuses every key the run's kind does not take. Reading and
writing the TOML text is :mod:`ddsolver.toml_io` (its names are re-exported here).
"""

from __future__ import annotations

import copy
import difflib
import itertools
import math
from pathlib import Path
from typing import Any

from .config_keys import ACTIVATION_KINDS as ACTIVATION_KINDS
from .config_keys import (
    MAX_SEED,
    MAX_SEEDS,
    MAX_SGD_STEPS,
    MAX_SNAPSHOTS,
    MAX_STOPS,
    SCHEMA,
    TABLES,
)
from .config_keys import SCHEDULE_KINDS as SCHEDULE_KINDS
from .config_keys import TIME_SPACINGS as TIME_SPACINGS
from .kinds import SPECS
from .kinds.spec import ACTIVATION_PARAMETERS, SPACING_KEYS
from .schema import ConfigError, Key, check_interval
from .schema import dimension_value as dimension_value
from .status import MAX_STEPS
from .toml_io import MAX_KEY_DEPTH as MAX_KEY_DEPTH
from .toml_io import apply_overrides as apply_overrides
from .toml_io import parse_override as parse_override
from .toml_io import read_toml as read_toml
from .toml_io import set_dotted as set_dotted
from .toml_io import to_toml as to_toml


def _check_value(key: str, spec: Key, value: Any) -> Any:
    kind = spec.kind
    if kind == "any":  # a copy: the resolved table is filled in, the given one stays as given
        return copy.deepcopy(value)
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
        # beyond int64 and past any size; a dimension ("inf" allowed) is used as a float
        if isinstance(value, int) and abs(value) > (1e300 if spec.allow_inf else MAX_SEED):
            bound = 'up to 1e300, else "inf"' if spec.allow_inf else "integers within ±2^63"
            raise ConfigError(key, value, spec.describe() + f" ({bound})")
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
        empty_ok = spec.default == []  # an optional list (its default is empty)
        if not isinstance(value, list) or not all(
            item_ok(v) and not (isinstance(v, int) and abs(v) > MAX_SEED) for v in value
        ):
            raise ConfigError(key, value, spec.describe())
        if not value and not empty_ok:
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
    hint = f"did you mean '{close[0]}'?" if close else "see the config reference (docs/config.md)"
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
    check_interval(grid, "r")
    check_interval(grid, "a")
    if cfg["solver"]["limiter"] == "weno5" and grid["r_stretch"] > 0:
        raise ConfigError(
            "solver.limiter",
            "weno5",
            f"needs uniform cells: grid.r_stretch = 0, not {grid['r_stretch']}",
        )
    if cfg["solver"]["rtol"] > 0 and cfg["solver"]["order"] != 3:
        raise ConfigError(
            "solver.rtol", cfg["solver"]["rtol"], "error control needs solver.order = 3"
        )
    _check_stops(cfg)
    _check_sgd(cfg)
    SPECS[cfg["problem"]["kind"]].check(raw, cfg)
    _refuse_inapplicable(raw, cfg)
    steps = cfg["time"]["t_end"] / cfg["solver"]["dt_max"]
    if steps > MAX_STEPS and "dt_max" in raw.get("solver", {}):
        raise ConfigError(
            "solver.dt_max", cfg["solver"]["dt_max"],
            f"t_end / dt_max = {steps:.3g} steps; the run could not end (at most {MAX_STEPS:.0e})",
        )  # fmt: skip


def given_keys(raw: dict) -> dict[str, Any]:
    """The dotted keys a raw config sets, with their values (a sub-table's keys one by one)."""
    out: dict[str, Any] = {}
    for table in SCHEMA:
        node: Any = raw
        for part in table.split("."):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if not isinstance(node, dict):  # dynamics.xi as a number
            continue
        for name, value in node.items():
            full = f"{table}.{name}"
            if full not in TABLES or not isinstance(value, dict):
                out[full] = value
    return out


def is_default(key: str, value: Any) -> bool:
    """Whether ``value`` is the schema's default of the dotted ``key``."""
    table, name = key.rsplit(".", 1)
    spec = SCHEMA[table][name]
    if key == "dynamics.xi":
        spec = Key("float", 1.0, "")
    return _check_value(key, spec, value) == spec.default


def is_complete(given: dict[str, Any]) -> bool:
    """Whether the keys a config sets (:func:`given_keys`) are every key of the schema, as in
    a resolved config (a run file's stored config, ``Run.config``); a user's never are."""
    return all(
        f"{table}.{name}" in given
        for table, names in SCHEMA.items()
        if table not in TABLES
        for name in names
        if f"{table}.{name}" not in TABLES and f"{table}.{name}" != "dynamics.xi"
    )


def _refuse_inapplicable(raw: dict, cfg: dict) -> None:
    """Refuse every key the run's kind does not take.

    A key that changes neither ``ddsolver run`` nor ``ddsolver sgd`` of this config would give
    a plausible, unchanged result — even at its default, which is another kind's (the
    committee's two teacher units are not a teacher–student run's one). A complete config (a
    resolved one, which lists every key) re-validates as it is: its keys that do not apply
    must then hold their defaults.
    """
    kind = SPECS[cfg["problem"]["kind"]]
    applicable = kind.applicable_keys(cfg)
    given = given_keys(raw)
    complete = is_complete(given)
    for key, value in given.items():
        if key in applicable or (complete and is_default(key, value)):
            continue
        table = key.rsplit(".", 1)[0]
        same = sorted(k.rsplit(".", 1)[1] for k in applicable if k.rsplit(".", 1)[0] == table)
        takes = f"its [{table}] keys: {', '.join(same)}" if same else f"it takes no [{table}] keys"
        spacing = cfg["time"]["spacing"]
        if any(key in keys for keys in SPACING_KEYS.values()):  # a key of the other spacing
            raise ConfigError(
                key, value, f"does not apply with time.spacing = {spacing!r}; {takes}"
            )
        reason = kind.inapplicable_reason(key, cfg)
        if reason:
            raise ConfigError(key, value, f"does not apply: {reason}; {takes}")
        method = cfg["discretisation"]["method"]
        raise ConfigError(
            key,
            value,
            f"does not apply to problem.kind = {kind.name!r} with discretisation.method = "
            f"{method!r}; {takes}",
        )


def applicable_config(cfg: dict) -> dict:
    """The resolved ``cfg`` with only the keys its kind takes (what ``ddsolver info`` shows)."""
    applicable = SPECS[cfg["problem"]["kind"]].applicable_keys(cfg)

    def keep(node: dict, prefix: str) -> dict:
        out = {}
        for name, value in node.items():
            key = f"{prefix}{name}"
            if isinstance(value, dict):
                sub = keep(value, key + ".")
                if sub:
                    out[name] = sub
            elif key in applicable:
                out[name] = value
        return out

    return keep(cfg, "")


def _check_stops(cfg: dict) -> None:
    """A run's snapshots and observations must be countable (and fit a file)."""
    spacing = cfg["time"]["spacing"]
    if spacing == "log":
        _check_log_stops(cfg["time"])
    elif spacing == "list":
        _check_listed_stops(cfg["time"])
    else:
        _check_linear_stops(cfg["time"])


def _check_listed_stops(time: dict) -> None:
    at = time["at"]
    if not at or at[0] <= 0 or any(b <= a for a, b in itertools.pairwise(at)):
        raise ConfigError("time.at", at, "must be a non-empty list of increasing times > 0")
    if at[-1] > time["t_end"]:
        raise ConfigError("time.at", at, f"its times must not exceed time.t_end = {time['t_end']}")
    if len(at) + 2 > MAX_SNAPSHOTS:
        raise ConfigError("time.at", f"{len(at)} times", f"at most {MAX_SNAPSHOTS - 2}")


def _check_linear_stops(time: dict) -> None:
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
    snapshots = time["t_end"] / time["save_every"]
    if snapshots > MAX_SNAPSHOTS:
        raise ConfigError(
            "time.save_every",
            time["save_every"],
            f"time.t_end / time.save_every = {snapshots:.3g} snapshots; at most {MAX_SNAPSHOTS}",
        )
    observe = time["observe_every"] or time["save_every"] / 10.0
    if time["t_end"] / observe > MAX_STOPS:
        key = "time.observe_every" if time["observe_every"] else "time.t_end"
        raise ConfigError(
            key,
            time["observe_every"] or time["t_end"],
            f"time.t_end / observe_every = {time['t_end'] / observe:.3g} observations; "
            f"at most {MAX_STOPS}",
        )


def log_stop_count(time: dict, per_decade: int) -> float:
    """How many stop times ``per_decade`` log-spaced from ``time.first`` to ``time.t_end``
    make at most: t = 0, k = 0 … ⌊n·log₁₀(t_end / first)⌋, and t_end."""
    return per_decade * math.log10(time["t_end"] / time["first"]) + 3


def _check_per_decade(key: str, count: int, save_per_decade: int) -> None:
    if count % save_per_decade:
        raise ConfigError(
            key,
            count,
            f"must be 0 or a multiple of time.save_per_decade = {save_per_decade}, so that "
            "every snapshot is also an observation",
        )


def _check_log_stops(time: dict) -> None:
    if time["first"] > time["t_end"]:
        raise ConfigError(
            "time.first", time["first"], f"must not exceed time.t_end = {time['t_end']}"
        )
    save = time["save_per_decade"]
    _check_per_decade("time.observe_per_decade", time["observe_per_decade"], save)
    if log_stop_count(time, save) > MAX_SNAPSHOTS:
        raise ConfigError(
            "time.save_per_decade",
            save,
            f"{log_stop_count(time, save):.3g} snapshots from time.first = {time['first']} to "
            f"time.t_end = {time['t_end']}; at most {MAX_SNAPSHOTS}",
        )
    observe = time["observe_per_decade"] or 10 * save
    if log_stop_count(time, observe) > MAX_STOPS:
        raise ConfigError(
            "time.observe_per_decade",
            time["observe_per_decade"],
            f"{log_stop_count(time, observe):.3g} observations; at most {MAX_STOPS}",
        )


def _check_sgd(cfg: dict) -> None:
    """Seeds numpy accepts; SGD observations no sparser than snapshots."""
    sgd, time = cfg["sgd"], cfg["time"]
    seeds = sgd["seeds"]
    if len(seeds) > MAX_SEEDS:
        raise ConfigError(
            "sgd.seeds", seeds, f"{len(seeds)} seeds; at most {MAX_SEEDS} in one run (sweep more)"
        )
    if len(set(seeds)) != len(seeds):
        raise ConfigError("sgd.seeds", seeds, "seeds must be distinct")
    if not all(0 <= s <= MAX_SEED for s in seeds):
        raise ConfigError("sgd.seeds", seeds, "seeds are integers in [0, 2^63 − 1]")
    if time["spacing"] == "log":
        _check_per_decade(
            "sgd.observe_per_decade", sgd["observe_per_decade"], time["save_per_decade"]
        )
    elif time["spacing"] == "linear" and sgd["observe_every"] > time["save_every"]:
        raise ConfigError(
            "sgd.observe_every",
            sgd["observe_every"],
            f"must not exceed time.save_every = {time['save_every']}",
        )


def check_sgd_run(cfg: dict) -> None:
    """What ``ddsolver sgd`` needs beyond a valid config: a finite d and a usable step ε."""
    sgd, time = cfg["sgd"], cfg["time"]
    if cfg["problem"]["dimension"] == math.inf:
        raise ConfigError("problem.dimension", "inf", "SGD needs a finite dimension")
    if cfg["initial"]["dimension"] not in (0, cfg["problem"]["dimension"]):
        raise ConfigError(
            "initial.dimension",
            cfg["initial"]["dimension"],
            "SGD draws its initial weights in problem.dimension; use 0",
        )
    if time["spacing"] == "log":
        _check_log_steps(sgd, time)
    elif time["spacing"] == "list":
        stops = [0.0, *time["at"], time["t_end"]]
        closest = min(b - a for a, b in itertools.pairwise(stops) if b > a)
        if closest < sgd["eps"]:
            raise ConfigError(
                "time.at",
                time["at"],
                f"two of its times are {closest:.3g} apart, less than "
                f"one SGD step (sgd.eps = {sgd['eps']:g})",
            )
    else:
        interval = sgd["observe_every"] or time["save_every"]
        if sgd["eps"] > interval:
            raise ConfigError(
                "sgd.eps",
                sgd["eps"],
                f"must not exceed the interval between observations ({interval}): SGD would "
                "take no step between them",
            )
    if time["t_end"] / sgd["eps"] > MAX_SGD_STEPS:
        raise ConfigError(
            "sgd.eps", sgd["eps"], f"t_end / eps = {time['t_end'] / sgd['eps']:.3g} steps"
        )


def _check_log_steps(sgd: dict, time: dict) -> None:
    """Log-spaced observations of SGD at least one step ε apart: the closest are the first two,
    t₀ = time.first and t₀·10^(1/n) (n observations per decade), and 0 and t₀."""
    per_decade = sgd["observe_per_decade"] or time["save_per_decade"]
    ratio = min(1.0, 10.0 ** (1.0 / per_decade) - 1.0)
    closest = time["first"] * ratio
    if closest < sgd["eps"]:
        raise ConfigError(
            "time.first",
            time["first"],
            f"its log-spaced observations ({per_decade} per decade) start {closest:.3g} apart, "
            f"less than one SGD step (sgd.eps = {sgd['eps']:g}); take time.first ≥ "
            f"{_round_up(sgd['eps'] / ratio):g} or fewer observations per decade",
        )


def _round_up(x: float, digits: int = 3) -> float:
    """x rounded up to ``digits`` significant digits (a bound a user can type and meet)."""
    quantum = 10.0 ** (math.floor(math.log10(x)) - digits + 1)
    return math.ceil(x / quantum * (1 - 1e-12)) * quantum


def _check_activation(raw: dict, cfg: dict) -> None:
    """Each kind takes its own parameters: ramp t1, t2, s1, s2; piecewise knots, values; cubic
    coefficients."""
    act = cfg["problem"]["activation"]
    given = raw.get("problem", {}).get("activation", {})
    own = ACTIVATION_PARAMETERS
    for kind, names in own.items():
        extra = [k for k in names if k in given]
        if act["kind"] != kind and extra:
            raise ConfigError(
                f"problem.activation.{extra[0]}",
                given[extra[0]],
                f"only kind = {kind!r} takes {', '.join(names)} (kind is {act['kind']!r}); "
                f"to replace the whole table: --set 'problem.activation={{kind = "
                f'"{act["kind"]}"}}\'',
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
    elif act["kind"] == "cubic":
        coefs = act["coefficients"]
        if not 1 <= len(coefs) <= 4 or not any(coefs[1:]):
            raise ConfigError(
                "problem.activation.coefficients", coefs,
                "1 to 4 numbers c_0 … c_3, not all of c_1 … c_3 zero",
            )  # fmt: skip
        cfg["problem"]["activation"] = {"kind": "cubic", "coefficients": coefs}
    else:
        cfg["problem"]["activation"] = {"kind": act["kind"]}


def resolve_paths(raw: dict, where: Path) -> dict:
    """The file-path keys (``Key.path``) of a raw config, relative ones taken against
    ``where`` (a config file's directory), in place; returns ``raw``. Empty values (no file)
    and values of the wrong type (refused by :func:`validate`) are left as they are."""
    for table, keys in SCHEMA.items():
        node: Any = raw
        for part in table.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        for name, spec in keys.items():
            value = node.get(name)
            if spec.path and isinstance(value, str) and value:
                given = Path(value).expanduser()
                node[name] = str(given if given.is_absolute() else where / given)
    return raw


def read_config_file(path: str | Path) -> dict:
    """A config file's raw tables, its file paths (``problem.data``, …) relative to its own
    directory, so that a config runs the same from any working directory."""
    return resolve_paths(read_toml(path), Path(path).resolve().parent)


def load_config(
    path: str | Path, overrides: list[str] | None = None, unset: list[str] | None = None
) -> dict:
    """Read, override and validate a config file; returns the resolved config. Paths in the
    file are relative to its directory; paths given by ``--set`` to the working directory.
    ``unset``: dotted keys removed from the file first (``--unset``)."""
    return validate(apply_overrides(read_config_file(path), overrides or [], unset))


def schema_markdown() -> str:
    """The table of every config key (key, default, allowed, meaning) for the docs."""
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
            doc = spec.doc.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
            rows.append(f"| `{table}.{name}` | `{default}` | {allowed} | {doc} |")
    return "\n".join(rows)
