"""Every key either applies to the run's kind or is refused before compute.

A key that changes neither ``ddsolver run`` nor ``ddsolver sgd`` would give a plausible,
unchanged result. Each kind declares the keys it takes
(:meth:`~ddsolver.kinds.spec.KindSpec.applicable_keys`); the default suite checks that
every other key of the schema, set to a value other than its default, is refused with its
name; the slow test checks the other half on real runs: every key a kind takes changes the
run's or the SGD run's file.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_runner import ddsolver

from ddsolver.config import SCHEMA, TABLES, applicable_config, read_toml, validate
from ddsolver.kinds import SPECS
from ddsolver.schema import ConfigError, Key

GRIDS = Path(__file__).resolve().parents[1] / "grids"

#: One config of every kind and method (and the isotropic kind's second layer).
CONFIGS = {
    "isotropic grid": "quickstart.toml",
    "isotropic particles": "isotropic_d40_particles.toml",
    "isotropic second layer": "second_layer.toml",
    "isotropic noisy": "noisy.toml",
    "isotropic finite step": "finite_step.toml",
    "anisotropic": "anisotropic.toml",
    "teacher_student": "teacher_student.toml",
    "committee": "committee.toml",
    "committee log times": "committee_log.toml",
    "training_set particles": "training_set.toml",
    "training_set circle": "training_set_circle.toml",
    "multi_index": "multi_index.toml",
    "multi_index polynomial": "multi_index_staircase.toml",
    "multi_index second layer": "multi_index_staircase_two_layer.toml",
    "gaussian_mixture": "gaussian_mixture_xor.toml",
}

#: Values for keys whose automatic change (below) the config cannot take or that need a
#: value of their own to make a difference.
SPECIAL = {
    "dynamics.xi": 0.8,
    "problem.dimension": 41,  # (a small d leaves the Mehler series for slow quadrature)
    "sgd.seeds": [7],
    # a multiple of the snapshots' count, as it must be, and not the default's 10 × 2
    "time.observe_per_decade": 40,
    "sgd.observe_per_decade": 4,
    "time.t_end": 0.3,
    "time.save_every": 0.15,
    "time.observe_every": 0.03,
    "sgd.observe_every": 0.02,
    "problem.activation.kind": "relu",  # closed forms for every kind (tanh: quadrature)
    "initial.dimension": 30,
    "problem.informative": 5,
    "problem.mehler_tolerance": 1e-6,  # a lower rank (1e-13 → 1.25e-13 keeps it)
    "solver.atol": 1e-3,  # above the error the relative tolerance allows
    "solver.dt_max": 1e-4,  # below the CFL step
    "problem.teacher.polynomial": "z1 + z1*z2",
    "problem.teacher.activation": "relu",  # (its first choice, erf, is the students' σ)
}
#: A guard changes a run only when it trips: its value, and the keys it is tried beside (in
#: the changed run and its baseline alike), by method. On the grid a bound of 1e-300 trips on
#: the tail of ρ₀ at r = 1.4; particles of mass 0.01 trip the default bound once one leaves
#: the grid (r_max just inside the largest radius), and a bound of 0.99 lets some leave.
#: A tolerance changes an ODE's steps only where the steps are not already cut by the
#: observation times: it is tried over observation intervals of 10 (None: the value of
#: :func:`changed_value`).
LONG = {"time.t_end": 20.0, "time.save_every": 10.0, "time.observe_every": 10.0}
COMPANIONS = {
    "grid.boundary_mass_max": {
        "grid": (1e-300, {"grid.r_max": 1.4}),
        "particles": (0.99, {"grid.r_max": 0.97}),
    },
    "solver.atol": {"order_parameters": (1e-3, {**LONG, "solver.rtol": 1e-6})},
    "particles.rtol": {"particles": (None, LONG)},
    "particles.atol": {"particles": (1e-3, LONG)},
}


def changed_value(key: str, spec: Key):
    """A valid value other than the default, or None where none is made automatically."""
    if key in SPECIAL:
        return SPECIAL[key]
    default = spec.default
    if spec.kind == "bool":
        return not default
    if spec.choices:
        return next(c for c in spec.choices if c != default)
    if spec.kind == "int":
        up = default + 1
        return up if spec.high is None or up <= spec.high else default - 1
    if spec.kind == "float":
        if math.isinf(default):
            return 0.05
        if default == 0:
            return 0.01 if spec.high is None or spec.high > 0.01 else spec.high / 2
        up = default * 1.25 if default > 0 else default * 0.75
        return up if spec.high is None or up < spec.high else default * 0.8
    if spec.kind == "float_list" and default:
        return [v * 1.1 + 0.1 for v in default]
    return None


def all_keys() -> list[tuple[str, Key]]:
    keys = []
    for table, names in SCHEMA.items():
        for name, spec in names.items():
            full = f"{table}.{name}"
            if full not in TABLES and not (table == "dynamics.xi" and name == "kind"):
                keys.append((full, spec))
    return keys


def resolved(config: str) -> dict:
    return validate(read_toml(GRIDS / config))


# ---------------------------------------------------------------------- the cases reported


@pytest.mark.parametrize(
    ("config", "key", "value"),
    [
        ("training_set.toml", "dynamics.eta", 0.1),  # (τ and ξ apply since Langevin dynamics)
        ("teacher_student.toml", "problem.teacher_units", 2),
        ("quickstart.toml", "problem.train", "output"),
        ("quickstart.toml", "dynamics.scale", 2.0),
        ("quickstart.toml", "dynamics.linearised", True),
        ("quickstart.toml", "problem.label_noise", 0.1),
        ("quickstart.toml", "problem.loss", "square"),
        ("quickstart.toml", "dynamics.eta", 0.1),
        ("quickstart.toml", "initial.symmetric", True),
        ("quickstart.toml", "particles.count", 10),
        ("quickstart.toml", "particles.r_count", 10),  # particles' key, run on the grid
        ("teacher_student.toml", "problem.delta", 0.5),  # no Δ in a teacher's data law
        ("committee.toml", "grid.r_cells", 100),
        ("training_set_circle.toml", "particles.count", 10),
        ("training_set.toml", "grid.angle_cells", 64),
        ("anisotropic.toml", "problem.activation.t1", 0.2),  # σ = ReLU: no ramp parameters
    ],
)
def test_reported_keys_are_refused(config, key, value):
    raw = read_toml(GRIDS / config)
    table, name = key.rsplit(".", 1)
    raw.setdefault(table.split(".")[0], {})
    node = raw
    for part in table.split("."):
        node = node.setdefault(part, {})
    node[name] = value
    with pytest.raises(ConfigError, match=r"does not apply to problem\.kind") as err:
        validate(raw)
    assert err.value.key.startswith(key)
    assert SPECS[raw["problem"]["kind"]].name in str(err.value)


def test_the_refusal_is_one_line_exit_2_from_the_cli():
    done = ddsolver("check", str(GRIDS / "training_set.toml"), "--set", "dynamics.eta=0.1")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "'dynamics.eta'" in done.stderr and "'training_set'" in done.stderr
    assert "lam, linearised, scale, tau, xi" in done.stderr  # what the kind takes instead


def test_a_key_at_another_kinds_default_is_refused_and_a_resolved_config_revalidates():
    """The committee's default of two teacher units is not a teacher–student run's one."""
    raw = read_toml(GRIDS / "teacher_student.toml")
    raw["problem"]["teacher_units"] = SCHEMA["problem"]["teacher_units"].default
    with pytest.raises(ConfigError, match="teacher_units"):
        validate(raw)
    for config in CONFIGS.values():
        cfg = resolved(config)
        assert validate(cfg) == cfg  # a run file's config lists every key, at its default
        cfg["problem"]["teacher_units"] = 5  # … where it does not apply
        if cfg["problem"]["kind"] != "committee":
            with pytest.raises(ConfigError, match="teacher_units"):
                validate(cfg)


@pytest.mark.parametrize(
    ("config", "key", "value", "reason"),
    [
        ("multi_index_staircase.toml", "problem.teacher.v", [2.0],
         "problem.teacher.polynomial replaces the network teacher"),
        ("multi_index_staircase.toml", "problem.teacher.gram", [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0],
         "problem.teacher.polynomial replaces the network teacher"),
        ("langevin.toml", "dynamics.anneal_time", 3.0, "dynamics.anneal = 'none'"),
        ("training_set.toml", "dynamics.anneal", "log", "dynamics.tau = 0"),
        ("training_set.toml", "particles.blob_width", 0.1, "dynamics.tau = 0"),
    ],
)  # fmt: skip
def test_a_key_turned_off_by_another_says_which(config, key, value, reason):
    """A key the kind has but another setting turns off names that setting."""
    with pytest.raises(ConfigError) as err:
        validate(_with(read_toml(GRIDS / config), key, value))
    assert err.value.key == key and f"does not apply: {reason}" in str(err.value), str(err.value)


def test_schedule_parameters_of_another_schedule_kind_are_refused():
    raw = read_toml(GRIDS / "quickstart.toml")
    raw["dynamics"] = {"xi": {"kind": "constant", "value": 2.0, "alpha": 0.5}}
    with pytest.raises(ConfigError, match=r"dynamics\.xi\.alpha"):
        validate(raw)
    raw["dynamics"] = {"xi": {"kind": "power", "value": 2.0, "alpha": 0.5}}
    assert validate(raw)["dynamics"]["xi"]["alpha"] == 0.5


# ---------------------------------------------------------------------- every key × every kind


@pytest.mark.parametrize("label", list(CONFIGS))
def test_every_key_that_does_not_apply_is_refused(label):
    base = read_toml(GRIDS / CONFIGS[label])
    cfg = validate(base)
    applicable = SPECS[cfg["problem"]["kind"]].applicable_keys(cfg)
    checked = 0
    xi_table = isinstance(cfg["dynamics"]["xi"], dict)
    for key, spec in all_keys():
        if key in applicable or (key.startswith("dynamics.xi.") and not xi_table):
            continue  # (a schedule's keys make ξ a table: the schedule test has them)
        value = changed_value(key, spec)
        if value is None:
            continue
        raw = _with(base, key, value)
        with pytest.raises(ConfigError) as err:
            validate(raw)
        assert key.startswith(err.value.key), (key, str(err.value))  # the key, or its table
        checked += 1
    assert checked >= 10, f"{label}: only {checked} keys checked"


def test_applicable_config_holds_only_the_keys_that_apply():
    for config in CONFIGS.values():
        cfg = resolved(config)
        applicable = SPECS[cfg["problem"]["kind"]].applicable_keys(cfg)
        shown = applicable_config(cfg)
        flat = _flatten(shown)
        assert flat and all(k in applicable for k in flat)
        assert validate(shown) == cfg  # the shown keys alone rebuild the run's config


def test_check_imports_no_kernel():
    code = (
        "import sys; from ddsolver.cli import main; "
        "rc = main(['check', sys.argv[1]]); "
        "bad = [m for m in ('numba', 'h5py', 'scipy', 'matplotlib') if m in sys.modules]; "
        "print(rc, bad)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(GRIDS / "committee.toml")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip().endswith("0 []"), done.stdout


# ---------------------------------------------------------------------- slow: every key changes


def _with(raw: dict, key: str, value) -> dict:
    import copy

    out = copy.deepcopy(raw)
    parts = key.split(".")
    node = out
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):  # dynamics.xi given as a number: make it a table
            break
    else:
        node[parts[-1]] = value
        return out
    out["dynamics"]["xi"] = {"kind": "constant", parts[-1]: value}
    return out


def _flatten(node: dict, prefix: str = "") -> dict:
    out = {}
    for name, value in node.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


#: Coarsened runs: a few hundred SGD steps, a few snapshots.
SHORT = {"time": {"t_end": 0.2, "save_every": 0.1, "observe_every": 0.02}}


#: The same for log-spaced stop times: two snapshots a decade from t = 0.01.
SHORT_LOG = {"time": {"t_end": 0.2, "first": 0.01, "save_per_decade": 2}}


def _short(raw: dict) -> dict:
    out = _with(raw, "time.t_end", SHORT["time"]["t_end"])
    log = raw.get("time", {}).get("spacing") == "log"
    for name, value in (SHORT_LOG if log else SHORT)["time"].items():
        out = _with(out, f"time.{name}", value)
    if out["problem"].get("kind") not in ("committee",):
        eps = out.get("sgd", {}).get("eps", 1e-4)
        out = _with(out, "sgd.eps", min(max(eps, 2e-3), 0.02))
    out = _with(out, "sgd.neurons", 40) if out["problem"].get("kind") != "committee" else out
    out = _with(out, "sgd.seeds", [0])
    if not log and out.get("sgd", {}).get("observe_every", 0) > SHORT["time"]["save_every"]:
        out = _with(out, "sgd.observe_every", SHORT["time"]["save_every"])  # ≤ save_every
    for key, small in (("r_count", 100), ("count", 100)):  # few particles: a blob term is O(M²)
        if key in out.get("particles", {}):
            out = _with(out, f"particles.{key}", min(out["particles"][key], small))
    grid = out.get("grid", {})
    axes = [k for k in grid if k.endswith("_cells") and k != "angle_cells"]
    cap = 120 if len(axes) <= 1 else 30  # a dense kernel is O(cells²)
    for key in axes:
        out = _with(out, f"grid.{key}", min(grid[key], cap))
    return out


def _outputs(raw: dict, tmp: Path) -> dict[str, np.ndarray] | None:
    import ddsolver as dd

    arrays = {}
    for verb, call in (("run", dd.solve), ("sgd", dd.train)):
        target = tmp / f"{verb}.h5"
        target.unlink(missing_ok=True)
        try:
            result = call(raw, output=target)
        except ConfigError:  # refused before compute (a grid that misses ρ₀, memory)
            if verb == "sgd":
                continue  # d = ∞ and the like: SGD refuses the config, the run is compared
            return None
        arrays[f"{verb}:status"] = np.frombuffer(result.status.encode(), np.uint8)
        with h5py.File(target, "r") as f:

            def keep(name, obj, verb=verb):
                if isinstance(obj, h5py.Dataset) and not name.startswith("checkpoint"):
                    arrays[f"{verb}:{name}"] = np.asarray(obj[()])

            f.visititems(keep)
    return arrays


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    return all(a[k].shape == b[k].shape and np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def _candidates(key: str, spec: Key, current, method: str) -> list[tuple[object, dict]]:
    """The changed values to try for ``key`` (every other choice of a choice key), each with
    the companion keys it is tried beside."""
    if method in COMPANIONS.get(key, {}):
        value, companions = COMPANIONS[key][method]
        return [(changed_value(key, spec) if value is None else value, companions)]
    if spec.choices and key not in SPECIAL:
        return [(c, {}) for c in spec.choices if c != current]
    value = changed_value(key, spec)
    return [] if value is None or value == current else [(value, {})]


@pytest.mark.slow
@pytest.mark.parametrize("label", list(CONFIGS))
def test_every_key_that_applies_changes_the_output(label, tmp_path):
    """A key that applies changes ``ddsolver run``'s or ``ddsolver sgd``'s file for at least
    one of its values; values refused for what they are (not for applying) are not tried."""
    base = _short(read_toml(GRIDS / CONFIGS[label]))
    cfg = validate(base)
    applicable = SPECS[cfg["problem"]["kind"]].applicable_keys(cfg)
    baseline = _outputs(base, tmp_path)
    assert baseline is not None
    unchanged, not_tried = [], []
    for key, spec in all_keys():
        if key not in applicable or key in ("output.path", "problem.kind"):
            continue
        sgd_only = key.startswith("sgd.") and key != "sgd.neurons"  # (N is the run's 1/N too)
        if sgd_only and not any(k.startswith("sgd:") for k in baseline):
            not_tried.append(f"{key} (ddsolver sgd refuses this config)")
            continue
        current = _flatten(cfg).get(key)
        candidates = _candidates(key, spec, current, cfg["discretisation"]["method"])
        changed = None
        for value, companions in candidates:
            reference, before = base, baseline
            for companion, companion_value in companions.items():
                reference = _with(reference, companion, companion_value)
            if companions:
                before = _outputs(reference, tmp_path)
            raw = _with(reference, key, value)
            try:
                validate(raw)
            except ConfigError as exc:
                # refused as not applying: a failure for this key, a consequence for another
                # (a method's own keys once the method changes)
                assert not (exc.key == key and "does not apply" in str(exc)), str(exc)
                not_tried.append(f"{key} = {value!r} ({exc})")
                continue
            after = _outputs(raw, tmp_path)
            if after is None or before is None:
                not_tried.append(f"{key} = {value!r} (refused before compute)")
                continue
            changed = bool(changed) or not _same(after, before)
            if changed:
                break
        if changed is False:
            unchanged.append(key)
        elif changed is None:
            not_tried.append(key)
    print(f"{label}: not tried {not_tried}")
    assert not unchanged, f"{label}: keys that apply but change nothing: {unchanged}"
