r"""The exact population risk of a finite network on the isotropic Gaussian law.

    R_N(θ) = 1 + (2/N) Σᵢ aᵢ v(rᵢ) + (1/N²) Σᵢⱼ aᵢ aⱼ ½ Σ± K((1±Δ)rᵢ, (1±Δ)rⱼ, cᵢⱼ),

with rᵢ = |wᵢ| and cᵢⱼ the cosine between wᵢ and wⱼ — Gaussian integrals over the actual
pairwise overlaps, no Monte Carlo. For a pair with |c| ≤ :data:`SERIES_MAX_COSINE` the
moment is the Mehler series Σ_{k ≤ K} c^k f̂_k f̂_k (K = :data:`SERIES_ORDER`), whose tail is
at most |c|^{K+1} max E σ² (< 1e-16 for the ramp); other pairs, and the diagonal, use the
closed form. Cost O(N² K) in a parallel kernel.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._jit import jit_parallel
from ..models.hermite import hermite_coefficients
from ..models.integrals import pair_moment
from ..models.risk import mean_field_risk

SERIES_MAX_COSINE = 0.6
SERIES_ORDER = 80


@jit_parallel
def _pair_sum(code, params, scales_p, scales_m, coef_p, coef_m, unit, a, max_cos, out_rows):
    n = unit.shape[0]
    kmax = coef_p.shape[1]
    for i in prange(n):
        acc = 0.0
        for j in range(i, n):
            if j == i:
                c = 1.0
            else:
                c = 0.0
                for q in range(unit.shape[1]):
                    c += unit[i, q] * unit[j, q]
            if abs(c) <= max_cos and j != i:
                sp = 0.0
                sm = 0.0
                power = 1.0
                for k in range(kmax):
                    sp += power * coef_p[i, k] * coef_p[j, k]
                    sm += power * coef_m[i, k] * coef_m[j, k]
                    power *= c
                u = 0.5 * (sp + sm)
            else:
                u = 0.5 * (
                    pair_moment(code, params, scales_p[i], scales_p[j], c)
                    + pair_moment(code, params, scales_m[i], scales_m[j], c)
                )
            weight = 1.0 if j == i else 2.0
            acc += weight * a[i] * a[j] * u
        out_rows[i] = acc


def exact_risk(problem, w: np.ndarray, a: np.ndarray | None = None) -> float:
    """R_N(θ) of the network (w (N, d), a (N,) or None) for an isotropic problem."""
    n = w.shape[0]
    a = np.ones(n) if a is None else np.asarray(a, dtype=float)
    r = np.linalg.norm(w, axis=1)
    unit = w / np.where(r > 0, r, 1.0)[:, None]
    sp, sm = problem.scales(r)
    act = problem.activation
    coef_p, _ = hermite_coefficients(act, sp, SERIES_ORDER)
    coef_m, _ = hermite_coefficients(act, sm, SERIES_ORDER)
    rows = np.empty(n)
    _pair_sum(
        act.code,
        act.param_array,
        sp,
        sm,
        coef_p,
        coef_m,
        np.ascontiguousarray(unit),
        a,
        SERIES_MAX_COSINE,
        rows,
    )
    v, _ = problem.radial_potential(r)
    return mean_field_risk(problem.label_second_moment, (a @ v) / n, rows.sum() / n**2)


def exact_risk_ref(problem, w: np.ndarray, a: np.ndarray | None = None) -> float:
    """NumPy twin of :func:`exact_risk`: every pair by the closed form."""
    from ..models.integrals import pair

    n = w.shape[0]
    a = np.ones(n) if a is None else np.asarray(a, dtype=float)
    r = np.linalg.norm(w, axis=1)
    c = np.clip((w @ w.T) / np.outer(r, r), -1.0, 1.0)
    np.fill_diagonal(c, 1.0)
    sp, sm = problem.scales(r)
    u = 0.5 * (
        pair(problem.activation, sp[:, None], sp[None, :], c)
        + pair(problem.activation, sm[:, None], sm[None, :], c)
    )
    v, _ = problem.radial_potential(r)
    return mean_field_risk(problem.label_second_moment, (a @ v) / n, a @ u @ a / n**2)


def monte_carlo_risk(problem, w, a, samples: int, rng: np.random.Generator) -> tuple[float, float]:
    """(mean, standard error) of (y − ŷ(x))² over fresh samples, in chunks."""
    n, d = w.shape
    a = np.ones(n) if a is None else a
    sums, sq, done = 0.0, 0.0, 0
    while done < samples:
        m = min(20_000, samples - done)
        y = rng.choice([-1.0, 1.0], size=m)
        x = rng.standard_normal((m, d)) * (1 + problem.delta * y)[:, None]
        err = (y - problem.activation(x @ w.T) @ a / n) ** 2
        sums += err.sum()
        sq += (err**2).sum()
        done += m
    mean = sums / samples
    return mean, float(np.sqrt((sq / samples - mean**2) / samples))
