r"""``problem.kind = "training_set"``: ReLU networks on a finite data set (Chizat & Bach).

n labelled points (``problem.data``, or ``[problem.generate]``: clusters or a ReLU teacher)
and a two-layer network f(x) = ∫ b σ(a·x̃) dρ(a, b), x̃ = (x, 1), trained on the square or
logistic loss (``problem.loss``), both layers or the output layer only (``problem.train``),
with the output scale α (``dynamics.scale``) and weight decay λ (``dynamics.lam``).
``ddsolver run`` integrates the Wasserstein gradient flow of the empirical risk with M
weighted particles in R^{d+2} (:mod:`~ddsolver.models.training_set`); ``ddsolver sgd``
trains width-m networks (f = (1/m) Σ b_j σ(a_j·x̃)) by full-batch GD or mini-batch SGD with
a fixed step ε, one step per ε of time: θ_j ← θ_j + ε v_j, v_j the particle velocity of the
batch, which is gradient descent on L(θ) with the step ε·m.
"""

from __future__ import annotations

import json

import numpy as np

from ...data import TrainingSet, clusters, read_training_set, relu_teacher
from ...lazy import LazyComparison
from ...limits import ODESystem, SteppedLimit
from ...models.activations import Activation
from ...models.training_set import TrainingSetFlow
from ...schedules import Schedule, schedule_from, temperature_from
from ...settings import Settings, settings
from ...sgd.network import Network
from ...sgd.training_set import gradient_steps
from ..base import ProblemKind
from .circle import CircleFlow
from .config import TrainingSetSpec
from .directions import DirectionIntegrator
from .langevin import LangevinFlow, reference_widths, regularised_entropy
from .sphere import SphereFlow

#: Stream of the initial particles (np.random.default_rng((seed, stream))), apart from data.
PARTICLE_STREAM = 2


#: The max-margin programs of a run file's ``max_margin`` are solved up to this many training
#: points (the F1 LP has a row per point and two columns per dictionary direction).
MAX_MARGIN_POINTS = 2000
#: Refinement stops when two successive dictionary sizes give F1 values this close.
MARGIN_TOL = 1e-4


def training_set(cfg: dict | Settings) -> TrainingSet:
    """The data of a resolved config: the file of ``problem.data`` or the generated set."""
    cfg = settings(cfg)
    p = cfg.problem
    if p.data:
        return read_training_set(p.data)
    g = p.generate
    d = int(p.dimension)
    if g.kind == "clusters":
        return clusters(g.n, g.n_test, d, g.k, g.radius, g.seed)
    return relu_teacher(g.n, g.n_test, d, g.units, g.inputs, g.label, g.seed)


def initial_particles(
    cfg: dict | Settings, count: int, seed: int, d: int
) -> tuple[np.ndarray, np.ndarray]:
    """(θ (count, d+2), masses (count,)) from ``[initial]``.

    ``gaussian``: b, a ~ N(0, κ²) entrywise. ``sphere``: a = κ u with u uniform on the unit
    sphere of R^{d+1}, b = ±κ with random signs (|b| = |a|, balanced). ``file``: the
    particles of ``initial.particles`` (an ``.npz`` with ``theta`` (M, d+2) and optionally
    ``masses``). ``symmetric``: the second half are the first half with b → −b, so f₀ = 0.
    """
    cfg = settings(cfg)
    init = cfg.initial
    if init.kind == "file":
        with np.load(init.particles, allow_pickle=False) as f:
            theta = np.array(f["theta"], float)
            masses = np.array(f["masses"], float) if "masses" in f.files else None
        masses = np.full(theta.shape[0], 1.0 / theta.shape[0]) if masses is None else masses
        return theta, masses / masses.sum()
    rng = np.random.default_rng((seed, PARTICLE_STREAM))
    half = count // 2 if init.symmetric else count
    kappa = init.scale
    if init.kind == "sphere":
        u = rng.standard_normal((half, d + 1))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        signs = rng.choice([-1.0, 1.0], size=half)
        theta = kappa * np.column_stack([signs, u])
    else:
        theta = kappa * rng.standard_normal((half, d + 2))
    if init.symmetric:
        twin = theta.copy()
        twin[:, 0] *= -1.0
        theta = np.concatenate([theta, twin])
    return theta, np.full(theta.shape[0], 1.0 / theta.shape[0])


