r"""``problem.kind = "isotropic_gaussians"``: the papers' main example (Mei, Montanari & Nguyen).

y = ±1 with probability ½, x | y ~ N(0, (1 + yΔ)² I_d), σ*(x; w) = σ(<w, x>) — or a·σ(<w, x>)
with ``problem.second_layer`` — and w ~ N(0, κ²/d I_d). The DD reduces to r = |w| (or (a, r));
the kernels are :class:`~ddsolver.models.IsotropicGaussians`, the SGD kernel
:func:`~ddsolver.sgd.isotropic.sgd_steps` with the exact risk
:func:`~ddsolver.sgd.isotropic.exact_risk`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ...fields import Field, observables
from ...grid import Axis, TensorGrid
from ...models import Activation, GaussianInitial, IsotropicGaussians, paper_ramp
from ...schedules import Schedule
from ...sgd.isotropic import SERIES_ORDER, exact_risk, initial_network, sgd_steps
from ...sgd.network import Network
from ...sgd.pair_sums import GRAM_TILE
from ..base import ReducedKind
from .config import NOISE_TERMS, IsotropicGaussiansSpec

if TYPE_CHECKING:
    from collections.abc import Callable

    from ...fluctuations.probe import DynamicalTerm
    from ...fluctuations.step_noise import NoiseBudget
    from ...settings import Settings

#: The observables of ``finite_width.dynamical`` (docs/finite_width.md).
DYNAMICAL_FIELDS = {
    "finite_width_c": Field(
        "C(t)",
        "the dynamical 1/N term: E R_N(t) = R(ρ_t) + C(t)/N + o(1/N) for N i.i.d. neurons "
        "from ρ₀ under gradient flow; C(0) is the i.i.d. term",
    ),
    "finite_width_c_error": Field(
        "error of C(t)",
        "|C(t) − C'(t)|, C' with half the rings and probe radii: large where the flow nears "
        "a separatrix and C(t) is not resolved",
    ),
    "risk_finite_n": Field(
        "R(ρ_t) + C(t)/N",
        "the mean risk of N neurons trained from i.i.d. draws of ρ₀: R(ρ_t) + C(t)/N, "
        "N = sgd.neurons (finite_width.dynamical)",
    ),
    "risk_finite_n_iid": Field(
        "R(ρ_t) + i.i.d./N",
        "the risk of N fresh i.i.d. neurons from ρ_t on average: R(ρ_t) + (1/N)(∫U(θ, θ) dρ_t "
        "− ∫∫U dρ_t dρ_t), N = sgd.neurons",
    ),
}


#: The observables of the ``finite_width`` noise switches (docs/finite_width.md).
NOISE_FIELDS = {
    "noise_shared": Field(
        "shared noise",
        "the first-order term of SGD's noise shared through the common sample: "
        "(ε/2B) ∫₀ᵗ E_x ∫∫ ζ_xᵀ ∇∇′(δ²F_{t−s}) ζ_x dρ_s dρ_s ds",
    ),
    "noise_own": Field(
        "own noise",
        "the first-order term of each neuron's own step noise: "
        "(ε/2B) ∫₀ᵗ E_x ∫ ζ_xᵀ ∇²(δF_{t−s}) ζ_x dρ_s ds",
    ),
    "euler_error": Field(
        "Euler error", "the first-order error of SGD's Euler steps of the drift (∝ ε)"
    ),
    "noise_error": Field(
        "error of the noise terms",
        "|shared + own − (shared′ + own′)|, the primed terms with half the rings and twice "
        "the injection spacing: large where the flow nears a separatrix",
    ),
    "risk_predicted": Field(
        "predicted SGD risk",
        "risk_finite_n plus the step-noise terms switched on (finite_width.shared_noise, "
        "own_noise, euler_error): the budget's prediction of SGD's mean risk",
    ),
}


#: The law of a's terms (``finite_width.law_of_a``): name, long name, what (docs/finite_width.md).
LAW_TERMS = (
    ("own", "own noise of the law of a", "the first-order own step-noise term"),
    ("shared", "shared noise of the law of a", "the first-order shared-noise term"),
    ("euler", "Euler error of the law of a", "the first-order Euler-step term"),
    ("error", "error of the law of a's noise terms",
     "|own + shared − (own′ + shared′)| (half the rings, twice the injection spacing)"),
)  # fmt: skip
#: With ``finite_width.dynamical`` too: the law's dynamical 1/N term and its error.
LAW_DYNAMICAL_TERMS = (
    ("dynamical", "dynamical 1/N term of the law of a",
     "the dynamical 1/N term per unit 1/N (E F_b(ρ̂_t) ≈ F_b(ρ_t) + term/N)"),
    ("dynamical_error", "error of the law of a's dynamical term",
     "|term − term′| (term′ with half the ring and probe radii)"),
)  # fmt: skip
#: The points of the smoothed law of a.
LAW_POINTS_FIELD = {
    "data/law_of_a_x": Field(
        "x of the law of a",
        "the points of the smoothed CDFs of a: grid.a_min to grid.a_max every "
        "finite_width.law_bandwidth / 2",
        ("law_x",),
    ),
}


def law_fields(terms) -> dict[str, Field]:
    """The snapshot datasets of the law of a's ``terms`` ((name, long name, what), ...)."""
    return {
        f"snapshots/law_of_a_{name}": Field(
            long_name,
            f"{what} of F_b(x) = E Φ((x − a)/b), the law of a smoothed by N(0, b²), "
            "b = finite_width.law_bandwidth",
            ("law_x",),
        )
        for name, long_name, what in terms
    }


