"""The finite-step correction against real SGD (slow): the paper's example at ε = 1e-4 with
N = 3200 and three seeds, and the escape from the failure-of-convergence trap."""

from __future__ import annotations

import numpy as np
import pytest

from ddsolver import io
from ddsolver.comparison import compare_files
from ddsolver.config import load_config, read_config_file, validate
from ddsolver.examples import path as example
from ddsolver.integrate import run_grid
from ddsolver.sgd.run import run_sgd
from ddsolver.toml_io import apply_overrides

pytestmark = pytest.mark.slow


def test_the_corrected_pde_predicts_sgd_at_eps_1e_4(tmp_path):
    """The goal of the correction: max |SGD − (PDE + 1/N)| over t ∈ [0, 10] at most 0.01 where
    the plain PDE misses by more than 0.02 (measured 0.0077 at t = 0.1 against 0.029 at
    t = 4.9), and the density closer to the neurons' (W1 0.013 against 0.073)."""
    cfg = load_config(example("finite_step"))
    run_grid(cfg, tmp_path / "corrected.h5", quiet=True)
    plain = load_config(example("finite_step"), ["dynamics.finite_step=false"])
    run_grid(plain, tmp_path / "plain.h5", quiet=True)
    run_sgd(cfg, tmp_path / "sgd.h5")
    report = compare_files(tmp_path / "plain.h5", tmp_path / "sgd.h5", tmp_path / "corrected.h5")
    step = report["finite_step"]
    assert report["max_abs_gap"] > 0.02
    assert step["max_abs_gap"] <= 0.01
    assert step["max_wasserstein1"]["r"] < 0.5 * report["max_wasserstein1"]["r"]


def _escape_time(t, risk, level):
    below = np.nonzero(risk < level)[0]
    if not below.size:
        return np.inf
    k = below[0]
    return t[k - 1] + (t[k] - t[k - 1]) * (risk[k - 1] - level) / (risk[k - 1] - risk[k])


@pytest.mark.parametrize("eps", [1e-4, 2e-5])
def test_escape_from_the_failure_of_convergence_trap(tmp_path, eps):
    """Δ = 0.5, d = 320, κ = 0.1: the plain DD stays at risk 7.25. With the correction at
    ε = 1e-4 the PDE escapes (measured t = 0.045) like SGD (N = 200, three seeds: 0.049, 0.056,
    0.055); at ε = 2e-5 both stay."""
    t_end = 1.0 if eps == 1e-4 else 10.0  # the escape takes ~0.05; staying is checked to t = 10
    overrides = [f"sgd.eps={eps}", "discretisation.method=\"grid\"", f"time.t_end={t_end}",
                 "time.save_every=0.25", "time.observe_every=0.005", "sgd.observe_every=0.005",
                 "sgd.seeds=[0, 1, 2]", "dynamics.finite_step=true"]  # fmt: skip
    raw = read_config_file(example("failure_of_convergence"))
    del raw["particles"]  # the file's particle counts do not apply to the grid: refused
    cfg = validate(apply_overrides(raw, overrides))
    run_grid(cfg, tmp_path / "pde.h5", quiet=True)
    run_sgd(cfg, tmp_path / "sgd.h5")
    pde_obs = io.read_series(tmp_path / "pde.h5", "observables")
    trap = pde_obs["risk"][0]
    pde = _escape_time(pde_obs["time"], pde_obs["risk"], trap / 2)
    sgd = io.read_series(tmp_path / "sgd.h5", "observables")
    seeds = [_escape_time(sgd["time"], sgd["risk"][:, j], trap / 2) for j in range(3)]
    if eps == 1e-4:
        assert np.isfinite(pde) and all(np.isfinite(seeds))
        assert abs(pde - np.mean(seeds)) < 0.5 * np.mean(seeds)
    else:
        assert not np.isfinite(pde) and not any(np.isfinite(seeds))


def test_anisotropic_r2_follows_sgd(tmp_path):
    """Variable selection (d = 320, s₀ = 40, d = ∞ kernel from the d = 320 initial law): SGD's
    uninformative norm r₂ stays near 0.36 where the plain DD settles at 0.28; the drift of the
    d − s₀ − 1 = 279 directions brings the corrected DD to SGD's r₂ (measured: within 0.012 of
    the three-seed mean over t ∈ [2, 20], the plain DD 0.088 away)."""
    overrides = ["sgd.observe_every=0.25", "time.observe_every=0.25"]
    plain = load_config(example("anisotropic"), overrides)
    run_grid(plain, tmp_path / "plain.h5", quiet=True)
    corrected = load_config(example("anisotropic"), [*overrides, "dynamics.finite_step=true"])
    run_grid(corrected, tmp_path / "corrected.h5", quiet=True)
    sgd_cfg = load_config(example("anisotropic"), [*overrides, "problem.dimension=320"])
    run_sgd(sgd_cfg, tmp_path / "sgd.h5")
    sgd = io.read_series(tmp_path / "sgd.h5", "observables")
    later = sgd["time"] >= 2.0
    target = sgd["mean_r2"][later].mean(axis=1)
    gaps = {}
    for name in ("plain", "corrected"):
        obs = io.read_series(tmp_path / f"{name}.h5", "observables")
        r2 = np.interp(sgd["time"][later], obs["time"], obs["mean_r2"])
        gaps[name] = float(np.abs(r2 - target).max())
    assert gaps["plain"] > 0.06
    assert gaps["corrected"] < 0.025, gaps