def build_flow(cfg: dict | Settings, data: TrainingSet | None = None) -> TrainingSetFlow:
    """The flow of a resolved config (its data read or generated once)."""
    cfg = settings(cfg)
    p, dyn = cfg.problem, cfg.dynamics
    return TrainingSetFlow(
        data=training_set(cfg) if data is None else data,
        activation=Activation.from_mapping(p.activation),
        loss=p.loss,
        alpha=dyn.scale,
        lam=dyn.lam,
        train_positions=p.train == "both",
    )


class TrainingSetNetwork(Network):
    """A width-m network on the training set, trained by GD / SGD with the step ε; one seed
    draws the initial weights (as the flow's ``initial.seed`` would) and the mini-batches."""

    coords = ("b", "a_norm")

    def __init__(
        self, cfg: Settings, problem: TrainingSetFlow, rng: np.random.Generator, seed: int = 0
    ):
        super().__init__(cfg, problem, rng)
        self.theta, self.masses = initial_particles(
            cfg, cfg.sgd.neurons, seed, problem.data.dimension
        )
        self.arrays = (self.theta,)
        self.lazy = LazyComparison(problem, self.theta, self.masses, 0.0, False)
        self.tau = temperature_from(cfg.dynamics)
        self.t = 0.0  # the time of the last step taken
        self.widths = None  # the entropy's kernel widths, fixed by the initial weights
        if self.tau.value > 0:
            self.widths = reference_widths(self.theta, self.masses, self.tau.value,
                                           cfg.dynamics.lam, cfg.particles.blob_width)  # fmt: skip

    def advance(self, schedule: Schedule, k0: int, k1: int) -> None:
        sgd = self.cfg.sgd
        gradient_steps(self.problem, self.theta, self.masses, sgd.eps, sgd.batch,
                       k1 - k0, self.rng, schedule, k0, self.tau)  # fmt: skip
        self.t = k1 * sgd.eps

    def risk(self) -> float:
        return self.problem.objective(self.theta, self.masses)

    def coordinates(self) -> dict[str, np.ndarray]:
        return {"b": self.theta[:, 0].copy(), "a_norm": np.linalg.norm(self.theta[:, 1:], axis=1)}

    def observables(self) -> dict[str, float]:
        """The flow's observables of the m neurons; at τ > 0 also the entropy H_h of their
        empirical law (the blob kernel, widths fixed by the initial weights) and
        F_h = J + τ H_h."""
        obs = self.problem.observables(self.theta, self.masses)
        obs.update(self.lazy.observe(self.theta, 0.0))
        if self.widths is not None:
            obs["entropy"] = regularised_entropy(self.theta, self.masses, self.widths)
            obs["free_energy"] = obs["risk"] + self.tau(self.t) * obs["entropy"]
            if self.tau.anneal != "none":
                obs["temperature"] = self.tau(self.t)
        return {k: v for k, v in obs.items() if k != "risk"}

    def snapshot_fields(self) -> dict[str, np.ndarray]:
        return {"particles": self.theta.copy()}


