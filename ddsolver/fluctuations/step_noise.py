r"""SGD's step noise as source terms of the mean risk: the neurons' shared and own noise.

One-pass SGD moves neuron i by s_k·gᵢ(x_k) per step, s_k = εξ(t_k), with the kick
gᵢ(x) = 2 (y − ŷ(x)) ∇_θσ*(x; θᵢ) of one sample x that *every* neuron sees. Its mean over x is
the DD's velocity −2ξ∇Ψ(θᵢ; ρ̂); what is left, ζ_x(θ) = 2ξ[(y − ŷ(x))∇_θσ*(x; θ) + ∇Ψ₀(θ)]
(Ψ₀ without the weight decay), is one random *field* that pushes the whole measure. Per
unit time that is a noise of covariance (ε/B) E_x[ζ_x(θ)ζ_x(θ′)ᵀ] for a batch of B samples,
and the weak expansion of the mean risk in ε (a second-order Itô–Taylor expansion around
the deterministic flow, F_u = R ∘ S_u with S_u the DD's solution map) is

    E R(t) = R(ρ_t) + (ε/2B) ∫₀ᵗ E_x ∂²_h F_{t−s}((id + hζ_x)#ρ_s)|_{h=0} ds + o(ε).

The second derivative along the push splits in two:

    ∂²_h F((id + hζ)#ρ) = ∫ ζᵀ ∇²(δF/δρ) ζ dρ  +  ∫∫ ζ(θ)ᵀ ∇_θ∇_θ′ (δ²F/δρ²)(θ, θ′) ζ(θ′) dρ dρ
                        =        own                  +              shared.

The first is what each neuron's noise does to it alone: it is the same if every neuron
drew its own sample, and ``dynamics.finite_step`` carries it (to all orders) in the mean
law. The second is the part the neurons share: it vanishes for independent samples.

**Both from three pushes.** Split ρ into two halves and push them by h₁ζ and h₂ζ:
G(h₁, h₂) = F(½(id + h₁ζ)#ρ + ½(id + h₂ζ)#ρ). The own part is linear in the measure, so
only the second variation couples the halves: ∂²G/∂h₁∂h₂ = ¼ shared. With
F₊₊ = G(h, h), F₋₋ = G(−h, −h), F₊₋ = G(h, −h) and F₀ = F(ρ),

    shared = (F₊₊ + F₋₋ − 2F₊₋)/h²,      own = 2(F₊₋ − F₀)/h²,

each to O(h²); their sum is the full second difference (F₊₊ + F₋₋ − 2F₀)/h².

**The isotropic kind.** ρ_s is rotation invariant, so the push by ζ_x is invariant under
the rotations that fix x̂ = x/|x| and the pushed measure is a set of rings about x̂
(:mod:`ddsolver.fluctuations.rings`). A point w = r(cx̂ + su) (s = √(1 − c²)) of a ring moves
by h[A x̂ + B ŵ], A = 2ξ a e σ′(rc|x|)|x|, B = 2ξ ∂_rΨ₀(r), e = y − ŷ(|x|), and its a by
h·2ξ[e σ(rc|x|) + ∂_aΨ₀]. ŷ depends on |x| only; E_x is a Gauss rule in |x| = (1 ± Δ)χ_d per
class (probability ½ each). The flows from each injection time s run with the same RK4 steps
(:class:`~ddsolver.fluctuations.rings.RingFlow`), so the second differences are those of
one discrete flow. The integral over s is the trapezoidal rule on three sets of nodes: the
coarse injection times (:func:`injection_times`, spaced by ``injection_every`` and then by
10 % of s) before t − max τ, pushes at t − τ for the fine lags τ (default :data:`LAGS`; the shared
integrand halves within about 0.03 of t − s), and the instantaneous integrand at t itself.

**The Euler part.** SGD takes explicit Euler steps of the drift, and Euler's global error
is first order in the step: E R(t) moves by ε·∂_δ F^{Euler, δ}_t |_{δ=0} as well. The slope
comes from the rings run by Euler at steps δ and δ/2 (``euler_step``) against RK4, with
Richardson's 2s(δ/2) − s(δ) removing its own O(δ) part, and is scaled to ε.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..fields import resolved_terms
from ..models.initial import GaussianInitial
from ..models.isotropic import IsotropicGaussians
from .rings import RingFlow, checked_times, default_degree, initial_rings

#: h of the second differences, in units of the kick ζ (whose size is ~2ξ|e|σ′√d).
PUSH_STEP = 1e-4
#: The relative growth of the spacing of the coarse injection times (:func:`injection_times`).
INJECTION_GROWTH = 0.1
#: The fine lags τ of the pushes at t − τ before each observation time t.
LAGS = (0.0125, 0.025, 0.05, 0.1, 0.2)
#: The numerics of :func:`step_noise_terms` that :func:`euler_term` shares.
EULER_NUMERICS = ("a_nodes", "degree", "xi", "lam")
#: Nodes per piece of the cosine rule for ŷ(|x|), the network's output on a sample.
OUTPUT_NODES = 24


@dataclass(frozen=True)
class StepNoiseTerms:
    r"""The first-order step-noise terms of the mean risk on the observation times.

    Attributes
    ----------
    times : (T,) t
    risk : (T,) R(ρ_t) of the rings (with a vector functional Φ: (T, Q), as the terms)
    shared : (T,) the noise neurons share through the common sample, (ε/2B) ∫ E_x shared
    own : (T,) each neuron's own noise, to first order in ε (what ``dynamics.finite_step``
        carries in the mean law)
    injections : (J,) the injection times s
    shared_rate, own_rate : (J + 1, T) E_x of the integrands at (s, t), NaN where s > t; the
        last row is the instantaneous one (s = t)
    lags : (L,) the fine lags τ: pushes at t − τ resolve the integrand's fast decay in t − s
    near_shared, near_own : (L, T) the integrands at (t − τ, t), NaN where τ ≥ t
    """

    times: np.ndarray
    risk: np.ndarray
    shared: np.ndarray
    own: np.ndarray
    injections: np.ndarray
    shared_rate: np.ndarray
    own_rate: np.ndarray
    lags: np.ndarray
    near_shared: np.ndarray
    near_own: np.ndarray


def sample_norms(problem: IsotropicGaussians, nodes: int) -> tuple[np.ndarray, ...]:
    """Gauss rule for E_x over the isotropic law: labels y (±1, probability ½ each),
    norms |x| = (1 + yΔ)χ_d and weights, each of shape (2·nodes,)."""
    d = float(problem.dimension)
    chi, weights = GaussianInitial(math.sqrt(d), d).radial_quadrature(nodes)
    labels = np.repeat([1.0, -1.0], nodes)
    norms = np.concatenate([(1.0 + problem.delta) * chi, (1.0 - problem.delta) * chi])
    return labels, norms, 0.5 * np.concatenate([weights, weights])


@functools.cache
def _legendre(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [−1, 1], computed once per count (read-only)."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    x.flags.writeable = w.flags.writeable = False
    return x, w


def split_cosines(
    dimension: float, breaks: np.ndarray, nodes: int
) -> tuple[np.ndarray, np.ndarray]:
    r"""A composite rule for E f(c) under the cosine law in R^d, split at ``breaks``.

    Gauss–Legendre on each piece of [−1, 1] between the breaks (those outside are clamped
    to ±1, leaving empty pieces), with the density ∝ (1 − c²)^{(d−3)/2} in the weights: for
    an f that jumps at the breaks (σ′(rc|x|) at the kinks of σ) the rule stays spectral.

    Parameters
    ----------
    breaks : (..., P − 1) the points where f may jump; leading axes give one rule each
    nodes : nodes per piece

    Returns
    -------
    c, w : (..., P · nodes), with Σ w = 1 along the last axis
    """
    breaks = np.asarray(breaks, dtype=float)
    lead = breaks.shape[:-1]
    ends = np.ones((*lead, 1))
    edges = np.concatenate([-ends, np.sort(np.clip(breaks, -1.0, 1.0), axis=-1), ends], axis=-1)
    x, wx = _legendre(nodes)
    half = 0.5 * np.diff(edges, axis=-1)[..., None]
    c = (0.5 * (edges[..., :-1] + edges[..., 1:]))[..., None] + half * x
    w = half * wx * np.clip(1.0 - c * c, 0.0, None) ** (0.5 * (dimension - 3.0))
    c, w = c.reshape((*lead, -1)), w.reshape((*lead, -1))
    return c, w / w.sum(axis=-1, keepdims=True)


def network_output(
    problem: IsotropicGaussians, r: np.ndarray, a: np.ndarray, mass: np.ndarray, norms
) -> np.ndarray:
    """ŷ(|x|) = Σ_groups m a E_c σ(r c |x|) of an isotropic set of (r, a) groups (masses
    ``mass`` (G,)), E_c by :func:`split_cosines` at σ's kinks; shape (X,) for ``norms``."""
    act = problem.activation
    kinks = act.kink_structure()[0]
    scale = np.multiply.outer(np.asarray(norms, dtype=float), r)  # (X, G): r |x|
    c, w = split_cosines(problem.dimension, kinks / scale[..., None], OUTPUT_NODES)
    means = (w * act(scale[..., None] * c)).sum(axis=-1)  # (X, G): E_c σ(r c |x|)
    return means @ (mass * a)


