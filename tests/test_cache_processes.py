"""The on-disk kernel cache shared by successive processes, as a user's sessions share it.

A process that compiled the grid's right-hand side alone (``GridDD.rhs``, e.g. from a
notebook), then one that compiled the stepper against that cached kernel, once left a cached
stepper that segfaulted every later run (a ``parallel=True`` kernel nested in the cached
ones; numba 0.68). Each step here is a fresh interpreter on an empty cache directory.
"""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys
    from ddsolver.config import validate
    from ddsolver.experiment import build_initial, build_system

    cfg = validate({"time": {"t_end": 0.5, "save_every": 0.5}, "grid": {"r_cells": 24}})
    system = build_system(cfg)
    state = system.initial_state(build_initial(cfg))
    if sys.argv[1] == "rhs":
        print(float(abs(system.rhs(state.reshape(system.grid.shape), 0.0)).sum()))
    else:
        t, _, steps, _, status, _ = system.advance(state, 0.0, 0.5)
        print(t, steps, status, float(state.sum()))
    """
)


def _run(step: str, env: dict) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, step], env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (step, done.returncode, done.stderr[-2000:])
    return done.stdout


def test_kernels_cached_by_one_process_run_in_the_next(tmp_path):
    import os

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    _run("rhs", env)  # compiles and caches evaluate_rhs alone
    first = _run("advance", env)  # compiles advance against the cached evaluate_rhs
    assert _run("advance", env) == first  # loads that advance: crashed with SIGSEGV before


SGD_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from ddsolver.models.activations import Activation
    from ddsolver.schedules import Schedule
    from ddsolver.sgd.teacher_student import teacher_sgd_steps

    act, xi = Activation("tanh"), Schedule("constant")
    rng = np.random.default_rng(3)
    w = rng.standard_normal((6, 5))
    teacher_sgd_steps(w, act.code, act.param_array, 1.0, 0.1, 1e-2, xi.code, xi.params,
                      0.01, 0.01, 2, 0, 40, rng)
    print(repr(w.sum()), sum(teacher_sgd_steps.stats.cache_hits.values()))
    """
)


def test_sgd_loop_and_its_shared_parts_load_from_the_cache(tmp_path):
    """A kind's SGD loop calls the engine's parts (:mod:`ddsolver.sgd.engine`) statically:
    the next process loads it from the cache (one hit) and repeats the bits."""
    import os

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}

    def run() -> tuple[str, int]:
        done = subprocess.run([sys.executable, "-c", SGD_SCRIPT], env=env, capture_output=True,
                              text=True, timeout=600, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        total, hits = done.stdout.split()
        return total, int(hits)

    first, hits_first = run()
    second, hits_second = run()
    assert (hits_first, hits_second) == (0, 1)
    assert second == first
