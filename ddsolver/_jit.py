"""The one place that decides how ddsolver compiles its kernels.

Every hot kernel is a top-level function decorated with :func:`jit` (or
:func:`jit_parallel` for the few that loop over many independent items).
Kernels take every array and scalar as an argument, so numba's on-disk cache
(``cache=True``) is hit in every new process.

The cache directory is chosen here, once, by a hash of the package's sources
(:func:`_configure_cache`).

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


def _source_stamp() -> str:
    """A hash of every source file of the package (names and contents)."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha1()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _configure_cache() -> None:
    """Point numba's on-disk cache at a directory named by a hash of the package's sources.

    numba invalidates a cached kernel when *its own* file changes, not when a kernel it
    calls changes in another file: after an edit or an upgrade of activations.py, the
    cached SGD kernel would keep the old activation and silently compute with it. A cache
    directory per source hash makes every change start from a clean cache. The base is
    ``NUMBA_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/ddsolver/numba`` (``~/.cache``);
    the variable is set for child processes (Dask workers, notebook kernels) too.
    """
    stamp = f"ddsolver-{_source_stamp()}"
    base = os.environ.get("NUMBA_CACHE_DIR", "")
    if base and Path(base).name.startswith("ddsolver-"):  # already configured by a parent
        base = str(Path(base).parent)
    if not base:
        home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(home, "ddsolver", "numba")
    target = os.path.join(base, stamp)
    try:
        os.makedirs(target, exist_ok=True)
    except OSError:  # an unwritable home: a per-user temporary directory
        user = getattr(os, "getuid", lambda: 0)()
        target = os.path.join(tempfile.gettempdir(), f"ddsolver-numba-{user}", stamp)
        os.makedirs(target, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = target


_configure_cache()

from numba import config as _numba_config  # noqa: E402  (after the cache directory is set)
from numba import njit  # noqa: E402

_numba_config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]  # numba may have been imported first

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
