"""Bad input, damaged files and concurrent writers, as an adversarial user tries them.

Every bad input must exit 2 with one line on stderr naming the key (or the file) and no
traceback, before any compute; a second writer on a running output is refused; a resume never
repeats a time; damaged and foreign files give one line, not a traceback.
"""

import contextlib
import json
import os
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
from ddsolver.config import load_config, to_toml

SMALL = """
[problem]
dimension = 20
delta = 0.8
[time]
t_end = 0.2
save_every = 0.1
[grid]
r_max = 3.0
r_cells = 60
[sgd]
neurons = 20
eps = 1e-3
"""

#: SMALL without the isotropic kind's own keys (Δ, the r axis), for cases of another kind.
OTHER_KIND = """
[time]
t_end = 0.2
save_every = 0.1
[sgd]
neurons = 20
eps = 1e-3
"""


def _cli(capsys, *argv):
    """``ddsolver ARGV`` in this process: (exit code, stdout, stderr)."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _refused(code, err, needle):
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert needle in lines[0], lines[0]
    assert len(lines[0]) < 600, "a bad value is echoed in full"


# (id, config text appended to SMALL, verb, extra arguments, what the line must name)
BAD_CONFIGS = [
    ("delta-high", "problem.delta=1.5", "run", "problem.delta"),
    ("delta-string", 'problem.delta="x"', "run", "problem.delta"),
    ("dimension-1", "problem.dimension=1", "run", "problem.dimension"),
    ("dimension-word", 'problem.dimension="lots"', "run", "problem.dimension"),
    ("kind", 'problem.kind="nope"', "run", "problem.kind"),
    ("activation", 'problem.activation.kind="softplus"', "run", "problem.activation.kind"),
    ("ramp-t1", "problem.activation.t1=2.0", "run", "problem.activation.t2"),
    ("ramp-knots", "problem.activation.knots=[0.0, 1.0]", "run", "problem.activation.knots"),
    ("scale", "initial.scale=-1.0", "run", "initial.scale"),
    ("initial-d", "initial.dimension=1", "run", "initial.dimension"),
    ("initial-kind", 'initial.kind="uniform"', "run", "initial.kind"),
    ("tau", "dynamics.tau=-1.0", "run", "dynamics.tau"),
    ("lam-nan", "dynamics.lam=nan", "run", "dynamics.lam"),
    ("xi-zero", "dynamics.xi=0", "run", "dynamics.xi"),
    ("xi-alpha", 'dynamics.xi={kind="power", alpha=-1.0}', "run", "dynamics.xi.alpha"),
    (
        "xi-times",
        'dynamics.xi={kind="piecewise", times=[1.0], values=[1.0]}',
        "run",
        "dynamics.xi.times",
    ),
    ("t-end-zero", "time.t_end=0", "run", "time.t_end"),
    ("t-end-inf", "time.t_end=inf", "run", "time.t_end"),
    ("t-end-huge", "time.t_end=1e300", "run", "time.t_end"),
    ("save-tiny", "time.save_every=1e-9", "run", "time.save_every"),
    ("save-zero", "time.save_every=0", "run", "time.save_every"),
    ("observe", "time.observe_every=0.5", "run", "time.observe_every"),
    ("neurons", "sgd.neurons=0", "sgd", "sgd.neurons"),
    ("eps-zero", "sgd.eps=0", "sgd", "sgd.eps"),
    ("eps-large", "sgd.eps=5", "sgd", "sgd.eps"),
    ("seeds-empty", "sgd.seeds=[]", "sgd", "sgd.seeds"),
    ("seeds-negative", "sgd.seeds=[-1]", "sgd", "sgd.seeds"),
    ("seeds-huge", "sgd.seeds=[1180591620717411303424]", "sgd", "sgd.seeds"),
    ("seeds-repeat", "sgd.seeds=[1, 1]", "sgd", "sgd.seeds"),
    ("batch", "sgd.batch=0", "sgd", "sgd.batch"),
    ("sgd-observe", "sgd.observe_every=5.0", "sgd", "sgd.observe_every"),
    ("sgd-neurons-huge", "sgd.neurons=1000000000000", "sgd", "sgd.neurons"),
    ("sgd-batch-huge", "sgd.batch=1000000000", "sgd", "sgd.batch"),
    ("sgd-dimension-huge", "problem.dimension=1000000000", "sgd", "problem.dimension"),
    ("sgd-dinf", 'problem.dimension="inf"', "sgd", "problem.dimension"),
    ("method", 'discretisation.method="spectral"', "run", "discretisation.method"),
    ("r-count", "particles.r_count=0", "run", "particles.r_count"),
    (
        "r-count-huge",
        'discretisation.method="particles"\nparticles.r_count=1000000000',
        "run",
        "particles.r_count",
    ),
    ("rtol", "particles.rtol=0", "run", "particles.rtol"),
    ("r-cells-2", "grid.r_cells=2", "run", "grid.r_cells"),
    ("r-cells-float", "grid.r_cells=1e7", "run", "grid.r_cells"),
    ("r-cells-huge", "grid.r_cells=1000000000", "run", "grid.r_cells"),
    ("a-cells-huge", "problem.second_layer=true\ngrid.a_cells=1000000", "run", "grid.a_cells"),
    ("r-max", "grid.r_max=0", "run", "grid.r_max"),
    ("a-interval", "grid.a_min=4.0", "run", "grid.a_max"),
    ("r-min", "grid.r_min=-1.0", "run", "grid.r_min"),
    ("order", "solver.order=4", "run", "solver.order"),
    ("cfl", "solver.cfl=0", "run", "solver.cfl"),
    ("limiter", 'solver.limiter="superbee"', "run", "solver.limiter"),
    ("rtol-order", "solver.rtol=1e-6\nsolver.order=2", "run", "solver.rtol"),
    ("dt-max", "solver.dt_max=0", "run", "solver.dt_max"),
    ("output-path", "output.path=3", "run", "output.path"),
    ("unknown-key", "problem.delt=0.5", "run", "problem.delt"),
    (
        "aniso-erf",
        'problem.kind="anisotropic_gaussians"\nproblem.activation.kind="erf"',
        "run",
        "problem.activation.kind",
    ),
    ("aniso-tau", 'problem.kind="anisotropic_gaussians"\ndynamics.tau=0.1', "run", "dynamics.tau"),
    (
        "aniso-grid",
        'problem.kind="anisotropic_gaussians"\ndiscretisation.method="grid"',
        "run",
        "discretisation.method",
    ),
    (
        "teacher-particles",
        'problem.kind="teacher_student"\ndiscretisation.method="particles"',
        "run",
        "discretisation.method",
    ),
    (
        "teacher-second",
        'problem.kind="teacher_student"\nproblem.second_layer=true',
        "run",
        "problem.second_layer",
    ),
    (
        "teacher-d2",
        'problem.kind="teacher_student"\nproblem.dimension=2',
        "run",
        "problem.dimension",
    ),
    ("teacher-dense", 'problem.kind="teacher_student"\ngrid.u_cells=4000', "run", "grid.u_cells"),
    (
        "a-misses-mass",
        "problem.second_layer=true\ngrid.a_max=0.5\ngrid.a_min=-0.5",
        "run",
        "grid.a",
    ),
    ("teacher-misses-mass", 'problem.kind="teacher_student"\ngrid.u_max=0.1', "run", "grid.u"),
    ("finite-step-word", 'dynamics.finite_step="yes"', "run", "dynamics.finite_step"),
    (
        "finite-step-dinf",
        'dynamics.finite_step=true\nproblem.dimension="inf"',
        "run",
        "problem.dimension",
    ),
    (
        "finite-step-committee",
        'dynamics.finite_step=true\nproblem.kind="committee"',
        "run",
        "dynamics.finite_step",
    ),
    *(
        (name, 'problem.kind="training_set"\nproblem.generate.kind="teacher"\n' + sets, "run", key)
        for name, sets, key in (
            (
                "grid-d3",  # d = 1 is the circle, d = 2 the sphere; d = 3 has no grid
                'problem.dimension=3\ndiscretisation.method="grid"\ninitial.kind="sphere"',
                "problem.dimension",
            ),
            (
                "circle-gaussian",
                'problem.dimension=1\ndiscretisation.method="grid"',
                "initial.kind",
            ),
            (
                "circle-output",
                'problem.dimension=1\ndiscretisation.method="grid"\n'
                'initial.kind="sphere"\nproblem.train="output"',
                "problem.train",
            ),
            (  # WENO runs on the circle now; an unknown reconstruction is still refused
                "circle-limiter",
                'problem.dimension=1\ndiscretisation.method="grid"\n'
                'initial.kind="sphere"\nsolver.limiter="weno7"',
                "solver.limiter",
            ),
            ("angle-cells", "problem.dimension=1\ngrid.angle_cells=4", "grid.angle_cells"),
            (
                "sphere-cells",
                'problem.dimension=2\ndiscretisation.method="grid"\ninitial.kind="sphere"\n'
                "grid.sphere_cells=1",
                "grid.sphere_cells",
            ),
            ("linearised-lam", "dynamics.linearised=true\ndynamics.lam=0.1", "dynamics.linearised"),
            ("linearised-word", 'dynamics.linearised="yes"', "dynamics.linearised"),
            ("dimension-0", "problem.dimension=0", "problem.dimension"),
        )
    ),
    ("r-max-1e300", "grid.r_max=1e300", "run", "grid.r_max"),
    ("a-min-1e300", "problem.second_layer=true\ngrid.a_min=-1e300", "run", "grid.a_min"),
    ("u-max-1e300", 'problem.kind="teacher_student"\ngrid.u_max=1e300', "run", "grid.u_max"),
    ("b-max-1e300", 'problem.kind="anisotropic_gaussians"\ngrid.b_max=1e300', "run", "grid.b_max"),
]


@pytest.mark.parametrize(
    ("name", "sets", "verb", "needle"), BAD_CONFIGS, ids=[b[0] for b in BAD_CONFIGS]
)
def test_bad_config_value_is_one_line_naming_the_key(tmp_path, capsys, name, sets, verb, needle):
    cfg = tmp_path / "c.toml"
    # another kind starts from a config without the isotropic keys, which it would refuse
    cfg.write_text(SMALL if "problem.kind" not in sets else OTHER_KIND)
    args = [a for line in sets.splitlines() for a in ("--set", line)]
    out = tmp_path / "out.h5"
    code, _, err = _cli(capsys, verb, cfg, "-o", out, *args)
    _refused(code, err, needle)
    assert not out.exists()


def test_override_injection_deep_keys_and_long_values(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    code, _, err = _cli(capsys, "run", cfg, "--set", "problem.delta=0.5\n[evil]\nx=1")
    _refused(code, err, "problem.delta")
    deep = ".".join(["a"] * 5000) + "=1"
    code, _, err = _cli(capsys, "run", cfg, "--set", deep)
    _refused(code, err, "--set")
    code, _, err = _cli(capsys, "run", cfg, "--set", "problem.delta=" + "9" * 2_000_000)
    _refused(code, err, "problem.delta")
    code, _, err = _cli(capsys, "run", cfg, "--set", "problem.delta")
    _refused(code, err, "problem.delta")
    code, _, err = _cli(capsys, "run", cfg, "--set", "=3")
    _refused(code, err, "--set")


BAD_ARGUMENTS = [
    ("verb", ["frobnicate"], "invalid choice"),
    ("no-config", ["run"], "CONFIG"),
    ("flag", ["run", "{cfg}", "--frobnicate"], "--frobnicate"),
    ("sweep-workers", ["sweep", "{cfg}", "--workers", "-1"], "--workers"),
    ("compare-one-file", ["compare", "{cfg}"], "SGD.h5"),
    ("empty-output-run", ["run", "{cfg}", "-o", ""], "-o"),
    ("empty-output-sgd", ["sgd", "{cfg}", "-o", " "], "-o"),
    ("long-output-name", ["run", "{cfg}", "-o", "a" * 300 + ".h5"], "longer than"),
    ("long-output-dir", ["sweep", "{cfg}", "-o", "d" * 300], "longer than"),
    ("scheduler-not-an-address", ["sweep", "{cfg}", "--scheduler", "notaurl"], "--scheduler"),
    ("sweep-workers-100000", ["sweep", "{cfg}", "--workers", "100000"], "--workers"),
    ("deep-set-list", ["check", "{cfg}", "--set", "problem.x=" + "[" * 3000 + "]" * 3000],
     "nested"),
    ("deep-set-table", ["check", "{cfg}", "--set", "problem.x=" + "{a=" * 3000 + "1" + "}" * 3000],
     "nested"),
    ("int-10^400", ["check", "{cfg}", "--set", "grid.r_cells=1" + "0" * 400], "grid.r_cells"),
    ("float-10^400", ["check", "{cfg}", "--set", "grid.r_max=1" + "0" * 400], "grid.r_max"),
    ("dimension-10^400", ["check", "{cfg}", "--set", "problem.dimension=1" + "0" * 400],
     "problem.dimension"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "argv", "needle"), BAD_ARGUMENTS, ids=[b[0] for b in BAD_ARGUMENTS]
)
def test_bad_arguments_are_one_line(tmp_path, capsys, monkeypatch, name, argv, needle):
    monkeypatch.chdir(tmp_path)  # a sweep's default output directory is made here
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    if argv[0] == "sweep":  # a sweep file over the small config
        (tmp_path / "s.toml").write_text('base = "c.toml"\n[axes]\n"problem.delta" = [0.8]\n')
        cfg = tmp_path / "s.toml"
    code, _, err = _cli(capsys, *(a.replace("{cfg}", str(cfg)) for a in argv))
    _refused(code, err, needle)
    assert not (tmp_path / cfg.stem).exists(), "a refused run made its output directory"


def _files(tmp_path):
    """Damaged and foreign files of every sort, by name."""
    files = {}
    files["text"] = tmp_path / "text.h5"
    files["text"].write_text("not hdf5\n")
    files["empty"] = tmp_path / "empty.h5"
    files["empty"].write_bytes(b"")
    files["directory"] = tmp_path / "dir.h5"
    files["directory"].mkdir()
    files["foreign"] = tmp_path / "foreign.h5"
    with h5py.File(files["foreign"], "w") as f:
        f["x"] = np.arange(3)
    files["no-config"] = tmp_path / "noconfig.h5"
    with h5py.File(files["no-config"], "w") as f:
        f.attrs["kind"] = "pde"
    return files


FILE_VERBS = [
    ("info", ["info", "{f}"]),
    ("plot", ["plot", "{f}", "-o", "{tmp}/figs"]),
    ("compare-pde", ["compare", "{f}", "{f}", "-o", "{tmp}/rep"]),
    ("resume", ["run", "{cfg}", "-o", "{f}", "--resume"]),
    ("resume-sgd", ["sgd", "{cfg}", "-o", "{f}", "--resume"]),
]


@pytest.mark.parametrize("kind", ["text", "empty", "directory", "foreign", "no-config"])
@pytest.mark.parametrize(("verb", "argv"), FILE_VERBS, ids=[v[0] for v in FILE_VERBS])
def test_damaged_or_foreign_files_are_one_line(tmp_path, capsys, kind, verb, argv):
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    target = _files(tmp_path)[kind]
    args = [a.format(f=target, tmp=tmp_path, cfg=cfg) for a in argv]
    code, _, err = _cli(capsys, *args)
    _refused(code, err, target.name)


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("binary", b"\xff\xfe\x00\x01garbage", "UTF-8"),
        ("utf16", "[problem]\ndelta = 0.5\n".encode("utf-16"), "UTF-8"),
        ("toml-syntax", b"[problem\ndelta = 0.5\n", "not valid TOML"),
    ],
)
def test_unreadable_config_and_sweep_files(tmp_path, capsys, name, content, needle):
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    for verb in ("run", "sgd", "sweep"):
        code, _, err = _cli(capsys, verb, path, "--dry-run" if verb == "sweep" else "-q")
        _refused(code, err, needle)
    code, _, err = _cli(capsys, "run", tmp_path)
    _refused(code, err, str(tmp_path))


def test_unwritable_outputs_are_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    directory = tmp_path / "adir"
    directory.mkdir()
    for verb in ("run", "sgd"):
        code, _, err = _cli(capsys, verb, cfg, "-o", directory, "--force")
        _refused(code, err, "-o")
        code, _, err = _cli(capsys, verb, cfg, "-o", "/dev/null", "--force")
        _refused(code, err, "-o")
        code, _, err = _cli(capsys, verb, cfg, "-o", tmp_path / "missing" / "x.h5")
        _refused(code, err, "-o")
    run = tmp_path / "r.h5"
    assert _cli(capsys, "run", cfg, "-o", run, "-q")[0] == 0
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should go")
    code, _, err = _cli(capsys, "plot", run, "-o", blocker)
    _refused(code, err, "-o")
    code, _, err = _cli(capsys, "compare", run, run, "-o", blocker)
    _refused(code, err, "-o")


def test_sweep_with_too_many_points_is_refused_before_listing(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        f'base = "{cfg}"\n[axes]\n"problem.delta" = {{ start = 0.1, stop = 0.9, num = 10000000 }}\n'
    )
    start = time.monotonic()
    code, _, err = _cli(capsys, "sweep", sweep, "--dry-run")
    _refused(code, err, "problem.delta")
    assert time.monotonic() - start < 5.0


def test_a_sweep_over_system_files_as_data_fails_each_point_on_the_data_check(tmp_path, capsys):
    """An axis of problem.data naming files that are no data: --dry-run lists each point with
    the data check's message and exits 2; the sweep runs none of them and exits 1."""
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        f'base = "{GRIDS / "training_set.toml"}"\n[axes]\n'
        '"problem.data" = ["/etc/passwd", "/etc/hostname"]\n'
    )
    code, out, err = _cli(capsys, "sweep", sweep, "--dry-run", "-o", tmp_path / "dry")
    assert code == 2
    assert out.count("config key 'problem.data'") == 2
    assert err.strip().endswith("2 of 2 points are invalid")
    code, out, _ = _cli(capsys, "sweep", sweep, "--workers", "0", "-o", tmp_path / "run")
    assert code == 1
    assert out.count("invalid: config key 'problem.data'") == 2
    assert not list((tmp_path / "run").glob("*.h5")) or all(
        p.name.startswith("summary") for p in (tmp_path / "run").glob("*.h5")
    )


