"""Bit-for-bit reproducibility across processes: the kernels' arithmetic must not depend on
where numba compiled or linked them.

numba links a copy of every callee into the library of each kernel that calls it and
optimises that copy again in its new context. Under fast-math flags the copies rounded
differently (re-association, fused multiply-add chosen per context), and which copy a call
bound to changed from process to process: two runs of the quickstart from one cache ended
1 ulp apart in some cells. The kernels now compile with IEEE semantics (``ddsolver._jit``).
"""

import importlib
import os
import pkgutil
import subprocess
import sys
import textwrap

import pytest

import ddsolver


def _dispatchers():
    from numba.core.registry import CPUDispatcher

    found = {}
    for info in pkgutil.walk_packages(ddsolver.__path__, "ddsolver."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value.py_func.__module__ == info.name:
                found[f"{info.name}.{name}"] = value
    return found


def test_no_kernel_compiles_with_fast_math():
    kernels = _dispatchers()
    assert len(kernels) > 50  # the walk found the package's kernels
    fast = sorted(name for name, k in kernels.items() if k.targetoptions.get("fastmath"))
    assert not fast, f"kernels with fast-math flags (results then differ between processes): {fast}"


SCRIPT = textwrap.dedent(
    """
    import hashlib
    import numpy as np
    from ddsolver.config import load_config
    from ddsolver.experiment import build_initial, build_system
    from ddsolver.operators.transport import _axis_divergence, flux_divergence
    from ddsolver.steppers import evaluate_rhs

    cfg = load_config("grids/quickstart.toml")
    system = build_system(cfg)
    p = system.initial_state(build_initial(cfg))
    ops, noise = system.kernel_arguments()
    digest = lambda a: hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest()
    out, rate = np.empty_like(p), np.empty_like(p)
    evaluate_rhs(p, 0.0, ops, noise, out, rate)  # the copy linked into the stepper's library
    phi = ops.phi.reshape(p.shape).copy()  # the potential evaluate_rhs formed
    w0, w1, w2, h0, h1, h2 = ops.w0, ops.w1, ops.w2, ops.h0, ops.h1, ops.h2
    nu, limiter = ops.diffusivity, ops.limiter
    xi2 = 2.0 * cfg["dynamics"]["xi"]
    alone, alone_rate = np.empty_like(p), np.empty_like(p)
    flux_divergence(p, phi, w0, w1, w2, h0, h1, h2, xi2, nu, limiter, alone, alone_rate,
                    np.empty((3, p.size)))
    axis, axis_rate = np.zeros(p.size), np.zeros(p.size)
    _axis_divergence(p.ravel(), phi.ravel(), 1, p.shape[0], 1, w0, h0, xi2, nu, limiter, axis,
                     axis_rate, np.empty((3, p.size)))
    print(digest(out), digest(alone), digest(axis))
    print(digest(rate), digest(alone_rate), digest(axis_rate))
    """
)


@pytest.mark.slow
def test_every_copy_of_the_flux_kernel_rounds_alike(tmp_path):
    """The quickstart's flux divergence through the stepper's right-hand side, through
    ``flux_divergence`` and through the axis kernel called alone: three compiled copies of one
    loop, bitwise equal. Vectorised code (no bounds checks), as users run it: with the former
    fast-math flags the axis kernel alone, loaded from the cache, differed from the other two."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_BOUNDSCHECK"}  # as users run
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "cache")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for _ in ("compiles", "loads from the cache"):
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
            timeout=600, check=False, cwd=root,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        for line in done.stdout.split("\n")[:2]:
            assert len(set(line.split())) == 1, done.stdout
