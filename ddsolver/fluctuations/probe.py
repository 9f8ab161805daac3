r"""The dynamical 1/N term of the isotropic kind, from one added neuron on an axis.

N-neuron gradient flow on the exact risk (SGD's ε → 0 limit) moves the empirical measure
ρ̂ = (1/N) Σᵢ δ_{θᵢ} by the distributional dynamics itself: the velocity of neuron i,
−2ξ∇Ψ(θᵢ; ρ̂), is the DD's velocity field at ρ̂, its own pair U(θᵢ, θᵢ)/N included. So with
S_t the DD's solution map and F_t = R ∘ S_t, R_N(t) = F_t(ρ̂₀) for N i.i.d. draws from ρ₀, and

    E R_N(t) = R(ρ_t) + C(t)/N + o(1/N),      C(t) = ½ E D²F_t(ρ₀)[η, η],

η = √N(ρ̂₀ − ρ₀) the sampling fluctuation. Its covariance is that of one draw,
E η(f)η(g) = Cov_{z∼ρ₀}(f(z), g(z)), so the second variation is needed only along the
directions δ_z − ρ₀:

    C(t) = ½ E_{z∼ρ₀} g_z''(0),      g_z(s) = F_t((1 − s)ρ₀ + s δ_z).

At t = 0, R is quadratic and g_z'' = 2[U(z, z) − 2(U∗ρ₀)(z) + ∫∫U dρ₀dρ₀], so C(0) is the
i.i.d. term ∫U(θ, θ)dρ₀ − ∫∫U dρ₀ dρ₀ exactly. Its first derivative gives the first-order
fluctuation, R_N − R(ρ_t) ≈ (1/N) Σᵢ g'_{zᵢ}(0), mean zero — a control variate for
ensembles of finite networks.

**The axisymmetric reduction.** For the isotropic kind ρ₀ is rotation invariant, so
(1 − s)ρ₀ + s δ_z is invariant under the rotations that fix the axis ê = z/|z|, and so is
its flow: it is a set of rings about ê (:mod:`ddsolver.fluctuations.rings`), and the neuron on
the axis (c = 1) stays there. Its own pair U(z, z) is the closed form, not the Mehler series
(which converges slowly at c = 1).

**The second layer.** With θ = (a, w), V = a v(r), U = a a' ū: every ring carries its a,
which weights its features; ∂_aΨ = Ψ/a, da/dt = −2ξ(∂_aΨ + λa), and the axis neuron's own
pair is a²U(w, w). The law of a enters by Gauss–Hermite nodes (one for a point mass).

**Numerics.** ρ₀ is represented by rings on generalised Gauss–Laguerre radii (the law of
|w|) times Gauss–Jacobi cosines (the cosine law in R^d), exact for the unperturbed
integrals of degree < 2·``cosine_nodes``. The flows at s = 0 and s = ±h for every probe
radius z (the same radial rule) run together, with one classical RK4 step sequence, so
their time-discretisation errors are smooth in s and g'' = [g(h) − 2g(0) + g(−h)]/h² is the
second derivative of the discrete flow to O(h²).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..models.initial import GaussianInitial
from ..models.isotropic import IsotropicGaussians
from .rings import RingFlow, checked_times, default_degree, initial_rings, radial_quadrature
from .smoothed_law import fine_a_rule, law_second_variation

#: The mass of the added neuron in the second difference g'' ≈ [g(h) − 2g(0) + g(−h)]/h².
MASS_STEP = 1e-3
#: Gauss–Laguerre nodes of the mean of g' under ρ₀.
FINE_NODES = 200


@dataclass(frozen=True)
class DynamicalCorrection:
    r"""C(t) and its by-products on the times asked for.

    Attributes
    ----------
    times : (T,) t
    risk : (T,) R(ρ_t) of the unperturbed rings
    correction : (T,) C(t), the dynamical 1/N term: E R_N(t) ≈ R(ρ_t) + C(t)/N
    iid : (T,) ∫U(θ, θ)dρ_t − ∫∫U dρ_t dρ_t, the i.i.d. term of N fresh draws from ρ_t
    probe_radii : (P_r,) the radii |z| of the added neuron
    probe_amplitudes : (P_a,) its second-layer weights a_z ([1.0] without a second layer)
    probe_weights : (P_a · P_r,) the weights of (a_z, |z|) under ρ₀, a-major
    first : (T, P_a · P_r) g'_z(0), the first-order response to one neuron at (a_z, |z|)
    second : (T, P_a · P_r) g''_z(0)
    first_mean : (T,) E_{z∼ρ₀} of the interpolated g' (see :meth:`first_order`)
    functional_times : (T_Φ,) the times at which a vector functional Φ (Q values of a ring
        set, e.g. the smoothed law of a) was followed; empty without one
    functional_value : (T_Φ, Q) Φ(ρ_t)
    functional_correction : (T_Φ, Q) ½ E_z g_Φ''(0), g_Φ,z(s) = Φ(S_t((1 − s)ρ₀ + s δ_z)):
        Φ's dynamical 1/N term, E Φ(ρ̂_t) ≈ Φ(ρ_t) + functional_correction/N
    functional_first : (T_Φ, P_a · P_r, Q) g_Φ'(0)
    functional_first_mean : (T_Φ, Q) E_{z∼ρ₀} of the interpolated g_Φ'
    law_correction : (T_Φ, Q) the smoothed law of a's dynamical 1/N term (``law=``):
        E F_b(ρ̂_t) ≈ F_b(ρ_t) + law_correction/N
    """

    times: np.ndarray
    risk: np.ndarray
    correction: np.ndarray
    iid: np.ndarray
    probe_radii: np.ndarray
    probe_amplitudes: np.ndarray
    probe_weights: np.ndarray
    first: np.ndarray
    second: np.ndarray
    first_mean: np.ndarray
    functional_times: np.ndarray = field(default_factory=lambda: np.empty(0))
    functional_value: np.ndarray | None = None
    functional_correction: np.ndarray | None = None
    functional_first: np.ndarray | None = None
    functional_first_mean: np.ndarray | None = None
    law_correction: np.ndarray | None = None

    def interpolated_first(self, radii: np.ndarray, amplitudes: np.ndarray | None) -> np.ndarray:
        """g'_z(0) at neurons (``amplitudes`` a, ``radii`` |w|) of shape (N,): linear between
        the probe radii (flat beyond them), then between the probe a; shape (T, N)."""
        return _interpolated(self.first, self.probe_radii, self.probe_amplitudes, radii,
                             amplitudes)  # fmt: skip

    def first_order(self, radii: np.ndarray, amplitudes: np.ndarray | None = None) -> np.ndarray:
        r"""(1/N) Σᵢ g'_{zᵢ}(0) − E_{z∼ρ₀} g'_z(0) at each time, shape (T,), for neurons drawn
        at ``radii`` (N,) (and second-layer weights ``amplitudes``): the first-order part of
        R_N(t) − R(ρ_t), with g' interpolated (:meth:`interpolated_first`) and its mean under
        ρ₀ taken off, so that it is an exactly centred control variate for ensembles of
        finite networks."""
        return self.interpolated_first(radii, amplitudes).mean(axis=1) - self.first_mean

    def functional_first_order(
        self, radii: np.ndarray, amplitudes: np.ndarray | None = None
    ) -> np.ndarray:
        r"""(1/N) Σᵢ g_Φ,zᵢ'(0) − E_{z∼ρ₀} g_Φ,z'(0), shape (T_Φ, Q): the first-order part of
        Φ(ρ̂_t) − Φ(ρ_t) for neurons at ``radii`` (N,) (and ``amplitudes``), centred as in
        :meth:`first_order` — a control variate for ensembles of finite networks."""
        if self.functional_first is None:
            raise ValueError("no functional was followed (dynamical_correction(functional=...))")
        at = _interpolated_columns(self.functional_first, self.probe_radii,
                                   self.probe_amplitudes, radii, amplitudes)  # fmt: skip
        return at.mean(axis=-1) - self.functional_first_mean


def _interpolated_columns(first, probe_radii, probe_amplitudes, radii, amplitudes) -> np.ndarray:
    """:func:`_interpolated` of ``first`` (T, P, Q) for each of its Q columns: (T, Q, N)."""
    times, probes, columns = first.shape
    flat = np.moveaxis(first, 2, 1).reshape(times * columns, probes)
    out = _interpolated(flat, probe_radii, probe_amplitudes, radii, amplitudes)
    return out.reshape(times, columns, -1)


def _interpolated(first, probe_radii, probe_amplitudes, radii, amplitudes) -> np.ndarray:
    """``first`` (T, P_a · P_r), a-major, at (``amplitudes``, ``radii``) (N,): linear in r
    between the probe radii (flat beyond them), then in a; shape (T, N)."""
    radii = np.asarray(radii, dtype=float)
    grid = first.reshape(first.shape[0], probe_amplitudes.size, -1)
    along_r = np.array(
        [[np.interp(radii, probe_radii, row) for row in rows] for rows in grid]
    )  # (T, P_a, N)
    if probe_amplitudes.size == 1:
        return along_r[:, 0]
    a = np.asarray(amplitudes, dtype=float)
    pa = probe_amplitudes
    k = np.clip(np.searchsorted(pa, a) - 1, 0, pa.size - 2)
    u = np.clip((a - pa[k]) / (pa[k + 1] - pa[k]), 0.0, 1.0)
    cols = np.arange(radii.size)
    return (1 - u) * along_r[:, k, cols] + u * along_r[:, k + 1, cols]


def dynamical_correction(
    problem: IsotropicGaussians,
    initial: GaussianInitial,
    times: np.ndarray,
    *,
    radial_nodes: int = 200,
    probe_nodes: int = 16,
    radial_rule: str = "quantile",
    a_nodes: int = 8,
    probe_a_nodes: int = 4,
    cosine_nodes: int | None = None,
    degree: int | None = None,
    step: float = 0.05,
    xi: Callable[[float], float] = lambda t: 1.0,
    lam: float = 0.0,
    mass_step: float = MASS_STEP,
    functional: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    functional_times: np.ndarray | None = None,
    law: tuple[np.ndarray, float] | None = None,
) -> DynamicalCorrection:
    r"""C(t) for the isotropic kind (θ = w, or (a, w) with a second layer), noiseless dynamics.

    Parameters
    ----------
    problem : the isotropic problem (a kinked σ: ramp, ReLU, piecewise; finite d)
    initial : the Gaussian initial law, w ∼ N(0, κ²/d I_d)
    times : (T,) ascending times ≥ 0 (the steps are ``step`` long, shortened to land on each)
    radial_nodes : n_r, the radii of ρ₀'s rings
    probe_nodes : P, the radii |z| of the added neuron, for E_z
    radial_rule : "quantile" (equal-mass midpoints: robust where the flow map of r steepens)
        or "gauss" (generalised Gauss–Laguerre: spectral while it is smooth)
    a_nodes, probe_a_nodes : with a second layer, Gauss–Hermite nodes of a's law for the
        rings and for the added neuron (one where a is a point mass)
    cosine_nodes : n_c, the cosines of ρ₀'s rings (default (K + 2) // 2, exact for degree K)
    degree : K, the highest Mehler degree (default :func:`default_degree`)
    step : the longest RK4 step (every run takes the same steps)
    xi : ξ(t); lam : λ
    mass_step : h of the second difference
    functional : Φ, ring sets (3, B, M) with masses (B, M) → (B, Q) (e.g.
        :func:`~ddsolver.fluctuations.smoothed_law.cdf_of_a`): its dynamical 1/N term too,
        from the same flows
    functional_times : (T_Φ,) the times (among ``times``) at which to evaluate Φ (and the
        law; default all of them)
    law : (points x (Q,), bandwidth b): the dynamical 1/N term of the law of a smoothed by
        N(0, b²) too (:func:`~ddsolver.fluctuations.smoothed_law.law_second_variation`:
        smooth in the initial a however few its nodes), at the functional times

    Returns
    -------
    DynamicalCorrection
    """
    times = checked_times(problem, times, "the dynamical correction")
    degree = default_degree(problem.dimension) if degree is None else int(degree)
    cosine_nodes = (degree + 2) // 2 if cosine_nodes is None else int(cosine_nodes)
    flow = RingFlow(problem, degree, xi, lam)

    ring, ring_m, group_w = initial_rings(problem, initial, radial_nodes, a_nodes, cosine_nodes,
                                          radial_rule)  # fmt: skip
    probe_radii, probe_rweights = radial_quadrature(initial, probe_nodes, radial_rule)
    probe_amps, probe_aweights = (
        initial.a_quadrature(probe_a_nodes) if problem.second_layer else ([1.0], [1.0])
    )
    probe_amps, probe_aweights = np.asarray(probe_amps, float), np.asarray(probe_aweights, float)
    # the rings: a-major, then r, then c (initial_rings); the probes: a-major, then r
    probe_a, probe_r = (x.ravel() for x in np.meshgrid(probe_amps, probe_radii, indexing="ij"))
    probe_weights = np.outer(probe_aweights, probe_rweights).ravel()
    probes = probe_r.size
    runs = 1 + 2 * probes
    h = float(mass_step)
    share = np.concatenate([[0.0], np.tile([h, -h], probes)])
    state = np.empty((3, runs, ring_m.size + 1))  # r, c, a
    state[:, :, :-1] = ring[:, None, :]
    state[0, 0, -1], state[2, 0, -1] = probe_r[0], probe_a[0]  # massless in the base run
    state[0, 1:, -1] = np.repeat(probe_r, 2)
    state[2, 1:, -1] = np.repeat(probe_a, 2)
    state[1, :, -1] = 1.0
    mass = np.empty(state.shape[1:])
    mass[:, :-1] = (1.0 - share)[:, None] * ring_m
    mass[:, -1] = share
    probe = mass.shape[1] - 1

    out_risk = np.empty((times.size, runs))
    follow = _functional_mask(times, functional is not None or law is not None,
                              functional_times)  # fmt: skip
    out_values, out_law = [], []
    if law is not None:
        ring_a0 = initial.a_quadrature(a_nodes)[0] if problem.second_layer else np.ones(1)
        fine_a = fine_a_rule(initial.a_mean if problem.second_layer else 1.0,
                             initial.a_std if problem.second_layer else 0.0,
                             law[1])  # fmt: skip
    groups = group_w.size  # the base run's rings of one (a, r) share their motion
    out_points = np.empty((times.size, 2, groups))
    t = 0.0
    for i, target in enumerate(times):
        state, t = flow.advance(state, mass, t, target, step, probe)
        risk = flow.risks(state, mass, probe)
        out_risk[i] = risk
        if follow[i] and functional is not None:
            out_values.append(functional(state, mass))
        if follow[i] and law is not None:
            out_law.append(law_second_variation(law[0], law[1], state[2], ring_m, ring_a0,
                                                probe_amps, probe_weights, h, fine_a))  # fmt: skip
        out_points[i, 0] = state[0, 0, :-1:cosine_nodes]
        out_points[i, 1] = state[2, 0, :-1:cosine_nodes]

    first, second = _mass_differences(out_risk, h)
    r_t, a_t = out_points[:, 0].ravel(), out_points[:, 1].ravel()
    v, _ = problem.radial_potential(r_t)
    self_pair = problem.radial_self(r_t)
    mean_v = ((a_t * v).reshape(times.size, groups) * group_w).sum(axis=1)
    mean_self = ((a_t**2 * self_pair).reshape(times.size, groups) * group_w).sum(axis=1)
    double = out_risk[:, 0] - problem.label_second_moment - 2.0 * mean_v
    fine_r, fine_rw = initial.radial_quadrature(FINE_NODES)
    fine_a, fine_aw = initial.a_quadrature(FINE_NODES) if problem.second_layer else ([1.0], [1.0])
    grid_a, grid_r = (x.ravel() for x in np.meshgrid(fine_a, fine_r, indexing="ij"))
    fine_w = np.outer(fine_aw, fine_rw).ravel()
    terms = _functional_terms(np.array(out_values), h, probe_weights, probe_radii, probe_amps,
                              grid_r, grid_a, fine_w) if out_values else {}  # fmt: skip
    return DynamicalCorrection(
        functional_times=times[follow],
        law_correction=np.array(out_law) if law is not None else None,
        **terms,
        times=times,
        risk=out_risk[:, 0].copy(),
        correction=0.5 * second @ probe_weights,
        iid=mean_self - double,
        probe_radii=probe_radii,
        probe_amplitudes=probe_amps,
        probe_weights=probe_weights,
        first=first,
        second=second,
        first_mean=_interpolated(first, probe_radii, probe_amps, grid_r, grid_a) @ fine_w,
    )


def _functional_mask(times: np.ndarray, wanted: bool, functional_times) -> np.ndarray:
    """(T,) which of ``times`` Φ is evaluated at: none if not ``wanted``, all by default."""
    if not wanted:
        return np.zeros(times.size, dtype=bool)
    if functional_times is None:
        return np.ones(times.size, dtype=bool)
    wanted = np.asarray(functional_times, dtype=float)
    follow = np.isin(times, wanted)
    if follow.sum() != np.unique(wanted).size:
        raise ValueError("every functional time must be one of the times")
    return follow


def _mass_differences(values: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """g'(0) and g''(0) of each probe, (T, P, ...), by central differences from values
    (T, 1 + 2P, ...) on the base run (mass 0) and each probe's +h and −h runs."""
    base, plus, minus = values[:, :1], values[:, 1::2], values[:, 2::2]
    return (plus - minus) / (2.0 * h), (plus - 2.0 * base + minus) / (h * h)


