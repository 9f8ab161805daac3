r"""One-pass online SGD for teacher–student: x ~ N(0, I_d), y = σ(s* x₁) + ς g.

The teacher direction is the first coordinate axis (by rotation invariance, no loss), so a
neuron's reduced coordinates are u = w₁ and v = |(w₂, …, w_d)|. Step k (time t = kε,
s_k = εξ(kε)), over a mini-batch of B samples:

    wᵢ ← (1 − 2λs_k) wᵢ + 2 s_k (1/B) Σ_b (y_b − ŷ(x_b)) σ'(<wᵢ, x_b>) x_b + √(4 s_k τ/d) gᵢ,

with ŷ(x) = (1/N) Σᵢ σ(<wᵢ, x>): the update of :mod:`ddsolver.sgd.isotropic` for this data
law. Per sample the d coordinates of x are drawn first, then the label noise (when ς > 0).
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import jit
from ..models.activations import act_value
from ..models.integrals import pair
from ..models.risk import mean_field_risk
from ..models.teacher_student import TeacherStudent
from ..schedules import schedule_value
from .engine import copy_back, forward, fused_start, fused_step, update
from .pair_sums import closed_form_double_sum


@jit
def teacher_sgd_steps(
    w, code, params, teacher_norm, label_noise, eps, scode, sparams, lam, tau, batch,
    k_start, k_stop, rng,
):  # fmt: skip
    """Advance the students w (N, d) in place from step k_start to k_stop (exclusive)."""
    n, d = w.shape
    ones = np.ones(n)  # the fixed second layer
    x = np.empty((batch, d))
    y = np.empty(batch)
    pre = np.empty((batch, n))
    val = np.empty((batch, n))
    der = np.empty((batch, n))
    resid = np.empty(batch)
    grad = np.empty(d)
    if batch == 1 and tau == 0.0 and k_start < k_stop:
        # one pass over W a step (:func:`~ddsolver.sgd.engine.fused_step`; the sampler draws
        # no noise of the step's own, so drawing the next sample first changes no stream)
        _draw(rng, code, params, teacher_norm, label_noise, x, y)
        wt, x_next, y_next, g = fused_start(w, ones, x, y, code, params, pre, val, der, resid)
        for k in range(k_start, k_stop):
            s = eps * schedule_value(scode, sparams, k * eps)
            last = k + 1 == k_stop
            if not last:
                _draw(rng, code, params, teacher_norm, label_noise, x_next, y_next)
            fused_step(wt, ones, False, x, y, x_next, y_next, code, params,
                       1.0 - 2.0 * lam * s, 2.0 * s, last, pre, val, der, resid, g)  # fmt: skip
        copy_back(wt, w)
        return
    for k in range(k_start, k_stop):
        s = eps * schedule_value(scode, sparams, k * eps)
        _draw(rng, code, params, teacher_norm, label_noise, x, y)
        forward(w, ones, x, y, code, params, pre, val, der, resid)
        noise = math.sqrt(4.0 * s * tau / d) if tau > 0.0 else 0.0
        update(w, ones, False, x, resid, val, der, 1.0 - 2.0 * lam * s, 2.0 * s / batch, noise,
               rng, grad)  # fmt: skip


@jit
def _draw(rng, code, params, teacher_norm, label_noise, x, y):
    """A batch in place: per sample its d normals, then the teacher's label σ(s* x₀) and its
    noise."""
    for m in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[m, j] = rng.standard_normal()
        y[m] = act_value(code, params, teacher_norm * x[m, 0])
        if label_noise > 0.0:
            y[m] += label_noise * rng.standard_normal()


def teacher_sgd_steps_ref(
    w, activation, teacher_norm, label_noise, eps, schedule, lam, tau, batch, k_start, k_stop, rng
):
    """NumPy twin of :func:`teacher_sgd_steps`, drawing the random numbers in the same order."""
    n, d = w.shape
    for k in range(k_start, k_stop):
        s = eps * schedule(k * eps)
        x = np.empty((batch, d))
        y = np.empty(batch)
        for m in range(batch):
            x[m] = rng.standard_normal(d)
            y[m] = activation(teacher_norm * x[m, 0])
            if label_noise > 0:
                y[m] += label_noise * rng.standard_normal()
        pre = x @ w.T
        resid = y - activation(pre).sum(axis=1) / n
        grad = (resid[:, None] * activation.derivative(pre)).T @ x
        shrink = 1.0 - 2.0 * lam * s
        noise = math.sqrt(4.0 * s * tau / d) if tau > 0 else 0.0
        for i in range(n):
            w[i] = shrink * w[i] + 2.0 * s / batch * grad[i]
            if noise > 0:
                w[i] += noise * rng.standard_normal(d)


def exact_risk_teacher_student(problem: TeacherStudent, w: np.ndarray) -> float:
    r"""Exact R_N(w) = E y² − (2/N) Σ K(s*, |wᵢ|, cos(wᵢ, e*)) + (1/N²) Σ K(|wᵢ|, |wⱼ|, cos_ij).

    The teacher direction is the first coordinate axis. w : (N, d).
    """
    n = w.shape[0]
    norms = np.linalg.norm(w, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    cos_teacher = np.where(norms > 0, w[:, 0] / safe, 0.0)
    act = problem.activation
    potential = -pair(act, problem.teacher_norm, norms, cos_teacher).sum() / n
    double = closed_form_double_sum(act, w) / n**2  # a tile of cosines at a time
    return mean_field_risk(problem.label_second_moment, potential, double)
