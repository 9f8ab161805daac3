r"""One-pass online SGD for the multi-index teacher, in the full dimension d.

The teacher subspace is spanned by the first k coordinate axes (rotation invariance: no
loss), its units u_j = Σ_l L_jl e_l (G = L Lᵀ), so a neuron's reduced coordinates are
m = w[:k] and r⊥ = |w[k:]|. Step k (time t = kε), over a mini-batch of B samples:

    wᵢ ← (1 − 2λε) wᵢ + 2ε (1/B) Σ_b (y_b − ŷ(x_b)) σ'(<wᵢ, x_b>) x_b,

with y = Σ_j v_j σ(<u_j, x>) + ς g (or a Hermite polynomial Σ_α c_α Π_l h_{α_l}(x_l) + ς g)
and ŷ(x) = (1/N) Σᵢ σ(<wᵢ, x>): the update of ``teacher_student`` with k teacher units. Per
sample the d coordinates of x are drawn first, then the label noise (when ς > 0).

With a trained second layer the students are aᵢ σ(<wᵢ, x>), ŷ(x) = (1/N) Σᵢ aᵢ σ(<wᵢ, x>), and
the engine's update (:mod:`ddsolver.sgd.engine`) moves both layers:

    wᵢ ← (1 − 2λε) wᵢ + 2ε (1/B) Σ_b (y_b − ŷ(x_b)) aᵢ σ'(<wᵢ, x_b>) x_b,
    aᵢ ← (1 − 2λε) aᵢ + 2ε (1/B) Σ_b (y_b − ŷ(x_b)) σ(<wᵢ, x_b>).
"""

from __future__ import annotations

import numpy as np

from ..._jit import jit
from ...models.activations import act_value
from ...models.risk import mean_field_risk
from ...sgd.engine import forward, update
from ...sgd.pair_sums import closed_form_double_sum
from .model import MultiIndex


@jit
def polynomial_label(x, exponents, coefs, hermite):
    """Σ_t c_t Π_l h_{α_tl}(x_l) at one input x (its first k coordinates); hermite is a
    (k, n_max + 1) work array for h_n(x_l) = He_n(x_l)/√n!, by the three-term recurrence."""
    units, top = hermite.shape[0], hermite.shape[1] - 1
    for j in range(units):
        hermite[j, 0] = 1.0
        if top >= 1:
            hermite[j, 1] = x[j]
        for n in range(1, top):
            hermite[j, n + 1] = (x[j] * hermite[j, n] - np.sqrt(n) * hermite[j, n - 1]) / np.sqrt(
                n + 1.0
            )
    label = 0.0
    for t in range(coefs.shape[0]):
        term = coefs[t]
        for j in range(units):
            term *= hermite[j, exponents[t, j]]
        label += term
    return label


@jit
def multi_index_sgd_steps(w, a, train_a, code, params, teacher_code, teacher_params, chol, v,
                          exponents, coefs, label_noise, eps, lam, batch, k_start, k_stop,
                          rng):  # fmt: skip
    """Advance the students w (N, d) and a (N,) in place from step k_start to k_stop
    (exclusive); a is trained when ``train_a`` (else it holds ones).

    code, params : the students' σ; teacher_code, teacher_params : the teacher's g.
    chol : (k, k) the teacher's directions in the first k axes; v : (k,) its second layer.
    exponents (T, k) int64, coefs (T,): a polynomial teacher in place of the network when
    T > 0 (then chol and v are unused).
    """
    n, d = w.shape
    units = chol.shape[0]
    x = np.empty((batch, d))
    y = np.empty(batch)
    pre = np.empty((batch, n))
    val = np.empty((batch, n))
    der = np.empty((batch, n))
    resid = np.empty(batch)
    grad = np.empty(d)
    hermite = np.empty((units, exponents.max() + 1 if exponents.size else 1))
    for _ in range(k_start, k_stop):
        for b in range(batch):
            for j in range(d):
                x[b, j] = rng.standard_normal()
            label = 0.0
            if coefs.shape[0] > 0:
                label = polynomial_label(x[b], exponents, coefs, hermite)
            else:
                for u in range(units):
                    h = 0.0
                    for col in range(u + 1):  # L is lower triangular
                        h += chol[u, col] * x[b, col]
                    label += v[u] * act_value(teacher_code, teacher_params, h)
            if label_noise > 0.0:
                label += label_noise * rng.standard_normal()
            y[b] = label
        forward(w, a, x, y, code, params, pre, val, der, resid)
        update(w, a, train_a, x, resid, val, der, 1.0 - 2.0 * lam * eps, 2.0 * eps / batch,
               0.0, rng, grad)  # fmt: skip