def pushed_rings(
    problem: IsotropicGaussians,
    groups: np.ndarray,
    mass: np.ndarray,
    gradients: tuple[np.ndarray, np.ndarray],
    xi: float,
    samples: tuple[np.ndarray, np.ndarray],
    h: float,
    cosine_nodes: int,
) -> tuple[np.ndarray, np.ndarray]:
    r"""The runs whose risks give the shared and own second differences at one time.

    Parameters
    ----------
    groups : (2, G) radius r and second-layer weight a of the isotropic measure's groups
    mass : (G,) their masses
    gradients : ∂_rΨ₀ and ∂_aΨ₀ at the groups, each (G,), without the weight decay
    xi : ξ at this time
    samples : labels y and norms |x|, each (X,)
    h : the push step
    cosine_nodes : nodes per piece of :func:`split_cosines` (split where σ′(rc|x|) jumps)

    Returns
    -------
    single : ((3, 3X, M), (3X, M)) rings about x̂ and masses of F(push_h), F(push_−h) and F(ρ)
        for each sample — G(h, h), G(−h, −h), G(0, 0): both halves alike, so one set
    pair : ((3, X, 2M), (X, 2M)) G(h, −h): the half pushed by h beside the half pushed by −h
    """
    labels, norms = samples
    r, a = groups
    psi_r, psi_a = gradients
    act = problem.activation
    kinks = act.kink_structure()[0]
    output = network_output(problem, r, a, mass, norms)
    count = r.size * (kinks.size + 1) * cosine_nodes
    single = np.empty((3, 3 * labels.size, count))
    single_mass = np.empty((3 * labels.size, count))
    pair = np.empty((3, labels.size, 2 * count))
    pair_mass = np.empty((labels.size, 2 * count))
    for i, (y, norm) in enumerate(zip(labels, norms, strict=True)):
        c, w = split_cosines(problem.dimension, kinks / (r * norm)[:, None], cosine_nodes)
        c, m = c.ravel(), (mass[:, None] * w).ravel()  # group-major, as the repeats below
        size = c.size // r.size
        rr, aa = np.repeat(r, size), np.repeat(a, size)
        radial = 2.0 * xi * np.repeat(psi_r, size)
        s = np.sqrt(np.clip((1.0 - c) * (1.0 + c), 0.0, None))
        e = y - output[i]
        pre = rr * c * norm
        along = 2.0 * xi * aa * e * act.derivative(pre) * norm
        kick_a = 2.0 * xi * (e * act(pre) + np.repeat(psi_a, size))
        moved = []
        for sign in (1.0, -1.0, 0.0):
            parallel = rr * c + sign * h * (along + radial * c)
            normal = (rr + sign * h * radial) * s
            radius = np.hypot(parallel, normal)
            amp = aa + sign * h * kick_a if problem.second_layer else aa
            moved.append(np.stack([radius, parallel / radius, amp]))
        single[:, 3 * i : 3 * i + 3] = np.stack(moved, axis=1)
        single_mass[3 * i : 3 * i + 3] = m
        pair[:, i] = np.concatenate([moved[0], moved[1]], axis=1)
        pair_mass[i] = 0.5 * np.concatenate([m, m])
    return (single, single_mass), (pair, pair_mass)


