"""The one place that decides how ddsolver compiles its kernels.

Every hot kernel is a top-level function decorated with :func:`jit` (or
:func:`jit_parallel` for the few that loop over many independent items).
Kernels take every array and scalar as an argument, so numba's on-disk cache
(``cache=True``) is hit in every new process.

The fastmath subset allows re-association and contraction (vectorised sums,
fused multiply-add) but *not* ``nnan``/``ninf``: a NaN produced by a kernel
must reach the fault guards of the integrator unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from numba import njit

FASTMATH_FLAGS = frozenset({"nsz", "arcp", "contract", "reassoc"})


def jit(func=None, /):
    """Compile ``func`` with the project-wide policy (serial, cached)."""
    decorator = njit(cache=True, nogil=True, error_model="numpy", fastmath=set(FASTMATH_FLAGS))
    return decorator if func is None else decorator(func)


def jit_parallel(func=None, /):
    """Compile ``func`` with the policy for ``prange`` loops (parallel, cached)."""
    decorator = njit(
        cache=True, nogil=True, parallel=True, error_model="numpy", fastmath=set(FASTMATH_FLAGS)
    )
    return decorator if func is None else decorator(func)


@contextlib.contextmanager
def compile_lock():
    """Hold a machine-wide lock while kernels are first compiled and cached.

    numba writes its on-disk cache without a lock; two processes compiling the same kernel
    at once can leave an entry that crashes every later load (numba issues #4807, #10128).
    Callers compile everything they need (a tiny warm-up run) inside this lock, so a
    second process waits and then loads the finished cache. No-op where ``fcntl`` is missing.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    key = hashlib.sha1(str(Path(__file__).resolve().parent).encode()).hexdigest()[:12]
    cache = os.environ.get("NUMBA_CACHE_DIR", "")
    if cache:
        key += "-" + hashlib.sha1(cache.encode()).hexdigest()[:8]
    path = Path(tempfile.gettempdir()) / f"ddsolver-compile-{key}.lock"
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
