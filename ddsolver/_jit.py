"""The one place that decides how ddsolver compiles its kernels.

Every hot kernel is a top-level function decorated with :func:`jit` (or
:func:`jit_parallel` for the few that loop over many independent items).
Kernels take every array and scalar as an argument, so numba's on-disk cache
(``cache=True``) is hit in every new process.

The cache directory is chosen here, once, by a hash of the package's sources
(:func:`_configure_cache`).

Kernels compile with IEEE semantics: no fast-math flags, no SVML. numba links a copy of
every callee into the library of each kernel that calls it and optimises it there again;
under fast-math flags (re-association, fused multiply-add) each copy may round differently,
and which copy a call binds to differed from process to process — the quickstart's
densities of two runs from one cache differed in the last bits (1 ulp in 29 of 200 cells of
one right-hand side; ``tests/test_reproducibility.py``). Strict arithmetic makes every copy
round alike, so a run, a resumed run and a sweep's worker agree bit for bit. A NaN reaches
the integrator's fault guards unchanged. Sums that must be fast keep several independent
running sums in a fixed order (:func:`ddsolver.operators.interaction.dot`, the SGD step's
products four neurons at a time).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
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


#: numba settings read from the environment that change the compiled code but are not part of
#: numba's own cache key: kernels compiled under them get a cache directory of their own
CODEGEN_VARIABLES = (
    "NUMBA_BOUNDSCHECK",
    "NUMBA_OPT",
    "NUMBA_DEBUGINFO",
    "NUMBA_LOOP_VECTORIZE",
    "NUMBA_SLP_VECTORIZE",
    "NUMBA_ENABLE_AVX",
)


def _codegen_suffix() -> str:
    """``-boundscheck1`` and the like for every :data:`CODEGEN_VARIABLES` that is set, else ''.

    Without it, kernels compiled with bounds checks (the test suite's setting) landed in the
    cache every later run loads: a drift–diffusion step at 1024 cells took 90 µs instead of 11.
    """
    parts = []
    for name in CODEGEN_VARIABLES:
        value = "".join(c for c in os.environ.get(name, "") if c.isalnum())[:16]
        if value:
            parts.append(f"-{name.removeprefix('NUMBA_').replace('_', '').lower()}{value}")
    return "".join(parts)


def _configure_cache() -> None:
    """Point numba's on-disk cache at a directory named by a hash of the package's sources.

    numba invalidates a cached kernel when *its own* file changes, not when a kernel it
    calls changes in another file: after an edit or an upgrade of activations.py, the
    cached SGD kernel would keep the old activation and silently compute with it. A cache
    directory per source hash makes every change start from a clean cache. The base is
    ``NUMBA_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/ddsolver/numba`` (``~/.cache``);
    the variable is set for child processes (Dask workers, notebook kernels) too. Settings that
    change the compiled code (bounds checks, the optimisation level: :func:`_codegen_suffix`)
    name a directory of their own, so that no run loads kernels compiled under them.
    """
    stamp = f"ddsolver-{_source_stamp()}{_codegen_suffix()}"
    base = os.environ.get("NUMBA_CACHE_DIR", "")
    if base and Path(base).name.startswith("ddsolver-"):  # already configured by a parent
        base = str(Path(base).parent)
    if not base:
        home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(home, "ddsolver", "numba")
    target = os.path.join(base, stamp)
    try:
        os.makedirs(target, exist_ok=True)
    except OSError:  # an unwritable home: a private temporary directory
        target = _private_temporary_cache(stamp)
    os.environ["NUMBA_CACHE_DIR"] = target


def _private_temporary_cache(stamp: str) -> str:
    """A cache directory under the system's temporary directory that only this user can write.

    numba loads its cached kernels with pickle, so a cache another user could write is code
    they could run as this one. ``<tmp>/ddsolver-numba-<uid>`` is used only when it is a real
    directory (not a link), owned by this user, with no access for group or others (it is
    created 0700); otherwise the kernels go to a fresh directory of this process's own
    (``mkdtemp``, 0700) and are compiled again by the next process.
    """
    uid = os.getuid()
    shared = os.path.join(tempfile.gettempdir(), f"ddsolver-numba-{uid}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(shared, 0o700)
    info = os.lstat(shared)
    if stat.S_ISDIR(info.st_mode) and info.st_uid == uid and not info.st_mode & 0o077:
        target = os.path.join(shared, stamp)
        os.makedirs(target, mode=0o700, exist_ok=True)
        return target
    return tempfile.mkdtemp(prefix="ddsolver-numba-")


_configure_cache()
# SVML's vector functions and the scalar libm round differently: a loop vectorised in one
# copy of a kernel and not in another would give two results (module docstring)
os.environ["NUMBA_DISABLE_INTEL_SVML"] = "1"

from numba import config as _numba_config  # noqa: E402  (after the cache directory is set)
from numba import njit  # noqa: E402

_numba_config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]  # numba may have been imported first
_numba_config.USING_SVML = False


def jit(func=None, /):
    """Compile ``func`` with the project-wide policy (serial, cached, IEEE arithmetic)."""
    decorator = njit(cache=True, nogil=True, error_model="numpy")
    return decorator if func is None else decorator(func)


def jit_inline(func=None, /):
    """Compile ``func`` with the project-wide policy, inlined into its callers by numba itself.

    For a helper of a hot loop that is too large for LLVM's inliner: left as a call, it keeps
    the loop from vectorising (the WENO face values: 12 → 5 ns a cell); and for a helper whose
    branches must be pruned where it is called (the grid's face flux with ν None). Compiled
    again at every call site, so keep the call sites few.
    """
    decorator = njit(cache=True, nogil=True, error_model="numpy", inline="always")
    return decorator if func is None else decorator(func)


def jit_parallel(func=None, /):
    """Compile ``func`` with the policy for ``prange`` loops (parallel, cached)."""
    decorator = njit(cache=True, nogil=True, parallel=True, error_model="numpy")
    return decorator if func is None else decorator(func)


#: The line on stderr while kernels compile (an empty cache, or a warm-up that takes long).
COMPILING_NOTICE = (
    "ddsolver: compiling the numerical kernels this run needs (~10 s, once per verb and "
    "problem kind for this version; later runs load them from {cache})"
)
#: Seconds a warm-up may take, with a cache present, before the notice is shown (loading
#: cached kernels takes ~0.3 s; a kernel missing from the cache compiles for seconds).
NOTICE_AFTER = 3.0


def _cache_is_empty() -> bool:
    cache = Path(os.environ.get("NUMBA_CACHE_DIR", ""))
    return not cache.is_dir() or next(cache.rglob("*.nbi"), None) is None


@contextlib.contextmanager
def compiling_notice():
    """Say on stderr, in one line, that kernels are being compiled — at once when the cache
    is empty, else only if the body is still running after :data:`NOTICE_AFTER` seconds."""
    import sys
    import threading

    message = COMPILING_NOTICE.format(cache=os.environ.get("NUMBA_CACHE_DIR", "the cache"))

    def say() -> None:
        print(message, file=sys.stderr, flush=True)

    timer = threading.Timer(0.0 if _cache_is_empty() else NOTICE_AFTER, say)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@contextlib.contextmanager
def compile_lock():
    """Hold the cache directory's lock while kernels are first compiled and cached.

    numba writes its on-disk cache without a lock; two processes compiling the same kernel
    at once can leave an entry that crashes every later load (numba issues #4807, #10128).
    Callers compile everything they need (a tiny warm-up run) inside this lock, so a
    second process waits and then loads the finished cache. No-op where ``fcntl`` is missing.
    While it is held, :func:`compiling_notice` tells a waiting user what is happening.
    """
    with compiling_notice():
        yield from _locked()


def _locked():
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    # in the cache directory it guards (this user's own, :func:`_configure_cache`), never
    # through a link
    path = Path(os.environ["NUMBA_CACHE_DIR"]) / ".compile.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
