r"""One-pass online SGD on a Gaussian mixture, in the full dimension d, and its exact risk.

The means lie in the first p coordinate axes (rotation invariance: no loss), so a neuron's
reduced coordinates are a, m = w[:p] and r⊥ = |w[p:]|. Per sample the cluster is drawn
first (one uniform number against the cumulative probabilities), then the d coordinates of
x = μ_c + s_c g, then the label noise (when ς > 0). Step k (time t = kε), over a
mini-batch of B samples:

    wᵢ ← (1 − 2λε) wᵢ + 2ε (1/B) Σ_b (y_b − ŷ(x_b)) aᵢ σ'(<wᵢ, x_b>) x_b,
    aᵢ ← (1 − 2λε) aᵢ + 2ε (1/B) Σ_b (y_b − ŷ(x_b)) σ(<wᵢ, x_b>),

with ŷ(x) = (1/N) Σᵢ aᵢ σ(<wᵢ, x>): the engine's update of :mod:`ddsolver.sgd.engine`.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ..._jit import jit, jit_parallel
from ...models.risk import mean_field_risk
from ...sgd.engine import forward, update
from ...sgd.pair_sums import gram_tiles, unit_rows
from .model import GaussianMixture
from .moments import ERF_T, ERF_W, biased_pair, mirrored_pair


@jit
def draw_cluster_sample(x, means, widths, cumulative, rng):
    """Fill x (d,) with a sample of a cluster drawn by ``cumulative`` (C,) probabilities and
    return the cluster's index."""
    u = rng.random()
    c = 0
    while c < cumulative.shape[0] - 1 and u >= cumulative[c]:
        c += 1
    s = widths[c]
    for j in range(x.shape[0]):
        x[j] = s * rng.standard_normal()
    for j in range(means.shape[1]):
        x[j] += means[c, j]
    return c


@jit
def mixture_sgd_steps(w, a, code, params, means, widths, cumulative, labels, label_noise, eps,
                      lam, batch, k_start, k_stop, rng):  # fmt: skip
    """Advance the students (a (N,), w (N, d)) in place from step k_start to k_stop
    (exclusive). means (C, p), widths, cumulative, labels (C,)."""
    n, d = w.shape
    x = np.empty((batch, d))
    y = np.empty(batch)
    pre = np.empty((batch, n))
    val = np.empty((batch, n))
    der = np.empty((batch, n))
    resid = np.empty(batch)
    grad = np.empty(d)
    for _ in range(k_start, k_stop):
        for b in range(batch):
            c = draw_cluster_sample(x[b], means, widths, cumulative, rng)
            label = labels[c]
            if label_noise > 0.0:
                label += label_noise * rng.standard_normal()
            y[b] = label
        forward(w, a, x, y, code, params, pre, val, der, resid)
        update(w, a, True, x, resid, val, der, 1.0 - 2.0 * lam * eps, 2.0 * eps / batch,
               0.0, rng, grad)  # fmt: skip


def sgd_arrays(problem: GaussianMixture) -> tuple[np.ndarray, ...]:
    """(means (C, p), widths (C,), cumulative probabilities (C,), labels (C,)) of the kernel."""
    cumulative = np.cumsum(problem.probs)
    cumulative[-1] = 1.0
    return (np.ascontiguousarray(problem.means), problem.widths, cumulative, problem.labels)


