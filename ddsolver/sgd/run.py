r"""``ddsolver sgd``: finite-width online SGD for the problem of a config, several seeds.

For every seed the problem kind's network (:mod:`ddsolver.kinds`) starts from the config's
initial law in the full dimension and runs its compiled SGD kernel, step k ↔ time t = kε.
At every multiple of ``sgd.observe_every`` (default ``time.save_every``) the run records the
exact risk R_N(θ) and the statistics of the neurons' reduced coordinates
(:mod:`ddsolver.observables`, one seed per column); at every multiple of ``time.save_every``
every neuron's reduced coordinates and a checkpoint: each seed's weights and the state of its
random generator, so ``ddsolver sgd --resume`` continues bit for bit. Seeds run in parallel
threads (the kernels release the GIL).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .. import io
from .._jit import compile_lock
from ..config import check_sgd_run, to_toml
from ..experiment import build_schedule
from ..fields import sgd_fields
from ..kinds import get_kind
from ..observables import coordinate_statistics
from ..resources import check_memory
from ..runloop import Advance, run_loop, run_stop_times
from ..schedules import Schedule
from ..settings import Settings, settings
from ..status import RunResult
from .network import Network


def warm_up_sgd(kind: str = "isotropic_gaussians") -> None:
    """Compile (or load) the SGD and exact-risk kernels of problem ``kind`` under the lock."""
    problem_kind = get_kind(kind)
    with compile_lock():
        problem_kind.warm_up_sgd()


class SGDIntegrator:
    """Every seed's network, as the run loop drives them; time t = kε."""

    def __init__(self, nets: list[Network], schedule: Schedule, eps: float, threads: int):
        self.nets, self.schedule, self.eps = nets, schedule, eps
        self.pool = ThreadPoolExecutor(max_workers=threads)

    def step_index(self, t: float) -> int:
        """The step k at time t (t is a stop time, a multiple of ε up to round-off)."""
        return int(np.rint(t / self.eps))

    def advance(self, t: float, t_stop: float) -> Advance:
        k0, k1 = self.step_index(t), self.step_index(t_stop)
        list(self.pool.map(lambda net: net.advance(self.schedule, k0, k1), self.nets))
        failure = None if all(net.finite() for net in self.nets) else "non-finite weights"
        steps = (k1 - k0) * len(self.nets)
        return Advance(t_stop, steps, self.eps if steps else np.nan, failure)

    def observe(self) -> dict[str, Any]:
        # the seeds' exact risks in the worker threads too (at N = 800 the 21 risks of a
        # paper-example run cost half as much as its 10⁵ steps)
        rows = list(self.pool.map(_observe_one, self.nets))
        return {name: np.array([row[name] for row in rows]) for name in rows[0]}

    def snapshot(self) -> dict[str, np.ndarray]:
        fields = [net.snapshot_fields() for net in self.nets]
        return {c: np.stack([f[c] for f in fields]) for c in fields[0]}

    def checkpoint(self) -> tuple[np.ndarray, float, dict]:
        state = np.stack([net.pack() for net in self.nets])
        rngs = [net.rng.bit_generator.state for net in self.nets]
        return state, np.nan, {"rng": rngs}

    def restore(self, state: np.ndarray, dt_limit: float, extra: dict | None) -> None:
        if extra is None or len(extra.get("rng", ())) != len(self.nets):
            raise ValueError("the SGD checkpoint has no random generator states to resume")
        for net, weights, rng_state in zip(self.nets, state, extra["rng"], strict=True):
            net.unpack(weights)
            net.rng.bit_generator.state = rng_state

    def close(self) -> None:
        """Stop the worker threads."""
        self.pool.shutdown()


def _observe_one(net: Network) -> dict[str, Any]:
    """One seed's row of observables: the exact risk, its coordinates' statistics, its own."""
    coords = net.coordinates()
    points = np.column_stack([coords[c] for c in net.coords])
    masses = np.full(points.shape[0], 1.0 / points.shape[0])
    stats = coordinate_statistics(net.coords, points, masses)
    return {"risk": net.risk(), **stats, **net.observables()}


def run_sgd(
    cfg: dict | Settings,
    path: str | Path,
    force: bool = False,
    threads: int | None = None,
    resume: bool = False,
    quiet: bool = False,
) -> RunResult:
    """Run SGD for every seed of ``cfg`` and write the HDF5 file ``path``."""
    path = Path(path)
    cfg = settings(cfg)
    check_sgd_run(cfg.config)
    check_memory(cfg, "sgd")
    if resume and path.exists():  # never start afresh over a file that is not an SGD run
        io.check_run_file(path, ("sgd",), complete=False)
    kind = get_kind(cfg)
    warm_up_sgd(kind.name)
    problem = kind.build_problem(cfg)
    sgd = cfg.sgd
    seeds = list(sgd.seeds)
    nets = [kind.sgd_network(cfg, problem, seed) for seed in seeds]
    times, is_save = run_stop_times(cfg, trainer=True)
    integrator = SGDIntegrator(nets, build_schedule(cfg), sgd.eps, threads or min(len(seeds), 8))

    config_text = to_toml(cfg.config)
    data = kind.file_data(cfg, problem)

    def create(first: dict[str, Any], overwrite: bool) -> None:
        names = [name for name in first if name not in ("time", "dt")]
        words = kind.labels(cfg.config, None if data is None else len(data["x"]))
        fields = sgd_fields(words.finite, words.objective, nets[0].coords, words.trainer)
        fields.update(kind.fields(cfg.config))
        io.create_sgd_file(
            path,
            config_text,
            seeds,
            {name: np.shape(a) for name, a in nets[0].snapshot_fields().items()},
            names,
            (len(nets), nets[0].size),
            force=force or overwrite,
            data=data,
            trainer=words.trainer,
            fields=fields,
            attrs=kind.file_attrs(cfg, problem, "sgd"),
        )

    try:
        return run_loop(
            integrator,
            path,
            times,
            is_save,
            create,
            config_text=config_text,
            resume=resume,
            quiet=quiet,
            data=data,
        )
    finally:
        integrator.close()
