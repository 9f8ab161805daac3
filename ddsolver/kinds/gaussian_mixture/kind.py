r"""``problem.kind = "gaussian_mixture"``: clusters of Gaussian inputs, students a σ(<w, x>).

``ddsolver run`` integrates the particle flow of :mod:`.model` (M particles in R^{p+2},
adaptive Dormand–Prince 5(4)); ``ddsolver sgd`` trains N neurons in the full dimension d
(:mod:`.sgd`). Both draw w ~ N(0, κ²/d₀ I_d) (d₀ = ``initial.dimension``, or d) and
a ~ N(a_mean, a_std²): the flow draws the reduced coordinates of w as the multi-index kind
does (:func:`~ddsolver.kinds.multi_index.kind.draw_reduced`), then a.

The reduction is the multi-index kind's — the span of the means in place of the teacher
subspace — but the kernels are not: on a cluster the pre-activations have a mean, so the
pair moments are the biased ones of :mod:`.moments`, and the students carry a trained second
layer (XOR's labels are even in x and take both signs, which no fixed-sign or odd
bias-free network fits). Hence a kind of its own that shares the reduction's code.
"""

from __future__ import annotations

import numpy as np

from ...limits import ODESystem
from ...models.activations import Activation
from ...models.risk import finite_width_correction
from ...observables import coordinate_statistics
from ...schedules import Schedule
from ...settings import Settings, settings
from ...sgd.network import Network
from ..base import ProblemKind
from ..multi_index.kind import (
    draw_reduced,
    particle_flow,
    projection_observables,
    sgd_weights_memory,
)
from ..multi_index.step_noise import InputNodes, StepNoiseDrift, input_rule
from .config import GaussianMixtureSpec, coordinate_names, mixture_span
from .model import GaussianMixture
from .sgd import exact_risk, mixture_sgd_steps, sgd_arrays

#: Stream of the flow's initial particles (np.random.default_rng((seed, stream))).
PARTICLE_STREAM = 2


def build_model(cfg: dict | Settings) -> GaussianMixture:
    """The reduced problem of a resolved config."""
    cfg = settings(cfg)
    p, mix = cfg.problem, cfg.problem.mixture
    count = len(mix.labels)
    means = np.reshape(np.asarray(mix.means, float), (count, -1))
    probs = np.asarray(mix.probs, float) if mix.probs else np.full(count, 1.0 / count)
    return GaussianMixture(
        Activation.from_mapping(p.activation), float(p.dimension), means,
        np.asarray(mix.labels, float), np.asarray(mix.widths, float), probs, p.label_noise,
        cfg.dynamics.lam,
    )  # fmt: skip


#: Gauss–Hermite nodes per axis of each cluster's rule, by p: a cluster's label is constant,
#: so its integrand is smooth and needs fewer than the multi-index teacher's (whose kinks set
#: :data:`~ddsolver.kinds.multi_index.step_noise.AXIS_NODES`). On XOR's particles at t = 5,
#: 24 nodes give the drift to 3e-4 of a 64-node rule (40: 8e-6; 16: 2.4e-3).
MIXTURE_AXIS_NODES = {1: 48, 2: 24, 3: 12}


def mixture_nodes(model: GaussianMixture) -> InputNodes:
    """E over the mixture's projections on the means' span: on cluster c the nodes
    μ̃_c + s_c·(Gauss–Hermite in p dimensions), weighted by π_c, with label y_c and spread s_c
    in every other direction."""
    z, w = input_rule(model.span, MIXTURE_AXIS_NODES)
    clusters = zip(model.means, model.widths, model.probs, model.labels, strict=True)
    parts = [(mu + s * z, np.full(w.size, s), np.full(w.size, y), prob * w)
             for mu, s, prob, y in clusters]  # fmt: skip
    return InputNodes(*(np.concatenate(column) for column in zip(*parts, strict=True)))


def step_noise_drift(cfg: Settings, model: GaussianMixture) -> StepNoiseDrift | None:
    """The finite step's drift of r⊥ at ``sgd.eps``, ``sgd.batch`` and the SGD's d
    (``dynamics.finite_step``), or None."""
    if not cfg.dynamics.finite_step:
        return None
    return StepNoiseDrift(model.activation, mixture_nodes(model), model.label_noise, True,
                          cfg.sgd.eps, cfg.sgd.batch, cfg.sgd_dimension)  # fmt: skip


def initial_particles(cfg: dict | Settings, count: int, seed: int) -> np.ndarray:
    """θ = (a, m, r⊥) of ``count`` particles drawn from the initial law, (count, p + 2)."""
    cfg = settings(cfg)
    rng = np.random.default_rng((seed, PARTICLE_STREAM))
    w, z = draw_reduced(cfg, mixture_span(cfg.config), count, rng, extra=1)
    return np.column_stack([cfg.initial.a_mean + cfg.initial.a_std * z[:, 0], w])