# ---------------------------------------------------------------------- concurrent writers


#: A grid run of about 3 s (1600 cells to t = 4): long enough to meet it while it runs.
KILL_CONFIG = (
    SMALL.replace("t_end = 0.2", "t_end = 4.0")
    .replace("r_max = 3.0", "r_max = 8.0")
    .replace("r_cells = 60", "r_cells = 1600")
    .replace("neurons = 20", "neurons = 400")
    .replace("eps = 1e-3", "eps = 1e-4")
)


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(KILL_CONFIG)
    out = tmp_path / "busy.h5"
    first = subprocess.Popen(
        [sys.executable, "-m", "ddsolver", "run", str(cfg), "-o", str(out), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not out.exists() and first.poll() is None:
        time.sleep(0.01)
    second = ddsolver("run", cfg, "-o", out, "--force")
    third = ddsolver("run", cfg, "-o", out, "--resume")
    assert first.wait() == 0, first.stderr.read()
    for late in (second, third):
        assert late.returncode == 2, late.stderr
        assert "another ddsolver process" in late.stderr and len(late.stderr.splitlines()) == 1
    with h5py.File(out) as f:
        times = f["observables/time"][()]
        assert f.attrs["status"] == "finished"
    assert np.all(np.diff(times) > 0)


def test_two_resumes_of_one_killed_file_never_repeat_a_time(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(KILL_CONFIG)
    out = tmp_path / "k.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ddsolver", "run", str(cfg), "-o", str(out), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while not out.exists() and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    argv = [sys.executable, "-m", "ddsolver", "run", str(cfg), "-o", str(out), "--resume", "-q"]
    both = [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    codes = sorted(p.wait() for p in both)
    assert codes[0] == 0 and codes[1] in (0, 2)  # the loser is refused (or starts after)
    with h5py.File(out) as f:
        times = f["observables/time"][()]
        assert f.attrs["status"] == "finished"
    assert np.all(np.diff(times) > 0), "a resume appended a time the file already had"


# ---------------------------------------------------------------------- faults and files


def test_dying_inside_the_first_save_resumes_without_a_repeated_row(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    out = tmp_path / "first.h5"
    assert _cli(capsys, "run", cfg, "-o", out, "-q")[0] == 0
    with h5py.File(out, "r+") as f:  # as if killed between the data and the checkpoint write
        f["checkpoint/state"][:] = np.nan
        f.attrs["status"] = "running"
    assert _cli(capsys, "run", cfg, "-o", out, "--resume", "-q")[0] == 0
    partial = tmp_path / "partial.h5"
    with h5py.File(partial, "w") as f:  # as if killed while the file was being created
        f.attrs["config"] = to_toml(load_config(cfg))
        f.attrs["kind"] = "pde"
        f.attrs["status"] = "running"
    code, _, err = _cli(capsys, "run", cfg, "-o", partial, "--resume", "-q")
    assert code == 0, err
    for path in (out, partial):
        with h5py.File(path) as f:
            assert f.attrs["status"] == "finished"
            np.testing.assert_array_equal(f["observables/time"][()][:2], [0.0, 0.01])


def test_a_full_disk_fails_the_run_with_a_message_and_it_resumes(tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL.replace("t_end = 0.2", "t_end = 0.4"))
    out, full = tmp_path / "d.h5", tmp_path / "full.h5"
    assert _cli(capsys, "run", cfg, "-o", full, "-q")[0] == 0
    real = io.free_bytes
    saves = {"n": 0}

    def filling(path):
        saves["n"] += 1
        return real(path) if saves["n"] <= 2 else 1000  # full after two saves

    monkeypatch.setattr(io, "free_bytes", filling)
    code, out_text, err = _cli(capsys, "run", cfg, "-o", out, "-q")
    assert code == 1 and "disk full" in out_text and "--resume" in out_text
    assert "Traceback" not in err
    with h5py.File(out) as f:
        assert f.attrs["status"].startswith("failed: disk full")
    monkeypatch.setattr(io, "free_bytes", real)
    assert _cli(capsys, "run", cfg, "-o", out, "--resume", "-q")[0] == 0
    _same(out, full)


def _same(a_path, b_path):
    with h5py.File(a_path) as a, h5py.File(b_path) as b:
        for name in ("observables/time", "observables/risk", "snapshots/density"):
            np.testing.assert_array_equal(a[name][()], b[name][()], name)


def _tmpfs(path, size: str):
    """A tmpfs of ``size`` mounted at ``path`` (made here); skips the test without root.
    The caller unmounts it."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    return path


def test_a_really_full_file_system_fails_cleanly_and_resumes(tmp_path):
    """A 2 MB tmpfs fills mid-run: exit 1, a clean status, and a bitwise resume once enlarged."""
    small = _tmpfs(tmp_path / "small", "2000k")
    try:
        cfg = tmp_path / "c.toml"
        cfg.write_text(
            "[problem]\ndimension = 20\n[time]\nt_end = 4.0\nsave_every = 0.01\n"
            "[grid]\nr_cells = 400\n"
        )
        out = small / "x.h5"
        first = ddsolver("run", cfg, "-o", out, "-q")
        assert first.returncode == 1, first.stderr
        assert "disk full" in first.stdout and "Traceback" not in first.stderr
        subprocess.run(["mount", "-o", "remount,size=16m", str(small)], check=True)
        resumed = ddsolver("run", cfg, "-o", out, "--resume", "-q")
        assert resumed.returncode == 0, resumed.stderr
        assert ddsolver("info", out, "--verify").returncode == 0
        full = tmp_path / "full.h5"
        assert ddsolver("run", cfg, "-o", full, "-q").returncode == 0
        _same(out, full)
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_info_on_an_sgd_file_and_verify_catches_a_flipped_byte(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    sgd = tmp_path / "s.h5"
    assert _cli(capsys, "sgd", cfg, "-o", sgd, "-q")[0] == 0
    code, out, err = _cli(capsys, "info", sgd)
    assert code == 0 and "sgd run" in out and "risk" in out, err
    assert _cli(capsys, "info", sgd, "--verify")[0] == 0
    run = tmp_path / "r.h5"
    assert _cli(capsys, "run", cfg, "-o", run, "-q")[0] == 0
    with h5py.File(run, "r") as f:
        offset = f["snapshots/density"].id.get_chunk_info(0).byte_offset
    with open(run, "r+b") as fh:
        fh.seek(offset + 40)
        byte = fh.read(1)
        fh.seek(offset + 40)
        fh.write(bytes([byte[0] ^ 0xFF]))
    code, _, err = _cli(capsys, "info", run, "--verify")
    _refused(code, err, "r.h5")
    assert "checksum" in err


def test_compare_on_a_failed_run_writes_valid_json(tmp_path, capsys, monkeypatch):
    from ddsolver import pde

    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    sgd = tmp_path / "s.h5"
    assert _cli(capsys, "sgd", cfg, "-o", sgd, "-q")[0] == 0
    broken = pde.GridDD.observables

    def nan_risk(self, p, neurons):
        return {**broken(self, p, neurons), "risk": float("nan")}

    monkeypatch.setattr(pde.GridDD, "observables", nan_risk)
    run = tmp_path / "nan.h5"
    code, _, _ = _cli(capsys, "run", cfg, "-o", run, "-q")
    assert code == 1
    monkeypatch.setattr(pde.GridDD, "observables", broken)
    code, _, err = _cli(capsys, "compare", run, sgd, "-o", tmp_path / "rep")
    assert code == 0, err
    report = json.loads((tmp_path / "rep" / "report.json").read_text())  # strict JSON
    assert report["pde_status"].startswith("failed")
    assert _cli(capsys, "plot", run, "-o", tmp_path / "figs", "--no-animation")[0] == 0


#: ``ddsolver`` with Python's own SIGINT handler, as started from a terminal: a test run
#: started in the background (``pytest &`` in a script) ignores SIGINT, its children inherit
#: that, and ddsolver rightly keeps an ignored SIGINT ignored (``nohup``) — the run then
#: finished with 0
AS_FROM_A_TERMINAL = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from ddsolver.cli import main; sys.exit(main(sys.argv[1:]))"
)


def test_sigint_exits_130_and_a_pipe_closed_early_is_quiet(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(KILL_CONFIG.replace("t_end = 4.0", "t_end = 30.0"))
    out = tmp_path / "i.h5"
    for verb in ("run", "sgd"):
        args = [verb, str(cfg), "-o", str(out), "-q", "--force"]
        proc = subprocess.Popen(
            [sys.executable, "-c", AS_FROM_A_TERMINAL, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        while not out.exists() and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        assert proc.wait() == 130
        err = proc.stderr.read()
        assert "resume with --resume" in err and "Traceback" not in err
        out.unlink()
    short = tmp_path / "short.h5"
    assert (
        ddsolver("run", tmp_path / "c.toml", "-o", short, "--set", "time.t_end=0.1").returncode == 0
    )
    piped = subprocess.run(
        f"{sys.executable} -m ddsolver info {short} | head -1",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr


def test_an_interrupt_that_lands_in_a_finaliser_is_neither_lost_nor_printed(capsys, monkeypatch):
    """SIGINT raises KeyboardInterrupt wherever Python is; inside a weakref callback or a
    ``__del__`` Python cannot propagate it and printed "Exception ignored … Traceback" (seen
    once in the SIGINT test). The flag still stops the run; the traceback is not shown."""
    from ddsolver.runloop import INTERRUPT_REQUESTED

    class Finalised:
        def __del__(self):
            INTERRUPT_REQUESTED.set()  # as the SIGINT handler does, then raises
            raise KeyboardInterrupt

    def verb(args):
        Finalised()  # collected at once: the interrupt lands in __del__
        raise KeyboardInterrupt  # the run loop's answer to the flag

    seen = []  # the hook that was there before main (Python's prints "Exception ignored")
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: seen.append(unraisable.exc_type))
    monkeypatch.setattr(cli, "_info", verb)
    code, _, err = _cli(capsys, "info", "x.h5")
    assert code == 130 and err.strip() == "ddsolver: interrupted; resume with --resume"
    assert seen == []

    class Broken:  # anything else still reaches the hook that was there before
        def __del__(self):
            raise RuntimeError("not an interrupt")

    def other(args):
        Broken()
        return 0

    monkeypatch.setattr(cli, "_info", other)
    assert _cli(capsys, "info", "x.h5")[0] == 0
    assert seen == [RuntimeError]


def test_readers_poll_a_running_file_without_failing(tmp_path, capsys):
    """Readers see a consistent prefix of a live file: every series as long as the others
    (a save grows the datasets one after another), never an error. The readers take turns:
    ddsolver's series reader, ``ddsolver.open(...).observables`` and ``ddsolver info``."""
    import ddsolver as dd

    cfg = tmp_path / "c.toml"
    cfg.write_text(
        KILL_CONFIG.replace("save_every = 0.1", "save_every = 0.004").replace(
            "t_end = 4.0", "t_end = 1.5"
        )
    )
    out = tmp_path / "poll.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ddsolver", "run", str(cfg), "-o", str(out), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while not (out.exists() and io.has_checkpoint(out)) and proc.poll() is None:
        time.sleep(0.01)
    reads = 0
    while proc.poll() is None:
        if reads % 3 == 0:
            obs = io.read_series(out, "observables")
            assert len({a.shape[0] for a in obs.values()}) == 1
        elif reads % 3 == 1:
            assert dd.open(out).observables["risk"].ndim == 1
        else:
            code, _, err = _cli(capsys, "info", out)
            assert code == 0, err
        reads += 1
    assert proc.wait() == 0 and reads > 15


def test_extending_a_finished_run_stores_the_new_end(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    out = tmp_path / "e.h5"
    assert _cli(capsys, "run", cfg, "-o", out, "-q")[0] == 0
    assert _cli(capsys, "run", cfg, "-o", out, "-q", "--resume", "--set", "time.t_end=0.3")[0] == 0
    attrs = io.read_attrs(out)
    assert "t_end = 0.3" in attrs["config"] and attrs["status"] == "finished"
    assert io.read_series(out, "observables")["time"][-1] == pytest.approx(0.3)


def test_a_resume_from_python_never_overwrites_a_foreign_file(tmp_path):
    import ddsolver as dd

    foreign = tmp_path / "mine.h5"
    with h5py.File(foreign, "w") as f:
        f["precious"] = np.arange(3)
    for solve in (dd.solve, dd.train):
        with pytest.raises(ValueError, match="not a ddsolver file"):
            solve(SMALL, foreign, resume=True)
    with h5py.File(foreign) as f:
        assert list(f["precious"][()]) == [0, 1, 2]


# ------------------------------------------------------- locks, checkpoints and stored data

TRAINING_SET = """
[problem]
kind = "training_set"
dimension = 2
data = "{data}"
[initial]
kind = "sphere"
scale = 0.1
[particles]
count = 20
[time]
t_end = 2.0
save_every = 0.5
[sgd]
neurons = 20
eps = 0.05
seeds = [0]
"""


def _points(path, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(12, 2))
    np.savez(path, x=x, y=np.sign(x[:, 0]) + (x[:, 0] == 0))
    return path


def test_a_lock_file_that_is_a_symlink_is_refused_and_its_target_kept(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    target = tmp_path / "some_file"
    target.write_text("precious")
    (tmp_path / "q.h5.lock").symlink_to(target)
    code, _, err = _cli(capsys, "run", cfg, "-o", tmp_path / "q.h5", "-q")
    _refused(code, err, "q.h5.lock")
    assert "symbolic link" in err
    assert target.read_text() == "precious"


@pytest.mark.parametrize("verb", ["run", "sgd"])
def test_a_resume_refuses_a_data_file_changed_since_the_run_began(tmp_path, capsys, verb):
    data = _points(tmp_path / "points.npz", 0)
    cfg = tmp_path / "c.toml"
    cfg.write_text(TRAINING_SET.format(data=data))
    out = tmp_path / "run.h5"
    assert _cli(capsys, verb, cfg, "-o", out, "-q", "--set", "time.t_end=1.0")[0] == 0
    before = io.read_series(out, "observables")["time"].size
    _points(data, 1)  # the user replaces the file, then resumes
    code, _, err = _cli(capsys, verb, cfg, "-o", out, "--resume", "-q")
    _refused(code, err, "problem.data")
    assert io.read_series(out, "observables")["time"].size == before  # nothing lost
    assert io.read_attrs(out)["status"] == "finished"
    _points(data, 0)  # the original data: the resume goes on
    assert _cli(capsys, verb, cfg, "-o", out, "--resume", "-q")[0] == 0
    assert io.read_series(out, "observables")["time"][-1] == pytest.approx(2.0)


def _finished_run(tmp_path, capsys, name="run.h5"):
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    out = tmp_path / name
    assert _cli(capsys, "run", cfg, "-o", out, "-q")[0] == 0
    return cfg, out


@pytest.mark.parametrize(
    ("entry", "value"),
    [(3, "half"), (4, "half"), (0, 1e300), (2, 7.0), (5, -1.0), (0, np.inf), (6, "crc+1")],
    ids=["n_snapshots/2", "n_observables/2", "t=1e300", "slot=7", "steps<0", "t=inf", "crc"],
)
def test_a_damaged_checkpoint_is_one_line_and_changes_nothing(tmp_path, capsys, entry, value):
    cfg, out = _finished_run(tmp_path, capsys)
    with h5py.File(out, "r+") as f:
        state = f["checkpoint/state"][()]
        rows = f["observables/time"].shape[0]
        changed = {"half": state[entry] // 2, "crc+1": state[entry] + 1}
        state[entry] = changed.get(value, value) if isinstance(value, str) else value
        f["checkpoint/state"][:] = state
    for argv in (("info", out, "--verify"), ("run", cfg, "-o", out, "--resume", "-q")):
        code, _, err = _cli(capsys, *argv)
        _refused(code, err, "checkpoint")
    assert io.read_series(out, "observables")["time"].size == rows  # no row was cut


def test_a_damaged_checkpoint_is_refused_before_any_kernel_compiles(tmp_path, capsys, monkeypatch):
    """The checkpoint is checked with the file, before the kernels (and a budget's terms, minutes
    of them) are built: a resume of a damaged file never reaches the warm-up."""
    from ddsolver import integrate

    cfg, out = _finished_run(tmp_path, capsys)
    with h5py.File(out, "r+") as f:
        state = f["checkpoint/state"][()]
        state[5] = -1.0  # steps < 0
        f["checkpoint/state"][:] = state

    def reached(*args, **kwargs):
        raise AssertionError("the kernels were built before the checkpoint was checked")

    monkeypatch.setattr(integrate, "warm_up_pde", reached)
    code, _, err = _cli(capsys, "run", cfg, "-o", out, "--resume", "-q")
    _refused(code, err, "damaged checkpoint")


def test_a_flipped_solver_state_fails_its_checkpoint_checksum(tmp_path, capsys):
    cfg, out = _finished_run(tmp_path, capsys)
    with h5py.File(out, "r+") as f:
        slot = int(f["checkpoint/state"][2])
        density = f["checkpoint/density"][slot]
        density[density.size // 2] *= 0.5
        f["checkpoint/density"][slot] = density
    code, _, err = _cli(capsys, "run", cfg, "-o", out, "--resume", "-q")
    _refused(code, err, "does not match its checksum")


@pytest.mark.parametrize(
    "damage",
    ["grid", "data", "seeds", "config", "status"],
)
def test_verify_checks_the_datasets_written_once_and_the_attributes(tmp_path, capsys, damage):
    data = _points(tmp_path / "points.npz", 0)
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL if damage == "grid" else TRAINING_SET.format(data=data))
    out = tmp_path / "run.h5"
    verb = "sgd" if damage == "seeds" else "run"
    assert _cli(capsys, verb, cfg, "-o", out, "-q", "--set", "time.t_end=0.5")[0] == 0
    assert _cli(capsys, "info", out, "--verify")[0] == 0
    with h5py.File(out, "r+") as f:
        if damage == "grid":
            ds = f["grid/r/edges"]
            ds[3] = ds[3] * (1 + 1e-15)
        elif damage == "data":
            f["data/x"][0, 0] = -f["data/x"][0, 0]
        elif damage == "seeds":
            f["seeds"][0] = 1
        elif damage == "config":
            f.attrs["config"] = f.attrs["config"].replace("t_end = 0.5", "t_end = 0.6")
        else:
            f.attrs["status"] = "failed: x"
    code, _, err = _cli(capsys, "info", out, "--verify")
    _refused(code, err, "does not match its checksum")
    assert (f"/{damage}" in err) or (f"{damage} attribute" in err)


# ------------------------------------------------------------ faults of the ODE-driven kinds

GRIDS = Path(__file__).resolve().parents[1] / "grids"


@pytest.mark.parametrize(
    ("config", "key", "reason"),
    [
        ("committee.toml", "dynamics.eta=1e10", "step size collapsed"),
        ("committee.toml", "dynamics.eta_v=1e12", "step size collapsed"),
        ("training_set.toml", "dynamics.lam=1e300", "step size collapsed"),
        ("training_set_circle.toml", "dynamics.lam=1e300", "step size collapsed"),
    ],
)
def test_an_ode_limit_that_cannot_progress_fails_with_a_status(
    tmp_path, capsys, config, key, reason
):
    out = tmp_path / "o.h5"
    started = time.monotonic()
    code, _, err = _cli(capsys, "run", GRIDS / config, "--set", key, "-o", out, "-q")
    assert code == 1, err
    assert time.monotonic() - started < 60
    status = io.read_attrs(out)["status"]
    assert status.startswith("failed: ") and reason in status
    assert io.read_series(out, "observables")["time"][0] == 0.0  # what was written is kept
    assert io.verify(out) > 0


def test_a_step_cap_that_cannot_reach_the_end_is_refused_before_compute(tmp_path, capsys):
    code, _, err = _cli(
        capsys, "run", GRIDS / "training_set_circle.toml", "--set", "solver.dt_max=1e-300",
        "-o", tmp_path / "o.h5",
    )  # fmt: skip
    _refused(code, err, "solver.dt_max")
    assert not (tmp_path / "o.h5").exists()


def test_an_overflowing_right_hand_side_is_a_fault_like_nan():
    from ddsolver.ode import ODEIntegrator

    def rhs(x):
        return np.exp(np.full_like(x, 800.0)) if x[0] > 1.5 else np.ones_like(x)

    ode = ODEIntegrator(rhs, np.ones(2), lambda x, t: {}, lambda x, t: {}, 1e-8, 1e-10)
    step = ode.advance(0.0, 10.0)
    assert step.failure is not None and "not finite" in step.failure
    assert 0.0 < step.t < 0.5 + 1e-9


@pytest.mark.parametrize(
    "key",
    ["problem.dimension=" + "1" + "0" * 30, "problem.dimension=1000000000000",
     "grid.r_max=1e6", "initial.scale=1e-300"],
    ids=["d=1e30", "d=1e12", "r_max=1e6", "scale=1e-300"],
)  # fmt: skip
def test_extreme_initial_laws_run_or_fail_with_a_status_in_seconds(tmp_path, capsys, key):
    """The chi law's cdf at huge d or beyond the float range: no traceback, no hang."""
    out = tmp_path / "o.h5"
    started = time.monotonic()
    code, _, err = _cli(capsys, "run", GRIDS / "quickstart.toml", "--set", key, "-o", out, "-q")
    assert time.monotonic() - started < 30
    assert code in (0, 1) and "Traceback" not in err, err
    status = io.read_attrs(out)["status"]
    assert status == "finished" if code == 0 else status.startswith("failed: ")


# ------------------------------------------------------------------------- the numba cache


@pytest.mark.parametrize("shared", ["link", "open-to-all", "absent"])
def test_an_unwritable_home_caches_kernels_only_where_no_one_else_can_write(tmp_path, shared):
    """numba unpickles its cache: a directory others can write (or a link to one) is refused
    and the kernels go to a private directory of the process's own; a missing one is made
    0700."""
    import os
    import stat

    temp, elsewhere = tmp_path / "tmp", tmp_path / "elsewhere"
    temp.mkdir()
    elsewhere.mkdir(mode=0o777)
    elsewhere.chmod(0o777)
    predictable = temp / f"ddsolver-numba-{os.getuid()}"
    if shared == "link":
        predictable.symlink_to(elsewhere)
    elif shared == "open-to-all":
        predictable.mkdir()
        predictable.chmod(0o777)
    home_file = tmp_path / "not-a-directory"
    home_file.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(XDG_CACHE_HOME=str(home_file), TMPDIR=str(temp))
    probe = "import os, ddsolver._jit; print(os.environ['NUMBA_CACHE_DIR'])"
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    cache = Path(done.stdout.strip())
    assert cache.is_dir() and not list(elsewhere.iterdir())
    if shared == "absent":
        assert cache.parent == predictable
        assert stat.S_IMODE(predictable.lstat().st_mode) == 0o700
    else:
        assert predictable not in cache.parents
    assert stat.S_IMODE(cache.stat().st_mode) & 0o077 == 0


# ----------------------------------------------------------------- the user's own data files


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _h5(path, **datasets):
    with h5py.File(path, "w") as f:
        for name, value in datasets.items():
            if isinstance(value, h5py.Empty):
                f.create_dataset(name, data=value)
            else:
                f[name] = value
    return path


def _text(path, text):
    path.write_text(text)
    return path


def _huge_header(path):
    """An .npz whose x.npy header claims 1 MB of dictionary (numpy reads at most 10 kB)."""
    import zipfile

    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }"
    header += b" " * 1_000_000 + b"\n"
    member = b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little") + header
    buffer = __import__("io").BytesIO()
    np.save(buffer, np.ones(2))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", member + np.zeros(4).tobytes())
        z.writestr("y.npy", buffer.getvalue())
    return path


X, Y = np.array([[0.1, 0.2], [0.3, -0.2], [0.5, 0.5]]), np.array([1.0, -1.0, 1.0])
DATA_FILES = {
    "npz-strings": lambda p: _npz(p / "s.npz", x=np.array([["a", "b"]] * 3), y=Y),
    "npz-complex": lambda p: _npz(p / "c.npz", x=X + 1j, y=Y),
    "npz-text-y": lambda p: _npz(p / "t.npz", x=X, y=np.array(["yes", "no", "yes"])),
    "npz-object": lambda p: _npz(p / "o.npz", x=np.array([None] * 3, dtype=object), y=Y),
    "npz-huge-header": lambda p: _huge_header(p / "h.npz"),
    "h5-strings": lambda p: _h5(p / "s.h5", x=np.array([[b"a", b"b"]] * 3), y=Y),
    "h5-compound": lambda p: _h5(p / "c.h5", x=np.zeros(3, dtype=[("a", "f8"), ("b", "f8")]), y=Y),
    "h5-empty": lambda p: _h5(p / "e.h5", x=h5py.Empty("f8"), y=Y),
    "csv-empty": lambda p: _text(p / "e.csv", ""),
    "csv-header-only": lambda p: _text(p / "h.csv", "x1,x2,y\n"),
    "csv-duplicate-y": lambda p: _text(p / "d.csv", "x1,y,y\n0.1,1,1\n0.2,-1,-1\n"),
    "csv-ragged": lambda p: _text(p / "r.csv", "x1,x2,y\n0.1,0.2,1\n0.3,-1\n"),
    "csv-text": lambda p: _text(p / "t.csv", "x1,x2,y\n0.1,0.2,yes\n0.3,0.1,no\n"),
}


@pytest.mark.parametrize("case", list(DATA_FILES))
def test_a_bad_data_file_is_one_line_naming_problem_data(tmp_path, capsys, case):
    path = DATA_FILES[case](tmp_path)
    code, _, err = _cli(
        capsys, "check", GRIDS / "training_set.toml", "--set", f'problem.data="{path}"'
    )
    _refused(code, err, "problem.data")


PARTICLES = {
    "nan": {"theta": np.full((4, 4), np.nan)},
    "zero-rows": {"theta": np.zeros((0, 4))},
    "zero-masses": {"theta": np.full((4, 4), 0.1), "masses": np.zeros(4)},
    "nan-masses": {"theta": np.full((4, 4), 0.1), "masses": np.array([1.0, np.nan, 1, 1])},
    "strings": {"theta": np.array([["a"] * 4] * 4)},
    "complex": {"theta": np.full((4, 4), 0.1 + 1j)},
}


@pytest.mark.parametrize("case", list(PARTICLES))
def test_a_bad_particles_file_is_one_line_naming_initial_particles(tmp_path, capsys, case):
    path = _npz(tmp_path / "p.npz", **PARTICLES[case])
    code, _, err = _cli(
        capsys, "check", GRIDS / "training_set.toml",
        "--set", 'initial.kind="file"', "--set", f'initial.particles="{path}"',
    )  # fmt: skip
    _refused(code, err, "initial.particles")


def test_no_data_file_is_ever_unpickled(tmp_path, capsys, monkeypatch):
    """An .npz holding a pickled object is refused; numpy is asked with allow_pickle=False."""
    import pickle

    ran = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (ran.write_text, ("unpickled",))

    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([Payload()], dtype=object), y=Y)
    calls = []
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    for argv in (
        ("--set", f'problem.data="{path}"'),
        ("--set", 'initial.kind="file"', "--set", f'initial.particles="{path}"'),
    ):
        code, _, err = _cli(capsys, "check", GRIDS / "training_set.toml", *argv)
        assert code == 2, err
    assert not ran.exists()
    assert calls and all(k.get("allow_pickle") is False for k in calls)
    assert pickle  # the payload above is what a pickle would run


# ------------------------------------------------------------------ every size of every kind

#: (config, size key, verb, the key the refusal names): every size key of every kind, with the
#: verb it sizes. A product of sizes names its largest factor.
SIZE_KEYS = [
    ("quickstart.toml", "grid.r_cells", "run", "grid.r_cells"),
    ("quickstart.toml", "sgd.neurons", "sgd", "sgd.neurons"),
    ("quickstart.toml", "sgd.batch", "sgd", "sgd.batch"),
    ("quickstart.toml", "problem.dimension", "sgd", "problem.dimension"),
    ("teacher_student.toml", "grid.u_cells", "run", "grid.u_cells"),
    ("teacher_student.toml", "grid.r_cells", "run", "grid.r_cells"),
    ("teacher_student.toml", "problem.dimension", "sgd", "problem.dimension"),
    ("teacher_student.toml", "sgd.neurons", "sgd", "sgd.neurons"),
    ("committee.toml", "problem.dimension", "run", "problem.dimension"),
    ("committee.toml", "problem.student_units", "run", "problem."),
    ("committee.toml", "problem.teacher_units", "sgd", "problem."),
    ("committee.toml", "sgd.batch", "sgd", "sgd.batch"),
    ("training_set.toml", "particles.count", "run", "particles.count"),
    ("training_set.toml", "problem.dimension", "run", "problem.dimension"),
    ("training_set.toml", "problem.dimension", "sgd", "problem.dimension"),
    ("training_set.toml", "problem.generate.k", "run", "problem.generate.k"),
    ("training_set.toml", "problem.generate.n", "sgd", "problem.generate.n"),
    ("training_set.toml", "problem.generate.n_test", "run", "problem.generate.n_test"),
    ("training_set.toml", "sgd.neurons", "sgd", "sgd.neurons"),
    ("training_set_circle.toml", "grid.angle_cells", "run", "grid.angle_cells"),
    ("training_set_circle.toml", "problem.generate.units", "run", "problem.generate.units"),
    ("training_set_circle.toml", "problem.generate.n", "run", "problem.generate.n"),
    ("anisotropic.toml", "grid.a_cells", "run", "grid.a_cells"),
    ("anisotropic.toml", "grid.b_cells", "run", "grid.b_cells"),
    ("anisotropic.toml", "grid.r_cells", "run", "grid.r_cells"),
    ("anisotropic.toml", "particles.a_count", "run", "particles.a_count"),
    ("anisotropic.toml", "particles.r_count", "run", "particles.r_count"),
    ("anisotropic.toml", "problem.informative", "run", "problem.informative"),
]


@pytest.mark.parametrize("value", [10**9, 10**30], ids=["1e9", "1e30"])
@pytest.mark.parametrize(
    ("config", "key", "verb", "named"), SIZE_KEYS, ids=[f"{c[:-5]}-{k}" for c, k, *_ in SIZE_KEYS]
)
def test_every_size_key_is_refused_before_compute(
    tmp_path, capsys, config, key, verb, named, value
):
    """1e9 and 1e30 of every size key: one line naming the key, exit 2, no file, within a
    second (the memory estimate and the kinds' own bounds, before anything is built)."""
    out = tmp_path / "o.h5"
    started = time.monotonic()
    code, _, err = _cli(capsys, verb, GRIDS / config, "--set", f"{key}={value}", "-o", out)
    assert time.monotonic() - started < 1.0
    _refused(code, err, named)
    assert not out.exists()


def test_too_many_seeds_and_workers_are_refused(tmp_path, capsys):
    seeds = "[" + ",".join(map(str, range(10_001))) + "]"
    code, _, err = _cli(capsys, "check", GRIDS / "quickstart.toml", "--set", f"sgd.seeds={seeds}")
    _refused(code, err, "sgd.seeds")
    code, _, err = _cli(
        capsys, "sweep", GRIDS / "sweeps" / "quickstart_delta.toml", "--workers", "100000",
        "-o", tmp_path / "sweep",
    )  # fmt: skip
    _refused(code, err, "--workers")
    assert not (tmp_path / "sweep").exists()


def test_an_allocation_past_the_estimate_fails_the_run_with_a_status(tmp_path, capsys, monkeypatch):
    """MemoryError inside a solver is a fault like NaN: `failed: out of memory`, exit 1."""
    from ddsolver.integrate import PDEIntegrator

    def advance(self, t, t_stop):
        raise MemoryError("Unable to allocate 14.9 GiB")

    monkeypatch.setattr(PDEIntegrator, "advance", advance)
    out = tmp_path / "o.h5"
    code, _, err = _cli(capsys, "run", GRIDS / "quickstart.toml", "-o", out, "-q")
    assert code == 1, err
    assert io.read_attrs(out)["status"].startswith("failed: out of memory")


def test_a_deeply_nested_config_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "deep.toml"
    path.write_text("[problem]\nx = " + "[" * 3000 + "]" * 3000 + "\n")
    for verb in ("check", "run"):
        code, _, err = _cli(capsys, verb, path)
        _refused(code, err, "nested")


@pytest.mark.parametrize(
    "config", [123, None, b"[problem]", [1], {"problem": {"x": [[[[[[[[[1]]]]]]]]]}}]
)
def test_the_api_refuses_a_config_that_is_no_config_with_a_config_error(tmp_path, config):
    import ddsolver as dd
    from ddsolver.config import ConfigError

    with pytest.raises(ConfigError):
        dd.solve(config, tmp_path / "o.h5")


def test_every_writing_verb_on_a_full_disk_is_one_line(tmp_path):
    """A tmpfs filled to the last byte: run, sgd, plot, compare, sweep and examples each end
    with one line and exit 1 (or 2 for an output refused before compute), no traceback."""
    small = _tmpfs(tmp_path / "full", "64k")
    try:
        cfg = tmp_path / "c.toml"
        cfg.write_text(SMALL)
        pde, sgd = tmp_path / "pde.h5", tmp_path / "sgd.h5"
        assert ddsolver("run", cfg, "-o", pde, "-q").returncode == 0
        assert ddsolver("sgd", cfg, "-o", sgd, "-q").returncode == 0
        sweep = tmp_path / "s.toml"
        sweep.write_text(f'base = "{cfg}"\n[axes]\n"problem.delta" = [0.8]\n')
        filler = small / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:  # fill it to the last byte
            for size in (4096, 1):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * size)
        finally:
            os.close(fd)
        commands = {
            "run": ("run", cfg, "-o", small / "r.h5", "-q"),
            "sgd": ("sgd", cfg, "-o", small / "s.h5", "-q"),
            "plot": ("plot", pde, "-o", small / "figures"),
            "compare": ("compare", pde, sgd, "-o", small / "report"),
            "sweep": ("sweep", sweep, "-o", small / "sweep", "--workers", "1"),
            "examples": ("examples", small / "grids"),
        }
        for name, argv in commands.items():
            done = ddsolver(*argv)
            lines = done.stderr.strip().splitlines()
            assert done.returncode in (1, 2), (name, done.stderr)
            assert "Traceback" not in done.stderr, (name, done.stderr)
            assert lines and lines[-1].startswith("ddsolver: error:"), (name, done.stderr)
            assert "No space left" in done.stderr or "disk full" in done.stderr, (name, lines)
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_info_on_a_fifo_is_one_line_not_a_hang(tmp_path, capsys):
    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)
    started = time.monotonic()
    code, _, err = _cli(capsys, "info", fifo)
    _refused(code, err, "not a regular file")
    assert time.monotonic() - started < 5


def test_plot_and_compare_of_an_overflowed_run_draw_what_is_finite(tmp_path, capsys):
    """An SGD run whose risk overflowed (committee η = 1e10) and its ODE: figures, no traceback."""
    sgd, ode = tmp_path / "sgd.h5", tmp_path / "ode.h5"
    assert _cli(capsys, "sgd", GRIDS / "committee.toml", "--set", "dynamics.eta=1e10",
                "-o", sgd, "-q")[0] == 1  # fmt: skip
    assert _cli(capsys, "run", GRIDS / "committee.toml", "--set", "time.t_end=20",
                "-o", ode, "-q")[0] == 0  # fmt: skip
    assert not np.all(np.isfinite(io.read_series(sgd, "observables")["risk"]))
    code, _, err = _cli(capsys, "plot", sgd, "-o", tmp_path / "figures")
    assert code == 0 and "Traceback" not in err, err
    assert list((tmp_path / "figures").glob("*.png"))
    code, _, err = _cli(capsys, "compare", ode, sgd, "-o", tmp_path / "report")
    assert code in (0, 2) and "Traceback" not in err, err
