r"""One-pass online SGD for the multi-index teacher, in the full dimension d.

The teacher subspace is spanned by the first k coordinate axes (rotation invariance: no
loss), its units u_j = Σ_l L_jl e_l (G = L Lᵀ), so a neuron's reduced coordinates are
m = w[:k] and r⊥ = |w[k:]|. Step k (time t = kε), over a mini-batch of B samples:

    wᵢ ← (1 − 2λε) wᵢ + 2ε (1/B) Σ_b (y_b − ŷ(x_b)) σ'(<wᵢ, x_b>) x_b,

with y = Σ_j v_j σ(<u_j, x>) + ς g and ŷ(x) = (1/N) Σᵢ σ(<wᵢ, x>): the update of
``teacher_student`` with k teacher units. Per sample the d coordinates of x are drawn
first, then the label noise (when ς > 0).
"""

from __future__ import annotations

import numpy as np

from ..._jit import jit
from ...models.activations import act_value
from ...models.integrals import pair
from ...models.risk import mean_field_risk
from ...sgd.engine import forward, update
from ...sgd.pair_sums import closed_form_double_sum
from .model import MultiIndex


@jit
def multi_index_sgd_steps(w, code, params, chol, v, label_noise, eps, lam, batch, k_start,
                          k_stop, rng):  # fmt: skip
    """Advance the students w (N, d) in place from step k_start to k_stop (exclusive).

    chol : (k, k) the teacher's directions in the first k axes; v : (k,) its second layer.
    """
    n, d = w.shape
    units = chol.shape[0]
    ones = np.ones(n)  # the fixed second layer
    x = np.empty((batch, d))
    y = np.empty(batch)
    pre = np.empty((batch, n))
    val = np.empty((batch, n))
    der = np.empty((batch, n))
    resid = np.empty(batch)
    grad = np.empty(d)
    for _ in range(k_start, k_stop):
        for b in range(batch):
            for j in range(d):
                x[b, j] = rng.standard_normal()
            label = 0.0
            for u in range(units):
                h = 0.0
                for a in range(u + 1):  # L is lower triangular
                    h += chol[u, a] * x[b, a]
                label += v[u] * act_value(code, params, h)
            if label_noise > 0.0:
                label += label_noise * rng.standard_normal()
            y[b] = label
        forward(w, ones, x, y, code, params, pre, val, der, resid)
        update(w, ones, False, x, resid, val, der, 1.0 - 2.0 * lam * eps, 2.0 * eps / batch,
               0.0, rng, grad)  # fmt: skip


def multi_index_sgd_steps_ref(w, problem: MultiIndex, eps, batch, k_start, k_stop, rng):
    """NumPy twin of :func:`multi_index_sgd_steps`, drawing the random numbers in its order."""
    n, d = w.shape
    k, act = problem.units, problem.activation
    for _ in range(k_start, k_stop):
        x = np.empty((batch, d))
        y = np.empty(batch)
        for b in range(batch):
            x[b] = rng.standard_normal(d)
            y[b] = problem.v @ act(problem.chol @ x[b, :k])
            if problem.label_noise > 0:
                y[b] += problem.label_noise * rng.standard_normal()
        pre = x @ w.T
        resid = y - act(pre).sum(axis=1) / n
        grad = (resid[:, None] * act.derivative(pre)).T @ x
        w *= 1.0 - 2.0 * problem.lam * eps
        w += 2.0 * eps / batch * grad


def exact_risk(problem: MultiIndex, w: np.ndarray) -> float:
    r"""R_N(w) = E y² − (2/N) Σ_ij v_j K(s_j, |wᵢ|, (L wᵢ[:k])_j/(s_j|wᵢ|))
    + (1/N²) Σ_il K(|wᵢ|, |w_l|, cos_il), exact (no Monte Carlo). w : (N, d)."""
    n, k = w.shape[0], problem.units
    norms = np.linalg.norm(w, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    act = problem.activation
    s = problem.teacher_norms
    proj = w[:, :k] @ problem.chol.T  # (N, k): <wᵢ, u_j>
    corr = np.clip(proj / (safe[:, None] * s[None, :]), -1.0, 1.0)
    potential = -(pair(act, s[None, :], norms[:, None], corr) @ problem.v).sum() / n
    double = closed_form_double_sum(act, w) / n**2  # a tile of cosines at a time
    return mean_field_risk(problem.label_second_moment, potential, double)
