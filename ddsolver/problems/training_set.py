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

import math
from pathlib import Path
from typing import ClassVar

import numpy as np

from .._jit import compile_lock
from ..data import TrainingSet, clusters, read_training_set, relu_teacher
from ..lazy import LazyComparison
from ..models.activations import Activation
from ..models.circle import CIRCLE_LIMITERS, CircleFlow, CircleIntegrator
from ..models.training_set import LOSSES, TrainingSetFlow
from ..schedules import Schedule
from ..schema import INITIAL_SEED, ConfigError, Key, float_key, int_key, kind_defaults
from ..sgd.network import Network
from ..sgd.training_set import gradient_steps
from ..status import RunResult
from .base import REDUCED_ACTIVATIONS, ProblemKind

#: The flow's error tolerances where the config does not set particles.rtol / atol, divided
#: by the output scale α when α > 1 (the weights move O(1/α), the predictor α f). ReLU's
#: velocity jumps where a particle's hyperplane crosses a data point, and a tight control
#: shrinks the steps at every crossing: M = 500, n = 100, t ≤ 100 take 273 / 1 826 / 152 470
#: steps (1 / 5.6 / 495 s) at rtol 1e-3 / 1e-4 / 1e-6, with margins equal to 1.3e-4.
FLOW_DEFAULTS = {"rtol": 1e-4, "atol": 1e-7}
#: Stream of the initial particles (np.random.default_rng((seed, stream))), apart from data.
PARTICLE_STREAM = 2


def training_set(cfg: dict) -> TrainingSet:
    """The data of a resolved config: the file of ``problem.data`` or the generated set."""
    p = cfg["problem"]
    if p["data"]:
        return read_training_set(p["data"])
    g = p["generate"]
    d = int(p["dimension"])
    if g["kind"] == "clusters":
        return clusters(g["n"], g["n_test"], d, g["k"], g["radius"], g["seed"])
    return relu_teacher(g["n"], g["n_test"], d, g["units"], g["inputs"], g["label"], g["seed"])


