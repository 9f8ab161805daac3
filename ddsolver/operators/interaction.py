r"""The nonlocal term (U ρ)(z_i) = Σ_j U(z_i, z_j) m_j on a fixed set of M points.

Three interchangeable representations (:class:`Interaction`):

``lowrank``   U ≈ Φ diag(w) Φᵀ with Φ of shape (M, K): one apply is O(M·K) (the kernels take
              Φᵀ, (K, M), so that both passes run along contiguous rows). From the
              problem's own factorisation (Mehler series, rigorous error bound) or, when the
              problem has none, a truncated eigendecomposition of the matrix (the bound is
              the sum of the discarded |eigenvalues|).
``matrix``    U precomputed once (M, M) and applied by BLAS: O(M²) per apply, M² memory.
``onthefly``  U_ij = Σ_k w_k Φ_ik Φ_jk evaluated pair by pair: O(M²K) per apply, no M²
              memory (a check of the other two, and the way to evaluate a kernel known
              only pointwise). Serial: it runs inside the cached grid stepper, and a
              ``parallel=True`` kernel called from cached kernels crashes a later process
              (see :func:`_pairwise_apply`).

The default (``auto``), when the problem has a factorisation: the factors if they are the
cheaper apply (2K < M), else the matrix built from them — the same U, hence the same error
bound, either way. (Until 2026-11 ``auto`` took the matrix whenever the bound was above
1e-12: a grid run with ``problem.mehler_tolerance = 1e-6`` applied a 1600 × 1600 matrix
built from 20 factors, 10× the cost of the factors.) Without one: the matrix, evaluated
pointwise, up to :data:`MAX_MATRIX_CELLS` points, else its truncated eigendecomposition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._jit import jit, jit_inline

LOWRANK, MATRIX, ONTHEFLY = 0, 1, 2
MODES = {"lowrank": LOWRANK, "matrix": MATRIX, "onthefly": ONTHEFLY}
MAX_MATRIX_CELLS = 8000
EIGEN_RELATIVE_CUTOFF = 1e-14


@dataclass(frozen=True)
class Interaction:
    """A representation of U on M points (see module docstring).

    Attributes
    ----------
    mode : str
    factors : (M, K) float64 (empty (M, 0) for ``matrix``)
    weights : (K,) float64
    matrix : (M, M) float64 for ``matrix``, else (0, 0)
    error_bound : float, bound on |U_ij − representation_ij|
    """

    mode: str
    factors: np.ndarray
    weights: np.ndarray
    matrix: np.ndarray
    error_bound: float
    #: Φᵀ, (K, M) C-contiguous: the layout the compiled apply takes
    factors_t: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "factors_t", np.ascontiguousarray(self.factors.T))

    @property
    def code(self) -> int:
        """Integer mode for the kernels."""
        return MODES[self.mode]

    def apply(self, masses: np.ndarray) -> np.ndarray:
        """(U m)_i for masses (M,), shape (M,)."""
        out = np.empty(masses.shape[0])
        apply_interaction(self.code, self.factors_t, self.weights, self.matrix, masses, out)
        return out


def build_interaction(problem, points: np.ndarray, mode: str = "auto") -> Interaction:
    """Build the representation of U(z_i, z_j) for ``problem`` on ``points`` (M, n)."""
    if mode not in (*MODES, "auto"):
        raise ValueError(f"interaction mode {mode!r}; allowed: {['auto', *MODES]}")
    m = points.shape[0]
    empty = np.zeros((0, 0))
    if problem.factorised:
        fac = problem.interaction_factors(points)
        if mode == "auto":  # the same U either way: the cheaper apply
            mode = "lowrank" if 2 * fac.values.shape[1] < m or m > MAX_MATRIX_CELLS else "matrix"
        if mode in ("lowrank", "onthefly"):
            return Interaction(
                mode, np.ascontiguousarray(fac.values), fac.weights.copy(), empty, fac.error_bound
            )
        mat = (fac.values * fac.weights) @ fac.values.T
        return Interaction("matrix", np.zeros((m, 0)), np.zeros(0), mat, fac.error_bound)
    if mode == "onthefly":
        raise ValueError(
            "interaction 'onthefly' needs a factorised kernel; this problem's kernel is "
            "evaluated by angular quadrature — use 'matrix' or 'lowrank'"
        )
    mat = problem.interaction_matrix(points)
    if mode == "matrix" or (mode == "auto" and m <= MAX_MATRIX_CELLS):
        return Interaction("matrix", np.zeros((m, 0)), np.zeros(0), mat, 0.0)
    vals, vecs = np.linalg.eigh(0.5 * (mat + mat.T))
    keep = np.abs(vals) > EIGEN_RELATIVE_CUTOFF * np.abs(vals).max()
    bound = float(np.abs(vals[~keep]).sum())
    return Interaction(
        "lowrank", np.ascontiguousarray(vecs[:, keep]), vals[keep].copy(), empty, bound
    )


@jit_inline
def dot(x, y):
    """Σ_j x_j y_j in a fixed order: eight running sums over j ≡ 0 … 7 (mod 8), added
    pairwise, then the tail. IEEE arithmetic keeps a loop's sum in the order written
    (:mod:`ddsolver._jit`); eight independent sums keep the adder busy (M = 1024: 0.26 µs, one
    running sum 0.57 µs). x, y : (n,) float64."""
    n = x.size
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    top = n - n % 8
    for j in range(0, top, 8):
        s0 += x[j] * y[j]
        s1 += x[j + 1] * y[j + 1]
        s2 += x[j + 2] * y[j + 2]
        s3 += x[j + 3] * y[j + 3]
        s4 += x[j + 4] * y[j + 4]
        s5 += x[j + 5] * y[j + 5]
        s6 += x[j + 6] * y[j + 6]
        s7 += x[j + 7] * y[j + 7]
    tail = 0.0
    for j in range(top, n):
        tail += x[j] * y[j]
    return (((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7))) + tail


@jit
def _pairwise_apply(factors_t, weights, masses, out):
    """out = U m pair by pair, from Φᵀ (K, M): row i of U, U_ij = Σ_k w_k Φ_ik Φ_jk for all j,
    is formed in full, then applied to m. Serial on purpose: with ``parallel=True`` here (it
    is called from :func:`apply_interaction`, hence from the cached grid stepper), a process
    that compiled ``evaluate_rhs`` alone (``GridDD.rhs``) and one that then compiled
    ``advance`` against it left a cached ``advance`` that segfaulted every later run (numba
    0.68; ``tests/test_cache_processes.py``)."""
    k, m = factors_t.shape
    row = np.empty(m)
    for i in range(m):
        for j in range(m):
            row[j] = 0.0
        for q in range(k):
            c = weights[q] * factors_t[q, i]
            fq = factors_t[q]
            for j in range(m):
                row[j] += c * fq[j]
        out[i] = dot(row, masses)


@jit
def apply_interaction(mode, factors_t, weights, matrix, masses, out):
    """out = U m in the chosen representation (compiled); ``factors_t`` is Φᵀ, (K, M).

    ``lowrank``: c_k = w_k Σ_j Φ_jk m_j (:func:`dot` along the rows of Φᵀ), then
    out = Σ_k c_k Φ_·k (a scaled row added per k: vectorises). ``matrix``: out_i = dot(U_i, m).
    Plain loops rather than ``@`` and slice assignment: the same arithmetic, and a cold start
    that does not compile numba's shape-mismatch messages (string formatting, seconds)."""
    if mode == LOWRANK:
        k, m = factors_t.shape
        for i in range(m):
            out[i] = 0.0
        for q in range(k):
            fq = factors_t[q]
            c = weights[q] * dot(fq, masses)
            for i in range(m):
                out[i] += c * fq[i]
    elif mode == MATRIX:
        for i in range(matrix.shape[0]):
            out[i] = dot(matrix[i], masses)
    else:
        _pairwise_apply(factors_t, weights, masses, out)


def apply_interaction_ref(interaction: Interaction, masses: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`apply_interaction`: the dense matrix, however it is stored."""
    if interaction.mode == "matrix":
        return interaction.matrix @ masses
    dense = (interaction.factors * interaction.weights) @ interaction.factors.T
    return dense @ masses
