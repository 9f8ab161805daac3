"""Parameter sweeps: the sweep file, and real sweeps on a 2-worker dask LocalCluster."""

import csv
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_runner import ddsolver

from ddsolver import cli, io
from ddsolver.comparison import compare_files
from ddsolver.config import ConfigError, to_toml
from ddsolver.integrate import run_grid
from ddsolver.sweeps import read_sweep
from ddsolver.sweeps.summary import read_summary, summary_columns
from ddsolver.sweeps.task import point_files, run_point

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = sorted((ROOT / "grids" / "sweeps").glob("*.toml"))

BASE = """
[problem]
dimension = 40
delta = 0.8
[time]
t_end = 0.4
save_every = 0.2
[grid]
r_max = 4.0
r_cells = 60
[sgd]
neurons = 50
eps = 1e-3
seeds = [0, 1]
"""


def sweep_file(tmp_path, text, name="s.toml"):
    (tmp_path / "base.toml").write_text(BASE)
    path = tmp_path / name
    path.write_text('base = "base.toml"\n' + text)
    return path


def test_ranges_lists_cross_and_zip(tmp_path):
    spec = read_sweep(
        sweep_file(
            tmp_path,
            'zip = [["sgd.neurons", "sgd.eps"]]\n[axes]\n'
            '"problem.delta" = { start = 0.5, stop = 0.7, step = 0.1 }\n'
            '"sgd.neurons" = { start = 100, stop = 400, num = 3, log = true }\n'
            '"sgd.eps" = [1e-3, 5e-4, 2.5e-4]\n'
            '"initial.scale" = { start = 0.2, stop = 0.8, num = 4 }\n',
        )
    )
    np.testing.assert_allclose(spec.axes["problem.delta"], [0.5, 0.6, 0.7], rtol=1e-15)
    assert spec.axes["sgd.neurons"] == [100, 200, 400]
    assert all(isinstance(n, int) for n in spec.axes["sgd.neurons"])
    np.testing.assert_allclose(spec.axes["initial.scale"], [0.2, 0.4, 0.6, 0.8], rtol=1e-15)
    points = spec.points()
    assert len(points) == 3 * 3 * 4  # the zipped pair counts once
    assert all(p.config is not None and not p.error for p in points)
    pairs = {(p.values["sgd.neurons"], p.values["sgd.eps"]) for p in points}
    assert pairs == {(100, 1e-3), (200, 5e-4), (400, 2.5e-4)}
    # file order, last factor fastest
    assert [p.values["initial.scale"] for p in points[:4]] == spec.axes["initial.scale"]
    assert points[0].config["sgd"]["neurons"] == 100 and points[0].config["sgd"]["eps"] == 1e-3
    assert len({p.key for p in points}) == len(points)  # distinct configs, distinct files


def test_the_hash_names_the_resolved_config(tmp_path):
    """Equal resolved configs share a hash (a default written out or not), others do not."""
    one = read_sweep(sweep_file(tmp_path, '[axes]\n"problem.delta" = [0.8, 0.6]\n', "a.toml"))
    two = read_sweep(
        sweep_file(
            tmp_path,
            '[set]\n"dynamics.tau" = 0.0\n[axes]\n"problem.delta" = [0.8, 0.60]\n',
            "b.toml",
        )
    )
    assert [p.key for p in one.points()] == [p.key for p in two.points()]
    assert one.points()[0].key != one.points()[1].key


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[axes]\n"problem.delta" = [0.5]\nfoo = 1\n', "names no config key"),
        ('[axes]\n"problem.delt" = [0.5]\n', "axes.problem.delt"),
        ("[axes]\n", "axes"),
        ('[axes]\n"problem.delta" = []\n', "non-empty list"),
        ('[axes]\n"problem.delta" = { start = 0.5, stop = 0.7 }\n', "exactly one of num, step"),
        ('[axes]\n"problem.delta" = { start = 0.5, stop = 0.7, num = 0 }\n', "num must be"),
        ('[axes]\n"problem.delta" = { start = 0.7, stop = 0.5, step = 0.1 }\n', "step must"),
        ('[axes]\n"problem.delta" = { start = 0.0, stop = 0.5, num = 3, log = true }\n', "log"),
        ('[axes]\n"sgd.neurons" = { start = 100, stop = 150, num = 4 }\n', "integers"),
        ('[axes]\n"output.path" = ["a.h5"]\n', "the sweep names its output files"),
        ('verbs = ["run", "plot"]\n[axes]\n"problem.delta" = [0.5]\n', "verbs"),
        ('zip = [["problem.delta"]]\n[axes]\n"problem.delta" = [0.5]\n', "zip"),
        (
            'zip = [["problem.delta", "initial.scale"]]\n[axes]\n'
            '"problem.delta" = [0.5, 0.6]\n"initial.scale" = [0.4]\n',
            "equal lengths",
        ),
        ('[set]\n"problem.delta" = 0.5\n[axes]\n"problem.delta" = [0.5]\n', "also swept"),
        ('bases = "x"\n[axes]\n"problem.delta" = [0.5]\n', "unknown sweep key"),
    ],
)
def test_a_malformed_sweep_file_is_refused_before_anything_runs(tmp_path, text, where, capsys):
    path = sweep_file(tmp_path, text)
    with pytest.raises(ConfigError, match=None) as info:
        read_sweep(path)
    assert where in str(info.value)
    assert cli.main(["sweep", str(path), "-o", str(tmp_path / "out")]) == cli.EXIT_BAD_INPUT
    assert where in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_bad_value_makes_one_invalid_point_with_the_config_message(tmp_path):
    spec = read_sweep(sweep_file(tmp_path, '[axes]\n"problem.delta" = [0.5, 1.5, 0.7]\n'))
    points = spec.points()
    assert [bool(p.error) for p in points] == [False, True, False]
    assert "problem.delta" in points[1].error and "(0, 1)" in points[1].error