def polynomial_arrays(problem: MultiIndex) -> tuple[np.ndarray, np.ndarray]:
    """(exponents (T, k) int64, coefficients (T,)) of the kernel: T = 0 for a network teacher."""
    if problem.polynomial is None:
        return np.zeros((0, problem.units), np.int64), np.zeros(0)
    poly = problem.polynomial
    return np.ascontiguousarray(poly.exponents, np.int64), np.asarray(poly.coefficients, float)


def sgd_steps(w, problem: MultiIndex, eps, batch, k_start, k_stop, rng, a=None):
    """Advance w (N, d) in place by :func:`multi_index_sgd_steps` with the problem's σ,
    teacher, label noise and λ (and a (N,), trained in place, when given; None: ones, fixed):
    the signature of its NumPy twin :func:`multi_index_sgd_steps_ref`."""
    act, g = problem.activation, problem.teacher
    train_a = a is not None
    a = np.ones(w.shape[0]) if a is None else a
    multi_index_sgd_steps(w, a, train_a, act.code, act.param_array, g.code, g.param_array,
                          problem.chol, problem.v, *polynomial_arrays(problem),
                          problem.label_noise, eps, problem.lam, batch, np.int64(k_start),
                          np.int64(k_stop), rng)  # fmt: skip


def multi_index_sgd_steps_ref(w, problem: MultiIndex, eps, batch, k_start, k_stop, rng, a=None):
    """NumPy twin of :func:`multi_index_sgd_steps`, drawing the random numbers in its order
    (``a``: the second layer, trained in place; None: ones, fixed)."""
    n, d = w.shape
    train_a = a is not None
    a = np.ones(n) if a is None else a
    k, act = problem.units, problem.activation
    for _ in range(k_start, k_stop):
        x = np.empty((batch, d))
        y = np.empty(batch)
        for b in range(batch):
            x[b] = rng.standard_normal(d)
            if problem.polynomial is not None:
                y[b] = problem.polynomial(x[b : b + 1, :k])[0]
            else:
                y[b] = problem.v @ problem.teacher(problem.chol @ x[b, :k])
            if problem.label_noise > 0:
                y[b] += problem.label_noise * rng.standard_normal()
        pre = x @ w.T
        resid = y - act(pre) @ a / n
        grad = (resid[:, None] * a[None, :] * act.derivative(pre)).T @ x
        grad_a = act(pre).T @ resid
        w *= 1.0 - 2.0 * problem.lam * eps
        w += 2.0 * eps / batch * grad
        if train_a:
            a *= 1.0 - 2.0 * problem.lam * eps
            a += 2.0 * eps / batch * grad_a


def exact_risk(problem: MultiIndex, w: np.ndarray, a: np.ndarray | None = None) -> float:
    r"""R_N(w) = E y² − (2/N) Σ_ij aᵢ v_j K(s_j, |wᵢ|, (L wᵢ[:k])_j/(s_j|wᵢ|))
    + (1/N²) Σ_il aᵢ a_l K(|wᵢ|, |w_l|, cos_il), exact (no Monte Carlo). w : (N, d); a : (N,)
    the second layer (None: ones). A polynomial teacher's potential is
    :meth:`MultiIndex.potential` at each neuron's (m, r⊥)."""
    n, k = w.shape[0], problem.units
    # a tile of cosines at a time
    double = closed_form_double_sum(problem.activation, w, weights=a) / n**2
    a = np.ones(n) if a is None else a
    if problem.polynomial is not None:
        reduced = np.column_stack([w[:, :k], np.linalg.norm(w[:, k:], axis=1)])
        potential = float(np.mean(a * problem.potential(reduced)[0]))
        return mean_field_risk(problem.label_second_moment, potential, double)
    norms = np.linalg.norm(w, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    s = problem.teacher_norms
    proj = w[:, :k] @ problem.chol.T  # (N, k): <wᵢ, u_j>
    corr = np.clip(proj / (safe[:, None] * s[None, :]), -1.0, 1.0)
    teacher = problem.teacher_pair(s[None, :], norms[:, None], corr)[0] @ problem.v  # (N,)
    potential = -(a * teacher).sum() / n
    return mean_field_risk(problem.label_second_moment, potential, double)
