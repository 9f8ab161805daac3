"""Log-spaced stop times (``time.spacing = "log"``): the time grid, every kind's run on it,
resume, SGD's whole steps, the comparison's pairing, the figures' axes and the refusals."""

from __future__ import annotations

import math
import tomllib

import h5py
import numpy as np
import pytest

import ddsolver as dd
from ddsolver.config import ConfigError, log_stop_count, validate
from ddsolver.runloop import log_stop_times, snapped_to_steps
from ddsolver.sgd.run import run_sgd

LOG = {"spacing": "log", "first": 0.01, "save_per_decade": 2}

#: A small config of each kind (each solved by its own method) to t = 1 on log-spaced times.
KIND_CONFIGS = {
    "isotropic grid": {"grid": {"r_max": 3.0, "r_cells": 60}},
    "isotropic particles": {
        "discretisation": {"method": "particles"},
        "particles": {"r_count": 50},
        "grid": {"r_max": 3.0, "r_cells": 30},
    },
    "committee": {
        "problem": {"kind": "committee", "dimension": 100, "student_units": 2,
                    "teacher_units": 1},
    },
    "training set": {
        "problem": {"kind": "training_set", "dimension": 2,
                    "generate": {"kind": "teacher", "n": 10, "n_test": 20, "units": 2}},
        "particles": {"count": 40},
    },
    "circle": {
        "problem": {"kind": "training_set", "dimension": 1, "loss": "square",
                    "generate": {"kind": "teacher", "n": 10, "n_test": 20, "units": 2}},
        "discretisation": {"method": "grid"},
        "grid": {"angle_cells": 32},
        "initial": {"kind": "sphere", "scale": 0.5, "symmetric": True},
    },
}  # fmt: skip


def _with_log(cfg: dict, t_end: float = 1.0, **time) -> dict:
    return {**cfg, "time": {"t_end": t_end, **LOG, **time}}


def _times(path, group):
    with h5py.File(path) as f:
        return f[f"{group}/time"][()]


def test_log_times_are_first_times_powers_of_ten_from_their_own_index():
    times, is_save = log_stop_times(100.0, 0.01, 2, 0)  # observations: 20 a decade
    k = np.arange(81)
    np.testing.assert_array_equal(times, np.concatenate([[0.0], 0.01 * 10.0 ** (k / 20)]))
    assert times[-1] == 100.0 and math.isclose(times[41], 1.0, rel_tol=1e-15)
    # the saves are every tenth observation, the same floats: 10^(k/2) == 10^(10k/20)
    np.testing.assert_array_equal(
        times[is_save], np.concatenate([[0.0], 0.01 * 10.0 ** (k[:9] / 2)])
    )
    assert np.all(np.diff(times) > 0)


def test_an_end_off_the_grid_is_a_last_save_and_counts_match_the_config_bound():
    times, is_save = log_stop_times(12.0, 0.01, 3, 6)
    assert times[-1] == 12.0 and is_save[-1]
    assert times[-2] == pytest.approx(10.0, rel=1e-15)
    # t = 0, k = 0 … ⌊n·log₁₀(t_end / first)⌋ = 9 (or 18), then t_end: the config's bound
    assert is_save.sum() == 1 + 10 + 1 <= log_stop_count({"t_end": 12.0, "first": 0.01}, 3)
    assert times.size == 1 + 19 + 1 <= log_stop_count({"t_end": 12.0, "first": 0.01}, 6)