def initial_particles(cfg: dict, count: int, seed: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(θ (count, d+2), masses (count,)) from ``[initial]``.

    ``gaussian``: b, a ~ N(0, κ²) entrywise. ``sphere``: a = κ u with u uniform on the unit
    sphere of R^{d+1}, b = ±κ with random signs (|b| = |a|, balanced). ``file``: the
    particles of ``initial.particles`` (an ``.npz`` with ``theta`` (M, d+2) and optionally
    ``masses``). ``symmetric``: the second half are the first half with b → −b, so f₀ = 0.
    """
    init = cfg["initial"]
    if init["kind"] == "file":
        with np.load(init["particles"], allow_pickle=False) as f:
            theta = np.array(f["theta"], float)
            masses = np.array(f["masses"], float) if "masses" in f.files else None
        masses = np.full(theta.shape[0], 1.0 / theta.shape[0]) if masses is None else masses
        return theta, masses / masses.sum()
    rng = np.random.default_rng((seed, PARTICLE_STREAM))
    half = count // 2 if init["symmetric"] else count
    kappa = init["scale"]
    if init["kind"] == "sphere":
        u = rng.standard_normal((half, d + 1))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        signs = rng.choice([-1.0, 1.0], size=half)
        theta = kappa * np.column_stack([signs, u])
    else:
        theta = kappa * rng.standard_normal((half, d + 2))
    if init["symmetric"]:
        twin = theta.copy()
        twin[:, 0] *= -1.0
        theta = np.concatenate([theta, twin])
    return theta, np.full(theta.shape[0], 1.0 / theta.shape[0])


def build_flow(cfg: dict, data: TrainingSet | None = None) -> TrainingSetFlow:
    """The flow of a resolved config (its data read or generated once)."""
    p, dyn = cfg["problem"], cfg["dynamics"]
    return TrainingSetFlow(
        data=training_set(cfg) if data is None else data,
        activation=Activation.from_mapping(p["activation"]),
        loss=p["loss"],
        alpha=dyn["scale"],
        lam=dyn["lam"],
        train_positions=p["train"] == "both",
    )


class TrainingSetNetwork(Network):
    """A width-m network on the training set, trained by GD / SGD with the step ε; one seed
    draws the initial weights (as the flow's ``initial.seed`` would) and the mini-batches."""

    coords = ("b", "a_norm")

    def __init__(
        self, cfg: dict, problem: TrainingSetFlow, rng: np.random.Generator, seed: int = 0
    ):
        super().__init__(cfg, problem, rng)
        self.theta, self.masses = initial_particles(
            cfg, cfg["sgd"]["neurons"], seed, problem.data.dimension
        )
        self.arrays = (self.theta,)
        self.lazy = LazyComparison(problem, self.theta, self.masses, 0.0, False)

    def advance(self, schedule: Schedule, k0: int, k1: int) -> None:
        sgd = self.cfg["sgd"]
        gradient_steps(self.problem, self.theta, self.masses, sgd["eps"], sgd["batch"],
                       k1 - k0, self.rng)  # fmt: skip

    def risk(self) -> float:
        return self.problem.objective(self.theta, self.masses)

    def coordinates(self) -> dict[str, np.ndarray]:
        return {"b": self.theta[:, 0].copy(), "a_norm": np.linalg.norm(self.theta[:, 1:], axis=1)}

    def observables(self) -> dict[str, float]:
        obs = self.problem.observables(self.theta, self.masses)
        obs.update(self.lazy.observe(self.theta, 0.0))
        return {k: v for k, v in obs.items() if k != "risk"}

    def snapshot_fields(self) -> dict[str, np.ndarray]:
        return {"particles": self.theta.copy()}


class TrainingSetKind(ProblemKind):
    """Two-layer networks on a finite training set: the particle flow and GD / SGD."""

    name = "training_set"
    summary = (
        "n labelled points (a file, clusters or a ReLU teacher); f = ∫ b σ(a·x̃) dρ on the "
        "square or logistic loss; the Wasserstein gradient flow with weighted particles"
    )
    keys: ClassVar[dict[str, dict[str, Key]]] = {
        "problem": {
            "data": Key("str", "", "training set: .npz/.csv/.h5 file of x, y (x_test, y_test)"),
            "loss": Key("str", "logistic", "training set: the loss ℓ", choices=tuple(LOSSES)),
            "train": Key(
                "str",
                "both",
                "training set: both layers, or the output layer (a fixed)",
                choices=("both", "output"),
            ),
        },
        "problem.generate": {
            "kind": Key(
                "str", "clusters", "training set: generated data", choices=("clusters", "teacher")
            ),
            "n": int_key(100, "training set: training points", low=1),
            "n_test": int_key(1000, "training set: test points of the same law", low=0),
            "seed": int_key(0, "training set: seed of the data (train, then test)", low=0),
            "k": int_key(3, "clusters: k × k cluster centres on a grid of [−½, ½]²", low=1),
            "radius": float_key(0.1, "clusters: radius of each cluster's disc", low=0),
            "units": int_key(5, "teacher: m₀, hidden units of the ReLU teacher", low=1),
            "inputs": Key(
                "str",
                "gaussian",
                "teacher: x ~ N(0, I_d) or uniform on the sphere",
                choices=("gaussian", "sphere"),
            ),
            "label": Key(
                "str",
                "sign",
                "teacher: y = sign of the teacher, or its value",
                choices=("sign", "value"),
            ),
        },
        "dynamics": {
            "scale": float_key(
                1.0,
                "training set: α, predictor α f and loss ℓ(α f)/α² (lazy as α grows)",
                low=0,
                low_open=True,
            ),
            "linearised": Key(
                "bool",
                False,
                "training set: also solve the run's linearisation (tangent kernel of ρ₀) and "
                "record lin_gap, lin_gap_test, lin_test_error, interp_gap",
            ),
        },
        "initial": {
            "seed": INITIAL_SEED,
            "symmetric": Key(
                "bool", False, "training set: pair each particle with its b-flipped twin (f₀ = 0)"
            ),
            "particles": Key(
                "str", "", "training set, kind file: .npz with theta (M, d+2) [and masses]"
            ),
        },
        "particles": {
            "count": int_key(1000, "training set: M, particles of the flow", low=1),
        },
        "grid": {
            "angle_cells": int_key(
                256, "training set, d = 1, method grid: cells on the circle of directions", low=8
            ),
        },
    }
    methods = ("particles", "grid")
    methods_reason = "particles in R^{d+2}, or for d = 1 the PDE on the circle of directions"
    network = TrainingSetNetwork
    activations = REDUCED_ACTIVATIONS
    default_activation = "relu"
    initial_kinds = ("gaussian", "sphere", "file")
    min_dimension = 1

    # ------------------------------------------------------------------ config

    def check(self, raw: dict, cfg: dict) -> None:
        super().check(raw, cfg)
        p = cfg["problem"]
        given = raw.get("problem", {})
        if p["second_layer"]:
            raise ConfigError("problem.second_layer", True, "training set: θ = (b, a) already")
        if p["data"]:
            data = read_training_set(p["data"])  # refused here, before any compute
            if "dimension" in given and given["dimension"] != data.dimension:
                raise ConfigError(
                    "problem.dimension", given["dimension"],
                    f"the data file {p['data']} has d = {data.dimension}",
                )  # fmt: skip
            p["dimension"] = data.dimension
            defaults = {k: spec.default for k, spec in self.keys["problem.generate"].items()}
            changed = {k: v for k, v in given.get("generate", {}).items() if defaults.get(k) != v}
            if changed:  # (a resolved config repeats the defaults: that is no conflict)
                raise ConfigError("problem.generate", changed,
                                  "problem.data is set: the data come from the file")  # fmt: skip
            labels, points = data.y, data.y.size
        else:
            if math.isinf(p["dimension"]):
                raise ConfigError("problem.dimension", "inf", "training set: a finite d")
            g = p["generate"]
            if g["kind"] == "clusters" and p["dimension"] < 2:
                raise ConfigError("problem.dimension", p["dimension"], "clusters: d ≥ 2")
            labels = None if g["kind"] == "teacher" and g["label"] == "value" else np.ones(1)
            points = g["n"]
        if p["loss"] == "logistic" and labels is not None and not np.all(np.abs(labels) == 1):
            raise ConfigError("problem.loss", "logistic", "the labels must be ±1 (they are not)")
        if p["loss"] == "logistic" and labels is None:
            raise ConfigError(
                "problem.loss", "logistic", 'needs ±1 labels: problem.generate.label = "sign"'
            )
        if cfg["initial"]["kind"] == "file":
            self._check_particle_file(cfg)
        if cfg["initial"]["symmetric"] and cfg["particles"]["count"] % 2:
            raise ConfigError("particles.count", cfg["particles"]["count"],
                              "initial.symmetric pairs the particles: an even count")  # fmt: skip
        if cfg["discretisation"]["method"] == "grid":
            self._check_circle(cfg)
        if cfg["dynamics"]["linearised"] and cfg["dynamics"]["lam"] != 0:
            raise ConfigError(
                "dynamics.linearised", True, "linearises the unpenalised flow: dynamics.lam = 0"
            )
        lazy = max(cfg["dynamics"]["scale"], 1.0)  # θ moves O(1/α) and F = α f: errors × α
        kind_defaults(cfg["particles"], raw.get("particles", {}),
                      {key: value / lazy for key, value in FLOW_DEFAULTS.items()})  # fmt: skip
        if "batch" not in raw.get("sgd", {}):
            cfg["sgd"]["batch"] = points  # full batch (a resolved config re-validates as is)

    @staticmethod
    def _check_circle(cfg: dict) -> None:
        """The circle PDE needs d = 1, ReLU, both layers, a balanced initial law, no
        linearisation (its kernel is of the particles)."""
        why = "method grid solves the flow on the circle of directions, which needs"
        for key, value, ok, needs in (
            ("problem.dimension", cfg["problem"]["dimension"],
             cfg["problem"]["dimension"] == 1, "inputs in R: d = 1"),
            ("problem.activation.kind", cfg["problem"]["activation"]["kind"],
             cfg["problem"]["activation"]["kind"] == "relu", "2-homogeneous units: relu"),
            ("problem.train", cfg["problem"]["train"], cfg["problem"]["train"] == "both",
             "both layers trained"),
            ("initial.kind", cfg["initial"]["kind"], cfg["initial"]["kind"] != "gaussian",
             'a balanced law (|b| = |a|): "sphere" or a balanced "file"'),
            ("dynamics.linearised", cfg["dynamics"]["linearised"],
             not cfg["dynamics"]["linearised"], "particles (the linearisation is theirs)"),
            ("solver.limiter", cfg["solver"]["limiter"],
             cfg["solver"]["limiter"] in CIRCLE_LIMITERS,
             f"a slope limiter: {', '.join(CIRCLE_LIMITERS)}"),
        ):  # fmt: skip
            if not ok:
                raise ConfigError(key, value, f"{why} {needs}")

    @staticmethod
    def _check_particle_file(cfg: dict) -> None:
        path = cfg["initial"]["particles"]
        d = int(cfg["problem"]["dimension"])
        if not path or not Path(path).is_file():
            raise ConfigError("initial.particles", path, "an existing .npz file with theta")
        try:
            with np.load(path, allow_pickle=False) as f:
                theta = np.asarray(f["theta"], float)
                masses = np.asarray(f["masses"], float) if "masses" in f.files else None
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError("initial.particles", path, f"cannot be read ({exc})") from None
        if theta.ndim != 2 or theta.shape[1] != d + 2 or not np.all(np.isfinite(theta)):
            raise ConfigError("initial.particles", path,
                              f"theta must be finite, (M, d + 2) = (M, {d + 2})")  # fmt: skip
        if masses is not None and (masses.shape != (theta.shape[0],) or np.any(masses < 0)
                                   or not masses.sum() > 0):  # fmt: skip
            raise ConfigError("initial.particles", path, "masses must be (M,), ≥ 0, not all 0")
        cfg["particles"]["count"] = theta.shape[0]
        if cfg["discretisation"]["method"] == "grid":
            gap = np.abs(np.abs(theta[:, 0]) - np.linalg.norm(theta[:, 1:], axis=1))
            if np.any(gap > 1e-9 * np.maximum(1.0, np.abs(theta[:, 0]))):
                raise ConfigError(
                    "initial.particles", path, "method grid needs balanced particles: |b| = |a|"
                )

    def memory_terms(self, cfg: dict, verb: str) -> dict[str, float] | None:
        g = cfg["problem"]["generate"]
        n = g["n"] + g["n_test"] if not cfg["problem"]["data"] else 0
        d = int(cfg["problem"]["dimension"])
        if verb == "sgd":
            m, seeds = cfg["sgd"]["neurons"], len(cfg["sgd"]["seeds"])
            return {"sgd.neurons": 8.0 * (seeds * 6 * m * (d + 2) + seeds * m * max(n, 1))}
        count = cfg["particles"]["count"]
        return {"particles.count": 8.0 * (count * (d + 2) * 12 + count * max(n, 1) * 2)}

    # ------------------------------------------------------------------ the flow

    def build_problem(self, cfg: dict) -> TrainingSetFlow:
        return build_flow(cfg)

    def file_data(self, cfg: dict, problem: TrainingSetFlow) -> dict[str, np.ndarray]:
        return problem.data.arrays()

    def solve(self, cfg: dict, path: Path, *, resume: bool, force: bool, quiet: bool) -> RunResult:
        from ..ode import ODEIntegrator, run_ode

        with compile_lock():
            self.warm_up_pde()
        if cfg["discretisation"]["method"] == "grid":
            return self._solve_circle(cfg, path, resume=resume, force=force, quiet=quiet)
        flow = build_flow(cfg)
        theta, masses = initial_particles(
            cfg, cfg["particles"]["count"], cfg["initial"]["seed"], flow.data.dimension
        )
        shape = theta.shape
        lazy = LazyComparison(flow, theta, masses, cfg["time"]["t_end"],
                              cfg["dynamics"]["linearised"])  # fmt: skip

        def observe(state: np.ndarray) -> dict[str, float]:
            current = state.reshape(shape)
            return {**flow.observables(current, masses), **lazy.observe(current, integrator.t)}

        def snapshot(state: np.ndarray) -> dict[str, np.ndarray]:
            return {"particles": state.reshape(shape).copy(), "masses": masses}

        part = cfg["particles"]
        integrator = ODEIntegrator(
            lambda state: flow.velocity(state.reshape(shape), masses).ravel(),
            theta.ravel(), observe, snapshot, part["rtol"], part["atol"], method="RK45",
        )  # fmt: skip
        return run_ode(cfg, path, integrator, resume=resume, force=force, quiet=quiet,
                       data=flow.data.arrays())  # fmt: skip

    def _solve_circle(self, cfg: dict, path: Path, *, resume: bool, force: bool,
                      quiet: bool) -> RunResult:  # fmt: skip
        """The flow of balanced units on 1-D inputs as the PDE on the circle (grid)."""
        from ..ode import run_ode

        p, dyn, solver = cfg["problem"], cfg["dynamics"], cfg["solver"]
        circle = CircleFlow(training_set(cfg), p["loss"], dyn["scale"], dyn["lam"],
                            cfg["grid"]["angle_cells"], solver["order"], solver["limiter"],
                            solver["cfl"])  # fmt: skip
        if cfg["initial"]["kind"] == "file":
            theta, masses = initial_particles(cfg, 0, cfg["initial"]["seed"], 1)
            start = circle.from_particles(theta, masses)
        else:
            start = circle.uniform(cfg["initial"]["scale"])
        integrator = CircleIntegrator(circle, start, solver["dt_max"])
        return run_ode(cfg, path, integrator, resume=resume, force=force, quiet=quiet,
                       data=circle.data.arrays(), grid=circle.grid)  # fmt: skip

    def warm_up_pde(self) -> None:
        """Compile (or load) the flow's kernels; the caller holds the compile lock."""
        data = clusters(4, 2, 2, 2, 0.1, 0)
        flow = TrainingSetFlow(data, Activation.from_mapping({"kind": "relu"}), "logistic",
                               1.0, 0.0, True)  # fmt: skip
        theta, masses = np.ones((3, 4)), np.full(3, 1 / 3)
        flow.velocity(theta, masses)
        flow.observables(theta, masses)

    # ------------------------------------------------------------------ SGD

    def sgd_network(self, cfg: dict, problem, seed: int) -> Network:
        """The seed draws the initial weights as the flow's ``initial.seed`` does (so seed =
        initial.seed and m = M start from the flow's particles) and then the mini-batches."""
        return TrainingSetNetwork(cfg, problem, np.random.default_rng(seed), seed)

    def warm_up_sgd(self) -> None:
        self.warm_up_pde()


KIND = TrainingSetKind()
