"""The command line as a user drives it: bad configs, runs, kills, resumes, faults."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_runner import ddsolver

from ddsolver import cli, io
from ddsolver.config import ConfigError, load_config
from ddsolver.integrate import run_grid

ROOT = Path(__file__).resolve().parents[1]
GRIDS = sorted((ROOT / "grids").glob("*.toml"))


def write(tmp_path, text, name="c.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


SMALL = """
[problem]
dimension = 40
delta = 0.8
[time]
t_end = 0.4
save_every = 0.2
[grid]
r_max = 3.0
r_cells = 60
"""

BAD_CONFIGS = [
    ("[problem]\ndelta = 1.5\n", "problem.delta"),
    ("[problem]\ndelta = 0.0\n", "problem.delta"),
    ("[problem]\ndelt = 0.5\n", "did you mean 'problem.delta'"),
    ("[problme]\ndelta = 0.5\n", "did you mean 'problem'"),
    ("[problem]\ndimension = 1\n", "problem.dimension"),
    ("[problem]\ndimension = 4.5\n", "problem.dimension"),
    ('[problem]\nkind = "teacher"\n', "problem.kind"),
    ('[problem.activation]\nkind = "swish"\n', "problem.activation.kind"),
    ('[problem.activation]\nkind = "ramp"\nt1 = 2.0\nt2 = 1.0\n', "problem.activation.t2"),
    ('[problem.activation]\nkind = "relu"\nt1 = 0.5\n', "problem.activation.t1"),
    ("[dynamics]\ntau = -1.0\n", "dynamics.tau"),
    ('[dynamics]\nlam = "big"\n', "dynamics.lam"),
    ("[dynamics]\nxi = 0.0\n", "dynamics.xi"),
    (
        '[dynamics.xi]\nkind = "piecewise"\ntimes = [1.0, 2.0]\nvalues = [1.0, 0.5]\n',
        "dynamics.xi.times",
    ),
    ("[time]\nt_end = -2.0\n", "time.t_end"),
    ("[time]\nt_end = 1.0\nsave_every = 2.0\n", "time.save_every"),
    ("[initial]\nscale = 0.0\n", "initial.scale"),
    ("[sgd]\nneurons = 0\n", "sgd.neurons"),
    ("[sgd]\nseeds = [1, 1]\n", "sgd.seeds"),
    ("[grid]\nr_cells = 2\n", "grid.r_cells"),
    ("[grid]\nr_cells = 100.5\n", "grid.r_cells"),
    ("[solver]\norder = 4\n", "solver.order"),
    ("[solver]\ncfl = 1.5\n", "solver.cfl"),
    ('[solver]\ninteraction = "fast"\n', "solver.interaction"),
    ('[solver]\nlimiter = "weno3"\n', "solver.limiter"),
    ('[solver]\nlimiter = "weno5"\n[grid]\nr_stretch = 2.0\n', "needs uniform cells"),
    ('[problem]\nsecond_layer = "yes"\n', "problem.second_layer"),
    ("[problem\ndelta = 0.5\n", "not valid TOML"),
    ("problem = 3\n", "problem"),
]


@pytest.mark.parametrize(("text", "needle"), BAD_CONFIGS, ids=[b[1] for b in BAD_CONFIGS])
def test_bad_config_is_refused_before_compute(tmp_path, text, needle):
    result = ddsolver("run", write(tmp_path, text), "-o", tmp_path / "out.h5")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert not (tmp_path / "out.h5").exists()


def test_bad_override_and_arguments(tmp_path):
    cfg = write(tmp_path, SMALL)
    bad = ddsolver("run", cfg, "--set", "problem.delta=2", "-o", tmp_path / "o.h5")
    assert bad.returncode == 2 and "problem.delta" in bad.stderr
    assert ddsolver("run", tmp_path / "missing.toml").returncode == 2
    assert ddsolver("frobnicate").returncode == 2
    assert "resume" in ddsolver("run", "--help").stdout


def test_run_info_plot_and_overwrite(tmp_path):
    cfg = write(tmp_path, SMALL)
    out = tmp_path / "run.h5"
    first = ddsolver("run", cfg, "-o", out, "--set", "problem.delta=0.6")
    assert first.returncode == 0, first.stderr
    with h5py.File(out) as f:
        assert f.attrs["status"] == "finished"
        assert "delta = 0.6" in f.attrs["config"]
        assert f["snapshots/time"][()].tolist() == pytest.approx([0.0, 0.2, 0.4])
        assert f["snapshots/density"].shape == (3, 60)
        assert f["observables/risk"].shape == f["observables/time"].shape == (21,)  # every 0.02
    again = ddsolver("run", cfg, "-o", out)
    assert again.returncode == 2 and "--force" in again.stderr
    assert ddsolver("run", cfg, "-o", out, "--force").returncode == 0
    info = ddsolver("info", out)
    assert (
        info.returncode == 0 and "finished" in info.stdout and "/snapshots/density" in info.stdout
    )
    plot = ddsolver("plot", out, "-o", tmp_path / "figs")
    assert plot.returncode == 0, plot.stderr
    assert {p.name for p in (tmp_path / "figs").iterdir()} == {
        "risk.png",
        "density.png",
        "density.gif",
    }


def test_resume_against_a_different_config_is_refused(tmp_path):
    cfg = write(tmp_path, SMALL)
    out = tmp_path / "run.h5"
    assert ddsolver("run", cfg, "-o", out).returncode == 0
    other = ddsolver("run", cfg, "-o", out, "--resume", "--set", "problem.delta=0.5")
    assert other.returncode == 2 and "resume" in other.stderr


KILL_CONFIG = """
[problem]
dimension = 40
delta = 0.8
[time]
t_end = 10.0
save_every = 0.25
[grid]
r_max = 6.0
r_cells = 1600
"""


def test_sigkill_leaves_a_readable_file_and_resume_is_bitwise(tmp_path):
    cfg = write(tmp_path, KILL_CONFIG)
    full = tmp_path / "full.h5"
    assert ddsolver("run", cfg, "-o", full).returncode == 0  # also warms numba's cache
    start = time.monotonic()
    assert ddsolver("run", cfg, "-o", tmp_path / "timing.h5").returncode == 0
    duration = time.monotonic() - start
    killed = tmp_path / "killed.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ddsolver", "run", str(cfg), "-o", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while not killed.exists() and proc.poll() is None:  # start-up: imports, set-up
        time.sleep(0.01)
    started = 0.5  # measured import and set-up time before the file appears
    time.sleep(random.Random(os.getpid()).uniform(0.0, 0.9 * max(duration - started, 0.1)))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with h5py.File(killed, "r") as f:  # readable, with whatever was saved
        assert f.attrs["status"] in ("running", "finished")
        saved = f["snapshots/time"].shape[0]
        assert f["snapshots/density"].shape[0] == saved
    resumed = ddsolver("run", cfg, "-o", killed, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    with h5py.File(full) as a, h5py.File(killed) as b:
        assert b.attrs["status"] == "finished"
        for name in (
            "snapshots/time",
            "snapshots/density",
            "observables/time",
            "observables/risk",
            "observables/free_energy",
            "checkpoint/state",
        ):
            if name == "checkpoint/state":
                continue  # the slot index depends on how many checkpoints each file saw
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)


def test_nan_gives_failed_status_and_keeps_snapshots(tmp_path, monkeypatch):
    from ddsolver.pde import GridDD

    original = GridDD.advance

    def poisoned(self, p3, t, t_stop, dt_limit=float("inf"), max_steps=10**9):
        if t >= 0.3:
            p3[0, 0, 0] = np.nan
        return original(self, p3, t, t_stop, dt_limit, max_steps)

    monkeypatch.setattr(GridDD, "advance", poisoned)
    out = tmp_path / "nan.h5"
    code = cli.main(["run", str(write(tmp_path, SMALL)), "-o", str(out), "-q"])
    assert code == 1
    with h5py.File(out) as f:
        assert f.attrs["status"].startswith("failed: non-finite density")
        assert f["snapshots/time"][()].tolist() == pytest.approx([0.0, 0.2])
        assert np.all(np.isfinite(f["snapshots/density"][()]))


def test_mass_reaching_the_edge_fails_the_run(tmp_path):
    cfg = load_config(write(tmp_path, SMALL), ["grid.r_max=1.4", "time.t_end=2.0"])
    result = run_grid(cfg, tmp_path / "edge.h5", quiet=True)
    assert result.status.startswith("failed: mass") and "r_max" in result.status


@pytest.mark.parametrize("path", GRIDS, ids=[p.stem for p in GRIDS])
def test_every_ready_experiment_runs_coarsened(tmp_path, path):
    ready = load_config(path)
    if ready["time"]["spacing"] == "log":
        overrides = ["time.t_end=0.1", "time.first=0.01", "time.save_per_decade=1"]
    else:
        overrides = ["time.t_end=0.1", "time.save_every=0.05", "time.observe_every=0.05",
                     "sgd.observe_every=0"]  # fmt: skip
    kind = ready["problem"]["kind"]
    if kind == "anisotropic_gaussians":
        overrides += ["grid.r_cells=8", "grid.a_cells=8", "grid.b_cells=8"]  # a 4-D grid
    elif kind == "teacher_student":
        overrides += ["grid.r_cells=24", "grid.u_cells=30"]  # a dense kernel: keep it small
    elif kind == "isotropic_gaussians":  # (the other kinds have no r axis: refused)
        overrides.append("grid.r_cells=120")
    elif kind == "gaussian_mixture":  # (its interaction costs 0.45 s a call at M = 400)
        overrides.append("particles.count=40")
    cfg = load_config(path, overrides)
    if cfg["problem"]["second_layer"]:
        cfg["grid"]["a_cells"] = 16
    result = run_grid(cfg, tmp_path / "out.h5", quiet=True)
    assert result.ok, result.status


def test_python_dash_m_help():
    result = ddsolver("--help")
    assert result.returncode == 0 and "run" in result.stdout and "plot" in result.stdout


def test_docs_reference_pages_are_generated_from_the_code():
    import importlib.util

    from ddsolver.config import SCHEMA, schema_markdown

    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    config_page = hooks.on_page_markdown((ROOT / "docs" / "config.md").read_text())
    assert schema_markdown() in config_page
    for table, keys in SCHEMA.items():
        for name in keys:
            assert f"`{table}.{name}`" in config_page
    cli_page = hooks.on_page_markdown((ROOT / "docs" / "cli.md").read_text())
    for verb in ("run", "sgd", "compare", "info", "plot", "sweep", "examples"):
        assert f"### `ddsolver {verb}`" in cli_page
    assert "--resume" in cli_page.split("### `ddsolver sgd`")[1].split("### ")[0]


def test_a_reader_holding_the_file_open_neither_blocks_nor_fails_the_writer(tmp_path):
    """A plain h5py reader (HDF5's default lock) holds the file; the writer, which takes no
    HDF5 lock (io.open_file; writers are kept apart by io.exclusive_writer), writes at once."""
    cfg = load_config(write(tmp_path, SMALL))
    path = tmp_path / "held.h5"
    assert run_grid(cfg, path, quiet=True).ok
    hold = "import h5py, sys, time\nf = h5py.File(sys.argv[1], 'r')\nprint('open', flush=True)\n"
    hold += "time.sleep(0.8)\nf.close()\n"
    reader = subprocess.Popen(
        [sys.executable, "-c", hold, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert reader.stdout.readline().strip() == "open"
    start = time.monotonic()
    io.set_status(path, "finished, then touched")
    waited = time.monotonic() - start
    reader.wait()
    assert io.read_attrs(path)["status"] == "finished, then touched"
    assert waited < 0.3  # it did not wait for the reader (0.8 s)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('kind = "piecewise"\nknots = [1.0, 0.5]\nvalues = [0.0, 1.0]', "problem.activation.knots"),
        ('kind = "piecewise"\nknots = [0.0, 1.0]\nvalues = [1.0]', "problem.activation.values"),
        ('kind = "ramp"\nknots = [0.0, 1.0]', "problem.activation.knots"),
        ('kind = "piecewise"\nt1 = 0.2', "problem.activation.t1"),
    ],
)
def test_piecewise_activation_keys_are_checked(tmp_path, text, key):
    path = write(tmp_path, SMALL + "[problem.activation]\n" + text + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key


def test_piecewise_activation_round_trips_through_the_config(tmp_path):
    text = '[problem.activation]\nkind = "piecewise"\nknots = [0.25, 0.6, 1.8]\n'
    cfg = load_config(write(tmp_path, SMALL + text + "values = [-2.5, -3.5, 7.5]\n"))
    assert cfg["problem"]["activation"] == {
        "kind": "piecewise",
        "knots": [0.25, 0.6, 1.8],
        "values": [-2.5, -3.5, 7.5],
    }
    assert run_grid(cfg, tmp_path / "pw.h5", quiet=True).ok


@pytest.mark.parametrize(
    ("settings", "suffix"),
    [({}, ""), ({"NUMBA_BOUNDSCHECK": "1"}, "-boundscheck1"),
     ({"NUMBA_BOUNDSCHECK": "1", "NUMBA_OPT": "0"}, "-boundscheck1-opt0")],
)  # fmt: skip
def test_numba_cache_directory_is_named_by_the_source_hash(tmp_path, settings, suffix):
    """A kernel's cache must not outlive a change to a kernel it calls (numba tracks one file),
    and kernels compiled with bounds checks (the tests') must not be loaded by other runs."""
    from ddsolver._jit import CODEGEN_VARIABLES, _source_stamp

    probe = "import os, ddsolver.models; print(os.environ['NUMBA_CACHE_DIR'])"
    base = {k: v for k, v in os.environ.items() if k not in CODEGEN_VARIABLES}
    for given in (tmp_path, tmp_path / "ddsolver-0123456789ab"):  # a parent's setting is reused
        env = {**base, **settings, "NUMBA_CACHE_DIR": str(given)}
        out = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == str(tmp_path / f"ddsolver-{_source_stamp()}{suffix}")


def test_compiling_says_so_in_one_line_on_stderr(tmp_path, monkeypatch, capsys):
    """An empty kernel cache: the notice at once; a filled one: only if the warm-up is slow."""
    import time as clock

    from ddsolver import _jit

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "empty"))
    with _jit.compiling_notice():
        clock.sleep(0.2)
    assert capsys.readouterr().err.count("compiling the numerical kernels") == 1
    filled = tmp_path / "filled" / "ddsolver"
    filled.mkdir(parents=True)
    (filled / "kernel.nbi").write_bytes(b"")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "filled"))
    with _jit.compiling_notice():
        clock.sleep(0.1)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(_jit, "NOTICE_AFTER", 0.05)
    with _jit.compiling_notice():
        clock.sleep(0.3)
    assert len(capsys.readouterr().err.splitlines()) == 1