def test_snapping_to_steps_merges_times_on_one_step_and_keeps_their_saves():
    times = np.array([0.0, 0.01, 0.0104, 0.0126, 1.0])
    saves = np.array([True, False, True, False, True])
    snapped, keep = snapped_to_steps(times, saves, 1e-3)
    np.testing.assert_allclose(snapped, [0.0, 0.01, 0.013, 1.0], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(keep, [True, True, False, True])


@pytest.mark.parametrize("name", list(KIND_CONFIGS))
def test_every_kind_observes_and_saves_at_the_log_times(tmp_path, name):
    path = tmp_path / "run.h5"
    result = dd.solve(_with_log(KIND_CONFIGS[name]), path, quiet=True)
    assert result.ok, result.status
    expected, is_save = log_stop_times(1.0, 0.01, 2, 0)
    np.testing.assert_array_equal(_times(path, "observables"), expected)
    np.testing.assert_array_equal(_times(path, "snapshots"), expected[is_save])


@pytest.mark.parametrize("name", ["isotropic grid", "committee"])
def test_a_log_spaced_run_extended_by_resume_is_bitwise_the_whole_run(tmp_path, name):
    whole, parts = tmp_path / "whole.h5", tmp_path / "parts.h5"
    cfg = _with_log(KIND_CONFIGS[name])
    assert dd.solve(cfg, whole, quiet=True).ok
    assert dd.solve(_with_log(KIND_CONFIGS[name], t_end=0.1), parts, quiet=True).ok
    assert dd.solve(cfg, parts, quiet=True, resume=True).ok
    with h5py.File(whole) as a, h5py.File(parts) as b:
        for group in ("observables", "snapshots"):
            for field in a[group]:
                np.testing.assert_array_equal(a[group][field][()], b[group][field][()], field)


SGD = """
[problem]
dimension = 20
[grid]
r_max = 3.0
r_cells = 60
[time]
t_end = 1.0
spacing = "log"
first = 0.01
save_per_decade = 2
[sgd]
neurons = 50
eps = 1e-3
seeds = [1, 2]
observe_per_decade = 4
"""


def test_sgd_stops_at_the_step_nearest_each_log_time_and_resumes_bitwise(tmp_path):
    cfg = validate(tomllib.loads(SGD))
    assert run_sgd(cfg, tmp_path / "whole.h5").ok
    times, is_save = log_stop_times(1.0, 0.01, 2, 4)
    steps = np.rint(_times(tmp_path / "whole.h5", "observables") / 1e-3)
    np.testing.assert_array_equal(steps, np.rint(times / 1e-3))
    np.testing.assert_array_equal(
        _times(tmp_path / "whole.h5", "snapshots"), np.rint(times[is_save] / 1e-3) * 1e-3
    )
    half = validate(tomllib.loads(SGD.replace("t_end = 1.0", "t_end = 0.1")))
    assert run_sgd(half, tmp_path / "parts.h5").ok
    assert run_sgd(cfg, tmp_path / "parts.h5", resume=True).ok
    with h5py.File(tmp_path / "whole.h5") as a, h5py.File(tmp_path / "parts.h5") as b:
        for name in ("observables/risk", "observables/time", "snapshots/r"):
            np.testing.assert_array_equal(a[name][()], b[name][()], name)


def test_compare_pairs_every_sgd_snapshot_with_the_limits_within_half_a_step(tmp_path):
    text = SGD.replace("seeds = [1, 2]", "seeds = [1]")
    (tmp_path / "c.toml").write_text(text)
    pde = dd.solve(tmp_path / "c.toml", tmp_path / "pde.h5", quiet=True)
    sgd = dd.train(tmp_path / "c.toml", tmp_path / "sgd.h5", quiet=True)
    report = dd.compare(pde.path, sgd.path, tmp_path / "report")
    snapshots = _times(sgd.path, "snapshots")
    assert report["wasserstein1"]["time"] == snapshots.tolist()  # all six, 0.0316 ≠ 0.0316227…
    assert np.max(np.abs(snapshots - _times(pde.path, "snapshots"))) <= 0.5e-3


def test_figures_of_a_log_spaced_file_have_log_time_axes(tmp_path):
    run = dd.open(dd.solve(_with_log(KIND_CONFIGS["committee"]), tmp_path / "c.h5",
                           quiet=True).path)  # fmt: skip
    axes = [ax for fig in run.plot().values() for ax in fig.axes]
    assert axes and all(ax.get_xscale() == "log" for ax in axes if ax.get_xlabel() == "time t")
    linear = dd.solve({**KIND_CONFIGS["committee"], "time": {"t_end": 1.0, "save_every": 0.5}},
                      tmp_path / "l.h5", quiet=True)  # fmt: skip
    axes = [ax for fig in dd.open(linear.path).plot().values() for ax in fig.axes]
    assert all(ax.get_xscale() == "linear" for ax in axes if ax.get_xlabel() == "time t")


@pytest.mark.parametrize(
    ("time", "key", "words"),
    [
        ({"save_every": 0.1}, "time.save_every", "time.spacing = 'log'"),
        ({"observe_per_decade": 15}, "time.observe_per_decade", "multiple of"),
        ({"first": 2.0}, "time.first", "must not exceed time.t_end"),
        ({"save_per_decade": 10**5, "first": 1e-300}, "time.save_per_decade", "snapshots"),
        ({"spacing": "geometric"}, "time.spacing", "'linear', 'log'"),
    ],
    ids=["interval-key", "not-a-multiple", "first-after-end", "too-many", "unknown"],
)
def test_a_log_spacing_that_cannot_be_honoured_is_refused_naming_the_key(time, key, words):
    with pytest.raises(ConfigError) as err:
        validate({"time": {"t_end": 1.0, **LOG, **time}})
    assert err.value.key == key and words in str(err.value)


def test_a_per_decade_key_under_linear_spacing_is_refused_naming_the_spacing():
    with pytest.raises(ConfigError) as err:
        validate({"time": {"t_end": 1.0, "first": 0.1}})
    assert err.value.key == "time.first" and "time.spacing = 'linear'" in str(err.value)


def test_sgd_refuses_log_times_closer_than_one_step_and_takes_the_first_it_proposes():
    from ddsolver.config import check_sgd_run

    raw = tomllib.loads(SGD.replace("eps = 1e-3", "eps = 9e-3"))
    with pytest.raises(ConfigError) as err:
        check_sgd_run(validate(raw))
    assert err.value.key == "time.first" and "less than one SGD step" in str(err.value)
    proposed = float(str(err.value).split("time.first ≥ ")[1].split()[0])
    raw["time"]["first"] = proposed
    check_sgd_run(validate(raw))  # the value the message proposes is accepted
    raw["time"]["first"] = proposed * 0.99
    with pytest.raises(ConfigError):
        check_sgd_run(validate(raw))


@pytest.mark.parametrize("name", ["isotropic grid", "committee"])
def test_a_listed_spacing_stops_at_zero_each_listed_time_and_the_end(tmp_path, name):
    cfg = {**KIND_CONFIGS[name], "time": {"t_end": 2.0, "spacing": "list", "at": [0.1, 0.5, 1.5]}}
    path = tmp_path / "run.h5"
    assert dd.solve(cfg, path, quiet=True).ok
    for group in ("observables", "snapshots"):
        np.testing.assert_array_equal(_times(path, group), [0.0, 0.1, 0.5, 1.5, 2.0])


def test_sgd_on_listed_times_stops_at_their_nearest_steps(tmp_path):
    text = SGD.replace(
        'spacing = "log"\nfirst = 0.01\nsave_per_decade = 2', 'spacing = "list"\nat = [0.0104, 0.3]'
    ).replace("observe_per_decade = 4\n", "")
    assert run_sgd(validate(tomllib.loads(text)), tmp_path / "s.h5").ok
    np.testing.assert_allclose(_times(tmp_path / "s.h5", "observables"), [0.0, 0.010, 0.3, 1.0],
                               rtol=0, atol=1e-15)  # fmt: skip


@pytest.mark.parametrize(
    ("at", "words"),
    [([0.5, 0.2], "increasing"), ([], "non-empty"), ([0.0, 0.5], "> 0"), ([0.5, 3.0], "t_end")],
    ids=["decreasing", "empty", "zero", "after-end"],
)
def test_a_list_of_times_that_cannot_be_honoured_is_refused(at, words):
    with pytest.raises(ConfigError) as err:
        validate({"time": {"t_end": 1.0, "spacing": "list", "at": at}})
    assert err.value.key == "time.at" and words in str(err.value)


def test_listed_times_closer_than_one_sgd_step_are_refused_and_at_needs_list_spacing():
    from ddsolver.config import check_sgd_run

    raw = {"problem": {"dimension": 20},
           "time": {"t_end": 1.0, "spacing": "list", "at": [0.5, 0.50005]}}  # fmt: skip
    with pytest.raises(ConfigError) as err:
        check_sgd_run(validate(raw))
    assert err.value.key == "time.at" and "less than one SGD step" in str(err.value)
    with pytest.raises(ConfigError) as err:
        validate({"time": {"t_end": 1.0, "at": [0.5]}})
    assert err.value.key == "time.at" and "time.spacing = 'linear'" in str(err.value)
