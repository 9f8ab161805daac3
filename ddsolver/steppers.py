r"""The grid's time loop: explicit SSP Runge–Kutta methods, compiled with the step loop.

The method is data — a Shu–Osher tableau of :mod:`ddsolver.tableaux` selected by
``solver.order``: 1 forward Euler, 2 SSPRK(2,2) (Heun), 3 SSPRK(3,3). All have SSP
coefficient 1, so each keeps p ≥ 0 under the forward-Euler bound dt ≤ 1/max(outflow rate).

Step-size policy (:mod:`ddsolver.controllers`): dt = cfl / max_i rate_i(p) at the start of
each step, the maximum over the cells that hold mass or can receive it within the step
(:func:`reachable_rate`), capped by ``dt_max``, by ``dt_limit`` and by the next stop time.
With ``rtol > 0`` and a method with an embedded solution (order 3: Heun, from its first two
stages) the local error ‖u − u_low‖∞ / (atol + rtol‖u‖∞) decides: a step with error > 1 is
rejected, and the next step is at most 0.9·err^{−1/(q+1)}·dt, q the tableau's embedded order
(2: the exponent 1/3). The controller state is just ``dt_limit`` (carried between calls and
checkpointed), so a resumed run takes exactly the steps of an uninterrupted one.

The loop runs inside one compiled call until ``t_stop`` or ``max_steps``; Python runs
only at save points and progress updates.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._jit import jit
from .controllers import cfl_step, error_step
from .operators.interaction import apply_interaction
from .operators.step_noise import step_noise_implicit, step_noise_rhs
from .operators.transport import flux_divergence
from .schedules import schedule_value
from .status import STATUS_NAN, STATUS_NEGATIVE, STATUS_OK, STATUS_STEP_UNDERFLOW

NEGATIVITY_TOLERANCE = 1e-12  # relative to max p: round-off in flux sums may dip below 0


class GridOperands(NamedTuple):
    """What the compiled right-hand side takes besides the density (built by
    :meth:`~ddsolver.pde.GridDD.kernel_arguments`); C-ordered float64 arrays.

    Attributes
    ----------
    volumes : (n0, n1, n2) cell volumes
    base : (n_cells,) the fixed part of the potential: V + (λ/2)|θ|² − c log π
    interaction_mode, factors_t, factor_weights, matrix : the interaction operator
        (:func:`~ddsolver.operators.interaction.apply_interaction`)
    w0, w1, w2, h0, h1, h2 : cell widths and centre distances of the three axes (padded)
    diffusivity : ν = τ/D, or None without diffusion (numba prunes the Scharfetter–Gummel
        flux)
    limiter : the code of the τ = 0 flux's reconstruction
        (:data:`~ddsolver.operators.transport.LIMITERS`)
    schedule_code, schedule_params : ξ(t)
    masses, upsi, phi : (n_cells,) scratch: the cell masses, Σ U m, the potential
    flux_work : scratch of :func:`~ddsolver.operators.transport.flux_divergence`
    """

    volumes: np.ndarray
    base: np.ndarray
    interaction_mode: int
    factors_t: np.ndarray
    factor_weights: np.ndarray
    matrix: np.ndarray
    w0: np.ndarray
    w1: np.ndarray
    w2: np.ndarray
    h0: np.ndarray
    h1: np.ndarray
    h2: np.ndarray
    diffusivity: float | None
    limiter: int
    schedule_code: int
    schedule_params: np.ndarray
    masses: np.ndarray
    upsi: np.ndarray
    phi: np.ndarray
    flux_work: np.ndarray


class StepNoiseOperands(NamedTuple):
    """The finite-step correction's tables and scratch for the compiled right-hand side
    (:func:`~ddsolver.operators.step_noise.step_noise_rhs`; built by
    :meth:`~ddsolver.pde.GridDD.kernel_arguments`).

    Attributes
    ----------
    tables, weights, labels : the quadrature tables of the radii on the r axis
    tables_t : the tables transposed, (5, Q, n_r)
    inv_r : (n_r,) 1/r at the centres (0 at r = 0)
    a_values : (n_a,) the second layer's centres, or (0,) without it
    parameters : (ε/B, 1/N, 1 if implicit else 0), the correction's scale before ξ² and its
        scheme (:attr:`~ddsolver.models.step_noise.StepNoise.parameters`)
    work (2, Q), moments (5, n_r), radial (2, n_r), line_drift, line_var : scratch
    """

    tables: np.ndarray
    tables_t: np.ndarray
    weights: np.ndarray
    labels: np.ndarray
    inv_r: np.ndarray
    a_values: np.ndarray
    parameters: np.ndarray
    work: np.ndarray
    moments: np.ndarray
    radial: np.ndarray
    line_drift: np.ndarray
    line_var: np.ndarray


@jit
def evaluate_rhs(p, t, ops, noise, out, rate):
    """dp/dt at time t; ``ops`` a :class:`GridOperands`, ``noise`` a
    :class:`StepNoiseOperands` or None.

    ``noise`` is None without the finite-step correction: numba then prunes its branch at
    compile time, so a run without it does not compile it (~1.8 s of a cold start).
    """
    masses, upsi, phi, base = ops.masses, ops.upsi, ops.phi, ops.base
    # explicit loops, not slice assignments: numba compiles a shape-mismatch message (string
    # formatting, ~1.5 s of a cold start) for every ``a[:] = expr``
    pf, vf = p.ravel(), ops.volumes.ravel()  # flat: nested loops over (n, 1, 1) cost ~3 ns a
    for k in range(pf.size):  # cell more
        masses[k] = pf[k] * vf[k]
    apply_interaction(ops.interaction_mode, ops.factors_t, ops.factor_weights, ops.matrix,
                      masses, upsi)  # fmt: skip
    for i in range(phi.size):
        phi[i] = base[i] + upsi[i]
    xi2 = 2.0 * schedule_value(ops.schedule_code, ops.schedule_params, t)
    flux_divergence(
        p, phi.reshape(p.shape), ops.w0, ops.w1, ops.w2, ops.h0, ops.h1, ops.h2, xi2,
        ops.diffusivity, ops.limiter, out, rate, ops.flux_work,
    )  # fmt: skip
    if noise is not None and noise.parameters[2] == 0.0:  # the finite-step correction, explicit
        xi = 0.5 * xi2
        step_noise_rhs(
            p, masses, noise.a_values, noise.tables, noise.tables_t, noise.weights, noise.labels,
            noise.inv_r, noise.parameters[0] * xi * xi, noise.parameters[1], ops.w0, ops.w1,
            ops.h0, ops.h1, ops.limiter, noise.work, noise.moments, noise.radial, noise.line_drift,
            noise.line_var, out, rate,
        )  # fmt: skip


@jit
def step_noise_implicitly(p, t, dt, ops, noise):
    """The finite-step correction over [t, t + dt] by backward Euler, in place, when
    ``solver.finite_step_scheme = "implicit"`` (``noise.parameters[2]`` = 1): the splitting's
    second half, after the explicit stages took the DD's own transport."""
    pf, vf = p.ravel(), ops.volumes.ravel()
    for k in range(pf.size):
        ops.masses[k] = pf[k] * vf[k]
    xi = schedule_value(ops.schedule_code, ops.schedule_params, t + dt)
    step_noise_implicit(
        p, ops.masses, noise.a_values, noise.tables, noise.tables_t, noise.weights, noise.labels,
        noise.inv_r, noise.parameters[0] * xi * xi, noise.parameters[1], ops.w0, ops.w1, ops.h0,
        ops.h1, noise.work, noise.moments, noise.radial, noise.line_drift, noise.line_var, dt,
    )  # fmt: skip


