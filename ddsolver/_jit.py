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
