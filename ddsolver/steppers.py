r"""Explicit strong-stability-preserving Runge–Kutta steppers, compiled with the step loop.

``order``: 1 forward Euler; 2 SSPRK(2,2) (Heun); 3 SSPRK(3,3) (Shu–Osher). All have SSP
coefficient 1, so each keeps p ≥ 0 under the forward-Euler bound dt ≤ 1/max(outflow rate).

Step-size policy (the "controller"): dt = cfl / max_i rate_i(p) at the start of each step,
capped by ``dt_max`` and by the next stop time. With ``rtol > 0`` and order 3, the embedded
Heun solution (it shares the first two stages) estimates the local error
‖u₃ − u₂‖∞ / (atol + rtol‖u‖∞); a step with error > 1 is rejected, and the next step is at
most 0.9·err^{−1/3}·dt. The controller state is just ``dt_limit`` (carried between calls
and checkpointed), so a resumed run takes exactly the steps of an uninterrupted one.

The loop runs inside one compiled call until ``t_stop`` or ``max_steps``; Python runs
only at save points and progress updates.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import jit
from .operators.interaction import apply_interaction
from .operators.transport import flux_divergence
from .schedules import schedule_value
from .status import STATUS_NAN, STATUS_NEGATIVE, STATUS_OK, STATUS_STEP_UNDERFLOW

ORDERS = (1, 2, 3)
NEGATIVITY_TOLERANCE = 1e-12  # relative to max p: round-off in flux sums may dip below 0


@jit
def evaluate_rhs(p, t, ops, out, rate):
    """dp/dt at time t; ``ops`` is the tuple built by :meth:`GridDD.kernel_arguments`."""
    (
        vol,
        base,
        imode,
        factors,
        fweights,
        matrix,
        w0,
        w1,
        w2,
        h0,
        h1,
        h2,
        diffusivity,
        limited,
        scode,
        sparams,
        masses,
        upsi,
        phi,
    ) = ops
    masses[:] = (p * vol).ravel()
    apply_interaction(imode, factors, fweights, matrix, masses, upsi)
    phi[:] = base + upsi
    xi2 = 2.0 * schedule_value(scode, sparams, t)
    flux_divergence(
        p, phi.reshape(p.shape), w0, w1, w2, h0, h1, h2, xi2, diffusivity, limited, out, rate
    )


@jit
def advance(p, t, t_stop, dt_limit, max_steps, order, cfl, dt_max, rtol, atol, ops):
    """Integrate p in place from t towards t_stop.

    Parameters
    ----------
    p : (n0, n1, n2) float64 — the density, updated in place
    t, t_stop : float
    dt_limit : float — controller state (inf when no error control)
    max_steps : int — return after this many accepted steps
    order : int — 1, 2 or 3
    cfl : float — fraction of the positivity bound (≤ 1)
    dt_max : float — absolute cap on the step
    rtol, atol : float — embedded error control when rtol > 0 (order 3 only)

    Returns
    -------
    t, dt_limit, steps, rejected, status, last_dt
    """
    k = np.empty_like(p)
    rate = np.empty_like(p)
    u1 = np.empty_like(p)
    u2 = np.empty_like(p)
    steps = 0
    rejected = 0
    last_dt = 0.0
    while t < t_stop and steps < max_steps:
        evaluate_rhs(p, t, ops, k, rate)
        max_rate = rate.max()
        dt = cfl / max_rate if max_rate > 0.0 else dt_max
        dt = min(dt, dt_max, dt_limit)
        final = False
        if t + dt >= t_stop or t_stop - (t + dt) < 1e-12 * max(1.0, abs(t_stop)):
            dt = t_stop - t
            final = True
        if dt < 1e-14:
            return t, dt_limit, steps, rejected, STATUS_STEP_UNDERFLOW, last_dt
        u1[:] = p + dt * k
        if order == 1:
            p[:] = u1
        else:
            evaluate_rhs(u1, t + dt, ops, k, rate)
            if order == 2:
                p[:] = 0.5 * p + 0.5 * (u1 + dt * k)
            else:
                u2[:] = 0.75 * p + 0.25 * (u1 + dt * k)
                if rtol > 0.0:
                    heun = 0.5 * p + 0.5 * (u1 + dt * k)
                evaluate_rhs(u2, t + 0.5 * dt, ops, k, rate)
                # p/3 + (2/3)x written as p + (2/3)(x − p): the two rounded coefficients 1/3
                # and 2/3 do not sum to 1 in binary, which biased the mass by ~1 ulp per step
                u2[:] = p + 2.0 / 3.0 * ((u2 + dt * k) - p)
                if rtol > 0.0:
                    scale = atol + rtol * np.abs(p).max()
                    err = np.abs(u2 - heun).max() / scale
                    if err > 1.0:
                        dt_limit = 0.9 * dt * err ** (-1.0 / 3.0)
                        rejected += 1
                        continue
                    dt_limit = dt * min(2.0, 0.9 * err ** (-1.0 / 3.0)) if err > 0 else 2.0 * dt
                p[:] = u2
        t = t_stop if final else t + dt
        last_dt = dt
        steps += 1
        pmax = p.max()
        pmin = p.min()
        if not (math.isfinite(pmax) and math.isfinite(pmin)):
            return t, dt_limit, steps, rejected, STATUS_NAN, last_dt
        if pmin < -NEGATIVITY_TOLERANCE * pmax:
            return t, dt_limit, steps, rejected, STATUS_NEGATIVE, last_dt
    return t, dt_limit, steps, rejected, STATUS_OK, last_dt