@jit
def combine_stage(p, u, k, dt, weight, out):
    """out = p + weight·((u + dt·k) − p), elementwise in one pass (``out`` may be ``u``)."""
    pf, uf, kf, of = p.ravel(), u.ravel(), k.ravel(), out.ravel()
    for j in range(pf.size):
        of[j] = pf[j] + weight * ((uf[j] + dt * kf[j]) - pf[j])


@jit
def reachable_rate(p, rate, reach):
    """The largest outflow rate over the cells that hold mass or can receive it within a step.

    Mass moves one face per forward-Euler stage, so after ``reach`` stages it lies within
    ``reach`` face-steps (L1 distance on the index lattice) of the cells with p ≠ 0. A cell
    beyond holds none and receives none: its outflow rate cannot break positivity, and the
    CFL bound need not see it. Where p ≠ 0 everywhere (any diffusion), or where the largest
    rate sits in a cell with mass, this is max(rate) at the cost of one pass. Without it, an
    empty region with a steep potential set the step of the whole run: 2.7e-5 instead of
    1.2e-4 on the 3200-cell failure-of-convergence example.
    """
    n0, n1, n2 = p.shape
    size = n0 * n1 * n2
    pf, rf = p.ravel(), rate.ravel()
    top = 0.0
    top_held = 0.0  # over the cells with mass
    for k in range(size):  # branch-free: vectorises
        top = max(top, rf[k])
        top_held = max(top_held, rf[k] if pf[k] != 0.0 else 0.0)
    if top_held == top:
        return top
    # L1 distance (in faces) to the nearest cell with mass, by forward and backward sweeps
    # along each axis in turn (the L1 distance transform is separable), capped at reach + 1
    far = reach + 1
    dist = np.empty(size, dtype=np.int64)
    for k in range(size):
        dist[k] = 0 if pf[k] != 0.0 else far
    for n, stride in ((n0, n1 * n2), (n1, n2), (n2, 1)):
        if n < 2:
            continue
        block = n * stride
        for base in range(0, size, block):
            for s in range(stride):
                start = base + s
                for i in range(1, n):
                    k = start + i * stride
                    dist[k] = min(dist[k], dist[k - stride] + 1)
                for i in range(n - 2, -1, -1):
                    k = start + i * stride
                    dist[k] = min(dist[k], dist[k + stride] + 1)
    top = 0.0
    for k in range(size):
        if dist[k] <= reach:
            top = max(top, rf[k])
    return top