def _functional_terms(values, h, probe_weights, probe_radii, probe_amps, grid_r, grid_a,
                      fine_w) -> dict[str, np.ndarray]:  # fmt: skip
    """Φ's value, dynamical 1/N term and first-order response from its values (T_Φ, runs, Q)
    on the base run and the ±h runs of each probe."""
    first, second = _mass_differences(values, h)  # (T_Φ, P, Q)
    mean = np.array([_interpolated_columns(row[None], probe_radii, probe_amps, grid_r,
                                           grid_a)[0] @ fine_w for row in first])  # fmt: skip
    return {
        "functional_value": values[:, 0].copy(),
        "functional_correction": 0.5 * np.einsum("tpq,p->tq", second, probe_weights),
        "functional_first": first,
        "functional_first_mean": mean,
    }


@dataclass(frozen=True)
class DynamicalTerm:
    r"""C(t) on a run's stop times, with an estimate of its discretisation error.

    Attributes
    ----------
    times : (T,) t
    correction : (T,) C(t) at (n_r, P) rings and probe radii
    error : (T,) |C(t) − C'(t)|, C' at (n_r/2, P/2): small while the flow map of r is
        resolved, large where the flow nears a separatrix (a radius from which neurons part
        ways), where the dynamical term needs more rings than the run gives it
    law_times : (T_s,) where the law of a's term was asked for (``law``), else empty
    law : (T_s, Q) the smoothed law of a's dynamical 1/N term at ``law_times``, or None
    law_error : (T_s, Q) |law − law′| at (n_r/2, P/2), or None
    """

    times: np.ndarray
    correction: np.ndarray
    error: np.ndarray
    law_times: np.ndarray = field(default_factory=lambda: np.empty(0))
    law: np.ndarray | None = None
    law_error: np.ndarray | None = None

    def at(self, t: float) -> tuple[float, float]:
        """(C, error) at a stop time (linear between stop times)."""
        return (float(np.interp(t, self.times, self.correction)),
                float(np.interp(t, self.times, self.error)))  # fmt: skip