class IsotropicNetwork(Network):
    """N neurons σ(<w, x>) (or a σ(<w, x>)) trained on the isotropic problem; one seed."""

    def __init__(self, cfg: Settings, problem: IsotropicGaussians, rng: np.random.Generator):
        super().__init__(cfg, problem, rng)
        init = cfg.initial
        self.train_a = cfg.problem.second_layer
        self.coords = ("a", "r") if self.train_a else ("r",)
        self.w, self.a = initial_network(
            cfg.sgd.neurons,
            int(problem.dimension),
            init.scale,
            init.a_mean,
            init.a_std,
            rng,
        )
        self.arrays = (self.w, self.a)

    def advance(self, schedule: Schedule, k0: int, k1: int) -> None:
        act, dyn, sgd = self.problem.activation, self.cfg.dynamics, self.cfg.sgd
        sgd_steps(
            self.w,
            self.a,
            self.train_a,
            act.code,
            act.param_array,
            self.problem.delta,
            sgd.eps,
            schedule.code,
            schedule.params,
            dyn.lam,
            dyn.tau,
            sgd.batch,
            k0,
            k1,
            self.rng,
        )

    def risk(self) -> float:
        return exact_risk(self.problem, self.w, self.a if self.train_a else None)

    def coordinates(self) -> dict[str, np.ndarray]:
        out = {"r": np.linalg.norm(self.w, axis=1)}
        if self.train_a:
            out = {"a": self.a.copy(), **out}
        return out


