"""ddsolver against the tools users would otherwise pick, measured side by side.

    python benchmarks/run.py [--quick] [--only NAME ...] [--threads K] [--output PATH]

Writes benchmarks/results.json — a list of {"name", "ours_s", "peer", "peer_s", "ratio",
"threads", "benchmark", ...} with ratio = peer_s / ours_s (> 1: ddsolver is faster) — row by
row as each is measured (a killed run keeps every finished row), and prints a table. A
benchmark that fails becomes a row with ``failed`` = its reason, and the others still run.
Peers are installed by the ``bench`` extra (pip install -e ".[bench]"). The machines are
shared and noisy: where both sides are cheap they are timed interleaved (A B A B …) and the
ratio is the median of the per-round ratios (``ratio_min``, ``ratio_max``: its range), so a
drift of the machine's speed cancels; numba, BLAS and torch threads are pinned to
``--threads`` (default: all cores) and recorded.

1. SGD step (N = 800, d = 40, one sample per step): ours, idiomatic PyTorch (autograd, CPU),
   idiomatic NumPy, and the arithmetic bound — a BLAS matrix product with the same number of
   multiply-adds.
2. PDE against SGD: wall time to the risk curve of the isotropic example to t = 10 at the
   accuracy of the SGD comparison (grid, particles) against the SGD run it predicts
   (N = 800, one seed, ε = 2.5e-5).
   And the same reduced DD written for py-pde as a user would (a PDE class that evaluates the
   nonlocal term with NumPy at every step), time to the risk curve at matched accuracy
   (target: ddsolver ≥ 10× faster).
3. Nonlocal term for M = 1024, 4096, 16384 nodes: on the fly, matrix, low rank — time per
   apply and error against the matrix.
4. Grid step against py-pde: a drift–diffusion equation on the same grid (1-D 1024 cells,
   2-D 128² and 256²), explicit Euler steps per second.
5. Start-up: process start to the end of a one-step run of grids/quickstart.toml, with an
   empty numba cache (cold) and with the cache (warm), against the import floor (target:
   floor + 0.3 s) and the floor with one cached numba kernel.
6. Training set: a full-batch GD step against PyTorch; the example's flow to t = 50.
7. Scaling: the cost of a grid step against cells (1-D 200 … 12 800, 2-D 32² … 256²), of a
   particle velocity against particles (250 … 16 000), of an SGD step against N (200 … 12 800)
   and d (40 … 1280), with the fitted log–log exponents.
8. Exact risk at scale: R_N of an isotropic network at N = 10⁴, d = 500 against the BLAS Gram
   matrix it needs, and at N = 10⁵ (time and peak memory).
9. Finite width: a run of grids/finite_width.toml with the dynamical 1/N term C(t) against
   the same run without it, and with the whole budget (C(t) and the shared, own and Euler
   step-noise terms) against it too (the target: at most 10× its time, ratio ≥ 0.1).
10. Many seeds: 64 seeds of the paper example's SGD in one run against 64 runs one after
    another (target ≥ 4×).
11. Step noise: the finite-step correction's implicit scheme against its explicit one at
    ε = 1e-3 (targets ≤ 15 s and the same risk curve within 1e-4).
12. Committee ODEs at K = 8 against Goldt's nn2pp integrator, built by hand and named in
    NN2PP_ODE (target: at least as fast per unit time at equal accuracy).
13. The flow on the sphere (grids/training_set_sphere.toml to t = 10): the finite-volume
    grid at N = 16, 32 cells per face edge against balanced particles on a Fibonacci lattice
    at the smallest count as accurate (the loss against 2 × 8192 lattice particles). No
    target: the row says which side is cheaper at equal accuracy.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _pin_threads(argv: list[str]) -> int:
    """Every library's thread count from ``--threads K`` (default: the machine's cores), set
    before numpy, numba and torch start their pools, and recorded in every row."""
    count = os.cpu_count() or 1
    if "--threads" in argv:
        count = int(argv[argv.index("--threads") + 1])
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(count)
    return count


THREADS = _pin_threads(sys.argv)

import ddsolver as dd  # noqa: E402
from ddsolver.grid import Axis, TensorGrid  # noqa: E402
from ddsolver.models.analytic import GaussianLaw, HarmonicProblem  # noqa: E402
from ddsolver.operators.interaction import build_interaction  # noqa: E402
from ddsolver.operators.isotropic_particles import velocity as particle_velocity  # noqa: E402
from ddsolver.pde import GridDD  # noqa: E402
from ddsolver.schedules import Schedule  # noqa: E402
from ddsolver.sgd.isotropic import initial_network, sgd_steps  # noqa: E402


def _timed(func: Callable[..., object], *args) -> float:
    start = time.perf_counter()
    func(*args)
    return time.perf_counter() - start


def best_of(func, repeats: int) -> float:
    """Smallest wall time of ``repeats`` calls (after the caller warmed up)."""
    return min(_timed(func) for _ in range(repeats))


def _pair_summary(mine: list[float], theirs: list[float]) -> dict:
    """Median times of both sides and the median (and range) of the per-round ratios."""
    ratios = np.array(theirs) / np.array(mine)
    return {
        "ours_s": float(np.median(mine)),
        "peer_s": float(np.median(theirs)),
        "ratio": float(np.median(ratios)),
        "ratio_min": float(ratios.min()),
        "ratio_max": float(ratios.max()),
        "rounds": len(mine),
    }


def paired(ours: Callable[[], object], peer: Callable[[], object], rounds: int,
           counts: tuple[int, int] = (1, 1)) -> dict:  # fmt: skip
    """Time ``ours`` and ``peer`` alternately (A B A B …, both warmed up by the caller).

    Returns the median times (per unit: each call does ``counts`` units, e.g. steps) and the
    median of the per-round ratios peer/ours (with their range): a drift of the machine's
    speed during the run hits both sides of a pair alike.
    """
    mine, theirs = [], []
    for _ in range(rounds):
        mine.append(_timed(ours) / counts[0])
        theirs.append(_timed(peer) / counts[1])
    return _pair_summary(mine, theirs)


def paired_marginal(ours, peer, steps: int, rounds: int, attempts: int = 4) -> dict:
    """:func:`paired` for the cost of one step: per round, each side runs 2·steps and steps
    (interleaved) and the difference over ``steps`` is its step cost — fixed per-call costs
    cancel. A round counts only when each side's extra steps are ≥ ¼ of its longer run (else
    the per-call jitter dominates); the step count is quadrupled, at most ``attempts`` times,
    until every round counts."""
    for _ in range(attempts):
        mine, theirs, ok = [], [], True
        for _ in range(rounds):
            long_a, short_a = _timed(ours, 2 * steps), _timed(ours, steps)
            long_b, short_b = _timed(peer, 2 * steps), _timed(peer, steps)
            if long_a - short_a < 0.25 * long_a or long_b - short_b < 0.25 * long_b:
                ok = False
                break
            mine.append((long_a - short_a) / steps)
            theirs.append((long_b - short_b) / steps)
        if ok:
            return {**_pair_summary(mine, theirs), "steps": steps}
        steps *= 4
    raise RuntimeError(f"timing noise exceeds the cost of {steps // 4} steps on one side")


def entry(name, ours_s, peer, peer_s, **extra) -> dict:
    """One row of results.json: every row has these five keys (values may be None)."""
    ratio = extra.pop("ratio", None)
    if ratio is None and peer_s and ours_s:
        ratio = peer_s / ours_s
    return {"name": name, "ours_s": ours_s, "peer": peer, "peer_s": peer_s, "ratio": ratio,
            "threads": THREADS, **extra}  # fmt: skip


def paired_entry(name: str, peer: str, timing: dict, **extra) -> dict:
    """A row from :func:`paired` or :func:`paired_marginal`."""
    timing = dict(timing)
    return entry(name, timing.pop("ours_s"), peer, timing.pop("peer_s"), **timing, **extra)


# ----------------------------------------------------------------------------- 1. SGD step


#: Δ of the SGD benchmarks' data law (the paper's example).
SGD_DELTA = 0.8


def _sgd_loop(w: np.ndarray, a: np.ndarray, steps: int, rng) -> Callable[[], None]:
    """``steps`` of ours: online SGD of the paper's ramp on the isotropic law (ε = 1e-4)."""
    act, sched = dd.paper_ramp(), Schedule("constant")

    def ours():
        sgd_steps(w, a, False, act.code, act.param_array, SGD_DELTA, 1e-4, sched.code,
                  sched.params, 0.0, 0.0, 1, 0, steps, rng)  # fmt: skip

    return ours