def mixture_sgd_steps_ref(w, a, problem: GaussianMixture, eps, batch, k_start, k_stop, rng):
    """NumPy twin of :func:`mixture_sgd_steps`, drawing the random numbers in its order."""
    n, d = w.shape
    p, act = problem.span, problem.activation
    cumulative = sgd_arrays(problem)[2]
    for _ in range(k_start, k_stop):
        x = np.empty((batch, d))
        y = np.empty(batch)
        for b in range(batch):
            c = min(
                int(np.searchsorted(cumulative, rng.random(), side="right")), len(cumulative) - 1
            )
            x[b] = problem.widths[c] * rng.standard_normal(d)
            x[b, :p] += problem.means[c]
            y[b] = problem.labels[c]
            if problem.label_noise > 0:
                y[b] += problem.label_noise * rng.standard_normal()
        pre = x @ w.T
        resid = y - act(pre) @ a / n
        grad_w = (resid[:, None] * a[None, :] * act.derivative(pre)).T @ x
        grad_a = act(pre).T @ resid
        shrink = 1.0 - 2.0 * problem.lam * eps
        w *= shrink
        w += 2.0 * eps / batch * grad_w
        a *= shrink
        a += 2.0 * eps / batch * grad_a


@jit_parallel
def _double_sum_tile(code, a, norms, proj, widths, probs, mirror, cosines, i0, j0, t_nodes,
                     t_weights, out_rows):  # fmt: skip
    """Add Σ_{j ≥ i in the tile} (2 − δ_ij) aᵢ aⱼ Σ_c π_c S(…) to ``out_rows[i]``.
    proj : (N, C) <wᵢ, μ_c>; cosines : (b, c) the tile's cosines (the diagonal: 1); mirror :
    (C,) the cluster whose kernel gives c's (:meth:`.model.GaussianMixture.mirrors`), or −1."""
    rows, cols = cosines.shape
    for ii in prange(rows):
        outs = np.empty((widths.shape[0], 6))
        i = i0 + ii
        acc = 0.0
        for j in range(max(i, j0), j0 + cols):
            cos = 1.0 if j == i else cosines[ii, j - j0]
            pair = 0.0
            for c in range(widths.shape[0]):
                s2 = widths[c] * widths[c]
                var_i, var_j = s2 * norms[i] ** 2, s2 * norms[j] ** 2
                cov = s2 * norms[i] * norms[j] * cos
                if mirror[c] >= 0:
                    mirrored_pair(code, proj[i, c], proj[j, c], var_i, var_j, cov,
                                  outs[mirror[c]], outs[c])  # fmt: skip
                else:
                    biased_pair(code, proj[i, c], proj[j, c], var_i, var_j, cov, t_nodes,
                                t_weights, outs[c])  # fmt: skip
                pair += probs[c] * outs[c, 0]
            acc += (1.0 if j == i else 2.0) * a[i] * a[j] * pair
        out_rows[i] += acc


def exact_risk(problem: GaussianMixture, w: np.ndarray, a: np.ndarray) -> float:
    r"""R_N = E y² − (2/N) Σᵢ aᵢ Σ_c π_c y_c P(<wᵢ, μ_c>, s_c²|wᵢ|²)
    + (1/N²) Σᵢⱼ aᵢ aⱼ Σ_c π_c S(<wᵢ, μ_c>, <wⱼ, μ_c>, s_c²|wᵢ|², s_c²|wⱼ|², s_c²<wᵢ, wⱼ>),
    exact (no Monte Carlo). w : (N, d), a : (N,). The cosines come a tile at a time
    (:func:`~ddsolver.sgd.pair_sums.gram_tiles`)."""
    n, p = w.shape[0], problem.span
    norms, unit = unit_rows(w)
    proj = np.ascontiguousarray(w[:, :p] @ problem.means.T)  # (N, C)
    rows = np.zeros(n)
    code, mirror = problem.activation.code, problem.mirrors()
    for i0, j0, cosines in gram_tiles(unit):
        _double_sum_tile(code, a, norms, proj, problem.widths, problem.probs, mirror,
                         np.ascontiguousarray(cosines), i0, j0, ERF_T, ERF_W, rows)  # fmt: skip
    reduced_m = w[:, :p]
    reduced_r = np.linalg.norm(w[:, p:], axis=1)
    v1, _ = problem.first_layer_potential(reduced_m, reduced_r)
    double = float(rows.sum()) / n**2
    return mean_field_risk(problem.label_second_moment, float(np.mean(a * v1)), double)
