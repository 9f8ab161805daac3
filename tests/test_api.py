"""The Python API: solve, train, compare, sweep, open — the CLI verbs' twins."""

import numpy as np
import pytest

import ddsolver as dd
from ddsolver import cli

QUICK = """
[problem]
dimension = 20
[time]
t_end = 0.2
save_every = 0.1
[grid]
r_max = 3.0
r_cells = 60
[sgd]
neurons = 40
eps = 1e-3
seeds = [3, 5]
"""


def test_solve_from_text_path_or_dict_gives_the_same_run(tmp_path):
    path = tmp_path / "q.toml"
    path.write_text(QUICK)
    from_text = dd.solve(QUICK, tmp_path / "a.h5", time__t_end=0.1)
    from_path = dd.solve(path, tmp_path / "b.h5", overrides={"time.t_end": 0.1})
    from_dict = dd.solve(dd.api.resolve_config(QUICK), quiet=True, **{"time__t_end": 0.1})
    risks = [r.observables.risk.values for r in (from_text, from_path, from_dict)]
    assert all(np.array_equal(risks[0], r) for r in risks[1:])
    assert from_text.ok and from_text.kind == "pde"
    assert from_dict.path.exists()  # a temporary file
    assert from_text.config["time"]["t_end"] == 0.1


def test_a_bad_value_raises_the_cli_message(tmp_path, capsys):
    with pytest.raises(dd.ConfigError) as raised:
        dd.solve(QUICK, problem__delta=2.0)
    assert isinstance(raised.value, ValueError) and raised.value.key == "problem.delta"
    path = tmp_path / "q.toml"
    path.write_text(QUICK)
    assert cli.main(["run", str(path), "--set", "problem.delta=2.0"]) == 2
    assert str(raised.value) in capsys.readouterr().err
    with pytest.raises(dd.ConfigError, match="neither a file nor TOML"):
        dd.solve("[problem\nbroken")


def test_labelled_results_of_a_grid_a_particle_and_an_sgd_run(tmp_path):
    grid = dd.solve(QUICK, tmp_path / "g.h5")
    snaps = grid.snapshots
    assert snaps.density.dims == ("time", "r") and snaps.sizes["r"] == 60
    assert np.allclose(snaps.r.values, grid.grid["r"]["centres"])
    mass = (snaps.density * np.diff(grid.grid["r"]["edges"])).sum("r")
    np.testing.assert_allclose(mass.values, 1.0, atol=1e-12)
    assert float(grid.observables.risk.sel(time=0.1)) == grid.series("observables")["risk"][10]
    particles = dd.solve(QUICK, tmp_path / "p.h5", discretisation__method="particles")
    assert particles.snapshots.particles.dims == ("time", "particle", "coordinate")
    sgd = dd.train(QUICK, tmp_path / "s.h5")
    assert sgd.kind == "sgd" and sgd.observables.risk.dims == ("time", "seed")
    assert list(sgd.observables.seed.values) == [3, 5]
    assert (
        sgd.snapshots.r.dims == ("time", "seed", "neuron") and sgd.snapshots.sizes["neuron"] == 40
    )
    report = dd.compare(grid, sgd)
    assert report["neurons"] == 40 and report["risk"]["time"] == pytest.approx([0.0, 0.1, 0.2])
    figures = grid.plot()
    assert set(figures) == {"risk", "density"} and figures["risk"].axes
    assert set(sgd.plot()) == {"risk", "neurons"}
    assert "status: finished" in repr(grid) and "<table>" in grid._repr_html_()
    opened = dd.open(tmp_path / "s.h5")
    assert isinstance(opened, dd.Run) and opened.kind == "sgd"
    for name in ("g.h5", "p.h5", "s.h5"):  # what a notebook user types, on every kind of file
        risk = dd.open(tmp_path / name).observables.risk.sel(time=0.1, method="nearest")
        assert float(risk.time) == pytest.approx(0.1) and np.all(np.isfinite(risk.values))


def test_open_refuses_what_is_not_a_ddsolver_file(tmp_path):
    foreign = tmp_path / "x.h5"
    foreign.write_text("text")
    with pytest.raises(ValueError, match=r"x\.h5"):
        dd.open(foreign)


def test_sweep_returns_its_summary_with_a_row_per_point(tmp_path):
    (tmp_path / "base.toml").write_text(QUICK)
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(
        'base = "base.toml"\nverbs = ["run"]\n[axes]\n"problem.delta" = [0.6, 0.7]\n'
    )
    summary = dd.sweep(sweep_file, tmp_path / "out", workers=1, quiet=True)
    assert isinstance(summary, dd.SweepSummary) and summary.parameters == ["problem.delta"]
    table = summary.table
    assert table.sizes["point"] == 2 and list(table.status.values) == ["finished"] * 2
    first = summary.run(0)
    assert first.config["problem"]["delta"] == 0.6
    assert float(table.risk_final.values[0]) == first.series("observables")["risk"][-1]
    assert "2 points, 2 finished" in repr(dd.open(tmp_path / "out" / "summary.h5"))


def test_the_package_loads_its_names_and_submodules_on_first_use():
    """``import ddsolver`` loads no kernel; ``dd.examples.path`` works without importing
    ``ddsolver.examples`` first; an unknown name is an AttributeError."""
    import subprocess
    import sys

    code = (
        "import sys, ddsolver as dd; light = 'numba' not in sys.modules; "
        "p = dd.examples.path('quickstart'); "
        "print(light, p.name, callable(dd.solve), hasattr(dd, 'no_such_name'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "quickstart.toml", "True", "False"]
