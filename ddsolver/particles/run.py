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
from ..models.teacher_student import network_risk
from ..schedules import Schedule
from .risk import exact_risk
from .sgd import initial_network, sgd_steps
from .sgd_anisotropic import (
    exact_risk_anisotropic,
    initial_anisotropic_network,
    relu_bias_sgd_steps,
)
from .sgd_teacher import teacher_sgd_steps

log = logging.getLogger("ddsolver")


def warm_up_sgd(kind: str = "isotropic_gaussians") -> None:
    """Compile (or load) the SGD and exact-risk kernels of problem ``kind`` under the lock."""
    with compile_lock():
        NETWORKS[kind].warm_up(np.random.default_rng(0))


class _IsotropicNetwork:
    """N neurons σ(<w, x>) (or a σ(<w, x>)) trained on the isotropic problem; one seed."""

    @staticmethod
    def warm_up(rng: np.random.Generator) -> None:
        """Call the kernels once with the argument types of a real run."""
        from ..models import IsotropicGaussians, paper_ramp

        problem = IsotropicGaussians(paper_ramp(), 4, 0.5)
        w, a = initial_network(3, 4, 0.8, 1.0, 0.0, rng)
        sched, act = Schedule("constant"), problem.activation
        sgd_steps(
            w, a, False, act.code, act.param_array, 0.5, 1e-3, sched.code, sched.params, 0.0,
            0.0, 1, np.int64(0), np.int64(1), rng,
        )  # fmt: skip
        exact_risk(problem, w, None)

    def __init__(self, cfg: dict, problem, rng: np.random.Generator):
        init = cfg["initial"]
        self.cfg, self.problem, self.rng = cfg, problem, rng
        self.train_a = cfg["problem"]["second_layer"]
        self.coords = ("a", "r") if self.train_a else ("r",)
        self.w, self.a = initial_network(
            cfg["sgd"]["neurons"],
            int(problem.dimension),
            init["scale"],
            init["a_mean"],
            init["a_std"],
            rng,
        )

    def advance(self, schedule, k0: int, k1: int) -> None:
        act, dyn, sgd = self.problem.activation, self.cfg["dynamics"], self.cfg["sgd"]
        sgd_steps(
            self.w,
            self.a,
            self.train_a,
            act.code,
            act.param_array,
            self.problem.delta,
            sgd["eps"],
            schedule.code,
            schedule.params,
            dyn["lam"],
            dyn["tau"],
            sgd["batch"],
            k0,
            k1,
            self.rng,
        )

    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.w)) and np.all(np.isfinite(self.a)))

    def risk(self) -> float:
        return exact_risk(self.problem, self.w, self.a if self.train_a else None)

    def coordinates(self) -> dict[str, np.ndarray]:
        out = {"r": np.linalg.norm(self.w, axis=1)}
        if self.train_a:
            out["a"] = self.a.copy()
        return out


class _AnisotropicNetwork:
    """N neurons a ReLU(<w, x> + b), all trained, on the anisotropic problem; one seed."""

    coords = ("a", "b", "r1", "r2")

    @staticmethod
    def warm_up(rng: np.random.Generator) -> None:
        """Call the kernels once with the argument types of a real run."""
        init = {"a_mean": 1.0, "a_std": 0.5, "b_mean": 0.0, "b_std": 0.5}
        w, a, b = initial_anisotropic_network(3, 4, 0.8, init, rng)
        sched = Schedule("constant")
        relu_bias_sgd_steps(
            w, a, b, 2, 0.5, 1e-3, sched.code, sched.params, 0.0, 1, np.int64(0), np.int64(1), rng
        )
        exact_risk_anisotropic(0.5, 2, a, b, w)

    def __init__(self, cfg: dict, problem, rng: np.random.Generator):
        self.cfg, self.problem, self.rng = cfg, problem, rng
        self.w, self.a, self.b = initial_anisotropic_network(
            cfg["sgd"]["neurons"],
            int(problem.dimension),
            cfg["initial"]["scale"],
            cfg["initial"],
            rng,
        )

    def advance(self, schedule, k0: int, k1: int) -> None:
        sgd = self.cfg["sgd"]
        relu_bias_sgd_steps(
            self.w,
            self.a,
            self.b,
            self.problem.informative,
            self.problem.delta,
            sgd["eps"],
            schedule.code,
            schedule.params,
            self.cfg["dynamics"]["lam"],
            sgd["batch"],
            k0,
            k1,
            self.rng,
        )

    def finite(self) -> bool:
        return bool(all(np.all(np.isfinite(v)) for v in (self.w, self.a, self.b)))

    def risk(self) -> float:
        p = self.problem
        return exact_risk_anisotropic(p.delta, p.informative, self.a, self.b, self.w)

    def coordinates(self) -> dict[str, np.ndarray]:
        s0 = self.problem.informative
        return {
            "a": self.a.copy(),
            "b": self.b.copy(),
            "r1": np.linalg.norm(self.w[:, :s0], axis=1),
            "r2": np.linalg.norm(self.w[:, s0:], axis=1),
        }


