r"""The config section of the training set: its keys, its checks, the keys that apply.

Imports no kernel: :mod:`ddsolver.config` validates a config with this module alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import numpy as np

from ...data import numeric, read_training_set
from ...fields import Field, observables, snapshots
from ...schema import INITIAL_SEED, ConfigError, Key, float_key, int_key, kind_defaults
from ..spec import REDUCED_ACTIVATIONS, KindSpec, Labels, keys_of, schedule_keys

#: The losses of the flow (:data:`ddsolver.models.training_set.LOSSES`).
LOSSES = ("square", "logistic")
#: The flow's error tolerances where the config does not set particles.rtol / atol, divided
#: by the output scale α when α > 1 (the weights move O(1/α), the predictor α f). ReLU's
#: velocity jumps where a particle's hyperplane crosses a data point, and a tight control
#: shrinks the steps at every crossing: M = 500, n = 100, t ≤ 100 take 273 / 1 826 / 152 470
#: steps (1 / 5.6 / 495 s) at rtol 1e-3 / 1e-4 / 1e-6, with margins equal to 1.3e-4.
FLOW_DEFAULTS = {"rtol": 1e-4, "atol": 1e-7}


class TrainingSetSpec(KindSpec):
    """The config section of ``problem.kind = "training_set"``."""

    name = "training_set"
    summary = (
        "n labelled points (a file, clusters or a ReLU teacher); f = ∫ b σ(a·x̃) dρ on the "
        "square or logistic loss; the Wasserstein gradient flow with weighted particles"
    )

    keys: ClassVar[dict[str, dict[str, Key]]] = {
        "problem": {
            "data": Key(
                "str",
                "",
                "training set: .npz/.csv/.h5 file of x, y (x_test, y_test); in a config file, "
                "relative to its directory",
                path=True,
            ),
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
            "anneal": Key(
                "str",
                "none",
                "training set, τ > 0: the temperature's schedule — constant, or "
                '"log": τ(t) = τ / log(e + t/anneal_time) (Chizat 2022\'s annealing)',
                choices=("none", "log"),
            ),
            "anneal_time": float_key(
                1.0,
                'training set, anneal = "log": t_a of τ / log(e + t/t_a)',
                low=0,
                low_open=True,
            ),
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
                "record lin_gap, lin_gap_test, lin_test_error, interp_gap, lin_interp_gap "
                "and the predictors' snapshots",
            ),
        },
        "initial": {
            "seed": INITIAL_SEED,
            "symmetric": Key(
                "bool", False, "training set: pair each particle with its b-flipped twin (f₀ = 0)"
            ),
            "particles": Key(
                "str",
                "",
                "training set, kind file: .npz with theta (M, d+2) [and masses]; in a config "
                "file, relative to its directory",
                path=True,
            ),
        },
        "grid": {
            "angle_cells": int_key(
                256, "training set, d = 1, method grid: cells on the circle of directions", low=8
            ),
            "sphere_cells": int_key(
                16,
                "training set, d = 2, method grid: N, cells along each edge of the cubed "
                "sphere's six faces (6N² cells on the sphere of directions)",
                low=2,
            ),
        },
    }

    methods = ("particles", "grid")
    methods_reason = (
        "particles in R^{d+2}, or for d = 1 and 2 the PDE on the circle or the sphere of directions"
    )
    activations = REDUCED_ACTIVATIONS
    default_activation = "relu"
    initial_kinds = ("gaussian", "sphere", "file")
    min_dimension = 1

    def inapplicable_reason(self, key: str, cfg: dict) -> str | None:
        """The temperature's keys are off at τ = 0, anneal_time without the log schedule."""
        if key in ("particles.blob_width", "dynamics.anneal", "dynamics.anneal_time"):
            if cfg["dynamics"]["tau"] == 0:
                return "dynamics.tau = 0 (no temperature)"
            if key == "dynamics.anneal_time" and cfg["dynamics"]["anneal"] != "log":
                anneal = cfg["dynamics"]["anneal"]
                return f'dynamics.anneal = {anneal!r} (anneal_time is the scale of "log")'
        return None

    def own_keys(self, cfg: dict) -> set[str]:
        """The data (a file, or the generator's own keys), the loss, what is trained, α and λ;
        the initial law's own keys; the particles' count and tolerances, the linearisation and
        the flow's seed (particles), or the circle's cells and its stepper with its limiter
        (grid, d = 1), or the sphere's cells and its stepper (grid, d = 2). ξ and τ are
        of this flow; the schedule ξ and the temperature τ (mean-field Langevin dynamics), with
        the blob's width at τ > 0 (refused by :meth:`check` where the run cannot take them)."""
        p, init = cfg["problem"], cfg["initial"]
        keys = keys_of("problem", "data", "loss", "train") | keys_of("dynamics", "scale", "lam")
        keys |= schedule_keys(cfg) | {"dynamics.tau"}
        if cfg["dynamics"]["tau"] > 0:
            keys |= {"particles.blob_width", "dynamics.anneal"}
            if cfg["dynamics"]["anneal"] == "log":
                keys.add("dynamics.anneal_time")
        if not p["data"]:
            own = ("k", "radius") if p["generate"]["kind"] == "clusters" else ("units", "inputs",
                                                                               "label")  # fmt: skip
            keys |= keys_of("problem.generate", "kind", "n", "n_test", "seed", *own)
        keys.add("initial.kind")
        particles = cfg["discretisation"]["method"] == "particles"
        if init["kind"] == "file":
            keys.add("initial.particles")
        else:
            keys |= keys_of("initial", "scale", "symmetric")
            if particles:
                keys |= {"initial.seed", "particles.count"}
        if particles:
            keys |= keys_of("particles", "rtol", "atol") | {"dynamics.linearised"}
        else:
            keys |= keys_of("solver", "order", "cfl", "dt_max")
            if p["dimension"] == 2:
                keys.add("grid.sphere_cells")
            else:
                keys |= {"grid.angle_cells", "solver.limiter"}
        return keys

    def labels(self, cfg: dict, points: int | None = None) -> Labels:
        """The particle flow (or the PDE on the circle or the sphere) of the training objective
        J; GD when a step takes the whole training set, else SGD."""
        p = cfg["problem"]
        if points is None and not p.get("data"):
            points = p["generate"]["n"]
        full = points is not None and cfg["sgd"]["batch"] >= points
        grid = cfg["discretisation"]["method"] == "grid"
        return Labels(
            limit=("PDE on the sphere" if p["dimension"] == 2 else "PDE on the circle")
            if grid
            else "particle flow",
            objective="training objective",
            symbol="J(ρ_t)",
            finite="J",
            trainer="GD" if full else "SGD",
            step=f"ε = {cfg['sgd']['eps']:g}",
        )

    def fields(self, cfg: dict) -> dict[str, Field]:
        """The objective's parts (``risk`` is J = (1/α²)(1/n)Σ ℓ(α f(x_i), y_i) + (λ/2)∫|θ|² dρ,
        as its labels say), the margin, the lazy diagnostics; the particles'
        θ = (b, a₁…a_d, bias) with their masses, or the circle's densities ν₊, ν₋."""
        d = int(cfg["problem"]["dimension"])
        columns = ("b", *(f"a_{k + 1}" for k in range(d)), "bias")
        obs = {
            "risk": Field(
                "J(ρ_t)",
                "training objective loss / α² + (λ/2)∫|θ|² = (1/α²)(1/n)Σ ℓ(α f(x_i), y_i) "
                "+ (λ/2)∫|θ|²",
            ),
            "loss": Field(
                "training loss",
                "(1/n) Σ ℓ(F(x_i), y_i) of the predictor F = α f, in its units (comparable "
                "across α); the objective's data term is loss / α²",
            ),
            "test_loss": Field(
                "test loss", "(1/n_test) Σ ℓ(F(x), y) on the test set, as loss (NaN without one)"
            ),
            "test_error": Field("test error", "fraction of test points with sign f ≠ y"),
            "margin": Field(
                "normalised margin γ", "min_i y_i f(x_i) / ∫|b||a| dρ (output layer only: ℓ2)"
            ),
            "norm2": Field("∫|θ|² dρ", "second moment of the weights"),
            "dissipation": Field("∫|v|² dρ", "−dJ/dt without the penalty: the squared speed"),
            "movement": Field("‖θ(t) − θ₀‖ / ‖θ₀‖", "relative movement of the weights"),
            "lin_gap": Field("‖F − F_lin‖ train", "RMS gap to the linearised flow, training set"),
            "lin_gap_test": Field("‖F − F_lin‖ test", "RMS gap to the linearised flow, test set"),
            "lin_test_error": Field("test error of F_lin", "the linearised predictor's test error"),
            "interp_gap": Field("‖F − F_min-norm‖", "RMS gap to the minimum-norm interpolant"),
            "lin_interp_gap": Field(
                "‖F_lin − F_min-norm‖",
                "RMS gap of the linearised flow to the interpolant: its own convergence",
            ),
            "mass_plus": Field("ν₊(S^d)", "mass of the units with b > 0 (|a|², method grid)"),
            "mass_minus": Field("ν₋(S^d)", "mass of the units with b < 0 (|a|², method grid)"),
            "growth_plus": Field("growth of ν₊", "log-mass the b > 0 species has grown by"),
            "growth_minus": Field("growth of ν₋", "log-mass the b < 0 species has grown by"),
        }
        if cfg["dynamics"]["tau"] > 0:
            obs["dissipation"] = Field(
                "∫|v|² dρ", "−(dF_h/dt)/ξ: the squared speed of the free energy's flow"
            )
            obs["entropy"] = Field(
                "H_h(ρ_t)", "the blob entropy Σ_i m_i log (K_h * ρ)(θ_i) (widths fixed at t = 0)"
            )
            obs["free_energy"] = Field(
                "F_h(ρ_t)",
                "free energy J + τ(t) H_h (decreases along the flow at a constant τ)",
            )
            if cfg["dynamics"]["anneal"] != "none":
                obs["temperature"] = Field("τ(t)", "the annealed temperature at the time")
        snaps = {
            "particles": Field(
                "θ = (b, a)",
                "each particle's (or neuron's) weights",
                ("particle", "coordinate"),
                coordinates=columns,
            ),
            "masses": Field("masses", "each particle's mass (they sum to 1)", ("particle",)),
            "angle_density": Field(
                "densities of ν₊, ν₋", "per radian over the direction ψ of a", ("sign", "angle")
            ),
            "sphere_density": Field(
                "densities of ν₊, ν₋",
                "per steradian over the direction a/|a| ∈ S² (the cells of /data/cell_centres)",
                ("sign", "cell"),
            ),
            "predictor": Field(
                "F = α f",
                "the predictor on the test points (training points without a test set)",
                ("point",),
            ),
            "predictor_lin": Field(
                "F_lin", "the linearised flow's predictor on the same points", ("point",)
            ),
            "interpolant": Field(
                "F_min-norm",
                "the minimum-norm interpolant on the same points (square loss)",
                ("point",),
            ),
            "b": Field("b", "each neuron's output weight", ("neuron",)),
            "a_norm": Field("|a|", "the norm of each neuron's input weights", ("neuron",)),
        }
        return {**observables(obs), **snapshots(snaps)}

    def figures(self, cfg: dict) -> tuple[str, ...]:
        """The objective; the losses, test error and margin; the gaps to the linearisation
        when it is solved; the densities on the circle or the sphere (grid); the classifier
        in R²."""
        out = ["risk", "training"]
        if cfg["dynamics"].get("linearised"):
            out.append("lazy")
        if cfg["discretisation"]["method"] == "grid":
            out.append("sphere" if cfg["problem"]["dimension"] == 2 else "circle")
        if cfg["problem"]["dimension"] == 2:
            out.append("classifier")
        return tuple(out)

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
            self._check_directions(cfg)
        self._check_langevin(cfg)
        if cfg["dynamics"]["linearised"] and cfg["dynamics"]["lam"] != 0:
            raise ConfigError(
                "dynamics.linearised", True, "linearises the unpenalised flow: dynamics.lam = 0"
            )
        if cfg["discretisation"]["method"] == "particles":
            lazy = max(cfg["dynamics"]["scale"], 1.0)  # θ moves O(1/α), F = α f: errors × α
            kind_defaults(cfg["particles"], raw.get("particles", {}),
                          {key: value / lazy for key, value in FLOW_DEFAULTS.items()})  # fmt: skip
        if "batch" not in raw.get("sgd", {}):
            cfg["sgd"]["batch"] = points  # full batch (a resolved config re-validates as is)

    @staticmethod
    def _check_langevin(cfg: dict) -> None:
        """τ > 0 diffuses θ = (b, a) on particles (the blob method) and in the noisy networks;
        the direction flows' steppers take neither τ nor a schedule."""
        dyn, grid = cfg["dynamics"], cfg["discretisation"]["method"] == "grid"
        if grid and (dyn["tau"] > 0 or dyn["xi"] != 1.0):
            key = "dynamics.tau" if dyn["tau"] > 0 else "dynamics.xi"
            raise ConfigError(key, dyn["tau"] if dyn["tau"] > 0 else dyn["xi"],
                              "method grid (the flow on the directions) has no noise and no "
                              "schedule: τ = 0, ξ = 1, or method particles")  # fmt: skip
        if dyn["tau"] <= 0:
            return
        if cfg["problem"]["train"] != "both":
            raise ConfigError("dynamics.tau", dyn["tau"], "mean-field Langevin dynamics diffuses "
                              'θ = (b, a): problem.train = "both"')  # fmt: skip
        if dyn["linearised"]:
            raise ConfigError("dynamics.linearised", True,
                              "linearises the noiseless flow: dynamics.tau = 0")  # fmt: skip

    @staticmethod
    def _check_directions(cfg: dict) -> None:
        """The PDE on the circle or the sphere needs d = 1 or 2, ReLU, both layers, a balanced
        initial law, no linearisation (its kernel is of the particles)."""
        why = "method grid solves the flow on the circle or sphere of directions, which needs"
        for key, value, ok, needs in (
            ("problem.dimension", cfg["problem"]["dimension"],
             cfg["problem"]["dimension"] in (1, 2), "inputs in R or R²: d = 1 or 2"),
            ("problem.activation.kind", cfg["problem"]["activation"]["kind"],
             cfg["problem"]["activation"]["kind"] == "relu", "2-homogeneous units: relu"),
            ("problem.train", cfg["problem"]["train"], cfg["problem"]["train"] == "both",
             "both layers trained"),
            ("initial.kind", cfg["initial"]["kind"], cfg["initial"]["kind"] != "gaussian",
             'a balanced law (|b| = |a|): "sphere" or a balanced "file"'),
            ("dynamics.linearised", cfg["dynamics"]["linearised"],
             not cfg["dynamics"]["linearised"], "particles (the linearisation is theirs)"),
        ):  # fmt: skip
            if not ok:
                raise ConfigError(key, value, f"{why} {needs}")

    @staticmethod
    def _check_particle_file(cfg: dict) -> None:
        path = cfg["initial"]["particles"]
        d = int(cfg["problem"]["dimension"])
        if not path or not Path(path).is_file():
            raise ConfigError("initial.particles", path, "an existing .npz file with theta")
        key = "initial.particles"
        try:
            with np.load(path, allow_pickle=False) as f:  # never unpickle a user's file
                theta = numeric(f["theta"], "theta", key, path)
                masses = numeric(f["masses"], "masses", key, path) if "masses" in f.files else None
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(key, path, f"cannot be read ({exc})") from None
        if theta.ndim != 2 or theta.shape[1] != d + 2 or not np.all(np.isfinite(theta)):
            raise ConfigError(key, path, f"theta must be finite, (M, d + 2) = (M, {d + 2})")
        if theta.shape[0] == 0:
            raise ConfigError(key, path, "theta has no particles (M = 0)")
        if masses is not None and (
            masses.shape != (theta.shape[0],)
            or not np.all(np.isfinite(masses))
            or np.any(masses < 0)
            or not masses.sum() > 0
        ):
            raise ConfigError(key, path, "masses must be (M,), finite, ≥ 0, not all 0")
        cfg["particles"]["count"] = theta.shape[0]
        if cfg["discretisation"]["method"] == "grid":
            gap = np.abs(np.abs(theta[:, 0]) - np.linalg.norm(theta[:, 1:], axis=1))
            if np.any(gap > 1e-9 * np.maximum(1.0, np.abs(theta[:, 0]))):
                raise ConfigError(
                    "initial.particles", path, "method grid needs balanced particles: |b| = |a|"
                )


SPEC = TrainingSetSpec()
