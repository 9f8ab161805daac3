r"""Experiment configuration: TOML in, validated nested dict out, nothing ever evaluated.

:data:`SCHEMA` lists every key with its type, default and allowed values; it is also the
config reference of the docs. :func:`load_config` reads a file, applies ``--set``
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

from .kinds import SPECS
from .kinds.spec import ACTIVATION_PARAMETERS, SPACING_KEYS
from .schema import (
    EXTENT,
    MAGNITUDE,
    WEIGHT_MAX,
    ConfigError,
    Key,
    check_interval,
    float_key,
    int_key,
)
from .schema import dimension_value as dimension_value
from .status import MAX_STEPS
from .toml_io import MAX_KEY_DEPTH as MAX_KEY_DEPTH
from .toml_io import apply_overrides as apply_overrides
from .toml_io import parse_override as parse_override
from .toml_io import read_toml as read_toml
from .toml_io import set_dotted as set_dotted
from .toml_io import to_toml as to_toml

_f, _i = float_key, int_key

#: ``time.spacing``: stop times at multiples of an interval, a fixed count per decade, or listed.
TIME_SPACINGS = ("linear", "log", "list")

ACTIVATION_KINDS = (
    "ramp", "relu", "erf", "tanh", "sigmoid", "piecewise", "square", "cubic", "erf_sqrt2",
    "linear",
)  # fmt: skip
SCHEDULE_KINDS = ("constant", "power", "piecewise")

SCHEMA: dict[str, dict[str, Key]] = {
    "problem": {
        "kind": Key(
            "str",
            "isotropic_gaussians",
            "data law and network (see the docs' problem pages)",
            choices=tuple(SPECS),
        ),
        "dimension": _i(40, 'input dimension d; "inf" for the d → ∞ kernel', low=1, allow_inf=True),
        "delta": _f(
            0.8, "Δ: x | y ~ N(0, (1 + yΔ)² I_d)", low=0, high=1, low_open=True, high_open=True
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
        "coefficients": Key(
            "float_list",
            [0.0, 1.0, 0.5, 1.0 / 6.0],
            "cubic: c_0 … c_3 of σ(t) = c_0 + c_1 t + c_2 t² + c_3 t³ (1 to 4 numbers, the rest "
            "0; default t + t²/2 + t³/6)",
        ),
    },
    "initial": {
        "kind": Key(
            "str",
            "gaussian",
            "initial law (each problem kind's page says which it takes)",
            choices=tuple(dict.fromkeys(k for kind in SPECS.values() for k in kind.initial_kinds)),
        ),
        "scale": _f(0.8, "κ: w ~ N(0, κ²/d · I_d)", **MAGNITUDE),
        "dimension": _i(
            0,
            "d of the initial law (0: problem.dimension), e.g. 40 with the d = ∞ kernel",
            low=0,
            allow_inf=True,
        ),
        "a_mean": _f(1.0, "second layer: mean of a", **EXTENT),
        "a_std": _f(
            0.0, "second layer: standard deviation of a (0: point mass)", low=0, high=WEIGHT_MAX
        ),
    },
    "dynamics": {
        "xi": Key("any", 1.0, "step-size schedule ξ(t): a number, or a table (see dynamics.xi.*)"),
        "tau": _f(0.0, "temperature τ", low=0),
        "lam": _f(0.0, "ℓ2 penalty λ", low=0),
        "finite_step": Key(
            "bool",
            False,
            "add SGD's own step noise at sgd.eps and sgd.batch (the finite-step correction: "
            "Itô drift of order εd and radial diffusion of order ε; isotropic_gaussians, "
            "anisotropic_gaussians, multi_index, gaussian_mixture; docs/finite_step.md)",
        ),
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
        "spacing": Key(
            "str",
            "linear",
            "stop times: 'linear' (multiples of save_every and observe_every), 'log' "
            "(per decade from time.first) or 'list' (time.at)",
            choices=TIME_SPACINGS,
        ),
        "first": _f(
            0.01,
            "log spacing: the first snapshot and observation after t = 0",
            low=0,
            low_open=True,
        ),
        "save_per_decade": _i(10, "log spacing: snapshots per decade of time", low=1),
        "at": Key(
            "float_list",
            [1.0],
            "list spacing: the times of the snapshots and observations after t = 0, increasing "
            "(time.t_end is always one)",
        ),
        "observe_per_decade": _i(
            0,
            "log spacing: observations per decade, a multiple of save_per_decade "
            "(0: 10 × save_per_decade)",
            low=0,
        ),
    },
    "sgd": {
        "neurons": _i(800, "N, also used by risk_finite_n", low=1),
        "eps": _f(1e-4, "ε: SGD step k ↔ time t = kε", low=0, low_open=True),
        "seeds": Key("int_list", [0], "random seeds, one run each"),
        "batch": _i(1, "samples per SGD step", low=1),
        "observe_every": _f(
            0.0, "interval between exact-risk evaluations (0: time.save_every)", low=0
        ),
        "observe_per_decade": _i(
            0,
            "log spacing: exact-risk evaluations per decade, a multiple of "
            "time.save_per_decade (0: time.save_per_decade)",
            low=0,
        ),
    },
    "discretisation": {
        "method": Key(
            "str",
            "grid",
            "grid (Eulerian finite volumes) or particles; order_parameters: committee ODEs",
            choices=("grid", "particles", "order_parameters"),
        ),
    },
    "particles": {
        "count": _i(
            1000, "M, particles of a particle flow (training_set, multi_index, mixtures)", low=1
        ),
        "draw": Key(
            "str",
            "random",
            "the initial particles (multi_index, gaussian_mixture): 'random' (i.i.d. draws) "
            "or 'halton' (a scrambled Halton sequence through the laws' inverse CDFs)",
            choices=("random", "halton"),
        ),
        "r_count": _i(1000, "particles along r (quantile midpoints of the initial law)", low=1),
        "a_count": _i(16, "second layer (and anisotropic): particles along a", low=1),
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
            high=WEIGHT_MAX,
        ),
        "r_max": _f(8.0, "outer edge of the radial axis", low=0, low_open=True, high=WEIGHT_MAX),
        "r_cells": _i(800, "cells on the radial axis", low=3),
        "r_stretch": _f(0.0, "refinement towards r = 0 (0: uniform)", low=0),
        "a_min": _f(-3.0, "second layer: lower edge of the a axis", **EXTENT),
        "a_max": _f(3.0, "second layer: upper edge of the a axis", **EXTENT),
        "a_cells": _i(96, "second layer: cells on the a axis", low=3),
        "boundary_mass_max": _f(
            1e-4, "fail when this much mass sits in the outermost cells", low=0, low_open=True
        ),
    },
    "solver": {
        "order": Key("int", 3, "SSP Runge–Kutta order", choices=(1, 2, 3)),
        "cfl": _f(0.5, "fraction of the positivity step bound", low=0, high=1, low_open=True),
        "limiter": Key(
            "str",
            "mc",
            "reconstruction of the τ = 0 flux: slope limiters, or fifth-order WENO (uniform cells)",
            choices=("mc", "minmod", "none", "weno5"),
        ),
        "interaction": Key(
            "str", "auto", "nonlocal term", choices=("auto", "lowrank", "matrix", "onthefly")
        ),
        "rtol": _f(0.0, "embedded error control (order 3; 0: CFL only)", low=0),
        "atol": _f(1e-10, "absolute tolerance of the error control", low=0, low_open=True),
        "dt_max": _f(math.inf, "cap on the time step", low=0, low_open=True, allow_inf=True),
        "finite_step_scheme": Key(
            "str",
            "explicit",
            "dynamics.finite_step: its drift and diffusion in the explicit stages, or by a "
            "backward-Euler Scharfetter–Gummel step after each (no h²/a or 1/r step bound; "
            "docs/finite_step.md)",
            choices=("explicit", "implicit"),
        ),
    },
    "finite_width": {
        "dynamical": Key(
            "bool",
            False,
            "compute C(t), the dynamical 1/N term: risk_finite_n becomes R(ρ_t) + C(t)/N and "
            "the i.i.d. term stays as risk_finite_n_iid (docs/finite_width.md)",
        ),
        "radial_nodes": _i(200, "dynamical 1/N term: equal-mass radii of ρ₀'s rings", low=2),
        "probe_nodes": _i(16, "dynamical 1/N term: radii of the added neuron (equal-mass)", low=2),
        "a_nodes": _i(
            8, "dynamical 1/N term, second layer with a_std > 0: Gauss–Hermite nodes of a", low=1
        ),
        "degree": _i(
            0,
            "dynamical 1/N term: highest Mehler degree (0: the first odd K with E c^{K+1} ≤ "
            "1e-7, K = 15 at d = 40)",
            low=0,
            high=63,
        ),
        "step": _f(0.05, "dynamical 1/N term: the longest RK4 step", low=0, low_open=True),
        "shared_noise": Key(
            "bool",
            False,
            "the first-order term of SGD's noise that the neurons share through the common "
            "sample (∝ sgd.eps / sgd.batch), as noise_shared and in risk_predicted "
            "(docs/finite_width.md)",
        ),
        "own_noise": Key(
            "bool",
            False,
            "the first-order term of each neuron's own step noise, as noise_own and in "
            "risk_predicted (dynamics.finite_step carries it in the mean law instead)",
        ),
        "euler_error": Key(
            "bool",
            False,
            "the first-order error of SGD's Euler steps of the drift (∝ sgd.eps), as "
            "euler_error and in risk_predicted",
        ),
        "noise_radial_nodes": _i(12, "step-noise terms: equal-mass radii of ρ's rings", low=2),
        "sample_nodes": _i(3, "step-noise terms: Gauss nodes in |x| per class", low=1),
        "cosine_nodes": _i(
            6, "step-noise terms: the pushed rings' cosines per piece between σ's kinks", low=2
        ),
        "noise_step": _f(
            0.1,
            "step-noise terms: the longest RK4 step of the pushed rings (0.05 moves the paper "
            "example's terms by < 1e-3 of themselves)",
            low=0,
            low_open=True,
        ),
        "injection_every": _f(
            0.025,
            "step-noise terms: the first spacing of the times s of ∫₀ᵗ ds (it then grows by 10% "
            "of s per step; pushes at t − 0.0125 … t − 0.2 resolve the shared part's fast "
            "decay in t − s)",
            low=0,
            low_open=True,
        ),
        "noise_lags": Key(
            "float_list",
            [0.0125, 0.025, 0.05, 0.1, 0.2],
            "step-noise terms: the lags τ of the extra pushes at t − τ before every stop time "
            "t, increasing, each > 0 (the shared part's integrand halves within about 0.03 of "
            "t − s on the paper example)",
        ),
        "law_of_a": Key(
            "bool",
            False,
            "with a second layer and a step-noise switch or finite_width.dynamical: the law "
            "of a's terms too — its CDF smoothed by N(0, law_bandwidth²) at every snapshot, as "
            "/snapshots/law_of_a_own, _shared, _euler, _error (noise switches) and "
            "law_of_a_dynamical, _dynamical_error (the dynamical 1/N term); ddsolver compare "
            "reports W1 of SGD's law of a against each cumulative prediction "
            "(docs/finite_width.md)",
        ),
        "law_bandwidth": _f(
            0.05,
            "law_of_a: the smoothing width b (the CDF is kept at x from grid.a_min to "
            "grid.a_max every b/2)",
            low=0,
            low_open=True,
        ),
        "law_a_nodes": _i(
            32,
            "law_of_a's step-noise terms: Gauss–Hermite nodes of a (on the second-layer "
            "transient 16 move W1 by up to 0.004, 48 by ≤ 3e-4 against 32)",
            low=2,
        ),
    },
    "output": {
        "path": Key("str", "", "output file (default: the config's name with .h5)"),
    },
}
TABLES = {"problem.activation", "dynamics.xi"}
#: Most snapshots and most observation stops of one run.
MAX_SNAPSHOTS = 100_000
MAX_STOPS = 10_000_000
#: Most SGD steps of one run (t_end / eps): beyond 2^53 the step index loses integers.
MAX_SGD_STEPS = 2**53
#: Seeds are what numpy's generators take: 0 ≤ seed < 2^63.
MAX_SEED = 2**63 - 1
#: Most seeds one SGD run advances together (each is a network held in memory at once).
MAX_SEEDS = 10_000


def _merge_kind_keys() -> None:
    """Add each problem kind's own keys to the tables of :data:`SCHEMA` (once, at import)."""
    for kind in SPECS.values():
        for table, keys in kind.keys.items():
            if table not in SCHEMA:  # a kind's own sub-table, e.g. problem.generate
                SCHEMA[table] = {}
                TABLES.add(table)
            for name, spec in keys.items():
                known = SCHEMA[table].get(name)
                if known is not None and known != spec:
                    raise RuntimeError(f"{kind.name} redefines config key {table}.{name}")
                SCHEMA[table][name] = spec


_merge_kind_keys()


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