class TrainingSetKind(TrainingSetSpec, ProblemKind):
    """Two-layer networks on a finite training set: the particle flow and GD / SGD."""

    network = TrainingSetNetwork

    # ------------------------------------------------------------------ config

    def memory_terms(self, cfg: Settings, verb: str) -> dict[str, float] | None:
        """The networks' or particles' weights, their products with every data point (the
        features of a batch or of the whole set), the data and what generates them (the
        clusters' k × k centres, the teacher's units), and the circle's cells × points
        tables — each term under the key that drives it."""
        p = cfg.problem
        g, d = p.generate, int(p.dimension)
        if p.data:  # read before compute by the config's check already: its real size
            data = read_training_set(p.data)
            n, n_key = data.y.size + data.y_test.size, "problem.data"
        else:
            n = g.n + g.n_test
            n_key = "problem.generate." + ("n" if g.n >= g.n_test else "n_test")
        terms = {max((n, n_key), (d, "problem.dimension"))[1]: 8.0 * 3 * n * (d + 1)}
        if not p.data:
            own = {"clusters": ("k", g.k**2 * 4), "teacher": ("units", g.units * (d + 2))}
            name, size = own[g.kind]
            terms[f"problem.generate.{name}"] = 8.0 * 2 * size

        def product(key: str, count: int, per_point: float, fixed: float) -> None:
            """count × (fixed + per_point × n), named by the largest of count, n and d."""
            name = max(((count, key), (n, n_key), (d, "problem.dimension")))[1]
            terms[name] = terms.get(name, 0.0) + 8.0 * count * (fixed + per_point * max(n, 1))

        if verb == "sgd":
            m, seeds = cfg.sgd.neurons, len(cfg.sgd.seeds)
            product("sgd.neurons", seeds * m, 1, 6 * (d + 2))
        elif cfg.discretisation.method == "grid" and d == 2:
            cells = 6 * cfg.grid.sphere_cells**2  # segments: ~(1 + n/N) per edge, 2 edges a cell
            product("grid.sphere_cells", cells, 4 + 4 * max(n, 1) / cfg.grid.sphere_cells, 40)
        elif cfg.discretisation.method == "grid":
            product("grid.angle_cells", 2 * cfg.grid.angle_cells, 4, 16)
        else:
            product("particles.count", cfg.particles.count, 2, (d + 2) * 12)
        return terms

    # ------------------------------------------------------------------ the flow

    def build_problem(self, cfg: Settings) -> TrainingSetFlow:
        return build_flow(cfg)

    def file_data(self, cfg: Settings, problem: TrainingSetFlow) -> dict[str, np.ndarray]:
        return problem.data.arrays()

    def file_attrs(self, cfg: Settings, problem: TrainingSetFlow, verb: str) -> dict[str, str]:
        """``max_margin`` (JSON) where the logistic loss's normalised margin has a known limit
        (Chizat & Bach 2020): with both layers and ReLU the F1 max-margin γ* with the
        dictionary sizes and values of its refinement (:func:`ddsolver.maxmargin.
        f1_max_margin`); with the output layer only, for ``ddsolver run``, the hard-margin
        SVM value of the flow's fixed features (:func:`~ddsolver.maxmargin.svm_margin`).
        Not computed — and said so — beyond :data:`MAX_MARGIN_POINTS` points."""
        p = cfg.problem
        both = p.train == "both"
        if p.loss != "logistic" or (both and p.activation["kind"] != "relu"):
            return {}
        if not both and verb != "run":  # each seed's features are its own neurons
            return {}
        data = problem.data  # read or generated once, with the flow
        n = int(data.y.size)
        record: dict[str, object] = {"kind": "F1" if both else "SVM of the fixed features"}
        if n > MAX_MARGIN_POINTS:
            record.update(value=None, reason=f"not computed: {n} points > {MAX_MARGIN_POINTS}")
        elif both:
            from ...maxmargin import f1_max_margin

            result = f1_max_margin(data.x, data.y, tol=MARGIN_TOL)
            record.update(value=result.value, sizes=list(result.sizes),
                          values=list(result.values), converged=result.converged,
                          tol=MARGIN_TOL)  # fmt: skip
        else:
            from ...maxmargin import svm_margin

            theta, masses = initial_particles(cfg, cfg.particles.count, cfg.initial.seed,
                                              data.dimension)  # fmt: skip
            record.update(value=svm_margin(problem.features(theta, data.x), data.y, masses))
        return {"max_margin": json.dumps(record)}

    def describe(self, cfg: Settings) -> ODESystem | SteppedLimit:
        """The particles' flow as an ODE (RK45), or on the grid the PDE on the circle (d = 1)
        or the sphere (d = 2) of directions with its own stepper."""
        if cfg.discretisation.method == "grid":
            return self._directions(cfg)
        flow = build_flow(cfg)
        theta, masses = initial_particles(
            cfg, cfg.particles.count, cfg.initial.seed, flow.data.dimension
        )
        shape = theta.shape
        lazy = LazyComparison(flow, theta, masses, cfg.time.t_end,
                              cfg.dynamics.linearised)  # fmt: skip
        schedule, tau = schedule_from(cfg.dynamics.xi), temperature_from(cfg.dynamics)
        if tau.value > 0:
            widths = reference_widths(theta, masses, tau.value, cfg.dynamics.lam,
                                      cfg.particles.blob_width)  # fmt: skip
            langevin = LangevinFlow(flow, masses, tau, schedule, widths)
            velocity, observables = langevin.velocity, langevin.observables
        else:
            velocity = lambda current, t: schedule(t) * flow.velocity(current, masses)  # noqa: E731
            observables = lambda current, t: flow.observables(current, masses)  # noqa: E731

        def observe(state: np.ndarray, t: float) -> dict[str, float]:
            current = state.reshape(shape)
            return {**observables(current, t), **lazy.observe(current, t)}

        def snapshot(state: np.ndarray, t: float) -> dict[str, np.ndarray]:
            current = state.reshape(shape)
            return {"particles": current.copy(), "masses": masses,
                    **lazy.snapshot(current, t)}  # fmt: skip

        part = cfg.particles
        return ODESystem(
            lambda state, t: velocity(state.reshape(shape), t).ravel(),
            theta.ravel(), observe, snapshot, part.rtol, part.atol, method="RK45",
            data=flow.data.arrays(), attrs=lambda: self.file_attrs(cfg, flow, "run"),
            timed=True,
        )  # fmt: skip

    def _directions(self, cfg: Settings) -> SteppedLimit:
        """The flow of balanced units as the PDE on the circle (d = 1, its angle axis written
        to /grid) or on the sphere (d = 2, its cells' centres and areas written to /data)."""
        p, dyn, solver = cfg.problem, cfg.dynamics, cfg.solver
        data = training_set(cfg)
        if data.dimension == 2:
            flow = SphereFlow(data, p.loss, dyn.scale, dyn.lam, cfg.grid.sphere_cells,
                              solver.order, solver.cfl)  # fmt: skip
            grid, arrays = None, {**data.arrays(), "cell_centres": flow.mesh.centres,
                                  "cell_areas": flow.mesh.areas}  # fmt: skip
        else:
            flow = CircleFlow(data, p.loss, dyn.scale, dyn.lam, cfg.grid.angle_cells,
                              solver.order, solver.limiter, solver.cfl)  # fmt: skip
            grid, arrays = flow.grid, data.arrays()
        if cfg.initial.kind == "file":
            theta, masses = initial_particles(cfg, 0, cfg.initial.seed, data.dimension)
            start = flow.from_particles(theta, masses)
        else:
            start = flow.uniform(cfg.initial.scale)
        integrator = DirectionIntegrator(flow, start, solver.dt_max)
        attrs = lambda: self.file_attrs(cfg, build_flow(cfg, data), "run")  # noqa: E731
        return SteppedLimit(integrator, data=arrays, grid=grid, attrs=attrs)

    def warm_up_pde(self) -> None:
        """Compile (or load) the flow's kernels; the caller holds the compile lock."""
        data = clusters(4, 2, 2, 2, 0.1, 0)
        flow = TrainingSetFlow(data, Activation.from_mapping({"kind": "relu"}), "logistic",
                               1.0, 0.0, True)  # fmt: skip
        theta, masses = np.ones((3, 4)), np.full(3, 1 / 3)
        flow.velocity(theta, masses)
        flow.observables(theta, masses)

    # ------------------------------------------------------------------ SGD

    def sgd_network(self, cfg: Settings, problem, seed: int) -> Network:
        """The seed draws the initial weights as the flow's ``initial.seed`` does (so seed =
        initial.seed and m = M start from the flow's particles) and then the mini-batches."""
        return TrainingSetNetwork(cfg, problem, np.random.default_rng(seed), seed)

    def warm_up_sgd(self) -> None:
        self.warm_up_pde()


KIND = TrainingSetKind()