def dynamical_term(
    problem: IsotropicGaussians,
    initial: GaussianInitial,
    times: np.ndarray,
    *,
    radial_nodes: int = 200,
    probe_nodes: int = 16,
    a_nodes: int = 8,
    degree: int | None = None,
    step: float = 0.05,
    xi: Callable[[float], float] = lambda t: 1.0,
    lam: float = 0.0,
    law: tuple[np.ndarray, float] | None = None,
    law_times: np.ndarray | None = None,
) -> DynamicalTerm:
    """C(t) at n_r ring radii and P probe radii (and n_a, ⌈n_a/2⌉ nodes of a), and its error
    against ⌈n_r/2⌉ and ⌈P/2⌉ radii with the same nodes of a (:class:`DynamicalTerm`); with
    ``law`` = (x, b), the smoothed law of a's term and its error too, at ``law_times``
    (among ``times``; default all)."""
    common = dict(degree=degree, step=step, xi=xi, lam=lam, a_nodes=a_nodes,
                  probe_a_nodes=-(-a_nodes // 2), law=law,
                  functional_times=law_times)  # fmt: skip
    fine = dynamical_correction(problem, initial, times, radial_nodes=radial_nodes,
                                probe_nodes=probe_nodes, **common)  # fmt: skip
    coarse = dynamical_correction(problem, initial, times, radial_nodes=-(-radial_nodes // 2),
                                  probe_nodes=-(-probe_nodes // 2), **common)  # fmt: skip
    return DynamicalTerm(
        times=fine.times,
        correction=fine.correction,
        error=np.abs(fine.correction - coarse.correction),
        law_times=fine.functional_times,
        law=fine.law_correction,
        law_error=None if law is None else np.abs(fine.law_correction - coarse.law_correction),
    )
