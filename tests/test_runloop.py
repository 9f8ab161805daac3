"""The run loop, SGD resume, the problem-kind registry and the shared observables."""

import contextlib
import math
import os
import random
import signal
import subprocess
import sys
import time
import tomllib

import h5py
import numpy as np
import pytest
from cli_runner import ddsolver

from ddsolver import integrate, io
from ddsolver.config import SCHEMA, ConfigError, validate
from ddsolver.experiment import build_grid_dd, build_initial, build_problem
from ddsolver.kinds import NAMES, SPECS, get_kind
from ddsolver.kinds.base import ReducedKind
from ddsolver.models import Activation
from ddsolver.models.activations import act_derivative, act_value
from ddsolver.observables import QUANTILES, coordinate_statistics, statistics_names
from ddsolver.protocol import FactorisedProblem, ReducedProblem
from ddsolver.settings import settings
from ddsolver.sgd.network import Network
from ddsolver.sgd.run import run_sgd

KINDS = {name: get_kind(name) for name in NAMES}

#: Bitwise: a resumed run repeats the same floating-point operations.
BITWISE = 0.0
#: R(ρ₀) of a point mass on the default 800-cell grid (the issue's bound); second order in Δr.
POINT_MASS_RISK_TOL = 1e-4
#: A weighted quantile against an independent formula: round-off only.
QUANTILE_TOL = 1e-12

SGD_CONFIG = """
[problem]
dimension = 20
delta = 0.8
[time]
t_end = {t_end}
save_every = 0.1
[sgd]
neurons = 100
eps = 1e-4
seeds = [3, 4]
observe_every = 0.05
"""