class IsotropicGaussiansKind(IsotropicGaussiansSpec, ReducedKind):
    """The isotropic Gaussian classification problem, reduced to r = |w| (or (a, r))."""

    network = IsotropicNetwork

    def build_problem(self, cfg: Settings) -> IsotropicGaussians:
        p = cfg.problem
        return IsotropicGaussians(
            Activation.from_mapping(p.activation),
            cfg.dimension,
            p.delta,
            second_layer=p.second_layer,
            tolerance=p.mehler_tolerance,
        )

    def build_initial(self, cfg: Settings) -> GaussianInitial:
        i = cfg.initial
        return GaussianInitial(i.scale, cfg.initial_dimension, i.a_mean, i.a_std)

    def grid_cells(self, cfg: Settings) -> dict[str, int]:
        g = cfg.grid
        if cfg.problem.second_layer:
            return {"grid.a_cells": g.a_cells, "grid.r_cells": g.r_cells}
        return {"grid.r_cells": g.r_cells}

    def build_grid(self, cfg: Settings) -> TensorGrid:
        g = cfg.grid
        r = Axis.stretched("r", g.r_min, g.r_max, g.r_cells, g.r_stretch, radial=True)
        if cfg.problem.second_layer:
            return TensorGrid((Axis.uniform("a", g.a_min, g.a_max, g.a_cells), r))
        return TensorGrid((r,))

    def particle_counts(self, cfg: Settings) -> tuple[int, ...]:
        part = cfg.particles
        if cfg.problem.second_layer:
            return (part.a_count, part.r_count)
        return (part.r_count,)

    def dynamical_term(
        self,
        cfg: Settings,
        times: np.ndarray,
        xi: Callable[[float], float],
        law_times: np.ndarray | None = None,
    ) -> DynamicalTerm | None:
        """C(t) by the added neuron on an axis (:mod:`ddsolver.fluctuations.probe`), and with
        ``finite_width.law_of_a`` the smoothed law of a's term at ``law_times``."""
        fw = cfg.finite_width
        if not fw.dynamical:
            return None
        from ...fluctuations.probe import dynamical_term

        x = self.law_of_a_points(cfg)
        return dynamical_term(
            self.build_problem(cfg),
            self.build_initial(cfg),
            times,
            law=None if x is None else (x, fw.law_bandwidth),
            law_times=law_times,
            radial_nodes=fw.radial_nodes,
            probe_nodes=fw.probe_nodes,
            a_nodes=fw.a_nodes,
            degree=fw.degree or None,
            step=fw.step,
            xi=xi,
            lam=cfg.dynamics.lam,
        )

    def noise_budget(
        self, cfg: Settings, times: np.ndarray, xi: Callable[[float], float]
    ) -> NoiseBudget | None:
        """SGD's shared, own and Euler first-order terms by pushed rings
        (:mod:`ddsolver.fluctuations.step_noise`) at ε = sgd.eps, B = sgd.batch."""
        fw = cfg.finite_width
        if not any(getattr(fw, name) for name in NOISE_TERMS):
            return None
        return self._pushed_rings(cfg, times, xi, fw.a_nodes)

    def law_of_a_points(self, cfg: Settings) -> np.ndarray | None:
        """With ``finite_width.law_of_a``: grid.a_min to grid.a_max every law_bandwidth/2."""
        fw = cfg.finite_width
        if not fw.law_of_a:
            return None
        from ...fluctuations.smoothed_law import law_points

        return law_points(cfg.grid.a_min, cfg.grid.a_max, fw.law_bandwidth)

    def law_of_a_budget(
        self, cfg: Settings, times: np.ndarray, xi: Callable[[float], float]
    ) -> NoiseBudget | None:
        """With ``finite_width.law_of_a`` and a noise switch: the step-noise terms of the law
        of a smoothed by N(0, b²) at ``times`` (the snapshots'), each (T, Q), by pushed rings
        with ``law_a_nodes`` nodes of a (:func:`~ddsolver.fluctuations.smoothed_law.
        cdf_of_a`)."""
        fw = cfg.finite_width
        x = self.law_of_a_points(cfg)
        if x is None or not any(getattr(fw, name) for name in NOISE_TERMS):
            return None
        from ...fluctuations.smoothed_law import cdf_of_a

        a_nodes = fw.law_a_nodes if cfg.initial.a_std > 0 else 1
        return self._pushed_rings(cfg, times, xi, a_nodes, cdf_of_a(x, fw.law_bandwidth))

    def _pushed_rings(self, cfg: Settings, times, xi, a_nodes: int, functional=None):
        """:func:`~ddsolver.fluctuations.step_noise.noise_budget` of the risk (or of a vector
        ``functional``) with the config's numerics and ``a_nodes`` nodes of a."""
        from ...fluctuations.step_noise import noise_budget

        fw = cfg.finite_width
        return noise_budget(
            self.build_problem(cfg),
            self.build_initial(cfg),
            times,
            cfg.sgd.eps,
            cfg.sgd.batch,
            injection_every=fw.injection_every,
            radial_nodes=fw.noise_radial_nodes,
            sample_nodes=fw.sample_nodes,
            cosine_nodes=fw.cosine_nodes,
            a_nodes=a_nodes,
            degree=fw.degree or None,
            step=fw.noise_step,
            lags=tuple(fw.noise_lags),
            xi=xi,
            lam=cfg.dynamics.lam,
            functional=functional,
        )

    def fields(self, cfg: dict) -> dict[str, Field]:
        """With ``finite_width.dynamical``: C(t), its error estimate, and risk_finite_n's
        two meanings; with a noise switch: the step-noise terms and risk_predicted; with
        ``finite_width.law_of_a``: the law of a's terms at each snapshot and their points."""
        fw = cfg["finite_width"]
        out = observables(DYNAMICAL_FIELDS) if fw["dynamical"] else {}
        if any(fw[name] for name in NOISE_TERMS):
            out.update(observables(NOISE_FIELDS))
        if fw.get("law_of_a"):
            out.update(LAW_POINTS_FIELD)
            if any(fw[name] for name in NOISE_TERMS):
                out.update(law_fields(LAW_TERMS))
            if fw["dynamical"]:
                out.update(law_fields(LAW_DYNAMICAL_TERMS))
        return out

    def warm_up_pde(self) -> None:
        r = np.array([0.5, 1.0])
        for activation in ("tanh", "ramp"):  # the quadrature and the closed-form paths
            problem = IsotropicGaussians(Activation.from_mapping({"kind": activation}), 40, 0.5)
            problem.radial_potential(r)
            problem.radial_self(r)
        small_d = IsotropicGaussians(paper_ramp(), 3, 0.5)
        small_d.radial_interaction(r, r)
        IsotropicGaussians(paper_ramp(), math.inf, 0.5).radial_factors(r)

    def warm_up_config(self, cfg: Settings) -> None:
        """The config's own paths only: its activation (closed form or quadrature) and its
        interaction (Mehler factors, or the angular quadrature at small d)."""
        problem = self.build_problem(cfg)
        r = np.array([0.5, 1.0])
        problem.radial_potential(r)
        problem.radial_self(r)
        if problem.factorised:
            problem.radial_factors(r)
        else:
            problem.radial_interaction(r, r)
        if cfg.dynamics.finite_step:  # the grid stepper's signature with it
            from ...models.step_noise import StepNoise
            from ...pde import GridDD

            small = IsotropicGaussians(paper_ramp(), 40, 0.5)
            grid = TensorGrid((Axis.uniform("r", 0.0, 3.0, 8, radial=True),))
            system = GridDD(small, grid, step_noise=StepNoise(1e-3, 1))
            law = GaussianInitial(0.8, 40)
            system.advance(system.initial_state(law), 0.0, 1e-3, math.inf, 1)

    def warm_up_particles(self) -> None:
        from ...lagrangian import ParticleDD

        # (r,) and (a, r) share one signature: particles (M, n) with n read at run time
        problem = IsotropicGaussians(paper_ramp(), 40, 0.5)
        system = ParticleDD(problem, TensorGrid((Axis.uniform("r", 0.0, 2.0, 4),)), (2,))
        system.advance(np.ones((2, 1)), 0.0, 1e-3, math.inf, 1)

    def sgd_pair_bytes(self, neurons: int, dimension: int) -> float:
        """The exact risk a tile of cosines at a time (:mod:`ddsolver.sgd.pair_sums`): the
        unit rows (N × d), one tile, both classes' Hermite tables (4 × N × (K + 1)) and O(N)
        vectors."""
        tile = GRAM_TILE[0] * GRAM_TILE[1]
        return 8.0 * (neurons * dimension + tile + 4 * (SERIES_ORDER + 1) * neurons + 16 * neurons)

    def warm_up_sgd(self) -> None:
        rng = np.random.default_rng(0)
        problem = IsotropicGaussians(paper_ramp(), 4, 0.5)
        w, a = initial_network(3, 4, 0.8, 1.0, 0.0, rng)
        sched, act = Schedule("constant"), problem.activation
        sgd_steps(
            w, a, False, act.code, act.param_array, 0.5, 1e-3, sched.code, sched.params, 0.0,
            0.0, 1, np.int64(0), np.int64(1), rng,
        )  # fmt: skip
        exact_risk(problem, w, None)


KIND = IsotropicGaussiansKind()