def particle_observables(
    model: GaussianMixture, theta: np.ndarray, neurons: int
) -> dict[str, float]:
    """The risk and its 1/N term at ``neurons``, the alignment, the RMS of each m_l and every
    coordinate's statistics."""
    risk, mean_self, double = model.risk_terms(theta)
    out = {
        "risk": risk,
        "risk_finite_n": risk + finite_width_correction(mean_self, double, neurons),
        **projection_observables(theta[:, 1:]),
    }
    masses = np.full(theta.shape[0], 1.0 / theta.shape[0])
    out.update(coordinate_statistics(coordinate_names(model.span), theta, masses))
    return out


class MixtureNetwork(Network):
    """N students a σ(<w, x>) on the mixture whose means lie in the first p axes."""

    def __init__(self, cfg: Settings, problem: GaussianMixture, rng: np.random.Generator):
        super().__init__(cfg, problem, rng)
        d = int(problem.dimension)
        init = cfg.initial
        sigma = init.scale / np.sqrt(cfg.initial_dimension)
        self.w = sigma * rng.standard_normal((cfg.sgd.neurons, d))
        self.a = init.a_mean + init.a_std * rng.standard_normal(cfg.sgd.neurons)
        self.arrays = (self.w, self.a)
        self.coords = coordinate_names(problem.span)

    def advance(self, schedule: Schedule, k0: int, k1: int) -> None:
        act, sgd, problem = self.problem.activation, self.cfg.sgd, self.problem
        mixture_sgd_steps(
            self.w, self.a, act.code, act.param_array, *sgd_arrays(problem),
            problem.label_noise, sgd.eps, problem.lam, sgd.batch, np.int64(k0), np.int64(k1),
            self.rng,
        )  # fmt: skip

    def risk(self) -> float:
        return exact_risk(self.problem, self.w, self.a)

    def coordinates(self) -> dict[str, np.ndarray]:
        p = self.problem.span
        out = {"a": self.a.copy()}
        out.update({f"m_{j + 1}": self.w[:, j].copy() for j in range(p)})
        out["r_perp"] = np.linalg.norm(self.w[:, p:], axis=1)
        return out

    def observables(self) -> dict[str, float]:
        coords = self.coordinates()
        return projection_observables(np.column_stack([coords[c] for c in self.coords[1:]]))


class GaussianMixtureKind(GaussianMixtureSpec, ProblemKind):
    """Gaussian clusters with labels: the particle flow in (a, m, r⊥) and online SGD."""

    network = MixtureNetwork

    def memory_terms(self, cfg: Settings, verb: str) -> dict[str, float] | None:
        """SGD: the N × d weights per seed; the flow: the particles and the integrator's
        stages (about 12 copies of M × (p + 2))."""
        if verb == "sgd":
            return sgd_weights_memory(cfg)
        return {"particles.count": 8.0 * 16 * cfg.particles.count * (mixture_span(cfg.config) + 2)}

    def build_problem(self, cfg: Settings) -> GaussianMixture:
        return build_model(cfg)

    def describe(self, cfg: Settings) -> ODESystem:
        """The particles' flow as an ODE (RK45)."""
        model = build_model(cfg)
        theta = initial_particles(cfg, cfg.particles.count, cfg.initial.seed)
        return particle_flow(cfg, model, theta, particle_observables, step_noise_drift(cfg, model))

    def warm_up_pde(self) -> None:
        """Compile (or load) the flow's kernels; the caller holds the compile lock. (The
        activation is a run-time code: one signature serves erf, ReLU and the square.)"""
        model = _small_model("relu")
        model.velocity(np.ones((3, 4)))
        model.risk_terms(np.ones((3, 4)))

    def warm_up_sgd(self) -> None:
        rng = np.random.default_rng(0)
        model = _small_model("relu")
        w, a = rng.standard_normal((3, 5)), np.ones(3)
        act = model.activation
        mixture_sgd_steps(w, a, act.code, act.param_array, *sgd_arrays(model), 0.1, 1e-3, 0.0,
                          1, np.int64(0), np.int64(1), rng)  # fmt: skip
        exact_risk(model, w, a)


def _small_model(kind: str) -> GaussianMixture:
    """A two-cluster problem in d = 5 for compiling the kernels."""
    means = np.array([[1.0, 0.0], [0.0, 1.0]])
    return GaussianMixture(
        Activation.from_mapping({"kind": kind}), 5.0, means, np.array([1.0, -1.0]),
        np.ones(2), np.full(2, 0.5),
    )  # fmt: skip


KIND = GaussianMixtureKind()