def _write(tmp_path, text, name="c.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _same_series(a_path, b_path, groups=("observables", "snapshots")):
    with h5py.File(a_path) as a, h5py.File(b_path) as b:
        for group in groups:
            assert sorted(a[group]) == sorted(b[group])
            for name in a[group]:
                np.testing.assert_array_equal(a[group][name][()], b[group][name][()], name)


def test_sgd_extended_by_resume_is_bitwise_the_uninterrupted_run(tmp_path):
    full, part = tmp_path / "full.h5", tmp_path / "part.h5"
    cfg_full = validate(tomllib.loads(SGD_CONFIG.format(t_end=0.4)))
    cfg_half = validate(tomllib.loads(SGD_CONFIG.format(t_end=0.2)))
    assert run_sgd(cfg_full, full).ok
    assert run_sgd(cfg_half, part).ok
    resumed = run_sgd(cfg_full, part, resume=True)
    assert resumed.ok and resumed.steps == 2 * round(0.4 / 1e-4)
    _same_series(full, part)
    with h5py.File(full) as f:
        assert f["observables/risk"].shape == (9, 2)
        assert f["observables/q50_r"].shape == (9, 2)


def test_sgd_sigkill_at_a_random_moment_resumes_bitwise(tmp_path):
    text = SGD_CONFIG.format(t_end=3.0).replace("dimension = 20", "dimension = 40")
    cfg = _write(tmp_path, text.replace("neurons = 100", "neurons = 200"))  # about 2 s of SGD
    full = tmp_path / "full.h5"
    start = time.monotonic()
    assert ddsolver("sgd", cfg, "-o", full, "-q").returncode == 0
    duration = time.monotonic() - start
    killed = tmp_path / "killed.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ddsolver", "sgd", str(cfg), "-o", str(killed), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while not killed.exists() and proc.poll() is None:  # start-up: imports, warm-up
        time.sleep(0.01)
    time.sleep(random.Random(os.getpid()).uniform(0.0, 0.6 * max(duration - 0.5, 0.1)))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with h5py.File(killed, "r") as f:  # readable, with whatever was saved
        assert f.attrs["status"] in ("running", "finished")
    resumed = ddsolver("sgd", cfg, "-o", killed, "--resume", "-q")
    assert resumed.returncode == 0, resumed.stderr
    _same_series(full, killed)
    with h5py.File(killed) as f:
        assert f.attrs["status"] == "finished"


def test_sgd_resume_refuses_a_changed_config_and_a_missing_file(tmp_path):
    cfg = _write(tmp_path, SGD_CONFIG.format(t_end=0.1))
    out = tmp_path / "s.h5"
    assert ddsolver("sgd", cfg, "-o", out, "-q").returncode == 0
    changed = ddsolver("sgd", cfg, "-o", out, "--resume", "--set", "sgd.eps=2e-4")
    assert changed.returncode == 2 and "sgd" in changed.stderr
    spacing = ddsolver("sgd", cfg, "-o", out, "--resume", "--set", "time.save_every=0.05")
    assert spacing.returncode == 2 and "time.save_every" in spacing.stderr
    missing = ddsolver("sgd", cfg, "-o", tmp_path / "none.h5", "--resume")
    assert missing.returncode == 2 and "no such output file" in missing.stderr


# ---------------------------------------------------------------------- registry and protocol


def test_every_registered_kind_is_a_config_choice_and_builds_its_protocol():
    assert SCHEMA["problem"]["kind"].choices == tuple(KINDS) == tuple(SPECS)
    for name, kind in KINDS.items():
        assert isinstance(kind, type(SPECS[name]))  # the physics extends its config section
        cfg = validate({"problem": {"kind": name, "dimension": 20}})
        assert get_kind(cfg) is kind
        assert validate(cfg) == cfg  # a resolved config (a run file's) re-validates as itself
        assert issubclass(kind.network, Network)
        assert kind.methods and set(kind.methods) <= set(SCHEMA["discretisation"]["method"].choices)
        reduced = 0
        for method in kind.methods:
            try:
                cfg = validate({"problem": {"kind": name, "dimension": 20},
                                "discretisation": {"method": method}})  # fmt: skip
            except ConfigError:  # another method needs more than the defaults (d = 2, …)
                assert method != kind.methods[0], (name, method)
                continue
            if not kind.solved_as_reduced(settings(cfg)):  # its own limit (ODEs, a flow)
                kind.build_problem(settings(cfg))  # builds from the defaults alone
                continue
            reduced += 1
            assert isinstance(kind, ReducedKind)
            problem = build_problem(cfg)
            assert isinstance(problem, ReducedProblem)
            if problem.factorised:
                assert isinstance(problem, FactorisedProblem)
            if method == "particles":  # the reduced driver's particles need a factorisation
                assert problem.factorised
            grid = kind.build_grid(settings(cfg))
            assert grid.names == tuple(problem.coordinate_names)
        assert reduced or not isinstance(kind, ReducedKind), name


def test_warm_up_compiles_each_kinds_own_kernels_under_the_lock(monkeypatch):
    """The old warm-up shadowed its ``kind`` argument in a loop and never reached them."""
    held = {"now": False}
    called = []

    @contextlib.contextmanager
    def lock():
        held["now"] = True
        try:
            yield
        finally:
            held["now"] = False

    monkeypatch.setattr(integrate, "compile_lock", lock)
    for name, kind in KINDS.items():
        monkeypatch.setattr(kind, "warm_up_pde", lambda n=name: called.append((n, held["now"])))
        integrate.warm_up_pde(name)
    assert called == [(name, True) for name in KINDS]


@pytest.mark.parametrize(
    ("kind", "sets"),
    [
        ("isotropic_gaussians", {"dynamics": {"tau": 0.0}}),
        ("isotropic_gaussians", {"dynamics": {"tau": 0.1}}),
        ("isotropic_gaussians", {"dynamics": {"tau": 0.1}, "problem": {"dimension": "inf"}}),
        ("teacher_student", {"dynamics": {"tau": 0.1}, "grid": {"r_min": 0.1, "u_cells": 6}}),
    ],
)
def test_warm_up_takes_the_grid_stepper_variant_the_run_takes(kind, sets):
    """The diffusive flux is warmed up exactly when GridDD will use it (τ > 0, finite d)."""
    raw = {section: dict(values) for section, values in sets.items()}
    raw.setdefault("problem", {})["kind"] = kind
    raw.setdefault("grid", {})["r_cells"] = 20
    cfg = validate(raw)
    system = build_grid_dd(cfg)
    assert (0.1 in integrate.grid_stepper_taus(cfg)) == (system.diffusivity > 0), cfg["problem"]
    assert integrate.grid_stepper_taus(None) == (0.0, 0.1)


def test_an_unknown_activation_code_raises_instead_of_computing_a_sigmoid():
    params = np.zeros(4)
    for kernel in (act_value, act_derivative):
        with pytest.raises(ValueError, match="unknown activation"):
            kernel(99, params, 0.3)
    act = Activation("sigmoid")
    object.__setattr__(act, "kind", "softplus")  # a kind with no branch of its own
    for method in (act, act.derivative):
        with pytest.raises(ValueError, match="softplus"):
            method(np.array([0.3]))


# ---------------------------------------------------------------------- point masses


def test_point_mass_on_the_grid_has_the_exact_mean_and_risk():
    cfg = validate({"problem": {"dimension": "inf", "delta": 0.8}, "initial": {"scale": 0.8}})
    system = build_grid_dd(cfg)
    law = build_initial(cfg)
    p = system.initial_density(law)
    m = p * system.grid.volumes
    centres = system.grid.axes[0].centres
    assert m.sum() == pytest.approx(1.0, abs=1e-15)
    assert m @ centres == pytest.approx(0.8, abs=1e-14)
    exact = build_problem(cfg).risk(np.array([[0.8]]), np.array([1.0]))
    assert exact == pytest.approx(1.64450944670, abs=1e-10)  # the README's closed form
    risk = system.observables(p.reshape(system.grid.shape3), 800)["risk"]
    assert abs(risk - exact) < POINT_MASS_RISK_TOL
    nearest = np.zeros_like(m)  # the old placement: all mass in the nearest cell
    nearest[np.argmin(abs(centres - 0.8))] = 1.0
    old = system.observables((nearest / system.grid.volumes).reshape(system.grid.shape3), 800)
    assert abs(old["risk"] - exact) > 100 * abs(risk - exact)


def test_point_mass_of_the_second_layer_weight_keeps_its_mean():
    cfg = validate(
        {"problem": {"second_layer": True}, "initial": {"a_mean": 1.0}, "grid": {"r_cells": 80}}
    )
    system = build_grid_dd(cfg)
    m = system.initial_density(build_initial(cfg)) * system.grid.volumes
    a = system.grid.axes[0].centres
    assert m.sum(axis=1) @ a == pytest.approx(1.0, abs=1e-13)


# ---------------------------------------------------------------------- observables


def test_cell_quantiles_invert_the_piecewise_linear_cdf(rng):
    edges = np.cumsum(np.r_[0.0, rng.uniform(0.5, 1.5, 30)])
    masses = rng.random(30)
    centres = 0.5 * (edges[1:] + edges[:-1])
    stats = coordinate_statistics(("r",), centres[:, None], masses, [edges])
    cdf = np.r_[0.0, np.cumsum(masses)] / masses.sum()
    for q in QUANTILES:
        x = stats[f"q{round(100 * q):02d}_r"]
        k = np.searchsorted(edges, x) - 1
        at = cdf[k] + (x - edges[k]) / (edges[k + 1] - edges[k]) * (cdf[k + 1] - cdf[k])
        assert at == pytest.approx(q, abs=QUANTILE_TOL)
    assert stats["mean_r"] == pytest.approx(masses @ centres / masses.sum(), abs=QUANTILE_TOL)


def test_equal_point_masses_give_numpys_hazen_quantiles(rng):
    points = rng.standard_normal((257, 2))
    stats = coordinate_statistics(("a", "r"), points, np.full(257, 1 / 257))
    for k, name in enumerate(("a", "r")):
        expected = np.quantile(points[:, k], QUANTILES, method="hazen")
        got = [stats[f"q{round(100 * q):02d}_{name}"] for q in QUANTILES]
        np.testing.assert_allclose(got, expected, atol=QUANTILE_TOL)
    assert list(stats) == statistics_names(("a", "r"))


def test_pde_particles_and_sgd_files_carry_the_same_statistics(tmp_path):
    base = {"problem": {"dimension": 20}, "time": {"t_end": 0.1, "save_every": 0.1}}
    grid_cfg = validate({**base, "grid": {"r_max": 3.0, "r_cells": 60}})
    part_cfg = validate({**base, "discretisation": {"method": "particles"}})
    sgd_cfg = validate({**base, "sgd": {"neurons": 50, "eps": 1e-3}})
    assert integrate.run_pde(grid_cfg, tmp_path / "g.h5").ok
    assert integrate.run_pde(part_cfg, tmp_path / "p.h5").ok
    assert run_sgd(sgd_cfg, tmp_path / "s.h5").ok
    names = set(statistics_names(("r",)))
    for path in ("g.h5", "p.h5", "s.h5"):
        assert names <= set(io.read_series(tmp_path / path, "observables")), path
    medians = [io.read_series(tmp_path / p, "observables")["q50_r"][0] for p in ("g.h5", "p.h5")]
    sgd_median = io.read_series(tmp_path / "s.h5", "observables")["q50_r"][0, 0]
    # the initial law's median radius, κ·sqrt(χ²_20 median / 20); SGD: 50 neurons, one seed
    assert medians == pytest.approx([0.8 * math.sqrt(19.3374 / 20)] * 2, abs=2e-3)
    assert sgd_median == pytest.approx(medians[0], abs=0.05)


class _Blowup:
    """A toy integrator: x doubles each unit of time; its snapshot turns inf at t ≥ 2 while
    its observed risk stays finite (as a bounded activation's risk does)."""

    def __init__(self):
        self.x, self.t = 1.0, 0.0

    def advance(self, t, t_stop):
        from ddsolver.runloop import Advance

        self.x *= 2.0 ** (t_stop - t)
        self.t = t_stop
        return Advance(t_stop, 1, t_stop - t)

    def observe(self):
        return {"risk": 1.0}

    def snapshot(self):
        return {"w": np.array([self.x, np.inf if self.t >= 2 else 0.0])}

    def checkpoint(self):
        return np.array([self.x]), math.nan, {"t": self.t}

    def restore(self, state, dt_limit, extra):
        self.x, self.t = float(state[0]), extra["t"]


def test_a_non_finite_snapshot_fails_the_run_and_keeps_what_came_before(tmp_path):
    from ddsolver import io
    from ddsolver.runloop import run_loop, stop_times

    path = tmp_path / "toy.h5"
    integrator = _Blowup()

    def create(first, overwrite):
        io.create_sgd_file(path, "", [0], {"w": (2,)}, ["risk"], (1, 1), force=True)

    times, is_save = stop_times(4.0, 1.0, 1.0)
    result = run_loop(integrator, path, times, is_save, create, config_text="", quiet=True)
    assert result.status == "failed: non-finite w in the snapshot at t = 2"
    snaps = io.read_series(path, "snapshots")
    np.testing.assert_array_equal(snaps["time"], [0.0, 1.0, 2.0])  # the bad one shows why
    assert np.isinf(snaps["w"][-1]).any() and np.all(np.isfinite(snaps["w"][:-1]))
    assert io.read_checkpoint(path)[1]["t"] == 1.0  # no checkpoint past the fault


def test_stop_times_at_a_million_observations_need_no_table_of_every_pair():
    """10⁶ observations and 10⁴ saves: the save mask comes from sorted neighbours, not an
    observations × saves table (10¹⁰ entries); the saves are the multiples of save_every."""
    from ddsolver.runloop import stop_times

    times, is_save = stop_times(1e4, 1.0, 0.01)
    assert times.size == 1_000_001 and is_save.sum() == 10_001
    np.testing.assert_allclose(times[is_save], np.arange(10_001.0), rtol=0, atol=1e-8)
