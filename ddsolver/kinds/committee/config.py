r"""The config section of committee machines: its keys, its checks, the keys that apply.

Imports no kernel: :mod:`ddsolver.config` validates a config with this module alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from ...fields import Field, observables, snapshots
from ...schema import (
    INITIAL_SEED,
    LABEL_NOISE,
    WEIGHT_MAX,
    ConfigError,
    Key,
    float_key,
    int_key,
    kind_defaults,
)
from ..spec import KindSpec, Labels, keys_of

#: Observables name every entry of Q, R and v when K ≤ this (and M ≤ this).
MAX_NAMED_UNITS = 8
#: The activations of the committee kernels (:data:`ddsolver.models.committee.ACTIVATIONS`).
ACTIVATIONS = ("erf_sqrt2", "erf", "relu", "linear")
#: c in ŷ = c Σ v_k g(λ_k) (:func:`ddsolver.models.committee.output_factor`).
OUTPUT_SCALES = ("none", "1/K", "1/sqrt(K)")


#: The ODE's error tolerances where the config does not set solver.rtol / solver.atol.
SOLVER_DEFAULTS = {"rtol": 1e-9, "atol": 1e-12}


def given_overlaps(
    k: int, m: int, q: Sequence[float], r: Sequence[float], v: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Q (k, k), R (k, m), v (k,)) of ``initial.kind = "overlaps"`` from the flattened
    ``initial.q/r/v`` of k students and m teacher units."""
    return np.reshape(q, (k, k)), np.reshape(r, (k, m)), np.asarray(v, float)


def given_teacher_overlaps(m: int, t: Sequence[float]) -> np.ndarray:
    """T (m, m) of ``initial.t`` (row by row), the identity when it is empty."""
    return np.reshape(np.asarray(t, float), (m, m)) if len(t) else np.eye(m)