def _torch_sgd_loop(torch, w: np.ndarray, steps: int) -> Callable[[], None]:
    """The same steps as a user writes them in PyTorch (autograd, CPU, float64)."""
    n, d = w.shape
    t1, t2, s1, s2 = dd.paper_ramp().params
    slope = (s2 - s1) / (t2 - t1)
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    wt = torch.tensor(w, requires_grad=True)

    def torch_loop():
        for _ in range(steps):
            y = 1.0 if torch.rand(()) < 0.5 else -1.0
            x = (1 + y * SGD_DELTA) * torch.randn(d, dtype=torch.float64)
            yhat = (s1 + slope * (torch.clamp(wt @ x, t1, t2) - t1)).mean()
            loss = (y - yhat) ** 2
            loss.backward()
            with torch.no_grad():
                wt.sub_(1e-4 * n * wt.grad)  # mean-field scaling: step N·s on ∂R/∂w_i
                wt.grad.zero_()

    return torch_loop


def sgd_benchmark(quick: bool) -> Iterator[dict]:
    n, d, delta = 800, 40, SGD_DELTA
    act = dd.paper_ramp()
    steps = 2000 if quick else 10000
    rng = np.random.default_rng(0)
    w, a = initial_network(n, d, 0.8, 1.0, 0.0, rng)
    ours = _sgd_loop(w, a, steps, rng)
    t1, t2, s1, s2 = act.params
    slope = (s2 - s1) / (t2 - t1)
    rounds = 5 if quick else 9

    def numpy_loop():
        wn = w.copy()
        g = np.random.default_rng(1)
        for _ in range(steps // 10):
            y = 1.0 if g.random() < 0.5 else -1.0
            x = (1 + y * delta) * g.standard_normal(d)
            pre = wn @ x
            yhat = (s1 + slope * (np.clip(pre, t1, t2) - t1)).mean()
            grad = np.where((pre > t1) & (pre < t2), slope, 0.0)
            wn += 2e-4 * (y - yhat) * np.outer(grad, x)

    ours()
    numpy_loop()
    timing = paired(ours, numpy_loop, rounds, (steps, steps // 10))
    t_ours = timing["ours_s"]
    yield paired_entry("sgd_step_N800_d40", "numpy (idiomatic loop)", timing)
    try:
        import torch
    except ImportError:
        yield entry("sgd_step_N800_d40", t_ours, "pytorch (not installed: .[bench])", None)
    else:
        torch_loop = _torch_sgd_loop(torch, w, steps // 10)
        torch_loop()
        timing = paired(ours, torch_loop, rounds, (steps, steps // 10))
        t_ours = timing["ours_s"]
        yield paired_entry("sgd_step_N800_d40", f"pytorch {torch.__version__} (autograd)",
                           timing, torch_threads=torch.get_num_threads())  # fmt: skip
    # arithmetic bound: the multiply-adds of one step (forward W x and update x ⊗ g: 2 N d)
    # at the rate of a large BLAS product measured now
    size = 1024
    m1, m2 = np.random.default_rng(2).random((2, size, size))
    m1 @ m2
    t_gemm = best_of(lambda: m1 @ m2, 3)
    bound = t_gemm * (2 * n * d) / size**3
    yield entry("sgd_step_N800_d40", t_ours, "BLAS-rate bound (same multiply-adds)", bound,
                note="ratio < 1: ours is slower than the bound by 1/ratio")  # fmt: skip


def sgd_scale_benchmark(quick: bool) -> Iterator[dict]:
    """The SGD step at N = 10⁴, d = 500 (one sample per step, the paper's ramp): ours against
    the same step in idiomatic PyTorch (autograd, CPU) and against the memory bound — one
    read and one write of W (N × d doubles) at the rate of a large copy measured now."""
    steps = 20 if quick else 100
    rng = np.random.default_rng(0)
    w, a = initial_network(10_000, 500, 0.8, 1.0, 0.0, rng)
    ours = _sgd_loop(w, a, steps, rng)
    ours()
    rounds = 5 if quick else 9
    big = np.empty_like(w)
    np.copyto(big, w)
    copy_s = best_of(lambda: np.copyto(big, w), 5)  # reads W once and writes it once
    try:
        import torch
    except ImportError:
        t_ours = best_of(ours, 3) / steps
        yield entry("sgd_step_N1e4_d500", t_ours, "pytorch (not installed: .[bench])", None)
    else:
        torch_loop = _torch_sgd_loop(torch, w, steps)
        torch_loop()
        timing = paired(ours, torch_loop, rounds, (steps, steps))
        t_ours = timing["ours_s"]
        yield paired_entry("sgd_step_N1e4_d500", f"pytorch {torch.__version__} (autograd)",
                           timing, torch_threads=torch.get_num_threads(), target_ratio=5.0,
                           met=bool(timing["ratio"] >= 5.0))  # fmt: skip
    yield entry("sgd_step_N1e4_d500", t_ours, "memory bound (one read and one write of W)",
                copy_s, target_ratio=0.5, met=bool(copy_s / t_ours >= 0.5),
                note="ratio = bound / ours; ≥ 0.5 is within 2× of the bound")  # fmt: skip


# ----------------------------------------------------------------------------- 2. PDE vs SGD


#: "Matched accuracy" of the issue: the PDE route's risk curve within this of a converged one
MATCHED_ACCURACY = 1e-3
#: The routes of the PDE-vs-SGD rows: the config overrides of each (on top of the paper example)
PDE_ROUTES = {
    "grid, 800 cells": {"grid": {"r_cells": 800}},
    "grid, 1600 cells, r_stretch = 2": {"grid": {"r_cells": 1600, "r_stretch": 2.0}},
    "grid, 1600 cells, r_stretch = 2, mehler_tolerance = 1e-6": {
        "grid": {"r_cells": 1600, "r_stretch": 2.0},
        "problem": {"mehler_tolerance": 1e-6},
    },
    "grid, 480 cells, weno5, cfl = 1, mehler_tolerance = 1e-6": {
        "grid": {"r_cells": 480},
        "solver": {"limiter": "weno5", "cfl": 1.0},
        "problem": {"mehler_tolerance": 1e-6},
    },
    "particles, M = 250 (default tolerances)": {"discretisation": {"method": "particles"}},
    "particles, M = 250, rtol = 1e-3, mehler_tolerance = 1e-6": {
        "discretisation": {"method": "particles"},
        "particles": {"rtol": 1e-3},
        "problem": {"mehler_tolerance": 1e-6},
    },
}
#: The converged curve they are measured against: 2000 particles, tight tolerances (its own
#: distance to 4000 particles at rtol = 1e-10, J = 32 is stated in docs/benchmarks.md)
REFERENCE_ROUTE = {
    "discretisation": {"method": "particles"},
    "particles": {"r_count": 2000, "rtol": 1e-8},
    "problem": {"mehler_tolerance": 1e-10},
}


def _risk_curve(overrides: dict, t_end: float) -> tuple[float, np.ndarray]:
    """Wall time and risk at t = 0.25, 0.5, …, t_end of the paper example's PDE, as a run
    computes them (advance, then every observable at each stop)."""
    from ddsolver.config import validate
    from ddsolver.experiment import build_initial, build_system

    cfg = {"time": {"t_end": t_end, "save_every": t_end / 10}}
    particles = overrides.get("discretisation", {}).get("method") == "particles"
    if particles:  # (a key that does not apply to the route is refused)
        cfg["particles"] = {"r_count": 250}
    else:
        cfg["grid"] = {"r_max": 6.0}
    for section, values in overrides.items():
        cfg[section] = {**cfg.get(section, {}), **values}
    c = validate(cfg)
    system = build_system(c)
    state = system.initial_state(build_initial(c))
    risks = []
    start = time.perf_counter()
    t = 0.0
    for target in np.arange(0.25, t_end + 1e-9, 0.25):
        t, *_ = system.advance(state, t, target)
        risks.append(system.observables(state, 800)["risk"])
    return time.perf_counter() - start, np.array(risks)


def pde_vs_sgd_benchmark(quick: bool) -> Iterator[dict]:
    from ddsolver.sgd.isotropic import exact_risk

    t_end = 2.0 if quick else 10.0
    # the SGD run the curve predicts: N = 800, one seed, ε = 2.5e-5, exact risk every 0.25
    problem = dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8)
    act, sched = problem.activation, Schedule("constant")

    def sgd_run() -> None:
        rng = np.random.default_rng(0)
        w, a = initial_network(800, 40, 0.8, 1.0, 0.0, rng)
        k, stride = 0, round(0.25 / 2.5e-5)
        while k * 2.5e-5 < t_end - 1e-12:
            sgd_steps(w, a, False, act.code, act.param_array, 0.8, 2.5e-5, sched.code,
                      sched.params, 0.0, 0.0, 1, k, k + stride, rng)  # fmt: skip
            k += stride
            exact_risk(problem, w)

    t_sgd = best_of(sgd_run, 1 if quick else 2)
    _, reference = _risk_curve(REFERENCE_ROUTE, t_end)
    for method, overrides in PDE_ROUTES.items():
        _risk_curve(overrides, min(t_end, 0.5))  # compiled and cached before the timing
        runs = [_risk_curve(overrides, t_end) for _ in range(3)]
        error = float(np.abs(runs[0][1] - reference).max())
        yield entry(
            f"risk_curve_to_t{t_end:g}",
            min(seconds for seconds, _ in runs),
            "SGD N=800, one seed, eps=2.5e-5",
            t_sgd,
            method=method,
            max_risk_error_vs_reference=error,
            matched_accuracy=error <= MATCHED_ACCURACY,
        )


# ----------------------------------------------------------------------------- 3. nonlocal term


def nonlocal_benchmark(quick: bool) -> Iterator[dict]:
    problem = dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8)
    # the independent reference: angular Gauss–Jacobi quadrature of the closed-form moment
    reference = dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8, tolerance=0.0)
    sizes = (1024, 4096) if quick else (1024, 4096, 16384)
    for m in sizes:
        points = np.linspace(0.005, 8.0, m)[:, None]
        masses = np.random.default_rng(3).random(m) / m
        rows = np.random.default_rng(4).choice(m, 8, replace=False)
        exact_rows = reference.radial_interaction(points[rows, 0], points[:, 0]) @ masses
        modes = ("lowrank", "matrix", "onthefly")
        reps = {mode: build_interaction(problem, points, mode) for mode in modes}
        times = {}
        for mode, rep in reps.items():
            rep.apply(masses)
            repeats = 1 if (mode == "onthefly" and m > 4096) else 5
            times[mode] = best_of(lambda rep=rep, masses=masses: rep.apply(masses), repeats)
            err = float(np.abs(rep.apply(masses)[rows] - exact_rows).max())
            yield entry(
                f"nonlocal_apply_M{m}_{mode}",
                times[mode],
                None,  # an accuracy row: the error against the quadrature, no timed peer
                None,
                mode=mode,
                max_error_vs_quadrature_8_rows=err,
                stated_bound=rep.error_bound,
                rank=rep.factors.shape[1],
            )
        yield (entry(f"nonlocal_apply_M{m}", times["lowrank"], "matrix (BLAS)", times["matrix"]))
        yield (entry(f"nonlocal_apply_M{m}", times["lowrank"], "on the fly", times["onthefly"]))


# ------------------------------------------------------------ 2b. the reduced DD written for py-pde


#: ddsolver's route for the py-pde row: the fastest grid route of the PDE-vs-SGD rows
PYPDE_OURS_ROUTE = "grid, 480 cells, weno5, cfl = 1, mehler_tolerance = 1e-6"


def _pypde_risk_curve(pde, cells: int, t_end: float) -> tuple[float, np.ndarray]:
    """The paper example's reduced DD, ∂_t p = ∂_r(2ξ p ∂_r Ψ), Ψ = V + ∫U p, as a py-pde
    user writes it: a :class:`pde.PDEBase` whose evolution rate evaluates Ψ with NumPy
    (V and U tabulated once on the cell centres by ddsolver's closed forms), py-pde's
    gradient and divergence, and its adaptive Runge–Kutta stepper (order 5(4), tolerance 1e-4);
    the risk R = E y² + 2∫V p + ∫∫U p p recorded every 0.25 by a tracker. Wall time and
    the risks at t = 0.25, 0.5, …, t_end."""
    from ddsolver.models.risk import mean_field_risk

    problem = dd.IsotropicGaussians(dd.paper_ramp(), 40, 0.8)
    r_max = 6.0
    widths = np.full(cells, r_max / cells)
    r = (np.arange(cells) + 0.5) * widths
    v, _ = problem.radial_potential(r)
    u = problem.interaction_matrix(r[:, None])
    # the initial law on the same cells (a user writes p ∝ r^{d−1} e^{−d r²/(2κ²)})
    log_p = 39 * np.log(r) - 40 * r**2 / (2 * 0.8**2)
    p0 = np.exp(log_p - log_p.max())
    p0 /= p0 @ widths

    class ReducedDD(pde.PDEBase):
        def evolution_rate(self, state, t=0):
            psi = pde.ScalarField(state.grid, v + u @ (state.data * widths))
            flux = 2.0 * state * psi.gradient(bc="auto_periodic_neumann")
            return flux.divergence(bc={"value": 0.0})  # no flux through r = 0 and r_max

    grid = pde.CartesianGrid([[0.0, r_max]], [cells])
    state = pde.ScalarField(grid, p0)
    risks = []

    def record(field, t):
        m = field.data * widths
        risks.append(mean_field_risk(problem.label_second_moment, float(m @ v),
                                     float(m @ u @ m)))  # fmt: skip

    tracker = pde.trackers.CallbackTracker(record, interrupts=0.25)
    start = time.perf_counter()
    ReducedDD().solve(state, t_range=t_end, dt=1e-4, solver="runge-kutta", adaptive=True,
                      tracker=[tracker])  # fmt: skip
    seconds = time.perf_counter() - start
    return seconds, np.array(risks[1 : round(t_end / 0.25) + 1])


def pypde_dd_benchmark(quick: bool) -> Iterator[dict]:
    """The time to the paper example's risk curve at matched accuracy (within
    :data:`MATCHED_ACCURACY` of the converged curve at t = 0.25, 0.5, …): ddsolver's fastest
    grid route against the same reduced DD written for py-pde (:func:`_pypde_risk_curve`) on
    the fewest cells, doubling from 100, that reach the accuracy. The target: ≥ 10×."""
    try:
        import pde
    except ImportError:
        yield entry("risk_curve_vs_pypde", None, "py-pde (not installed: .[bench])", None)
        return
    t_end = 2.0 if quick else 10.0
    _, reference = _risk_curve(REFERENCE_ROUTE, t_end)
    overrides = PDE_ROUTES[PYPDE_OURS_ROUTE]
    _risk_curve(overrides, 0.5)  # compiled and cached before the timing
    runs = [_risk_curve(overrides, t_end) for _ in range(3)]
    ours_error = float(np.abs(runs[0][1] - reference).max())
    ours = min(seconds for seconds, _ in runs)
    tried = []
    for cells in (100, 200, 400, 800, 1600, 3200):
        seconds, risks = _pypde_risk_curve(pde, cells, t_end)
        error = float(np.abs(risks - reference).max()) if risks.size == reference.size else math.inf
        tried.append({"cells": cells, "seconds": seconds, "max_risk_error": error})
        if error <= MATCHED_ACCURACY:
            break
    peer = tried[-1]
    yield entry(f"risk_curve_vs_pypde_to_t{t_end:g}", ours,
                f"py-pde {pde.__version__} PDE class, {peer['cells']} cells (adaptive RK45)",
                peer["seconds"], method=PYPDE_OURS_ROUTE, max_risk_error_vs_reference=ours_error,
                peer_max_risk_error=peer["max_risk_error"], peer_tried=tried,
                matched_accuracy=bool(ours_error <= MATCHED_ACCURACY
                                      and peer["max_risk_error"] <= MATCHED_ACCURACY),
                target_ratio_min=10.0)  # fmt: skip


# ------------------------------------------------------------------------ 4. grid step vs py-pde


def grid_step_benchmark(quick: bool) -> Iterator[dict]:
    try:
        import pde
    except ImportError:
        yield entry("grid_step", None, "py-pde (not installed: .[bench])", None)
        return
    # enough steps that the marginal cost stands well above py-pde's per-call jitter
    cases = [((1024,), 20000), ((128, 128), 1000), ((256, 256), 200)]
    if quick:
        cases = [((1024,), 5000), ((128, 128), 300), ((256, 256), 60)]
    for shape, steps in cases:
        names = ("x", "y")[: len(shape)]
        problem = HarmonicProblem(len(shape), stiffness=1.0, entropy_dimension=1.0)
        grid = TensorGrid(
            tuple(Axis.uniform(n, -4, 4, c) for n, c in zip(names, shape, strict=True))
        )
        system = GridDD(problem, grid, tau=0.1, order=1)
        law = GaussianLaw((0.0, 0.0)[: len(shape)], (0.5, 0.5)[: len(shape)])
        p3 = system.initial_state(law)
        system.advance(p3.copy(), 0.0, 1.0, math.inf, 10)

        def ours(count, p3=p3, system=system):
            state = p3.copy()
            system.advance(state, 0.0, 1e9, math.inf, count)

        pgrid = pde.CartesianGrid([[-4, 4]] * len(shape), list(shape))
        expr = " + ".join(f"d_d{n}({n}*c)" for n in names)
        eq = pde.PDE({"c": f"0.1*laplace(c) + {expr}"})
        field = pde.ScalarField.from_expression(
            pgrid, "exp(-(" + "+".join(f"{n}**2" for n in names) + "))"
        )
        dt = 0.2 * (8.0 / shape[0]) ** 2 / (2 * 0.1 * len(shape)) / 10

        # py-pde's own stepper, made once: its steps without the set-up of every solve() call
        # (which compiles and costs milliseconds — the jitter that sank the old harness)
        from pde.solvers import EulerSolver

        stepper = EulerSolver(eq, backend="numba").make_stepper(field, dt=dt)

        def peer(count, stepper=stepper, field=field, dt=dt):
            stepper(field, 0.0, count * dt)

        peer(10)
        timing = paired_marginal(ours, peer, steps, 3)
        yield paired_entry(
            f"grid_step_{'x'.join(map(str, shape))}",
            f"py-pde {pde.__version__} (numba, explicit Euler)",
            timing,
            ours_steps_per_s=1 / timing["ours_s"],
            peer_steps_per_s=1 / timing["peer_s"],
        )


# ----------------------------------------------------------------------------- 5. start-up


#: One cached numba kernel loaded after the floor's imports: numba's own cost of a first
#: dispatch from its on-disk cache (its CPU target and registries), which every ddsolver run
#: pays once.
_KERNEL_FLOOR = """
import numpy, scipy, numba, h5py
@numba.njit(cache=True)
def one(x):
    return x + 1.0
one(1.0)
"""


def startup_benchmark(quick: bool) -> Iterator[dict]:
    """Process start to the end of a one-step run of grids/quickstart.toml: cold (empty numba
    cache) once, then warm against two floors timed interleaved in the same run — the imports
    alone (``python -c 'import numpy, scipy, numba, h5py'``, the target: + 0.3 s) and the same
    imports with one cached numba kernel loaded. Byte-compiled sources are allowed to be
    written (``PYTHONDONTWRITEBYTECODE`` unset), as in a user's installation."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "ddsolver",
            "run",
            str(ROOT / "grids" / "quickstart.toml"),
            "--set",
            "time.t_end=0.002",
            "--set",
            "time.save_every=0.002",
            "-q",
            "--force",
            "-o",
            str(Path(tmp) / "s.h5"),
        ]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["NUMBA_CACHE_DIR"] = str(Path(tmp) / "cache")
        kernel_dir = Path(tmp) / "kernel"
        kernel_dir.mkdir()
        (kernel_dir / "one.py").write_text(_KERNEL_FLOOR)

        def process(argv: list[str]) -> Callable[[], None]:
            return lambda: subprocess.run(argv, env=env, check=True, capture_output=True)

        run = process(cmd)
        cold = _timed(run)
        floor = process([sys.executable, "-c", "import numpy, scipy, numba, h5py"])
        kernel = process([sys.executable, str(kernel_dir / "one.py")])
        kernel()  # its cache written
        rounds = 3 if quick else 7
        imports = paired(run, floor, rounds)
        with_kernel = paired(run, kernel, rounds)
    yield entry("startup_quickstart_cold", cold, "python -c 'import numpy, scipy, numba, h5py'",
                imports["peer_s"], target_s=10.0, met=bool(cold <= 10.0))  # fmt: skip
    target = imports["peer_s"] + 0.3
    yield paired_entry("startup_quickstart_warm", "python -c 'import numpy, scipy, numba, h5py'",
                       imports, target_s=target, met=bool(imports["ours_s"] <= target),
                       above_floor_s=imports["ours_s"] - imports["peer_s"])  # fmt: skip
    yield paired_entry("startup_quickstart_warm_vs_kernel_floor",
                       "the same imports and one cached numba kernel", with_kernel,
                       above_floor_s=with_kernel["ours_s"] - with_kernel["peer_s"])  # fmt: skip


# ----------------------------------------------------------------------------- 6. training set


def _gd_step_rows(m: int, n: int, d: int, steps: int, rounds: int, **target) -> Iterator[dict]:
    """A full-batch gradient step of the flow's compiled velocity (M = m particles, n points
    in R^d, ReLU, logistic loss) against the same step in idiomatic PyTorch (autograd)."""
    from ddsolver.data import clusters
    from ddsolver.models.activations import Activation
    from ddsolver.models.training_set import TrainingSetFlow
    from ddsolver.sgd.training_set import gradient_steps

    name = f"gd_step_M{m:g}_n{n:g}_d{d}".replace("+", "")
    data = clusters(n, 0, d, 3, 0.1, seed=0)
    flow = TrainingSetFlow(data, Activation("relu"), "logistic", 1.0, 0.0, True)
    rng = np.random.default_rng(0)
    theta0 = rng.standard_normal((m, d + 2)) * 0.5
    masses = np.full(m, 1.0 / m)
    theta = theta0.copy()

    def ours():
        gradient_steps(flow, theta, masses, 0.05, 0, steps, rng)

    ours()
    try:
        import torch
    except ImportError:
        yield entry(name, best_of(ours, 3) / steps, "pytorch (not installed)", None)
        return
    x = torch.tensor(np.column_stack([data.x, np.ones(n)]))
    y = torch.tensor(data.y)
    b = torch.tensor(theta0[:, 0].copy(), requires_grad=True)
    a = torch.tensor(theta0[:, 1:].copy(), requires_grad=True)

    def torch_loop():
        for _ in range(steps):
            f = torch.relu(x @ a.T) @ b / m
            loss = torch.nn.functional.softplus(-y * f).mean()
            loss.backward()
            with torch.no_grad():
                b.sub_(0.05 * m * b.grad)  # the step ε·m of the 1/m scaling
                a.sub_(0.05 * m * a.grad)
                b.grad.zero_()
                a.grad.zero_()

    torch.set_num_threads(THREADS)
    torch_loop()
    timing = paired(ours, torch_loop, rounds, (steps, steps))
    extra = {}
    if target:
        extra = {**target, "met": bool(timing["ratio"] >= target["target_ratio"])}
    yield paired_entry(name, f"pytorch {torch.__version__} (autograd)", timing,
                       torch_threads=torch.get_num_threads(), **extra)  # fmt: skip


def training_set_benchmark(quick: bool) -> Iterator[dict]:
    """A full-batch GD step against PyTorch at M = 1000, n = 256, d = 15 and at scale,
    M = n = 10⁴, d = 100 (quick: 2000 × 2000); and the whole logistic flow of the example to
    t = 50."""
    yield from _gd_step_rows(1000, 256, 15, 20 if quick else 100, 5 if quick else 9)
    big = 2000 if quick else 10_000
    yield from _gd_step_rows(big, big, 100, 2, 3 if quick else 5, target_ratio=1.5)
    from ddsolver import examples

    cfg = examples.path("training_set")
    start = time.perf_counter()
    run = dd.solve(cfg, quiet=True, time__t_end=50.0)
    yield entry("training_set_flow_t50", time.perf_counter() - start, None, None,
                steps=run.steps, particles=500, points=100)  # fmt: skip


# ----------------------------------------------------------------------------- 8. exact risk


def exact_risk_benchmark(quick: bool) -> Iterator[dict]:
    """The exact population risk R_N of an isotropic network at d = 500 (the paper's ramp,
    a quarter of the radii spread over 0.2–5×): N = 10⁴ against the BLAS Gram matrix it needs
    (the same upper-triangle tiles: the floor of any method that looks at every pair), and
    N = 10⁵ (once, with its peak memory). Its accuracy against the closed form of every pair
    at N = 2000."""
    import resource

    from ddsolver.sgd import isotropic

    problem = dd.IsotropicGaussians(dd.paper_ramp(), 500, 0.8)

    def network(n):
        rng = np.random.default_rng(0)
        w, _ = initial_network(n, 500, 0.8, 1.0, 0.0, rng)
        w[: n // 4] *= rng.uniform(0.2, 5.0, (n // 4, 1))
        return w

    w = network(2000)
    error = abs(isotropic.exact_risk(problem, w) - isotropic.exact_risk_ref(problem, w))
    w = network(10_000)
    unit = w / np.linalg.norm(w, axis=1)[:, None]
    rows, cols = isotropic.GRAM_TILE

    def ours():
        isotropic.exact_risk(problem, w)

    def gram():
        for i0 in range(0, w.shape[0], rows):
            for j0 in range(i0, w.shape[0], cols):
                unit[i0 : i0 + rows] @ unit[j0 : j0 + cols].T

    ours()
    gram()
    timing = paired(ours, gram, 3 if quick else 5)
    yield paired_entry("exact_risk_N1e4_d500", "BLAS Gram tiles (floor)", timing,
                       target_s=2.0, met=bool(timing["ours_s"] <= 2.0),
                       error_vs_closed_form_N2000=error, before_s=44.0)  # fmt: skip
    if quick:
        return
    w = network(100_000)
    start = time.perf_counter()
    isotropic.exact_risk(problem, w)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # GiB (kB on Linux)
    yield entry("exact_risk_N1e5_d500", seconds, None, None, peak_rss_gib=peak,
                weights_gib=w.nbytes / 2**30)  # fmt: skip


# ----------------------------------------------------------------------------- 7. scaling


def _fitted(series: str, sizes, seconds, expected: str, unit: str) -> dict:
    """The summary row of a scaling series: the log–log slope of cost against size."""
    slope = float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])
    return entry(f"scaling_{series}", None, None, None, exponent=slope, expected=expected,
                 sizes=list(map(int, sizes)), seconds=list(seconds), per=unit)  # fmt: skip


def scaling_benchmark(quick: bool) -> Iterator[dict]:
    """How the cost grows: a grid step against cells (1-D r, 2-D (a, r)), a particle velocity
    against particles, an SGD step against width N and dimension d — each a row per size and a
    row with the fitted log–log exponent (expected: 1 for cells·K, M·K, N·d)."""
    from ddsolver.config import validate
    from ddsolver.experiment import build_grid_dd, build_initial, build_particle_dd

    act, sched = dd.paper_ramp(), Schedule("constant")

    def grid_cost(over: dict) -> float:
        cfg = validate(over)
        system = build_grid_dd(cfg)
        state = system.initial_state(build_initial(cfg))
        system.advance(state.copy(), 0.0, 1e9, math.inf, 2)
        budget = max(4, int(4e5 / state.size))
        best = math.inf
        for _ in range(3):  # per step actually taken (a run may stop early, e.g. at a boundary)
            work = state.copy()
            start = time.perf_counter()
            taken = system.advance(work, 0.0, 1e9, math.inf, budget).steps
            best = min(best, (time.perf_counter() - start) / max(int(taken), 1))
        return best

    one_d = (200, 800, 3200) if quick else (200, 400, 800, 1600, 3200, 6400, 12800)
    costs = []
    for cells in one_d:
        costs.append(grid_cost({"grid": {"r_cells": cells}}))
        yield entry(f"scaling_grid_1d_{cells}", costs[-1], None, None, cells=cells)
    yield _fitted("grid_1d", one_d, costs, "1 (cells·K)", "step")
    two_d = (32, 64, 128) if quick else (32, 64, 128, 256)
    costs = []
    for side in two_d:
        over = {"problem": {"second_layer": True},
                "grid": {"r_cells": side, "a_cells": side}}  # fmt: skip
        costs.append(grid_cost(over))
        yield entry(f"scaling_grid_2d_{side}x{side}", costs[-1], None, None, cells=side * side)
    yield _fitted("grid_2d", [s * s for s in two_d], costs, "1 (cells·K)", "step")

    counts = (250, 1000, 4000) if quick else (250, 1000, 4000, 16000)
    costs = []
    for count in counts:
        cfg = validate({"discretisation": {"method": "particles"},
                        "particles": {"r_count": count}})  # fmt: skip
        system = build_particle_dd(cfg)
        z = system.initial_state(build_initial(cfg))
        out = np.empty_like(z)

        def evaluate(system=system, z=z, out=out) -> None:  # the compiled velocity a run uses
            particle_velocity(system.kernel, z, system.masses, 0.0, out)

        evaluate()
        costs.append(best_of(evaluate, 5))
        yield entry(f"scaling_particles_{count}", costs[-1], None, None, particles=count)
    yield _fitted("particles", counts, costs, "1 (M·K)", "velocity evaluation")

    def sgd_cost(n: int, d: int) -> float:
        rng = np.random.default_rng(0)
        w, a = initial_network(n, d, 0.8, 1.0, 0.0, rng)
        steps = max(20, int(2e7 / (n * d)))

        def run():
            sgd_steps(w, a, False, act.code, act.param_array, 0.8, 1e-4, sched.code,
                      sched.params, 0.0, 0.0, 1, 0, steps, rng)  # fmt: skip

        run()
        return best_of(run, 3) / steps

    widths = (200, 800, 3200) if quick else (200, 400, 800, 1600, 3200, 6400, 12800)
    costs = []
    for n in widths:
        costs.append(sgd_cost(n, 40))
        yield entry(f"scaling_sgd_width_N{n}", costs[-1], None, None, neurons=n, dimension=40)
    yield _fitted("sgd_width", widths, costs, "1 (N·d)", "step")
    dims = (40, 160, 640) if quick else (40, 80, 160, 320, 640, 1280)
    costs = []
    for d in dims:
        costs.append(sgd_cost(800, d))
        yield entry(f"scaling_sgd_dim_d{d}", costs[-1], None, None, neurons=800, dimension=d)
    yield _fitted("sgd_dimension", dims, costs, "1 (N·d)", "step")


# ----------------------------------------------------------------------------- 9. finite width


def finite_width_benchmark(quick: bool) -> Iterator[dict]:
    """The dynamical 1/N term's cost: grids/finite_width.toml (the paper example, 3200 cells,
    observed every 0.1) run with C(t) and its error estimate, against the same run without."""
    config = ROOT / "grids" / "finite_width.toml"
    t_end = 2.0 if quick else 4.0
    with tempfile.TemporaryDirectory() as tmp:

        def run(dynamical: bool) -> Callable[[], None]:
            overrides = {"time.t_end": t_end, "finite_width.dynamical": dynamical}
            return lambda: dd.solve(config, Path(tmp) / f"{dynamical}.h5", overrides=overrides,
                                    force=True, quiet=True)  # fmt: skip

        run(True)()  # compiled and cached before the timing
        timing = paired(run(True), run(False), 1 if quick else 3)
        yield paired_entry(f"finite_width_to_t{t_end:g}", "the same run without C(t)", timing,
                           target_ratio_min=0.1)  # fmt: skip
        budget = {"time.t_end": t_end, "finite_width.dynamical": True,
                  **{f"finite_width.{name}": True
                     for name in ("shared_noise", "own_noise", "euler_error")}}  # fmt: skip
        path = Path(tmp) / "budget.h5"
        warm = {**budget, "time.t_end": 0.5, "time.save_every": 0.5}  # its kernels cached
        dd.solve(config, path, overrides=warm, force=True, quiet=True)
        timing = paired(
            lambda: dd.solve(config, path, overrides=budget, force=True, quiet=True),
            run(False),
            1 if quick else 3,
        )
    yield paired_entry(f"error_budget_to_t{t_end:g}",
                       "the same run without C(t) and the step-noise terms", timing,
                       target_ratio_min=0.1)  # fmt: skip


def multi_index_second_layer_benchmark(quick: bool) -> Iterator[dict]:
    """One right-hand side of the multi-index flow with both layers trained (M = 400 particles
    (a, m, r⊥), k = 2, erf, d = 40) against the first-layer flow's at the same (m, r⊥): the
    second layer's weights ride in the same kernel, so the target is a ratio ≥ 0.8."""
    from ddsolver.kinds.multi_index.model import MultiIndex
    from ddsolver.models.activations import Activation

    rng = np.random.default_rng(0)
    m = 400
    first = np.column_stack([0.1 * rng.standard_normal((m, 2)), 0.5 + 0.1 * rng.random(m)])
    both = np.column_stack([rng.standard_normal(m), first])
    erf = Activation("erf")
    with_a = MultiIndex(erf, 40.0, np.eye(2), np.ones(2), second_layer=True)
    without = MultiIndex(erf, 40.0, np.eye(2), np.ones(2))
    with_a.velocity(both)  # compiled and cached before the timing
    without.velocity(first)
    timing = paired(lambda: with_a.velocity(both), lambda: without.velocity(first),
                    5 if quick else 20)  # fmt: skip
    peer = "the first-layer flow's right-hand side"
    yield paired_entry("multi_index_rhs_second_layer_M400", peer, timing, target_ratio_min=0.8)


def mixture_mirror_benchmark(quick: bool) -> Iterator[dict]:
    """XOR's interaction (grids/gaussian_mixture_xor.toml, M = 400 Halton particles, d = 40)
    with each ± pair of clusters taking the second from the first (ReLU: one bivariate CDF by
    inclusion–exclusion; erf: the same value) against the same kernel evaluating every
    cluster. Target: ≥ 1.3 for ReLU, ≥ 1.6 for erf."""
    from ddsolver.config import load_config
    from ddsolver.kinds.gaussian_mixture.kind import build_model, initial_particles
    from ddsolver.kinds.gaussian_mixture.model import mixture_interaction
    from ddsolver.kinds.gaussian_mixture.moments import ERF_T, ERF_W

    for kind, target in (("relu", 1.3), ("erf", 1.6)):
        cfg = load_config(ROOT / "grids" / "gaussian_mixture_xor.toml",
                          [f"problem.activation.kind={kind}"])  # fmt: skip
        model = build_model(cfg)
        a, m, r = (np.ascontiguousarray(x) for x in model.split(initial_particles(cfg, 400, 0)))
        c, w = model.cosine_rule()
        value, grad = np.empty(400), np.empty((400, m.shape[1] + 1))

        def call(mirror, model=model, a=a, m=m, r=r, c=c, w=w, value=value, grad=grad):
            return lambda: mixture_interaction(
                model.activation.code, model.means, model.widths, model.probs, mirror, a, m, r,
                c, w, ERF_T, ERF_W, value, grad,
            )  # fmt: skip

        paired_call = call(model.mirrors())
        direct = call(np.full(len(model.widths), -1, dtype=np.int64))
        paired_call()
        direct()
        timing = paired(paired_call, direct, 3 if quick else 10)
        yield paired_entry(f"xor_interaction_{kind}_M400", "every cluster evaluated", timing,
                           target_ratio_min=target)  # fmt: skip


# ----------------------------------------------------------------------------- 10. many seeds


def sgd_seeds_benchmark(quick: bool) -> Iterator[dict]:
    """64 seeds of the paper example (grids/isotropic_d40.toml: N = 800, d = 40, ε = 1e-4,
    the exact risk every 0.5) to t = 10: one ``ddsolver sgd`` holding the 64 seeds (they advance
    together in worker threads, one network each) against 64 runs one after another, each a
    process of its own as a script would start them. The target: ≥ 4×."""
    seeds, t_end = (8, 1.0) if quick else (64, 10.0)
    config = str(ROOT / "grids" / "isotropic_d40.toml")
    with tempfile.TemporaryDirectory() as tmp:

        def sgd(seed_list: list[int], name: str) -> Callable[[], None]:
            argv = [sys.executable, "-m", "ddsolver", "sgd", config, "--set",
                    f"time.t_end={t_end}", "--set", f"sgd.seeds={seed_list}", "-q", "--force",
                    "-o", str(Path(tmp) / f"{name}.h5")]  # fmt: skip
            return lambda: subprocess.run(argv, check=True, capture_output=True)

        sgd([0], "warm")()  # the kernels compiled and cached before the timing
        together = _timed(sgd(list(range(seeds)), "together"))
        one_by_one = sum(_timed(sgd([seed], f"seed{seed}")) for seed in range(seeds))
    yield entry(f"sgd_{seeds}_seeds_to_t{t_end:g}", together,
                f"{seeds} runs one after another", one_by_one, target_ratio_min=4.0,
                met=bool(one_by_one / together >= 4.0))  # fmt: skip


# ----------------------------------------------------------------------------- 11. step noise


def finite_step_benchmark(quick: bool) -> Iterator[dict]:
    """grids/finite_step.toml at ε = 1e-3 (1600 cells; t = 10, quick: t = 1): the implicit
    scheme of the finite-step correction against the explicit one, with the largest gap of
    their risk curves. The targets: ≤ 15 s, the same curve within 1e-4."""
    config = ROOT / "grids" / "finite_step.toml"
    t_end = 1.0 if quick else 10.0
    with tempfile.TemporaryDirectory() as tmp:
        times, risks = {}, {}
        for scheme in ("implicit", "explicit"):
            path = Path(tmp) / f"{scheme}.h5"
            overrides = {"sgd.eps": 1e-3, "time.t_end": t_end,
                         "solver.finite_step_scheme": scheme}  # fmt: skip
            short = {"time.t_end": 0.1, "time.save_every": 0.1, "time.observe_every": 0.1}
            dd.solve(config, path, overrides={**overrides, **short}, force=True, quiet=True)
            times[scheme] = _timed(
                lambda p=path, o=overrides: dd.solve(config, p, overrides=o, force=True, quiet=True)
            )
            risks[scheme] = dd.open(path).observables["risk"].values
    gap = float(np.abs(risks["implicit"] - risks["explicit"]).max())
    yield entry(f"finite_step_implicit_eps1e-3_to_t{t_end:g}", times["implicit"],
                "the explicit scheme", times["explicit"], max_risk_gap=gap, target_s=15.0,
                target_gap=1e-4, met=bool(times["implicit"] <= 15.0 and gap <= 1e-4))  # fmt: skip


# ----------------------------------------------------------------------------- 12. nn2pp


def _committee_case(times: np.ndarray | None, rtol: float, t_end: float) -> dict:
    """The K = 8, M = 2 soft committee of the nn2pp row (erf, first layer, η = 0.5, σ = 0.1,
    Saad–Solla output, the η² term on) from fixed overlaps, observed at the listed ``times``
    or, without them, 100 times a decade from t = 0.1 (10 snapshots a decade)."""
    rng = np.random.default_rng(0)
    g = rng.standard_normal((8, 8)) * 0.05
    q = 0.5 * np.eye(8) + 0.25 * (g + g.T)
    r = 0.05 * rng.standard_normal((8, 2))
    stops = ({"spacing": "list", "at": [float(x) for x in times[1:]]} if times is not None
             else {"spacing": "log", "first": 0.1, "save_per_decade": 10,
                   "observe_per_decade": 100})  # fmt: skip
    return {
        "problem": {"kind": "committee", "dimension": 1000, "student_units": 8,
                    "teacher_units": 2, "label_noise": 0.1, "output_scale": "none",
                    "activation": {"kind": "erf_sqrt2"}},
        "dynamics": {"eta": 0.5, "eta_v": 0.0},
        "initial": {"kind": "overlaps", "q": q.ravel().tolist(), "r": r.ravel().tolist(),
                    "v": [1.0] * 8, "t": [1.0, 0.0, 0.0, 1.0]},
        "time": {"t_end": t_end, **stops},
        "solver": {"rtol": rtol, "atol": rtol * 1e-3},
    }  # fmt: skip


def nn2pp_benchmark(quick: bool) -> Iterator[dict]:
    """The committee ODEs at K = 8 against Goldt's nn2pp (``scmpp_ode.exe``, forward Euler,
    C++ with Armadillo), both to t = 100 from the same overlaps (nn2pp's ``--prefix`` files),
    each observing ~300 log-spaced times. Errors of ε_g against ddsolver at rtol = 1e-12 on
    the same times. nn2pp is not part of this project: build it by hand (docs/benchmarks.md)
    and name the binary in ``NN2PP_ODE``; without it the row says so. The target: at least
    as fast per unit time at equal accuracy."""
    binary = os.environ.get("NN2PP_ODE")
    if not binary or not Path(binary).exists():
        yield entry("committee_k8_vs_nn2pp", None, "nn2pp (set NN2PP_ODE to its scmpp_ode.exe)",
                    None)  # fmt: skip
        return
    t_end = 20.0 if quick else 100.0
    with tempfile.TemporaryDirectory() as tmp:
        case = _committee_case(None, 1e-9, t_end)
        q = np.reshape(case["initial"]["q"], (8, 8))
        r = np.reshape(case["initial"]["r"], (8, 2))
        for name, value in (("Q0", q), ("R0", r), ("T0", np.eye(2)), ("A0", np.ones(2)),
                            ("v0", np.ones(8))):  # fmt: skip
            np.savetxt(Path(tmp) / f"ic_{name}.dat", value)

        def nn2pp(dt: float) -> tuple[float, np.ndarray, np.ndarray]:
            argv = [
                binary,
                "--g",
                "1",
                "-M",
                "2",
                "-K",
                "8",
                "--lr",
                "0.5",
                "--sigma",
                "0.1",
                "--dt",
                str(dt),
                "--steps",
                str(t_end),
                "--prefix",
                "ic",
                "--quiet",
            ]
            seconds = _timed(lambda: subprocess.run(argv, cwd=tmp, check=True,
                                                    capture_output=True))  # fmt: skip
            rows = np.loadtxt(Path(tmp) / "ic_ode.dat", comments="#", delimiter=",")
            return seconds, rows[:, 0], rows[:, 1]

        def ours(config: dict, name: str) -> tuple[float, np.ndarray]:
            out = Path(tmp) / f"{name}.h5"
            seconds = _timed(lambda: dd.solve(config, out, force=True, quiet=True))
            return seconds, dd.open(out).observables["risk"].values

        _, times, _ = nn2pp(0.01)
        _, reference = ours(_committee_case(times, 1e-12, float(times[-1])), "reference")
        ours(case, "warm")
        _, log_reference = ours(_committee_case(None, 1e-12, t_end), "log_reference")
        peers = []
        for dt in (0.01, 0.005, 0.0025):
            seconds, t, eg = nn2pp(dt)
            error = float(np.abs(eg - np.interp(t, times, reference)).max())
            peers.append({"dt": dt, "seconds": seconds, "max_eg_error": error})
        seconds = min(ours(case, "ours")[0] for _ in range(3))
        error = float(np.abs(ours(case, "ours")[1] - log_reference).max())
    best = peers[-1]
    yield entry(f"committee_k8_vs_nn2pp_to_t{t_end:g}", seconds,
                f"nn2pp scmpp_ode, Euler dt = {best['dt']:g}", best["seconds"],
                max_eg_error=error, peer_max_eg_error=best["max_eg_error"], peer_tried=peers,
                ratio_at_nn2pp_default_dt=peers[0]["seconds"] / seconds,
                met=bool(peers[0]["seconds"] >= seconds
                         and error <= peers[0]["max_eg_error"]))  # fmt: skip


def _sphere_loss(raw: dict, pairs: int | None, cells: int | None) -> tuple[float, np.ndarray]:
    """Wall time and loss curve of the sphere example by the grid (``cells``) or by 2 ×
    ``pairs`` lattice particles (each Fibonacci direction with b = ±κ, |a| = κ)."""
    import copy

    from ddsolver.maxmargin import sphere_directions

    cfg = copy.deepcopy(raw)
    with tempfile.TemporaryDirectory() as tmp:
        if pairs is not None:
            kappa = cfg["initial"]["scale"]
            a = kappa * sphere_directions(pairs, 3)
            theta = np.concatenate([np.column_stack([np.full(pairs, s * kappa), a])
                                    for s in (1, -1)])  # fmt: skip
            np.savez(Path(tmp) / "lattice.npz", theta=theta, masses=np.full(2 * pairs, 0.5 / pairs))
            cfg.pop("grid")
            cfg["discretisation"] = {"method": "particles"}
            cfg["initial"] = {"kind": "file", "particles": str(Path(tmp) / "lattice.npz")}
        else:
            cfg["grid"] = {"sphere_cells": cells}
        start = time.perf_counter()
        run = dd.solve(cfg, output=Path(tmp) / "run.h5", quiet=True)
        seconds = time.perf_counter() - start
        return seconds, run.observables["loss"].values


def sphere_benchmark(quick: bool) -> Iterator[dict]:
    from ddsolver.toml_io import read_toml

    raw = read_toml(ROOT / "grids" / "training_set_sphere.toml")
    raw["time"] = {"t_end": 10.0, "save_every": 5.0, "observe_every": 1.0}
    _, reference = _sphere_loss(raw, 8192, None)
    peers = []
    for pairs in (32, 64, 128, 256):
        _sphere_loss(raw, pairs, None)  # compiled before the timing
        seconds = min(_sphere_loss(raw, pairs, None)[0] for _ in range(2))
        error = float(np.abs(_sphere_loss(raw, pairs, None)[1] - reference).max())
        peers.append({"pairs": pairs, "seconds": seconds, "max_loss_error": error})
    for cells in (16,) if quick else (16, 32):
        _sphere_loss(raw, None, cells)
        seconds = min(_sphere_loss(raw, None, cells)[0] for _ in range(2))
        error = float(np.abs(_sphere_loss(raw, None, cells)[1] - reference).max())
        matched = [p for p in peers if p["max_loss_error"] <= error]
        best = min(matched, key=lambda p: p["seconds"]) if matched else peers[-1]
        yield entry(f"sphere_grid_N{cells}_to_t10", seconds,
                    f"2 x {best['pairs']} lattice particles", best["seconds"],
                    max_loss_error=error, peer_max_loss_error=best["max_loss_error"],
                    peer_tried=peers)  # fmt: skip


BENCHMARKS = {
    "sgd": sgd_benchmark,
    "sgd_scale": sgd_scale_benchmark,
    "pde_vs_sgd": pde_vs_sgd_benchmark,
    "pypde_dd": pypde_dd_benchmark,
    "nonlocal": nonlocal_benchmark,
    "grid_step": grid_step_benchmark,
    "startup": startup_benchmark,
    "training_set": training_set_benchmark,
    "scaling": scaling_benchmark,
    "exact_risk": exact_risk_benchmark,
    "finite_width": finite_width_benchmark,
    "sgd_seeds": sgd_seeds_benchmark,
    "finite_step": finite_step_benchmark,
    "nn2pp": nn2pp_benchmark,
    "sphere": sphere_benchmark,
    "multi_index_second_layer": multi_index_second_layer_benchmark,
    "mixture_mirror": mixture_mirror_benchmark,
}


def _write(target: Path, rows: list[dict]) -> None:
    """results.json, replaced atomically: a run killed at any moment leaves the last rows."""
    partial = target.with_suffix(".json.partial")
    partial.write_text(json.dumps(rows, indent=1))
    partial.replace(target)


def _print_row(r: dict) -> None:
    def fmt(v, spec):
        return format(v, spec) if isinstance(v, int | float) and v else "-"

    extra = r.get("failed") or r.get("method") or r.get("mode") or ""
    if "exponent" in r:
        extra = f"exponent {r['exponent']:.2f} (expected {r['expected']})"
    print(f"{r['name']:30s} {fmt(r['ours_s'], '.3e'):>10s} {fmt(r['peer_s'], '.3e'):>10s} "
          f"{fmt(r['ratio'], '.2f'):>8s}  {r['peer'] or ''} {extra}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (under 3 minutes)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=tuple(BENCHMARKS),
        help="run these benchmarks and replace only their rows of results.json",
    )
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="threads of numba, BLAS and torch (default: all cores)")  # fmt: skip
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results.json")
    args = parser.parse_args()
    target = args.output
    chosen = args.only or list(BENCHMARKS)
    kept = []
    if args.only and target.exists():  # keep the other benchmarks' rows of the last run
        kept = [r for r in json.loads(target.read_text()) if r.get("benchmark") not in chosen]
    results = list(kept)
    print(f"{'name':30s} {'ours_s':>10s} {'peer_s':>10s} {'ratio':>8s}  peer / details")
    for key in chosen:
        start = time.perf_counter()
        try:
            for row in BENCHMARKS[key](args.quick):
                row["benchmark"] = key
                results.append(row)
                _write(target, results)  # every row as soon as it is measured
                _print_row(row)
        except Exception as exc:  # a failed benchmark is a row with its reason, not an abort
            row = entry(key, None, None, None, benchmark=key,
                        failed=f"{type(exc).__name__}: {exc}")  # fmt: skip
            results.append(row)
            _write(target, results)
            _print_row(row)
        print(f"[{key}: {time.perf_counter() - start:.1f} s]", file=sys.stderr, flush=True)
    print(f"written: {target}")


if __name__ == "__main__":
    main()