def variance_of_a(state: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Var(a) = ∫a² dρ − (∫a dρ)² of each ring set: state (3, B, M), mass (B, M) → (B,)."""
    a = state[2]
    m = mass / mass.sum(axis=1, keepdims=True)
    mean = (m * a).sum(axis=1)
    return (m * a * a).sum(axis=1) - mean * mean


def _rates(
    single: np.ndarray, pair: np.ndarray, weights: np.ndarray, h: float
) -> tuple[np.ndarray, np.ndarray]:
    """E_x of the shared and own second differences from the values of the runs of
    :func:`pushed_rings`: ``single`` (3X, ...) and ``pair`` (X, ...); each of shape (...)."""
    plus, minus, base = single[0::3], single[1::3], single[2::3]
    shared = (plus + minus - 2.0 * pair) / (h * h)
    own = 2.0 * (pair - base) / (h * h)
    return np.tensordot(weights, shared, axes=1), np.tensordot(weights, own, axes=1)


def step_noise_terms(
    problem: IsotropicGaussians,
    initial: GaussianInitial,
    times: np.ndarray,
    eps: float,
    batch: int = 1,
    *,
    injections: np.ndarray | None = None,
    radial_nodes: int = 12,
    cosine_nodes: int = 6,
    sample_nodes: int = 3,
    a_nodes: int = 4,
    degree: int | None = None,
    step: float = 0.1,
    lags: tuple[float, ...] = LAGS,
    xi: Callable[[float], float] = lambda t: 1.0,
    lam: float = 0.0,
    push_step: float = PUSH_STEP,
    functional: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> StepNoiseTerms:
    r"""The shared and own first-order terms of SGD's mean risk (isotropic kind).

    Parameters
    ----------
    problem : the isotropic problem (a kinked σ, finite d; θ = w or (a, w))
    initial : the Gaussian initial law
    times : (T,) ascending observation times ≥ 0
    eps, batch : SGD's ε and mini-batch B (the terms scale as ε/B)
    injections : (J,) ascending injection times s for ∫ ds, starting at 0 (default ``times``)
    radial_nodes, a_nodes : the rings of ρ₀ (equal-mass radii, (K + 2) // 2 Gauss–Jacobi
        cosines, Gauss–Hermite a with a second layer)
    cosine_nodes : the pushed rings' cosines per piece of :func:`split_cosines`
    sample_nodes : Gauss nodes in |x| per class
    degree : K, the highest Mehler degree (default
        :func:`~ddsolver.fluctuations.rings.default_degree`)
    step : the longest RK4 step
    lags : the fine lags τ: a push at t − τ for each t resolves the shared integrand's fast
        decay in t − s (a time of order 0.05 on the paper example)
    xi : ξ(t); lam : λ
    push_step : h of the second differences
    functional : Φ of ring sets — (r, c, a) of shape (3, B, M) and masses (B, M) to (B,), or
        to (B, Q) for Q functionals at once — whose terms are wanted instead of the risk's
        (e.g. :func:`variance_of_a`, :func:`~ddsolver.fluctuations.smoothed_law.cdf_of_a`: the
        same expansion holds for
        any smooth Φ of ρ̂); ``risk``, ``shared`` and ``own`` are then (T, Q)

    Returns
    -------
    StepNoiseTerms (with Φ in place of R where ``functional`` is given)
    """
    times = checked_times(problem, times, "the step-noise computation")
    injections = times if injections is None else np.asarray(injections, dtype=float)
    if injections.size == 0 or injections[0] != 0.0 or np.any(np.diff(injections) <= 0):
        raise ValueError("injections must start at 0 and increase")
    degree = default_degree(problem.dimension) if degree is None else int(degree)
    flow = RingFlow(problem, degree, xi, lam)
    value = _values(flow, functional)
    h = float(push_step)

    base_nodes = (degree + 2) // 2  # exact for the isotropic rings' degree-K integrals
    ring, mass, group_mass = initial_rings(problem, initial, radial_nodes, a_nodes, base_nodes)
    labels, norms, sweights = sample_norms(problem, sample_nodes)

    shape = np.shape(value(ring[:, None, :], mass[None, :])[0])  # () or a vector Φ's (Q,)
    risk = np.empty((times.size, *shape))
    shared_rate = np.full((injections.size + 1, times.size, *shape), np.nan)
    own_rate = np.full_like(shared_rate, np.nan)
    lags = np.sort(np.asarray(lags, dtype=float))
    near_shared = np.full((lags.size, times.size, *shape), np.nan)
    near_own = np.full_like(near_shared, np.nan)

    near = {(k, i): t - lag for i, t in enumerate(times) for k, lag in enumerate(lags) if t > lag}
    states = {}  # the unperturbed rings at every time a push starts from
    base, t = ring[:, None, :], 0.0
    for target in sorted({*injections, *times, *near.values()}):
        base, t = flow.advance(base, mass[None, :], t, target, step)
        states[target] = base

    def push(s: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """The two batches of :func:`pushed_rings` from the rings at s (stepped alike)."""
        psi, _ = flow.gradients(states[s], mass[None, :], lam=0.0)
        groups = states[s][(0, 2), 0, ::base_nodes]
        gradients = (psi[0, 0, ::base_nodes], psi[2, 0, ::base_nodes])
        return list(pushed_rings(problem, groups, group_mass, gradients, xi(s), (labels, norms),
                                 h, cosine_nodes))  # fmt: skip

    def rates_from(s: float, targets: np.ndarray):
        """(shared, own) at each of ``targets`` (ascending, ≥ s) of the pushes at s."""
        batches, u = push(s), s
        for target in targets:
            risks = []
            for k, (runs, masses) in enumerate(batches):
                moved, reached = flow.advance(runs, masses, u, target, step)
                batches[k] = (moved, masses)
                risks.append(value(moved, masses))
            u = reached
            yield _rates(*risks, sweights, h)

    for j, s in enumerate(injections):  # the coarse injections, each to every later time
        later = np.flatnonzero(times >= s)
        for i, (sh, ow) in zip(later, rates_from(s, times[later]), strict=True):
            shared_rate[j, i], own_rate[j, i] = sh, ow
    for (k, i), s in near.items():  # the fine lags before each time, to that time only
        near_shared[k, i], near_own[k, i] = next(rates_from(s, times[i : i + 1]))
    for i, t in enumerate(times):  # the instantaneous integrand and R(ρ_t)
        risk[i] = value(states[t], mass[None, :])[0]
        same = np.flatnonzero(injections == t)  # an injection at t has it already
        if same.size:
            shared_rate[-1, i], own_rate[-1, i] = shared_rate[same[0], i], own_rate[same[0], i]
        else:
            shared_rate[-1, i], own_rate[-1, i] = next(rates_from(t, times[i : i + 1]))

    scale = 0.5 * float(eps) / int(batch)
    shared = scale * _time_integrals(injections, shared_rate, lags, near_shared, times)
    own = scale * _time_integrals(injections, own_rate, lags, near_own, times)
    return StepNoiseTerms(times, risk, shared, own, injections, shared_rate, own_rate, lags,
                          near_shared, near_own)  # fmt: skip


def euler_term(
    problem: IsotropicGaussians,
    initial: GaussianInitial,
    times: np.ndarray,
    eps: float,
    *,
    radial_nodes: int = 12,
    a_nodes: int = 4,
    degree: int | None = None,
    euler_step: float = 0.01,
    xi: Callable[[float], float] = lambda t: 1.0,
    lam: float = 0.0,
    functional: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """ε ∂_δ F^{Euler, δ}_t at ``times`` (T,): the rings of ρ₀ (as :func:`step_noise_terms`'s)
    run by explicit Euler at δ and δ/2 (``euler_step``) against RK4 at δ, whose error is far
    below Euler's, with Richardson's 2s(δ/2) − s(δ) removing the slope's own O(δ) part."""
    times = checked_times(problem, times, "the Euler term")
    degree = default_degree(problem.dimension) if degree is None else int(degree)
    flow = RingFlow(problem, degree, xi, lam)
    value = _values(flow, functional)
    ring, mass, _ = initial_rings(problem, initial, radial_nodes, a_nodes, (degree + 2) // 2)
    exact = _rk4_values(flow, value, ring, mass, times, euler_step)
    slopes = [(_euler_values(flow, value, ring, mass, times, d) - exact) / d
              for d in (euler_step, 0.5 * euler_step)]  # fmt: skip
    return float(eps) * (2.0 * slopes[1] - slopes[0])


def _values(flow: RingFlow, functional) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Φ of ring sets — ``functional``, or the risk where it is None."""
    if functional is not None:
        return functional
    return flow.risks


def _time_integrals(
    injections: np.ndarray, rate: np.ndarray, lags: np.ndarray, near: np.ndarray, times
) -> np.ndarray:
    """∫₀ᵗ rate(s, t) ds at each t by the trapezoidal rule on the injections before the
    earliest lag node, the lag nodes t − τ (> 0) and t itself (``rate`` (J + 1, T, ...): the
    injections' rows, then the instantaneous one; ``near`` (L, T, ...) at the ``lags``)."""
    out = np.zeros((times.size, *rate.shape[2:]))
    for i, t in enumerate(times):
        fine = np.flatnonzero(t > lags)[::-1]  # the largest lag first: ascending s
        first = t - lags[fine[0]] if fine.size else t
        before = np.flatnonzero(injections < first)
        nodes = np.concatenate([injections[before], t - lags[fine], [t]])
        values = np.concatenate([rate[before, i], near[fine, i], [rate[-1, i]]])
        out[i] = np.trapezoid(values, nodes, axis=0) if nodes.size > 1 else 0.0
    return out


def _rk4_values(flow: RingFlow, value, ring, mass, times, step: float) -> np.ndarray:
    """Φ at ``times`` of the rings stepped by RK4 with steps of at most ``step``."""
    state, t = ring[:, None, :], 0.0
    out = []
    for target in times:
        state, t = flow.advance(state, mass[None, :], t, target, step)
        out.append(value(state, mass[None, :])[0])
    return np.array(out)


def _euler_values(flow: RingFlow, value, ring, mass, times, delta: float) -> np.ndarray:
    """Φ at ``times`` of the rings stepped by explicit Euler with step ``delta``."""
    state, t = ring[:, None, :].copy(), 0.0
    out = []
    masses = mass[None, :]
    for target in times:
        while t < target - 1e-12:
            dt = min(delta, target - t)
            state = state + dt * flow.velocity(t, state, masses)
            t += dt
        out.append(value(state, masses)[0])
    return np.array(out)


@dataclass(frozen=True)
class NoiseBudget:
    """The step-noise terms on a run's stop times, with an estimate of their error.

    Attributes
    ----------
    times : (T,) t
    shared, own, euler : (T,) the terms of :class:`StepNoiseTerms` — of the risk, or (T, Q) of
        a vector functional (:func:`noise_budget`)
    error : (T,) or (T, Q) |(shared + own) − (shared′ + own′)|, the primed terms with half the radii
        and twice the injection spacing: small while the flow map is resolved, large where
        the flow nears a separatrix
    """

    times: np.ndarray
    shared: np.ndarray
    own: np.ndarray
    euler: np.ndarray
    error: np.ndarray

    def resolved(self, t: float) -> bool:
        """Whether the terms at ``t`` are a prediction: their error estimate is at most
        :data:`~ddsolver.fields.RESOLVED_FRACTION` of |shared| + |own|
        (:func:`~ddsolver.fields.resolved_terms`)."""
        at = self.at(t)
        return bool(resolved_terms(at["noise_shared"], at["noise_own"], at["noise_error"]))

    def at(self, t: float) -> dict[str, float]:
        """The terms at a stop time (linear between stop times), by observable name."""
        return {
            "noise_shared": float(np.interp(t, self.times, self.shared)),
            "noise_own": float(np.interp(t, self.times, self.own)),
            "euler_error": float(np.interp(t, self.times, self.euler)),
            "noise_error": float(np.interp(t, self.times, self.error)),
        }


def injection_times(t_end: float, every: float, growth: float = INJECTION_GROWTH) -> np.ndarray:
    """0 = s₀ < s₁ < … ≤ ``t_end`` with s_{j+1} = s_j + max(every, growth·s_j): uniform early,
    where the integrand changes fast in s, geometric later; the last one is ``t_end``."""
    out = [0.0]
    while out[-1] < t_end - 1e-12:
        out.append(min(t_end, out[-1] + max(every, growth * out[-1])))
    return np.array(out)


def noise_budget(
    problem: IsotropicGaussians,
    initial: GaussianInitial,
    times: np.ndarray,
    eps: float,
    batch: int = 1,
    *,
    injection_every: float = 0.025,
    radial_nodes: int = 12,
    functional: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    **numerics,
) -> NoiseBudget:
    """:func:`step_noise_terms` with injections every ``injection_every`` and its error against
    ⌈radial_nodes/2⌉ radii and twice the spacing (the other ``numerics`` the same), and
    :func:`euler_term` once, on the fine rings — of the risk, or of a vector ``functional``
    (then every term is (T, Q) and the error is per point)."""
    numerics["functional"] = functional
    times = np.asarray(times, dtype=float)
    t_end = float(times[-1]) if times.size else 0.0
    fine = step_noise_terms(problem, initial, times, eps, batch, radial_nodes=radial_nodes,
                            injections=injection_times(t_end, injection_every),
                            **numerics)  # fmt: skip
    coarse = step_noise_terms(problem, initial, times, eps, batch,
                              radial_nodes=-(-radial_nodes // 2),
                              injections=injection_times(t_end, 2.0 * injection_every,
                                                         2.0 * INJECTION_GROWTH),
                              **numerics)  # fmt: skip
    error = np.abs(fine.shared + fine.own - coarse.shared - coarse.own)
    euler = euler_term(problem, initial, times, eps, radial_nodes=radial_nodes,
                       **{k: numerics[k] for k in (*EULER_NUMERICS, "functional")
                          if k in numerics})  # fmt: skip
    return NoiseBudget(times, fine.shared, fine.own, euler, error)
