r"""``problem.kind = "multi_index"``: a teacher of k units, students as a flow in (m, r⊥).

``ddsolver run`` integrates the particle flow of :mod:`.model` (M particles in R^{k+1},
adaptive Dormand–Prince 5(4)); ``ddsolver sgd`` trains N neurons in the full dimension d
(:mod:`.sgd`). Both draw the initial neurons w ~ N(0, κ²/d₀ I_d) (d₀ = ``initial.dimension``,
or d): the flow draws their reduced coordinates directly, m ~ N(0, κ²/d₀ I_k) and
r⊥ ~ (κ/√d₀)·χ_{d−k} (at d = ∞, χ_{d₀−k}; at d = d₀ = ∞ the point m = 0, r⊥ = κ). With
``problem.second_layer`` the students are a σ(<w, x>) with a ~ N(``initial.a_mean``,
``initial.a_std``²) drawn after w, and both layers are trained.
"""

from __future__ import annotations

import math

import numpy as np

from ..._scipy import special
from ...grid import Axis, TensorGrid
from ...limits import ODESystem
from ...models.activations import Activation
from ...models.risk import finite_width_correction
from ...observables import coordinate_statistics
from ...schedules import Schedule
from ...settings import Settings, settings
from ...sgd.network import Network
from ..base import ReducedKind
from .config import MAX_NAMED_UNITS, MultiIndexSpec, coordinate_names
from .grid import MultiIndexGrid, MultiIndexInitial
from .hermite_teacher import HermitePolynomial
from .model import MultiIndex
from .sgd import exact_risk, sgd_steps
from .step_noise import StepNoiseDrift

#: Stream of the flow's initial particles (np.random.default_rng((seed, stream))).
PARTICLE_STREAM = 2


def teacher_gram(cfg: dict | Settings) -> np.ndarray:
    """The Gram matrix G = (u_i·u_j) of the teacher's directions, (k, k); identity by default."""
    cfg = settings(cfg)
    t = cfg.problem.teacher
    return np.reshape(np.asarray(t.gram, float), (t.units, t.units)) if t.gram else np.eye(t.units)


def teacher_v(cfg: dict | Settings) -> np.ndarray:
    """The teacher's second layer v (k,): one number for every unit, or one each."""
    cfg = settings(cfg)
    t = cfg.problem.teacher
    return np.broadcast_to(np.asarray(t.v, float), (t.units,)).copy()


def build_model(cfg: dict | Settings) -> MultiIndex:
    """The reduced problem of a resolved config: on the grid a :class:`.grid.MultiIndexGrid`
    (the same model with the grid solver's dense kernel)."""
    cfg = settings(cfg)
    p = cfg.problem
    t = p.teacher
    poly = HermitePolynomial.parse(t.polynomial, t.units) if t.polynomial else None
    teacher = Activation(t.activation) if t.activation and not poly else None
    model = MultiIndexGrid if cfg.discretisation.method == "grid" else MultiIndex
    return model(
        Activation.from_mapping(p.activation), float(p.dimension), teacher_gram(cfg),
        teacher_v(cfg), p.label_noise, cfg.dynamics.lam, polynomial=poly,
        teacher_activation=teacher, second_layer=p.second_layer,
    )  # fmt: skip


def initial_particles(cfg: dict | Settings, count: int, seed: int) -> np.ndarray:
    """θ = (m, r⊥) (count, k + 1), or (a, m, r⊥) (count, k + 2) with a second layer, of
    ``count`` particles drawn from the initial law."""
    cfg = settings(cfg)
    rng = np.random.default_rng((seed, PARTICLE_STREAM))
    if not cfg.problem.second_layer:
        return draw_reduced(cfg, cfg.problem.teacher.units, count, rng)[0]
    w, z = draw_reduced(cfg, cfg.problem.teacher.units, count, rng, extra=1)
    return np.column_stack([cfg.initial.a_mean + cfg.initial.a_std * z[:, 0], w])