def test_without_dask_sweep_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    path = sweep_file(tmp_path, '[axes]\n"problem.delta" = [0.5]\n')
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed → ImportError
    assert cli.main(["sweep", str(path), "-o", str(tmp_path / "out")]) == cli.EXIT_BAD_INPUT
    assert 'pip install -e ".[sweep]"' in capsys.readouterr().err


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_shipped_sweeps_are_valid(path):
    spec = read_sweep(path)
    points = spec.points()
    assert points and all(not p.error for p in points), [p.error for p in points]


def _rows(csv_path):
    with csv_path.open() as fh:
        return list(csv.DictReader(fh))


def test_a_sweep_on_a_local_cluster_runs_restarts_fails_alone_and_matches_run(tmp_path):
    """6 points (PDE + SGD) on 2 workers; restart skips; bad points fail alone; = ddsolver run."""
    path = sweep_file(
        tmp_path,
        'verbs = ["run", "sgd"]\nrisk_times = [0.3]\n[axes]\n'
        '"problem.delta" = { start = 0.6, stop = 0.8, num = 3 }\n'
        '"initial.scale" = [0.5, 0.8]\n',
    )
    out = tmp_path / "out"
    first = ddsolver("sweep", path, "-o", out, "--workers", 2, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "6 of 6 points finished" in first.stdout
    rows = _rows(out / "summary.csv")
    assert [r["status"] for r in rows] == ["finished"] * 6
    assert len({r["key"] for r in rows}) == 6 and len(list(out.glob("*.h5"))) == 13

    # the same points one by one with `ddsolver run` (and `ddsolver sgd`): equal results
    for row in (rows[0], rows[5]):
        sets = ["--set", f"problem.delta={row['problem.delta']}"]
        sets += ["--set", f"initial.scale={row['initial.scale']}"]
        single = tmp_path / f"single_{row['index']}.h5"
        done = ddsolver("run", tmp_path / "base.toml", "-o", single, *sets, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        with h5py.File(single) as a, h5py.File(out / row["run_file"]) as b:
            for name in ("observables/risk", "observables/risk_finite_n", "snapshots/density"):
                assert np.array_equal(a[name][()], b[name][()]), name
        single_sgd = tmp_path / f"single_{row['index']}_sgd.h5"
        done = ddsolver("sgd", tmp_path / "base.toml", "-o", single_sgd, *sets, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        with h5py.File(single_sgd) as a, h5py.File(out / row["sgd_file"]) as b:
            assert np.array_equal(a["observables/risk"][()], b["observables/risk"][()])
        report = compare_files(out / row["run_file"], out / row["sgd_file"])
        assert float(row["pde_sgd_gap"]) == report["max_abs_gap"]
        risk = h5py.File(single)["observables/risk"][()]
        assert float(row["risk_final"]) == risk[-1] and float(row["risk_initial"]) == risk[0]

    # a restart skips every finished point; a lost file is run again, alone
    (out / rows[2]["run_file"]).unlink()
    again = ddsolver("sweep", path, "-o", out, "--workers", 2, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("finished earlier, skipped") == 5
    timing = ("wall_run_s", "wall_sgd_s")
    same = [{k: v for k, v in r.items() if k not in timing} for r in _rows(out / "summary.csv")]
    assert same == [{k: v for k, v in r.items() if k not in timing} for r in rows]

    # a bad value and a point that fails are reported alone; an equal config is found again
    path.write_text(
        'base = "base.toml"\nverbs = ["run", "sgd"]\n[set]\n"initial.scale" = 0.8\n'
        '[axes]\n"problem.delta" = [0.6, 1.2]\n"grid.r_max" = [4.0, 0.5]\n'
    )
    mixed = ddsolver("sweep", path, "-o", out, "--workers", 2, cwd=tmp_path)
    assert mixed.returncode == 1
    rows = _rows(out / "summary.csv")
    by = {(float(r["problem.delta"]), float(r["grid.r_max"])): r for r in rows}
    assert by[(0.6, 4.0)]["status"] == "finished"
    assert "finished earlier, skipped" in mixed.stdout  # the (0.6, 0.8) point of before
    lost = by[(0.6, 0.5)]  # the grid misses initial mass: refused by the solver, alone
    assert lost["status"] == "failed" and "misses 1 of the initial mass" in lost["error"]
    for r_max in (4.0, 0.5):
        bad = by[(1.2, r_max)]
        assert bad["status"] == "invalid" and "problem.delta" in bad["error"]
    assert "invalid: config key 'problem.delta' = 1.2" in mixed.stdout
    assert "FAILED: ConfigError: config key 'grid.r_max' = {'r': [0.0, 0.5]}" in mixed.stdout

    cols, attrs = read_summary(out / "summary.h5")
    assert attrs["kind"] == "sweep" and attrs["status"].startswith("failed: ")
    assert list(cols["status"]) == [r["status"] for r in rows]
    figure = ddsolver("plot", out / "summary.h5", "--x", "problem.delta", cwd=tmp_path)
    assert figure.returncode == 0, figure.stderr
    assert Path(figure.stdout.split()[-1]).stat().st_size > 1000


def test_a_failing_run_is_a_failed_point_with_its_status(tmp_path):
    spec = read_sweep(
        sweep_file(
            tmp_path,
            '[set]\n"time.t_end" = 2.0\n"grid.r_max" = 1.4\n[axes]\n"problem.delta" = [0.8]\n',
        )
    )
    point = spec.points()[0]
    report = run_point(point.config, point.key, str(tmp_path), ("run",), [1.0], {})
    assert report["status"] == "failed"
    assert report["error"].startswith("run: failed: mass") and "r_max" in report["error"]


def test_a_point_killed_mid_run_is_resumed_by_the_next_sweep(tmp_path):
    """SIGKILL a point's run; the sweep's task resumes it to the uninterrupted result, bitwise."""
    sets = {"time.t_end": 3.0, "grid.r_cells": 400, "problem.delta": 0.8}
    spec = read_sweep(
        sweep_file(
            tmp_path,
            '[set]\n"time.t_end" = 3.0\n"grid.r_cells" = 400\n[axes]\n"problem.delta" = [0.8]\n',
        )
    )
    point = spec.points()[0]
    out = tmp_path / "out"
    out.mkdir()
    target = point_files(out, point.key)["run"]
    overrides = [arg for k, v in sets.items() for arg in ("--set", f"{k}={v}")]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ddsolver",
            "run",
            tmp_path / "base.toml",
            "-o",
            target,
            "-q",
            *overrides,
        ]
    )
    deadline = time.monotonic() + 120
    saved = 0
    while saved < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
        try:
            with h5py.File(target, "r") as f:
                saved = f["snapshots/time"].shape[0]
        except (OSError, KeyError):
            continue
    proc.kill()
    proc.wait()
    assert 4 <= saved, "the run ended before it could be killed"
    attrs = io.read_attrs(target)
    assert attrs["status"] == "running" and attrs["config"] == to_toml(point.config)

    report = run_point(point.config, point.key, str(out), ("run",), [], {})
    assert report["status"] == "finished" and not report["skipped"], report["error"]
    reference = run_grid(point.config, tmp_path / "reference.h5", quiet=True)
    assert reference.ok
    with h5py.File(target) as a, h5py.File(reference.path) as b:
        for name in ("observables/time", "observables/risk", "snapshots/density"):
            assert np.array_equal(a[name][()], b[name][()]), name


def test_the_same_sweep_runs_on_an_existing_scheduler(tmp_path):
    """--scheduler ADDRESS: the tasks go to that cluster; the files equal a local sweep's."""
    from distributed import LocalCluster

    path = sweep_file(tmp_path, '[axes]\n"problem.delta" = [0.6, 0.8]\n')
    local = ddsolver("sweep", path, "-o", tmp_path / "local", "--workers", 1, cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    with LocalCluster(n_workers=1, threads_per_worker=2, dashboard_address=None) as cluster:
        remote = ddsolver(
            "sweep",
            path,
            "-o",
            tmp_path / "remote",
            "--scheduler",
            cluster.scheduler_address,
            cwd=tmp_path,
        )
    assert remote.returncode == 0, remote.stderr
    assert "2 of 2 points finished" in remote.stdout
    names = sorted(p.name for p in (tmp_path / "local").glob("*.h5") if p.stem != "summary")
    assert names == sorted(
        p.name for p in (tmp_path / "remote").glob("*.h5") if p.stem != "summary"
    )
    for name in names:
        with h5py.File(tmp_path / "local" / name) as a, h5py.File(tmp_path / "remote" / name) as b:
            assert np.array_equal(a["observables/risk"][()], b["observables/risk"][()])


def test_final_columns_report_an_observables_last_value(tmp_path):
    spec = read_sweep(sweep_file(tmp_path, 'final = ["mass", "margin"]\n[axes]\n'
                                 '"problem.delta" = [0.8]\n'))  # fmt: skip
    assert spec.final == ["mass", "margin"]
    assert summary_columns(spec).index("final_mass") > summary_columns(spec).index("risk_final")
    point = spec.points()[0]
    report = run_point(point.config, point.key, str(tmp_path), ("run",), [], {}, ("mass", "margin"))
    mass = io.read_series(point_files(tmp_path, point.key)["run"], "observables")["mass"]
    assert report["final_mass"] == mass[-1]
    assert np.isnan(report["final_margin"])  # this kind has no margin
    for bad in ('final = "mass"', 'final = ["time"]', 'final = ["a.b"]'):
        with pytest.raises(ConfigError, match="final"):
            read_sweep(sweep_file(tmp_path, bad + '\n[axes]\n"problem.delta" = [0.8]\n'))


def test_a_point_another_sweep_is_writing_waits_and_takes_its_result(tmp_path):
    """Two sweeps over one directory: the second meets the point's file locked by the first
    (status "running"), waits, and reports the first's finished run, not a failure."""
    import threading

    spec = read_sweep(sweep_file(tmp_path, '[axes]\n"problem.delta" = [0.8]\n'))
    point = spec.points()[0]
    path = point_files(tmp_path, point.key)["run"]
    first = run_point(point.config, point.key, str(tmp_path), ("run",), [0.2], {})
    assert first["status"] == "finished"
    io.set_status(path, "running")  # as the first sweep's writer sees it, mid-run
    holding, release = threading.Event(), threading.Event()

    def other_sweep():
        with io.exclusive_writer(path):
            holding.set()
            release.wait(10)
            io.set_status(path, "finished")

    writer = threading.Thread(target=other_sweep)
    writer.start()
    holding.wait(10)
    threading.Timer(1.0, release.set).start()
    started = time.monotonic()
    second = run_point(point.config, point.key, str(tmp_path), ("run",), [0.2], {})
    writer.join()
    assert second["status"] == "finished" and second["skipped"], second.get("error")
    assert time.monotonic() - started >= 0.9  # it waited for the writer
    assert second["risk_at_0.2"] == first["risk_at_0.2"]


def test_a_sweep_from_a_dict_runs_in_this_process_with_workers_0(tmp_path, monkeypatch):
    """dd.sweep takes a dict checked as a file is, and workers=0 needs no Dask."""
    import ddsolver as dd

    (tmp_path / "base.toml").write_text(BASE)
    monkeypatch.chdir(tmp_path)
    summary = dd.sweep(
        {"base": "base.toml", "axes": {"problem.delta": [0.6, 0.8]}},
        tmp_path / "out",
        workers=0,
        quiet=True,
    )
    columns = summary.columns
    assert list(columns["status"]) == ["finished", "finished"]
    for delta, risk in zip(columns["problem.delta"], columns["risk_final"], strict=True):
        alone = run_grid(_point_config(delta), tmp_path / f"alone_{delta}.h5")
        assert io.read_series(alone.path, "observables")["risk"][-1] == risk  # bitwise
    with pytest.raises(ConfigError, match="axes"):
        dd.sweep({"base": "base.toml", "axes": {}}, tmp_path / "bad", workers=0)
    with pytest.raises(ConfigError, match=r"problem\.delt"):
        dd.sweep({"base": "base.toml", "axes": {"problem.delt": [1]}}, tmp_path / "bad", workers=0)
    with pytest.raises(ConfigError, match="SWEEP"):
        dd.sweep(42)


def _point_config(delta):
    import tomllib

    from ddsolver.config import validate

    raw = tomllib.loads(BASE)
    raw["problem"]["delta"] = float(delta)
    return validate(raw)


def test_a_script_without_a_main_guard_is_told_so_in_one_error(tmp_path):
    """Dask's workers import the script again; the call at its top level is refused with the
    guard named, before any worker starts (it died with 'Nanny failed to start')."""
    (tmp_path / "base.toml").write_text(BASE)
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import ddsolver as dd\n"
        "dd.sweep({'base': 'base.toml', 'axes': {'problem.delta': [0.8]}}, 'out', quiet=True)\n"
    )
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode != 0
    assert "__name__" in done.stderr and "workers=0" in done.stderr
    assert done.stderr.count("Traceback") == 1 and "Nanny" not in done.stderr
    assert not (tmp_path / "out").exists()