class CommitteeSpec(KindSpec):
    """The config section of ``problem.kind = "committee"``."""

    name = "committee"
    summary = (
        "x ~ N(0, I_d), K-unit student, M-unit teacher; the order-parameter ODEs (d → ∞, "
        "finite K) and online SGD"
    )

    keys: ClassVar[dict[str, dict[str, Key]]] = {
        "problem": {
            "student_units": int_key(2, "committee: K, hidden units of the student", low=1),
            "teacher_units": int_key(2, "committee: M, hidden units of the teacher", low=1),
            "output_scale": Key(
                "str",
                "none",
                "committee: c in ŷ = c Σ v_k g(λ_k) (none: Saad–Solla / Goldt; 1/K: mean field)",
                choices=OUTPUT_SCALES,
            ),
            "teacher_v": Key(
                "float_list", [1.0], "committee: the teacher's second layer v* (one, or M values)"
            ),
            "teacher_weights": Key(
                "str",
                "orthonormal",
                "committee: w* with orthogonal rows of norm √d (T = I), or i.i.d. N(0, 1)",
                choices=("orthonormal", "gaussian"),
            ),
            "teacher_seed": int_key(0, "committee: seed of the teacher's weights", low=0),
            "label_noise": LABEL_NOISE,
        },
        "dynamics": {
            "eta": float_key(
                0.5,
                "committee: learning rate η of w (step η/√d, t = steps/d)",
                low=0,
                low_open=True,
            ),
            "eta_v": float_key(
                0.0, "committee: learning rate η_v of v (step η_v/d; 0: v fixed)", low=0
            ),
            "noise_term": Key(
                "bool",
                True,
                "committee: keep the η² (SGD-noise) terms of the ODEs; false is η → 0 at fixed ηt",
            ),
            "noise_pairs": Key(
                "str",
                "all",
                "committee, with noise_term: the unit pairs (k, l) of the η² term of dQ_kl kept — "
                "'own' (k = l: each unit's own step noise), 'shared' (k ≠ l: the noise units "
                "share through the common sample) or 'all'",
                choices=("all", "own", "shared"),
            ),
        },
        "initial": {
            "seed": INITIAL_SEED,
            "q": Key("float_list", [], "committee, kind overlaps: Q (K × K, row by row)"),
            "r": Key("float_list", [], "committee, kind overlaps: R (K × M, row by row)"),
            "v": Key("float_list", [], "committee, kind overlaps: v (K)"),
            "t": Key(
                "float_list",
                [],
                "committee, kind overlaps: the teacher's Gram T = w* w*ᵀ/d (M × M, row by "
                "row; empty: I)",
            ),
        },
    }

    methods = ("order_parameters",)
    methods_reason = "its limit is the ODEs of the overlaps Q, R and v"
    activations = tuple(ACTIVATIONS)
    default_activation = "erf_sqrt2"
    initial_kinds = ("gaussian", "overlaps")

    def own_keys(self, cfg: dict) -> set[str]:
        """K, M, the output scale, the teacher's v*, label noise, η, η_v, the noise terms,
        weight decay, the ODE tolerances and the initial law's own keys. At a finite d the
        teacher is drawn (its weights and seed); at d = ∞ T = I and a seed draws only a
        random v."""
        p, init = cfg["problem"], cfg["initial"]
        keys = keys_of("problem", "student_units", "teacher_units", "output_scale", "teacher_v",
                       "label_noise")  # fmt: skip
        keys |= keys_of("dynamics", "eta", "eta_v", "noise_term", "lam")
        if cfg["dynamics"]["noise_term"]:
            keys.add("dynamics.noise_pairs")
        keys |= keys_of("solver", "rtol", "atol") | {"initial.kind"}
        finite = not math.isinf(p["dimension"])
        if finite:
            keys |= keys_of("problem", "teacher_weights", "teacher_seed")
        if init["kind"] == "overlaps":
            keys |= keys_of("initial", "q", "r", "v", "t")
        else:
            keys |= keys_of("initial", "scale", "a_mean", "a_std")
        if finite or (init["kind"] == "gaussian" and init["a_std"] > 0):
            keys.add("initial.seed")
        return keys

    def labels(self, cfg: dict, points: int | None = None) -> Labels:
        """The ODEs of the order parameters and the generalisation error ε_g; SGD's step is
        η/√d, so a legend names η."""
        return Labels(
            limit="ODE",
            objective="generalisation error ε_g",
            symbol="ε_g",
            finite="ε_g",
            trainer="SGD",
            step=f"η = {cfg['dynamics']['eta']:g}",
        )

    def fields(self, cfg: dict) -> dict[str, Field]:
        """The overlaps Q = w wᵀ/d, R = w w*ᵀ/d and v: one observable per entry (Q_k_l with
        k ≤ l, R_k_n, v_k, from 1) up to :data:`MAX_NAMED_UNITS` units, else their means;
        the matrices as snapshots; ε_g is ``risk``."""
        k, m = cfg["problem"]["student_units"], cfg["problem"]["teacher_units"]
        if max(k, m) > MAX_NAMED_UNITS:
            obs = {
                "Q_diag_mean": Field(
                    "mean of Q_kk", "mean squared norm of a unit, |w_k|²/d", group="Q"
                ),
                "Q_off_mean": Field(
                    "mean of Q_kl, k ≠ l", "mean overlap of two student units", group="Q"
                ),
                "R_mean": Field(
                    "mean of R_kn", "mean overlap w_k·w*_n/d with the teacher", group="R"
                ),
                "v_mean": Field("mean of v_k", "mean second-layer weight", group="v"),
            }
        else:
            obs = {
                f"Q_{a + 1}_{b + 1}": Field(
                    f"Q_{a + 1}{b + 1}", f"w_{a + 1}·w_{b + 1}/d", group="Q"
                )
                for a in range(k)
                for b in range(a, k)
            }
            obs.update(
                {
                    f"R_{a + 1}_{n + 1}": Field(
                        f"R_{a + 1}{n + 1}", f"w_{a + 1}·w*_{n + 1}/d", group="R"
                    )
                    for a in range(k)
                    for n in range(m)
                }
            )
            obs.update(
                {
                    f"v_{a + 1}": Field(f"v_{a + 1}", "second-layer weight", group="v")
                    for a in range(k)
                }
            )
        obs["risk"] = Field("ε_g", "generalisation error ε_g = ½ E (ŷ − y)² at the overlaps")
        obs["noise_rate_own"] = Field(
            "dε_g/dt, own noise",
            "the η² term's share of dε_g/dt from the pairs k = l of dQ_kl: each unit's own "
            "step noise (0 without dynamics.noise_term)",
        )
        obs["noise_rate_shared"] = Field(
            "dε_g/dt, shared noise",
            "the η² term's share of dε_g/dt from the pairs k ≠ l: the noise units share through "
            "the common sample",
        )
        snaps = {
            "Q": Field("Q", "student overlaps w wᵀ/d", ("student", "student_")),
            "R": Field("R", "student–teacher overlaps w w*ᵀ/d", ("student", "teacher")),
            "v": Field("v", "the student's second layer", ("student",)),
            "q": Field("q", "each unit's squared norm |w_k|²/d", ("student",)),
        }
        return {**observables(obs), **snapshots(snaps)}

    def figures(self, cfg: dict) -> tuple[str, ...]:
        """ε_g and the overlaps Q, R, v."""
        return ("risk", "overlaps")

    def check(self, raw: dict, cfg: dict) -> None:
        super().check(raw, cfg)
        p = cfg["problem"]
        k, m, d = p["student_units"], p["teacher_units"], p["dimension"]
        given = {t: raw.get(t, {}) for t in ("sgd", "dynamics", "problem", "initial")}
        if "neurons" in given["sgd"] and given["sgd"]["neurons"] != k:
            raise ConfigError(
                "sgd.neurons", given["sgd"]["neurons"], f"committee: the student has "
                f"problem.student_units = {k} units; leave sgd.neurons out"
            )  # fmt: skip
        eps = given["sgd"].get("eps")
        if eps is not None and not (math.isinf(d) or math.isclose(eps, 1.0 / d, rel_tol=1e-12)):
            raise ConfigError(
                "sgd.eps", given["sgd"]["eps"],
                f"committee: one SGD step is 1/d of time (t = steps/d, here 1/{d}); leave it out",
            )  # fmt: skip
        for key, neutral in (("xi", 1.0), ("tau", 0.0)):
            if given["dynamics"].get(key, neutral) != neutral:
                raise ConfigError(
                    f"dynamics.{key}", given["dynamics"][key],
                    "committee: not part of its dynamics (learning rates: dynamics.eta, eta_v)",
                )  # fmt: skip
        if p["second_layer"]:
            raise ConfigError(
                "problem.second_layer", True, "committee: train v with dynamics.eta_v > 0"
            )
        cfg["sgd"]["neurons"] = k
        if not math.isinf(d):
            if d < k + m:
                raise ConfigError(
                    "problem.dimension", d,
                    f"committee: at least K + M = {k + m} (the units' weights must be "
                    "independent vectors)",
                )  # fmt: skip
            cfg["sgd"]["eps"] = 1.0 / d
        if len(p["teacher_v"]) not in (1, m):
            raise ConfigError("problem.teacher_v", p["teacher_v"], f"one number or M = {m} numbers")
        if max(map(abs, p["teacher_v"])) > WEIGHT_MAX:
            raise ConfigError("problem.teacher_v", p["teacher_v"], f"|v*| ≤ {WEIGHT_MAX:g}")
        kind_defaults(cfg["solver"], raw.get("solver", {}), SOLVER_DEFAULTS)
        if cfg["solver"]["rtol"] <= 0:
            raise ConfigError("solver.rtol", cfg["solver"]["rtol"], "committee: must be > 0")
        self._check_initial(cfg, given["initial"])

    @staticmethod
    def _check_initial(cfg: dict, given: dict) -> None:
        init = cfg["initial"]
        k, m = cfg["problem"]["student_units"], cfg["problem"]["teacher_units"]
        sizes = {"q": k * k, "r": k * m, "v": k}
        if init["kind"] != "overlaps":
            for key in (*sizes, "t"):
                if given.get(key):
                    raise ConfigError(
                        f"initial.{key}", given[key], 'only initial.kind = "overlaps" takes it'
                    )
            return
        for key, size in sizes.items():
            if len(init[key]) != size:
                raise ConfigError(
                    f"initial.{key}", init[key], f"{size} numbers (K = {k}, M = {m}, row by row)"
                )
            bound = WEIGHT_MAX if key == "v" else WEIGHT_MAX**2  # Q, R are |w|²/d, w·w*/d
            if max(map(abs, init[key])) > bound:
                raise ConfigError(f"initial.{key}", init[key], f"entries of magnitude ≤ {bound:g}")
        p, init = cfg["problem"], cfg["initial"]
        q, r, _ = given_overlaps(p["student_units"], p["teacher_units"], init["q"], init["r"],
                                 init["v"])  # fmt: skip
        if not np.allclose(q, q.T):
            raise ConfigError("initial.q", init["q"], "Q must be symmetric")
        t = CommitteeSpec._check_teacher_gram(init["t"], m)
        joint = np.block([[q, r], [r.T, t]])
        scale = max(1.0, float(np.abs(joint).max()))
        if np.linalg.eigvalsh(joint).min() < -1e-10 * scale:
            raise ConfigError(
                "initial.q", init["q"],
                "[[Q, R], [Rᵀ, T]] must be positive semi-definite (overlaps of real vectors; "
                f"T = {'initial.t' if init['t'] else 'I'})",
            )  # fmt: skip
        if cfg["problem"]["teacher_weights"] == "gaussian" and not math.isinf(
            cfg["problem"]["dimension"]
        ):
            raise ConfigError(
                "problem.teacher_weights", "gaussian",
                'initial.kind = "overlaps" gives R against the exact T (I or initial.t): use '
                '"orthonormal"',
            )  # fmt: skip

    @staticmethod
    def _check_teacher_gram(values: Sequence[float], m: int) -> np.ndarray:
        """T of ``initial.t``: M × M numbers, symmetric and positive definite (a teacher's
        units must be independent for R T⁻¹ to place the student), entries bounded."""
        if not values:
            return np.eye(m)
        if len(values) != m * m:
            raise ConfigError("initial.t", values, f"{m * m} numbers (M = {m}, row by row)")
        if max(map(abs, values)) > WEIGHT_MAX**2:
            raise ConfigError("initial.t", values, f"entries of magnitude ≤ {WEIGHT_MAX**2:g}")
        t = given_teacher_overlaps(m, values)
        if not np.allclose(t, t.T):
            raise ConfigError("initial.t", values, "T must be symmetric")
        eigen = np.linalg.eigvalsh(t)
        if eigen.min() <= 1e-10 * max(1.0, float(eigen.max())):
            raise ConfigError(
                "initial.t", values,
                "T must be positive definite (the teacher's units linearly independent)",
            )  # fmt: skip
        return t


SPEC = CommitteeSpec()