def draw_reduced(
    cfg: Settings, k: int, count: int, rng: np.random.Generator, extra: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(m, r⊥) (count, k + 1) of neurons w ~ N(0, κ²/d₀ I_d) projected on k axes, and
    ``extra`` standard normals per neuron for a kind's other coordinates, (count, extra).

    m ~ N(0, κ²/d₀ I_k), r⊥ ~ (κ/√d₀)·χ_{d−k} (d = ∞: χ_{d₀−k}; d = d₀ = ∞: the point m = 0,
    r⊥ = κ, and then only the extra normals are drawn). ``particles.draw = "random"`` draws
    them i.i.d. from ``rng``; ``"halton"`` maps a scrambled Halton sequence in k + 1 + extra
    dimensions (scrambled by ``rng``) through the laws' inverse distribution functions: a
    quasi-random sample, whose integration error falls nearly like 1/M instead of 1/√M.
    """
    d, d0 = float(cfg.problem.dimension), cfg.initial_dimension
    kappa = cfg.initial.scale
    if cfg.particles.draw == "halton":
        from scipy.stats import qmc  # (scipy.stats costs start-up time: only when asked)

        u = qmc.Halton(k + 1 + extra, scramble=True, seed=rng).random(count)
        u = np.clip(u, 1e-300, 1.0 - 1e-16)  # (inverse CDFs are infinite at 0 and 1)

        def normals(j0: int, j1: int) -> np.ndarray:  # columns j0 … j1 − 1 of the sequence
            return special.ndtri(u[:, j0:j1])

        def chi_squares(dof: float) -> np.ndarray:  # column k, as the upper quantile
            return special.chdtri(dof, 1.0 - u[:, k])

    else:

        def normals(j0: int, j1: int) -> np.ndarray:
            return rng.standard_normal((count, j1 - j0))

        def chi_squares(dof: float) -> np.ndarray:
            return rng.chisquare(dof, count)

    theta = np.zeros((count, k + 1))
    theta[:, -1] = kappa
    if not (math.isinf(d0) and math.isinf(d)):
        sigma = kappa / math.sqrt(d0) if not math.isinf(d0) else 0.0
        theta[:, :k] = sigma * normals(0, k)
        if sigma > 0:
            theta[:, -1] = sigma * np.sqrt(chi_squares((d if not math.isinf(d) else d0) - k))
    return theta, normals(k + 1, k + 1 + extra)


def sgd_weights_memory(cfg: Settings) -> dict[str, float]:
    """The SGD run's N × d weights (three copies) for all seeds, named by the larger of
    ``sgd.neurons`` and ``problem.dimension``."""
    n, d = cfg.sgd.neurons * len(cfg.sgd.seeds), cfg.problem.dimension
    key = "sgd.neurons" if n >= d else "problem.dimension"
    return {key: 8.0 * 3 * n * d}


def step_noise_drift(cfg: Settings, model: MultiIndex) -> StepNoiseDrift | None:
    """The finite step's drift of r⊥ at ``sgd.eps``, ``sgd.batch`` and the SGD's d
    (``dynamics.finite_step``), or None."""
    if not cfg.dynamics.finite_step:
        return None
    return StepNoiseDrift.multi_index(model, cfg.sgd.eps, cfg.sgd.batch, cfg.sgd_dimension)


def projection_observables(theta: np.ndarray) -> dict[str, float]:
    """The alignment ∫|m|²/|w|² and, for k ≤ :data:`MAX_NAMED_UNITS`, the RMS of each m_l of
    equally weighted points θ = (m, r⊥) (M, k + 1): the flow's particles or SGD's neurons."""
    m, _, rho = MultiIndex.split(theta)
    safe = np.where(rho > 0, rho, 1.0)
    out = {"alignment": float(np.mean(np.sum(m * m, axis=1) / safe**2))}
    if m.shape[1] <= MAX_NAMED_UNITS:
        rms = np.sqrt(np.mean(m * m, axis=0))
        out.update({f"m_rms_{j + 1}": float(rms[j]) for j in range(m.shape[1])})
    return out


def particle_observables(model: MultiIndex, theta: np.ndarray, neurons: int) -> dict[str, float]:
    """The risk and its 1/N term at ``neurons``, the alignment, the RMS of each m_l and every
    coordinate's statistics."""
    risk, mean_self, double = model.risk_terms(theta)
    out = {
        "risk": risk,
        "risk_finite_n": risk + finite_width_correction(mean_self, double, neurons),
        **projection_observables(model.layers(theta)[1]),
    }
    masses = np.full(theta.shape[0], 1.0 / theta.shape[0])
    names = coordinate_names(model.units, model.second_layer)
    out.update(coordinate_statistics(names, theta, masses))
    return out


def particle_flow(
    cfg: Settings, model, theta: np.ndarray, observables, drift: StepNoiseDrift | None = None
) -> ODESystem:
    """The flow of equal-mass particles θ (M, dims) under ``model.velocity`` (+ the finite
    step's ``drift``) as an ODE (RK45, ``particles.rtol`` and ``atol``), observed by
    ``observables(model, θ, sgd.neurons)`` (+ ``step_drift``) and snapshotted as
    ``particles``."""
    shape = theta.shape

    def observe(state: np.ndarray, t: float) -> dict[str, float]:
        out = observables(model, state.reshape(shape), cfg.sgd.neurons)
        if drift is not None:
            out["step_drift"] = float(np.mean(drift.drift(state.reshape(shape))))
        return out

    def velocity(state: np.ndarray) -> np.ndarray:
        theta = state.reshape(shape)
        if drift is None:
            return model.velocity(theta).ravel()
        return (model.velocity(theta) + drift.velocity(theta)).ravel()

    def snapshot(state: np.ndarray, t: float) -> dict[str, np.ndarray]:
        return {"particles": state.reshape(shape).copy()}

    part = cfg.particles
    return ODESystem(
        velocity, theta.ravel(), observe, snapshot, part.rtol, part.atol, method="RK45"
    )


class MultiIndexNetwork(Network):
    """N students σ(<w, x>) of the k-unit teacher in the first k axes (+ label noise)."""

    def __init__(self, cfg: Settings, problem: MultiIndex, rng: np.random.Generator):
        super().__init__(cfg, problem, rng)
        d = int(problem.dimension)
        init = cfg.initial
        sigma = init.scale / math.sqrt(cfg.initial_dimension)
        self.w = sigma * rng.standard_normal((cfg.sgd.neurons, d))
        self.train_a = problem.second_layer
        if self.train_a:
            self.a = init.a_mean + init.a_std * rng.standard_normal(cfg.sgd.neurons)
            self.arrays = (self.w, self.a)
        else:
            self.a = np.ones(cfg.sgd.neurons)
            self.arrays = (self.w,)
        self.coords = coordinate_names(problem.units, self.train_a)

    def advance(self, schedule: Schedule, k0: int, k1: int) -> None:
        sgd = self.cfg.sgd
        sgd_steps(self.w, self.problem, sgd.eps, sgd.batch, k0, k1, self.rng,
                  self.a if self.train_a else None)  # fmt: skip

    def risk(self) -> float:
        return exact_risk(self.problem, self.w, self.a if self.train_a else None)

    def coordinates(self) -> dict[str, np.ndarray]:
        k = self.problem.units
        out = {"a": self.a.copy()} if self.train_a else {}
        out.update({f"m_{j + 1}": self.w[:, j].copy() for j in range(k)})
        out["r_perp"] = np.linalg.norm(self.w[:, k:], axis=1)
        return out

    def observables(self) -> dict[str, float]:
        coords = self.coordinates()
        first = coordinate_names(self.problem.units)
        return projection_observables(np.column_stack([coords[c] for c in first]))


class MultiIndexKind(MultiIndexSpec, ReducedKind):
    """A k-unit teacher with Gaussian inputs: the particle flow in (m, r⊥), the grid DD for
    k + 1 ≤ 3, and online SGD."""

    network = MultiIndexNetwork

    def solved_as_reduced(self, cfg: Settings) -> bool:
        """The grid is the reduced DD's driver; the particle flow is described as an ODE."""
        return cfg.discretisation.method == "grid"

    def memory_terms(self, cfg: Settings, verb: str) -> dict[str, float] | None:
        """SGD: the N × d weights per seed; the flow: the particles and the integrator's
        stages (about 12 copies of M × (k + 1)); the grid: the estimate of its dense kernel."""
        dims = cfg.problem.teacher.units + 1 + cfg.problem.second_layer
        if verb == "sgd":
            return sgd_weights_memory(cfg)
        if self.solved_as_reduced(cfg):
            return None
        return {"particles.count": 8.0 * 16 * cfg.particles.count * dims}

    def build_problem(self, cfg: Settings) -> MultiIndex:
        return build_model(cfg)

    def build_initial(self, cfg: Settings) -> MultiIndexInitial:
        return MultiIndexInitial(cfg.initial.scale, cfg.dimension, cfg.initial_dimension,
                                 cfg.problem.teacher.units)  # fmt: skip

    def grid_cells(self, cfg: Settings) -> dict[str, int]:
        """The k axes of m share ``grid.m_cells``: their product under it; r⊥'s cells."""
        g, k = cfg.grid, cfg.problem.teacher.units
        return {"grid.m_cells": g.m_cells**k, "grid.r_cells": g.r_cells}

    def build_grid(self, cfg: Settings) -> TensorGrid:
        """m_1 … m_k on ``grid.m_*`` (uniform), r⊥ on ``grid.r_*``."""
        g, k = cfg.grid, cfg.problem.teacher.units
        axes = [Axis.uniform(f"m_{j + 1}", g.m_min, g.m_max, g.m_cells, key="m")
                for j in range(k)]  # fmt: skip
        radial = Axis.stretched("r_perp", g.r_min, g.r_max, g.r_cells, g.r_stretch,
                                radial=True, key="r")  # fmt: skip
        return TensorGrid((*axes, radial))

    def describe(self, cfg: Settings) -> ODESystem:
        """The particles' flow as an ODE (RK45)."""
        model = build_model(cfg)
        theta = initial_particles(cfg, cfg.particles.count, cfg.initial.seed)
        return particle_flow(cfg, model, theta, particle_observables, step_noise_drift(cfg, model))

    def warm_up_pde(self) -> None:
        """Compile (or load) the flow's and the grid's kernels; the caller holds the lock."""
        model = _small_model()
        model.velocity(np.ones((3, 3)))
        model.interaction_matrix(np.ones((3, 3)))

    def warm_up_config(self, cfg: Settings) -> None:
        """Compile (or load) the kernel of the config's method only."""
        if self.solved_as_reduced(cfg):
            _small_model().interaction_matrix(np.ones((3, 3)))
        else:
            _small_model().velocity(np.ones((3, 3)))

    def warm_up_sgd(self) -> None:
        rng = np.random.default_rng(0)
        model = _small_model()
        w = rng.standard_normal((3, 5))
        sgd_steps(w, model, 1e-3, 1, 0, 1, rng)
        exact_risk(model, w)


def _small_model() -> MultiIndexGrid:
    """An erf problem (k = 2, d = 5) whose kernels have a real run's argument types: the flow,
    the grid's dense kernel and SGD (a :class:`.grid.MultiIndexGrid` is a
    :class:`.model.MultiIndex`)."""
    return MultiIndexGrid(Activation.from_mapping({"kind": "erf"}), 5.0, np.eye(2), np.ones(2))


KIND = MultiIndexKind()