class _TeacherStudentNetwork:
    """N students σ(<w, x>) of the teacher σ(s* x₁) (+ label noise); one seed."""

    coords = ("u", "v")

    @staticmethod
    def warm_up(rng: np.random.Generator) -> None:
        """Call the kernels once with the argument types of a real run."""
        from ..models import Activation, TeacherStudent

        problem = TeacherStudent(Activation.from_mapping({"kind": "erf"}), 4)
        w, _ = initial_network(3, 4, 0.8, 1.0, 0.0, rng)
        sched, act = Schedule("constant"), problem.activation
        teacher_sgd_steps(
            w, act.code, act.param_array, 1.0, 0.1, 1e-3, sched.code, sched.params, 0.0, 0.0, 1,
            np.int64(0), np.int64(1), rng,
        )  # fmt: skip
        network_risk(problem, w)

    def __init__(self, cfg: dict, problem, rng: np.random.Generator):
        self.cfg, self.problem, self.rng = cfg, problem, rng
        init = cfg["initial"]
        self.w, _ = initial_network(
            cfg["sgd"]["neurons"], int(problem.dimension), init["scale"], 1.0, 0.0, rng
        )

    def advance(self, schedule, k0: int, k1: int) -> None:
        act, dyn, sgd = self.problem.activation, self.cfg["dynamics"], self.cfg["sgd"]
        teacher_sgd_steps(
            self.w,
            act.code,
            act.param_array,
            self.problem.teacher_norm,
            self.problem.label_noise,
            sgd["eps"],
            schedule.code,
            schedule.params,
            dyn["lam"],
            dyn["tau"],
            sgd["batch"],
            k0,
            k1,
            self.rng,
        )

    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.w)))

    def risk(self) -> float:
        return network_risk(self.problem, self.w)

    def coordinates(self) -> dict[str, np.ndarray]:
        return {"u": self.w[:, 0].copy(), "v": np.linalg.norm(self.w[:, 1:], axis=1)}


NETWORKS = {
    "isotropic_gaussians": _IsotropicNetwork,
    "anisotropic_gaussians": _AnisotropicNetwork,
    "teacher_student": _TeacherStudentNetwork,
}


def run_sgd(
    cfg: dict, path: str | Path, force: bool = False, threads: int | None = None
) -> RunResult:
    """Run SGD for every seed of ``cfg`` and write the HDF5 file ``path``."""
    started = clock.monotonic()
    path = Path(path)
    warm_up_sgd(cfg["problem"]["kind"])
    problem = build_problem(cfg)
    if math.isinf(problem.dimension):
        raise ValueError("SGD needs a finite problem.dimension")
    d = int(problem.dimension)
    sgd = cfg["sgd"]
    eps, neurons, seeds = sgd["eps"], sgd["neurons"], list(sgd["seeds"])
    schedule = build_schedule(cfg)
    if cfg["initial"]["dimension"] not in (0, d):
        raise ValueError(
            "SGD draws w ~ N(0, κ²/d I_d) in the problem's dimension; "
            "initial.dimension must be 0 or problem.dimension"
        )
    network = NETWORKS[cfg["problem"]["kind"]]
    nets = [network(cfg, problem, np.random.default_rng(s)) for s in seeds]
    coords = nets[0].coords
    observe = sgd["observe_every"] or cfg["time"]["save_every"]
    times, is_save = stop_times(cfg["time"]["t_end"], cfg["time"]["save_every"], observe)
    steps_at = np.rint(times / eps).astype(np.int64)
    obs_names = ["risk", *(f"mean_{c}" for c in coords)]
    io.create_sgd_file(path, to_toml(cfg), seeds, neurons, coords, obs_names, force=force)

    status = "finished"
    with ThreadPoolExecutor(max_workers=threads or min(len(seeds), 8)) as pool:
        for k, t in enumerate(times):
            if k > 0:
                list(
                    pool.map(
                        lambda net, k=k: net.advance(schedule, steps_at[k - 1], steps_at[k]), nets
                    )
                )
            risks, fields = [], {c: [] for c in coords}
            for net in nets:
                if not net.finite():
                    status = f"failed: non-finite weights at t = {t:.6g}"
                    break
                risks.append(net.risk())
                for name, values in net.coordinates().items():
                    fields[name].append(values)
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