@jit
def embedded_error(p, u, low, rtol, atol):
    """max |u − low| / (atol + rtol max |p|): the embedded estimate in units of the tolerance
    (a loop: the array expression compiled numba's broadcasting machinery, ~1 s cold)."""
    pf, uf, lf = p.ravel(), u.ravel(), low.ravel()
    diff, size = 0.0, 0.0
    for j in range(pf.size):
        diff = max(diff, abs(uf[j] - lf[j]))
        size = max(size, abs(pf[j]))
    return diff / (atol + rtol * size)


@jit
def advance(
    p, t, t_stop, dt_limit, max_steps, a, c, emb_stage, emb_a, emb_exponent, cfl, dt_max, rtol,
    atol, grow, shrink, ops, noise,
):  # fmt: skip
    """Integrate p in place from t towards t_stop with an SSP method in Shu–Osher form.

    Parameters
    ----------
    p : (n0, n1, n2) float64 — the density, updated in place
    t, t_stop : float
    dt_limit : float — controller state (inf when no error control)
    max_steps : int — return after this many accepted steps
    a, c : (s,) float64 — stage weights and times of a :class:`~ddsolver.tableaux.ShuOsher`
    emb_stage, emb_a : the embedded solution (stage index, weight); emb_stage < 0: none
    emb_exponent : float — the controller's exponent 1/(embedded order + 1) (SSPRK(3,3) with
        its embedded Heun solution: 1/3)
    cfl : float — fraction of the positivity bound (≤ 1)
    dt_max : float — absolute cap on the step
    rtol, atol : float — embedded error control when rtol > 0
    grow, shrink : float — the factors that bound the next step (:func:`error_step`)
    ops, noise : the arguments of :func:`evaluate_rhs`

    Returns
    -------
    t, dt_limit, steps, rejected, status, last_dt (the fields of
    :class:`~ddsolver.status.StepReport`)
    """
    k = np.empty_like(p)
    rate = np.empty_like(p)
    u = np.empty_like(p)
    low = np.empty_like(p)
    steps = 0
    rejected = 0
    last_dt = 0.0
    control = rtol > 0.0 and emb_stage >= 0
    while t < t_stop and steps < max_steps:
        evaluate_rhs(p, t, ops, noise, k, rate)
        dt = cfl_step(reachable_rate(p, rate, a.size), cfl, dt_max, dt_limit)
        final = False
        if t + dt >= t_stop or t_stop - (t + dt) < 1e-12 * max(1.0, abs(t_stop)):
            dt = t_stop - t
            final = True
        if dt < 1e-14:
            return t, dt_limit, steps, rejected, STATUS_STEP_UNDERFLOW, last_dt
        for i in range(a.size):
            if i > 0:
                evaluate_rhs(u, t + c[i] * dt, ops, noise, k, rate)
            previous = p if i == 0 else u
            if control and i == emb_stage:
                combine_stage(p, previous, k, dt, 1.0 - emb_a, low)
            combine_stage(p, previous, k, dt, 1.0 - a[i], u)
        if control:
            err = embedded_error(p, u, low, rtol, atol)
            dt_limit = error_step(dt, err, emb_exponent, grow, shrink)
            if err > 1.0:
                rejected += 1
                continue
        if noise is not None and noise.parameters[2] != 0.0:
            step_noise_implicitly(u, t, dt, ops, noise)
        # accept: copy u into p and take its extremes and any NaN in the same pass
        pf, uf = p.reshape(p.size), u.ravel()  # (reshape: a view, or an error — never a copy)
        pmax, pmin, nan = -math.inf, math.inf, False
        for j in range(pf.size):
            v = uf[j]
            pf[j] = v
            pmax = max(pmax, v)
            pmin = min(pmin, v)
            nan |= v != v
        t = t_stop if final else t + dt
        last_dt = dt
        steps += 1
        if nan or not (math.isfinite(pmax) and math.isfinite(pmin)):
            return t, dt_limit, steps, rejected, STATUS_NAN, last_dt
        if pmin < -NEGATIVITY_TOLERANCE * pmax:
            return t, dt_limit, steps, rejected, STATUS_NEGATIVE, last_dt
    return t, dt_limit, steps, rejected, STATUS_OK, last_dt
