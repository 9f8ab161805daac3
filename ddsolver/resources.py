r"""What a run will need, estimated from its config before any compute, and refused if too much.

The estimates count the arrays a run holds at once (float64), from the config's sizes alone —
nothing is allocated to find out. A run whose estimate exceeds :data:`MEMORY_FRACTION` of the
memory available is refused with a ConfigError naming the key of the largest term and the
estimate, so ``grid.r_cells = 1e9`` or ``sgd.neurons = 1e12`` is a one-line refusal, not a
MemoryError after seconds of compute.
"""

from __future__ import annotations

import math
import os

from .kinds import get_kind
from .schema import ConfigError
from .settings import Settings, settings

#: Refuse a run whose estimate exceeds this fraction of the available memory.
MEMORY_FRACTION = 0.8
#: Working arrays of the grid solver per cell (state, stages, rates, potentials, scratch).
GRID_ARRAYS_PER_CELL = 32
#: Factors per point assumed for a low-rank kernel (the Mehler ranks seen are ≤ 200).
LOWRANK_FACTORS = 512
BYTES = 8


def available_memory() -> int:
    """Bytes of memory available to a new run: MemAvailable (else the physical memory), and
    no more than the process's address-space limit (``ulimit -v``) where one is set."""
    return min(_system_memory(), _address_space_limit())


def _system_memory() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**40  # unknown: do not refuse on memory


def _address_space_limit() -> int:
    """The soft RLIMIT_AS less what the interpreter and its libraries already map."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY or limit < 0:
            return 2**62
        with open("/proc/self/statm") as fh:
            mapped = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        return max(0, limit - mapped)
    except (ImportError, OSError, ValueError, AttributeError):
        return 2**62


def _grid_terms(cfg: Settings) -> dict[str, float]:
    kind = get_kind(cfg)
    axes = kind.grid_cells(cfg)
    cells = math.prod(axes.values())
    key = max(axes, key=axes.get)
    if cfg.discretisation.method == "particles":
        counts = kind.particle_counts(cfg)
        particles = math.prod(counts)
        n = len(counts)
        count_key = "particles.r_count"
        per_axis = max(axes.values())
        return {
            count_key: BYTES * particles * (LOWRANK_FACTORS * (n + 1) * 6 + per_axis * 2 * n),
            key: BYTES * cells * 4,
        }
    terms = {key: BYTES * cells * GRID_ARRAYS_PER_CELL}
    dense = cfg.solver.interaction == "matrix" or not kind.build_problem(cfg).factorised
    terms[key] += BYTES * cells * (3 * cells if dense else 3 * LOWRANK_FACTORS)
    return terms


def _sgd_terms(cfg: Settings) -> dict[str, float]:
    sgd = cfg.sgd
    n, d, batch = sgd.neurons, cfg.problem.dimension, sgd.batch
    seeds = len(sgd.seeds)
    threads = min(seeds, 8)
    # weights, checkpoint and snapshot copies per seed; per worker its step's work array
    # (the gradient, or the fused step's transposed W)
    weights = BYTES * seeds * 3 * n * d + BYTES * threads * n * d
    pairs = threads * get_kind(cfg).sgd_pair_bytes(n, d)  # each worker's exact risk
    batches = BYTES * threads * batch * (d + 2 * n)
    key_of_weights = "sgd.neurons" if n >= d else "problem.dimension"
    terms = {"sgd.neurons": pairs, "sgd.batch": batches}
    terms[key_of_weights] = terms.get(key_of_weights, 0.0) + weights  # (a dict literal with
    return terms  # the key twice had dropped the weights whenever N ≥ d)


def check_memory(cfg: dict | Settings, verb: str) -> None:
    """Refuse (ConfigError) a run of ``verb`` ("run" or "sgd") that cannot fit in memory."""
    cfg = settings(cfg)
    terms: dict[str, float] = {}
    parts = get_kind(cfg).memory_terms(cfg, verb)
    if parts is None:
        parts = _sgd_terms(cfg) if verb == "sgd" else _grid_terms(cfg)
    for key, size in parts.items():
        terms[key] = terms.get(key, 0.0) + size
    total = sum(terms.values())
    available = available_memory()
    if total > MEMORY_FRACTION * available:
        key = max(terms, key=terms.get)
        value = _config_value(cfg, key)
        raise ConfigError(
            key,
            value,
            f"the run would need about {_gib(total)} of memory; "
            f"{_gib(available)} is available (make it smaller)",
        )


def _config_value(cfg: Settings, key: str):
    node = cfg
    for part in key.split("."):
        node = getattr(node, part, None)
    return node


def _gib(size: float) -> str:
    return f"{size / 2**30:.3g} GiB" if size >= 2**28 else f"{size / 2**20:.3g} MiB"
