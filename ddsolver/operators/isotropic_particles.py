r"""The particle step loop of the isotropic kind, compiled whole.

For ``problem.kind = "isotropic_gaussians"`` with a piecewise-linear σ (ramp, ReLU,
piecewise) and a Mehler-factorised ū_d, the particle velocity of :mod:`ddsolver.lagrangian`

    dz_i/dt = −2ξ(t) ∇[ V(z_i) + Σ_j m_j U(z_i, z_j) + (λ/2)|z_i|² − c L(z_i) ]

is, with the scales s±(r) = (1 ± Δ) r, the even Hermite coefficients f̂_{2j}(s) of σ
(:func:`~ddsolver.models.hermite.kinked_even_columns`) and w_j = ½ E[c^{2j}]
(c the cosine of two directions in R^d):

    V = −a ½ [f̂₀(s₊) − f̂₀(s₋)],      U(z, z') = a a' Σ± Σ_j w_j f̂_{2j}(s±) f̂_{2j}(s'±),

so that with C±_j = w_j Σ_i m_i a_i f̂_{2j}(s±(r_i)) (O(M·J) per evaluation)

    ∂_a = −½[f̂₀(s₊) − f̂₀(s₋)] + Σ± Σ_j f̂_{2j}(s±) C±_j,
    ∂_r = a { −½[(1+Δ) f̂₀'(s₊) − (1−Δ) f̂₀'(s₋)] + Σ± (1 ± Δ) Σ_j f̂'_{2j}(s±) C±_j },

and the entropic drift (d = ∞, τ > 0) adds −τ/r to ∂_r. :func:`advance` runs the
Bogacki–Shampine 3(2) steps with the error control of
:meth:`~ddsolver.lagrangian.ParticleDD.advance` — the same controller, the same status
codes — in one call, with no Python per step. The NumPy path of
:class:`~ddsolver.lagrangian.ParticleDD` is its tested twin.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._jit import jit
from ..controllers import error_step
from ..models.activations import KINKED_KINDS
from ..models.hermite import kink_offset, kinked_even_columns
from ..models.integrals import kinked_second_moment
from ..schedules import schedule_value
from ..status import STATUS_NAN, STATUS_OK, STATUS_STEP_UNDERFLOW


class IsotropicParticleModel(NamedTuple):
    """The arrays and numbers the compiled velocity needs (see the module docstring).

    kinks, signs, slope : σ'' = slope Σ_q signs[q] δ(· − kinks[q])
    offset : c₀ of σ (:func:`~ddsolver.models.hermite.kink_offset`)
    act_code, act_params : σ for E σ(sG)² (the risk's self-interaction)
    delta : Δ
    weights : (J + 1,) w_j = ½ E c^{2j}
    lam : λ
    entropic : τ, the entropic drift τ/r of the d = ∞ kernel (at finite d, τ > 0 needs the
        blob term, which this loop does not carry)
    sched_code, sched_params : ξ(t)
    """

    kinks: np.ndarray
    signs: np.ndarray
    slope: float
    offset: float
    act_code: int
    act_params: np.ndarray
    delta: float
    weights: np.ndarray
    lam: float
    entropic: float
    sched_code: int
    sched_params: np.ndarray


def isotropic_particle_model(problem, schedule, lam: float, tau: float, diffusivity: float):
    """The compiled model of ``problem``'s particle velocity, or None where it does not apply.

    It applies to :class:`~ddsolver.models.IsotropicGaussians` with a piecewise-linear σ and a
    factorised ū_d, without the blob term (``diffusivity`` = 0: τ = 0, or d = ∞).
    """
    from ..models.isotropic import IsotropicGaussians

    if (
        not isinstance(problem, IsotropicGaussians)
        or problem.activation.kind not in KINKED_KINDS
        or not problem.factorised
        or diffusivity > 0
    ):
        return None
    kinks, signs, slope = problem.activation.kink_structure()
    factorisation = problem.radial_factors(np.ones(1))
    order = factorisation.values.shape[1] // 2 - 1
    return IsotropicParticleModel(
        np.asarray(kinks, dtype=float),
        np.asarray(signs, dtype=float),
        float(slope),
        kink_offset(problem.activation),
        problem.activation.code,
        problem.activation.param_array,
        float(problem.delta),
        np.ascontiguousarray(factorisation.weights[: order + 1]),
        float(lam),
        float(tau),  # diffusivity = 0 with τ > 0 only at d = ∞
        schedule.code,
        schedule.params,
    )


@jit
def _side(model, z, masses, side, vals, grads, proj):
    """The tables of one side (s = (1 ± Δ) r): f̂_{2j}(s), f̂'_{2j}(s) into vals, grads
    (J + 1, M) and proj_j = Σ_i m_i a_i f̂_{2j}(s_i) into proj (J + 1,); returns (±1, 1 ± Δ)."""
    count, n = z.shape
    sign = 1.0 if side == 0 else -1.0
    stretch = 1.0 + sign * model.delta
    scales = np.empty(count)
    for m in range(count):
        scales[m] = stretch * z[m, n - 1]
    order = vals.shape[0] - 1
    kinked_even_columns(
        model.kinks, model.signs, model.slope, model.offset, scales, order, vals, grads
    )
    for j in range(order + 1):
        acc = 0.0
        for m in range(count):
            acc += masses[m] * vals[j, m] * (z[m, 0] if n == 2 else 1.0)
        proj[j] = acc
    return sign, stretch


@jit
def velocity(model, z, masses, t, out):
    """dz/dt of particles z (M, n) — n = 1: (r,), n = 2: (a, r) — into out (M, n)."""
    weights, lam, entropic = model.weights, model.lam, model.entropic
    count, n = z.shape
    size = weights.shape[0]
    grad_a = np.zeros(count)  # ∂V/∂a + Σ_j ∂U/∂a (n = 2 only)
    grad_r = np.zeros(count)
    vals = np.empty((size, count))
    grads = np.empty((size, count))
    proj = np.empty(size)
    for side in range(2):
        sign, stretch = _side(model, z, masses, side, vals, grads, proj)
        for m in range(count):
            grad_a[m] -= 0.5 * sign * vals[0, m]
            grad_r[m] -= 0.5 * sign * stretch * grads[0, m]
        for j in range(size):
            coef = weights[j] * proj[j]
            for m in range(count):
                grad_a[m] += vals[j, m] * coef
                grad_r[m] += stretch * grads[j, m] * coef
    speed = -2.0 * schedule_value(model.sched_code, model.sched_params, t)
    for m in range(count):
        r = z[m, n - 1]
        a = z[m, 0] if n == 2 else 1.0
        dr = a * grad_r[m] + lam * r
        if entropic != 0.0:
            dr -= entropic / r
        out[m, n - 1] = speed * dr
        if n == 2:
            out[m, 0] = speed * (grad_a[m] + lam * a)


@jit
def risk_terms(model, z, masses):
    """∫V dρ, ∫∫U dρ dρ and ∫U(θ, θ) dρ for the particle measure Σ_i m_i δ_{z_i} (z (M, n))."""
    count, n = z.shape
    size = model.weights.shape[0]
    vals = np.empty((size, count))
    grads = np.empty((size, count))
    proj = np.empty(size)
    mean_v = double = mean_self = 0.0
    for side in range(2):
        sign, stretch = _side(model, z, masses, side, vals, grads, proj)
        for j in range(size):
            double += model.weights[j] * proj[j] * proj[j]
        mean_v -= 0.5 * sign * proj[0]
        for m in range(count):
            a = z[m, 0] if n == 2 else 1.0
            s = stretch * z[m, n - 1]
            second = kinked_second_moment(model.act_code, model.act_params, s)
            mean_self += 0.5 * masses[m] * a * a * second
    return mean_v, double, mean_self


@jit
def advance(model, z, masses, t, t_stop, dt, dt_max, rtol, atol, first_step, max_steps, A, b,
            b_low, c, exponent, grow, shrink):  # fmt: skip
    """Bogacki–Shampine steps of z (M, n) in place from t towards t_stop (FSAL, error control).

    Returns (t, dt, steps, rejected, status, last) as
    :meth:`~ddsolver.lagrangian.ParticleDD.advance`: ``dt`` is the controller's next step
    (``dt`` = inf on entry: start with ``first_step``), ``last`` the last step taken.
    """
    count, n = z.shape
    stages = c.shape[0]
    ks = np.empty((stages, count, n))
    stage = np.empty((count, n))
    new = np.empty((count, n))
    velocity(model, z, masses, t, ks[0])
    dt = min(dt if math.isfinite(dt) else first_step, dt_max)
    steps = rejected = 0
    last = 0.0
    while t < t_stop and steps < max_steps:
        h = min(dt, t_stop - t)
        final = h >= t_stop - t
        if h < 1e-14:
            return t, dt, steps, rejected, STATUS_STEP_UNDERFLOW, last
        for i in range(1, stages):
            for m in range(count):
                for q in range(n):
                    acc = 0.0
                    for j in range(i):
                        acc += A[i, j] * ks[j, m, q]
                    stage[m, q] = z[m, q] + h * acc
            velocity(model, stage, masses, t + c[i] * h, ks[i])
        err = 0.0
        for m in range(count):
            for q in range(n):
                high = 0.0
                low = 0.0
                for j in range(stages):
                    high += b[j] * ks[j, m, q]
                    low += b_low[j] * ks[j, m, q]
                new[m, q] = z[m, q] + h * high
                scale = atol + rtol * max(abs(z[m, q]), abs(new[m, q]))
                local = abs(h * (high - low)) / scale
                if local > err or local != local:  # a NaN stays (fault guard)
                    err = local
        if not math.isfinite(err):
            return t, dt, steps, rejected, STATUS_NAN, last
        proposal = error_step(h, err, exponent, grow, shrink)
        if err > 1.0:
            dt = proposal
            rejected += 1
            continue
        for m in range(count):  # loops, not slice assignments (see kinked_even_columns)
            for q in range(n):
                z[m, q] = new[m, q]
                ks[0, m, q] = ks[stages - 1, m, q]  # first same as last
        t = t_stop if final else t + h
        last = h
        steps += 1
        if not final:
            dt = min(proposal, dt_max)
    return t, dt, steps, rejected, STATUS_OK, last
