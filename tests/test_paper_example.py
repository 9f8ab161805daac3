"""The paper's isotropic example solved to t = 40 at two resolutions (slow: ~3 minutes)."""

import numpy as np
import pytest

from ddsolver.config import load_config
from ddsolver.experiment import build_grid_dd, build_initial
from ddsolver.runloop import stop_times

GRID_AGREEMENT = 1e-3  # the target for two resolutions over the whole run


def risk_curve(cells, *sets):
    cfg = load_config("grids/isotropic_d40.toml", [f"grid.r_cells={cells}", *sets])
    system = build_grid_dd(cfg)
    p3 = system.initial_density(build_initial(cfg)).reshape(system.grid.shape3).copy()
    times, _ = stop_times(40.0, 0.5, 0.5)
    t, out = 0.0, []
    for target in times:
        report = system.advance(p3, t, target)
        t, status = report.t, report.status
        assert status == 0
        out.append(system.observables(p3.reshape(system.grid.shape), 800))
    return times, out


@pytest.mark.slow
def test_two_resolutions_agree_and_the_mass_splits():
    _, coarse = risk_curve(3200)
    times, fine = risk_curve(6400)
    gap = np.abs(np.array([o["risk"] for o in coarse]) - np.array([o["risk"] for o in fine]))
    assert gap.max() < GRID_AGREEMENT, (gap.max(), times[gap.argmax()])
    final = fine[-1]
    # two groups: one stuck near r = 0, one far out, and the risk still falling
    assert final["q10_r"] < 0.2 and final["q90_r"] > 4.0
    risks = np.array([o["risk"] for o in fine])
    assert np.all(np.diff(risks) < 0)
    assert all(abs(o["mass"] - 1) < 1e-12 for o in fine)
    # fifth-order WENO on 800 uniform cells is closer to the 6400-cell curve than MC at 3200
    # (measured 2.0e-4 against 4.0e-4; 3 s against 41 s)
    _, weno = risk_curve(800, 'solver.limiter="weno5"')
    weno_gap = np.abs(np.array([o["risk"] for o in weno]) - np.array([o["risk"] for o in fine]))
    assert weno_gap.max() < gap.max(), (weno_gap.max(), gap.max())
    assert all(abs(o["mass"] - 1) < 1e-12 for o in weno)


@pytest.mark.slow
def test_sgd_follows_the_pde_with_the_finite_n_term(tmp_path):
    """N = 800, ε = 2.5e-5, three seeds, t ∈ [0, 10]: the issue's 0.02 on the risk, and the
    neuron histograms within W1 = 0.05 of the PDE density (measured: 0.018 and 0.022)."""
    from ddsolver.comparison import compare_files
    from ddsolver.integrate import run_grid
    from ddsolver.sgd.run import run_sgd

    overrides = ["time.t_end=10", "sgd.eps=2.5e-5", "sgd.observe_every=0.25", "sgd.seeds=[0, 1, 2]"]
    cfg = load_config("grids/isotropic_d40.toml", overrides)
    assert run_grid(cfg, tmp_path / "pde.h5", quiet=True).ok
    assert run_sgd(cfg, tmp_path / "sgd.h5").ok
    report = compare_files(tmp_path / "pde.h5", tmp_path / "sgd.h5")
    assert report["max_abs_gap"] < 0.02, report["max_abs_gap"]
    assert report["max_wasserstein1"]["r"] < 0.05


@pytest.mark.slow
def test_concurrent_cold_starts_share_the_numba_cache(tmp_path):
    """Three processes compiling into one empty cache at once all finish, with equal results
    (numba's unlocked cache writes once left an entry that crashed later runs)."""
    import os
    import subprocess
    import sys

    import h5py

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ddsolver",
                "run",
                "grids/quickstart.toml",
                "-o",
                str(tmp_path / f"{i}.h5"),
                "-q",
            ],
            env=env,
        )
        for i in range(3)
    ]
    assert [p.wait(timeout=600) for p in procs] == [0, 0, 0]
    first = h5py.File(tmp_path / "0.h5")["snapshots/density"][()]
    for i in (1, 2):
        assert (h5py.File(tmp_path / f"{i}.h5")["snapshots/density"][()] == first).all()
