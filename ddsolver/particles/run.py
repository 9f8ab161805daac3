r"""``ddsolver sgd``: finite-width online SGD for the problem of a config, several seeds.

For every seed the network starts from the config's initial law (w ~ N(0, κ²/d I_d)) and
runs :func:`~ddsolver.particles.sgd.sgd_steps` with step k ↔ time t = kε. At every multiple
of ``sgd.observe_every`` (default ``time.save_every``) the exact risk R_N(θ) is recorded;
at every multiple of ``time.save_every`` the neurons' reduced coordinates. Seeds run in
parallel threads (the kernel releases the GIL).
"""

from __future__ import annotations

import logging
import math
import time as clock
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .. import io
from .._jit import compile_lock
from ..config import to_toml
from ..experiment import build_problem, build_schedule
from ..integrate import RunResult, stop_times
from .risk import exact_risk
from .sgd import initial_network, sgd_steps

log = logging.getLogger("ddsolver")


def warm_up_sgd() -> None:
    """Compile (or load) the SGD and exact-risk kernels with the types of a real run."""
    from ..models import IsotropicGaussians, paper_ramp
    from ..schedules import Schedule

    with compile_lock():
        problem = IsotropicGaussians(paper_ramp(), 4, 0.5)
        rng = np.random.default_rng(0)
        w, a = initial_network(3, 4, 0.8, 1.0, 0.0, rng)
        sched = Schedule("constant")
        act = problem.activation
        sgd_steps(
            w,
            a,
            False,
            act.code,
            act.param_array,
            0.5,
            1e-3,
            sched.code,
            sched.params,
            0.0,
            0.0,
            1,
            np.int64(0),
            np.int64(1),
            rng,
        )
        exact_risk(problem, w, None)


def run_sgd(
    cfg: dict, path: str | Path, force: bool = False, threads: int | None = None
) -> RunResult:
    """Run SGD for every seed of ``cfg`` and write the HDF5 file ``path``."""
    started = clock.monotonic()
    path = Path(path)
    warm_up_sgd()
    problem = build_problem(cfg)
    if math.isinf(problem.dimension):
        raise ValueError("SGD needs a finite problem.dimension")
    d = int(problem.dimension)
    sgd = cfg["sgd"]
    eps, neurons, seeds = sgd["eps"], sgd["neurons"], list(sgd["seeds"])
    schedule = build_schedule(cfg)
    dyn = cfg["dynamics"]
    init = cfg["initial"]
    train_a = cfg["problem"]["second_layer"]
    coords = ("a", "r") if train_a else ("r",)
    observe = sgd["observe_every"] or cfg["time"]["save_every"]
    times, is_save = stop_times(cfg["time"]["t_end"], cfg["time"]["save_every"], observe)
    steps_at = np.rint(times / eps).astype(np.int64)
    obs_names = ["risk", *(f"mean_{c}" for c in coords)]
    io.create_sgd_file(path, to_toml(cfg), seeds, neurons, coords, obs_names, force=force)

    rngs = [np.random.default_rng(s) for s in seeds]
    if init["dimension"] not in (0, d):
        raise ValueError(
            "SGD draws w ~ N(0, κ²/d I_d) in the problem's dimension; "
            "initial.dimension must be 0 or problem.dimension"
        )
    nets = [
        initial_network(neurons, d, init["scale"], init["a_mean"], init["a_std"], g) for g in rngs
    ]
    act = problem.activation

    def advance(index: int, k0: int, k1: int) -> None:
        w, a = nets[index]
        sgd_steps(
            w,
            a,
            train_a,
            act.code,
            act.param_array,
            problem.delta,
            eps,
            schedule.code,
            schedule.params,
            dyn["lam"],
            dyn["tau"],
            sgd["batch"],
            k0,
            k1,
            rngs[index],
        )

    status = "finished"
    with ThreadPoolExecutor(max_workers=threads or min(len(seeds), 8)) as pool:
        for k, t in enumerate(times):
            if k > 0:
                list(
                    pool.map(
                        lambda i, k=k: advance(i, steps_at[k - 1], steps_at[k]), range(len(seeds))
                    )
                )
            risks, fields = [], {c: [] for c in coords}
            for w, a in nets:
                if not np.all(np.isfinite(w)):
                    status = f"failed: non-finite weights at t = {t:.6g}"
                    break
                risks.append(exact_risk(problem, w, a if train_a else None))
                fields["r"].append(np.linalg.norm(w, axis=1))
                if train_a:
                    fields["a"].append(a.copy())
            if status != "finished":
                break
            obs = {"time": t, "risk": np.array(risks)}
            obs.update({f"mean_{c}": np.array([x.mean() for x in fields[c]]) for c in coords})
            snap = [(t, {c: np.stack(fields[c]) for c in coords})] if is_save[k] else []
            io.append(path, [obs], snap, None)
    io.set_status(path, status)
    wall = clock.monotonic() - started
    log.info("%s: %s, %d seeds x %d steps, %.1f s", path, status, len(seeds), steps_at[-1], wall)
    return RunResult(path, status, float(times[-1]), int(steps_at[-1]) * len(seeds), wall)
