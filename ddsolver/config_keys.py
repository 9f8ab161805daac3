r"""Every config key: the framework's tables, with each problem kind's own keys merged in.

:data:`SCHEMA` maps table → key → :class:`~ddsolver.schema.Key` (type, default, allowed
values, the sentence the docs' config reference shows); :mod:`ddsolver.config` validates a
config against it. The limits a run's size is checked against live here too.
"""

from __future__ import annotations

import math

from .kinds import SPECS
from .schema import EXTENT, MAGNITUDE, WEIGHT_MAX, Key, float_key, int_key

_f, _i = float_key, int_key

#: ``time.spacing``: stop times at multiples of an interval, a fixed count per decade, or listed.
TIME_SPACINGS = ("linear", "log", "list")

ACTIVATION_KINDS = (
    "ramp", "relu", "erf", "tanh", "sigmoid", "piecewise", "square", "cubic", "erf_sqrt2",
    "linear",
)  # fmt: skip
SCHEDULE_KINDS = ("constant", "power", "piecewise")

SCHEMA: dict[str, dict[str, Key]] = {
    "problem": {
        "kind": Key(
            "str",
            "isotropic_gaussians",
            "data law and network (see the docs' problem pages)",
            choices=tuple(SPECS),
        ),
        "dimension": _i(40, 'input dimension d; "inf" for the d → ∞ kernel', low=1, allow_inf=True),
        "delta": _f(
            0.8, "Δ: x | y ~ N(0, (1 + yΔ)² I_d)", low=0, high=1, low_open=True, high_open=True
        ),
    },
    "problem.activation": {
        "kind": Key("str", "ramp", "activation σ", choices=ACTIVATION_KINDS),
        "t1": _f(0.5, "ramp: σ = s1 for t ≤ t1"),
        "t2": _f(1.5, "ramp: σ = s2 for t ≥ t2"),
        "s1": _f(-2.5, "ramp: lower level"),
        "s2": _f(7.5, "ramp: upper level"),
        "knots": Key(
            "float_list", [0.5, 1.5], "piecewise: knots t_k, increasing (σ flat outside them)"
        ),
        "values": Key("float_list", [-2.5, 7.5], "piecewise: σ(t_k), one per knot"),
        "coefficients": Key(
            "float_list",
            [0.0, 1.0, 0.5, 1.0 / 6.0],
            "cubic: c_0 … c_3 of σ(t) = c_0 + c_1 t + c_2 t² + c_3 t³ (1 to 4 numbers, the rest "
            "0; default t + t²/2 + t³/6)",
        ),
    },
    "initial": {
        "kind": Key(
            "str",
            "gaussian",
            "initial law (each problem kind's page says which it takes)",
            choices=tuple(dict.fromkeys(k for kind in SPECS.values() for k in kind.initial_kinds)),
        ),
        "scale": _f(0.8, "κ: w ~ N(0, κ²/d · I_d)", **MAGNITUDE),
        "dimension": _i(
            0,
            "d of the initial law (0: problem.dimension), e.g. 40 with the d = ∞ kernel",
            low=0,
            allow_inf=True,
        ),
        "a_mean": _f(1.0, "second layer: mean of a", **EXTENT),
        "a_std": _f(
            0.0, "second layer: standard deviation of a (0: point mass)", low=0, high=WEIGHT_MAX
        ),
    },
    "dynamics": {
        "xi": Key("any", 1.0, "step-size schedule ξ(t): a number, or a table (see dynamics.xi.*)"),
        "tau": _f(0.0, "temperature τ", low=0),
        "lam": _f(0.0, "ℓ2 penalty λ", low=0),
        "finite_step": Key(
            "bool",
            False,
            "add SGD's own step noise at sgd.eps and sgd.batch (the finite-step correction: "
            "Itô drift of order εd and radial diffusion of order ε; isotropic_gaussians, "
            "anisotropic_gaussians, multi_index, gaussian_mixture; docs/finite_step.md)",
        ),
    },
    "dynamics.xi": {
        "kind": Key("str", "constant", "schedule kind", choices=SCHEDULE_KINDS),
        "value": _f(1.0, "constant value, or prefactor of the power law", low=0, low_open=True),
        "t0": _f(1.0, "power law: ξ = value·(t + t0)^(−alpha)", low=0, low_open=True),
        "alpha": _f(0.0, "power law exponent", low=0),
        "times": Key("float_list", [0.0], "piecewise: start times (first is 0)"),
        "values": Key("float_list", [1.0], "piecewise: values from each start time"),
    },
    "time": {
        "t_end": _f(10.0, "final time", low=0, low_open=True),
        "save_every": _f(0.1, "interval between density snapshots", low=0, low_open=True),
        "observe_every": _f(0.0, "interval between observables (0: save_every / 10)", low=0),
        "spacing": Key(
            "str",
            "linear",
            "stop times: 'linear' (multiples of save_every and observe_every), 'log' "
            "(per decade from time.first) or 'list' (time.at)",
            choices=TIME_SPACINGS,
        ),
        "first": _f(
            0.01,
            "log spacing: the first snapshot and observation after t = 0",
            low=0,
            low_open=True,
        ),
        "save_per_decade": _i(10, "log spacing: snapshots per decade of time", low=1),
        "at": Key(
            "float_list",
            [1.0],
            "list spacing: the times of the snapshots and observations after t = 0, increasing "
            "(time.t_end is always one)",
        ),
        "observe_per_decade": _i(
            0,
            "log spacing: observations per decade, a multiple of save_per_decade "
            "(0: 10 × save_per_decade)",
            low=0,
        ),
    },
    "sgd": {
        "neurons": _i(800, "N, also used by risk_finite_n", low=1),
        "eps": _f(1e-4, "ε: SGD step k ↔ time t = kε", low=0, low_open=True),
        "seeds": Key("int_list", [0], "random seeds, one run each"),
        "batch": _i(1, "samples per SGD step", low=1),
        "observe_every": _f(
            0.0, "interval between exact-risk evaluations (0: time.save_every)", low=0
        ),
        "observe_per_decade": _i(
            0,
            "log spacing: exact-risk evaluations per decade, a multiple of "
            "time.save_per_decade (0: time.save_per_decade)",
            low=0,
        ),
    },
    "discretisation": {
        "method": Key(
            "str",
            "grid",
            "grid (Eulerian finite volumes) or particles; order_parameters: committee ODEs",
            choices=("grid", "particles", "order_parameters"),
        ),
    },
    "particles": {
        "count": _i(
            1000, "M, particles of a particle flow (training_set, multi_index, mixtures)", low=1
        ),
        "draw": Key(
            "str",
            "random",
            "the initial particles (multi_index, gaussian_mixture): 'random' (i.i.d. draws) "
            "or 'halton' (a scrambled Halton sequence through the laws' inverse CDFs)",
            choices=("random", "halton"),
        ),
        "r_count": _i(1000, "particles along r (quantile midpoints of the initial law)", low=1),
        "a_count": _i(16, "second layer (and anisotropic): particles along a", low=1),
        "rtol": _f(
            1e-6, "relative error tolerance of the particle time stepper", low=0, low_open=True
        ),
        "atol": _f(
            1e-9, "absolute error tolerance of the particle time stepper", low=0, low_open=True
        ),
        "blob_width": _f(
            0.0, "τ > 0, finite d: kernel width of the blob term (0: Silverman on ρ₀)", low=0
        ),
    },
    "grid": {
        "r_min": _f(
            0.0,
            "inner edge of the radial axis (> 0 avoids the stiff entropic drift near 0 when τ > 0)",
            low=0,
            high=WEIGHT_MAX,
        ),
        "r_max": _f(8.0, "outer edge of the radial axis", low=0, low_open=True, high=WEIGHT_MAX),
        "r_cells": _i(800, "cells on the radial axis", low=3),
        "r_stretch": _f(0.0, "refinement towards r = 0 (0: uniform)", low=0),
        "a_min": _f(-3.0, "second layer: lower edge of the a axis", **EXTENT),
        "a_max": _f(3.0, "second layer: upper edge of the a axis", **EXTENT),
        "a_cells": _i(96, "second layer: cells on the a axis", low=3),
        "boundary_mass_max": _f(
            1e-4, "fail when this much mass sits in the outermost cells", low=0, low_open=True
        ),
    },
    "solver": {
        "order": Key("int", 3, "SSP Runge–Kutta order", choices=(1, 2, 3)),
        "cfl": _f(0.5, "fraction of the positivity step bound", low=0, high=1, low_open=True),
        "limiter": Key(
            "str",
            "mc",
            "reconstruction of the τ = 0 flux: slope limiters, or fifth-order WENO (uniform cells)",
            choices=("mc", "minmod", "none", "weno5"),
        ),
        "interaction": Key(
            "str", "auto", "nonlocal term", choices=("auto", "lowrank", "matrix", "onthefly")
        ),
        "rtol": _f(0.0, "embedded error control (order 3; 0: CFL only)", low=0),
        "atol": _f(1e-10, "absolute tolerance of the error control", low=0, low_open=True),
        "dt_max": _f(math.inf, "cap on the time step", low=0, low_open=True, allow_inf=True),
        "finite_step_scheme": Key(
            "str",
            "explicit",
            "dynamics.finite_step: its drift and diffusion in the explicit stages, or by a "
            "backward-Euler Scharfetter–Gummel step after each (no h²/a or 1/r step bound; "
            "docs/finite_step.md)",
            choices=("explicit", "implicit"),
        ),
    },
    "finite_width": {
        "dynamical": Key(
            "bool",
            False,
            "compute C(t), the dynamical 1/N term: risk_finite_n becomes R(ρ_t) + C(t)/N and "
            "the i.i.d. term stays as risk_finite_n_iid (docs/finite_width.md)",
        ),
        "radial_nodes": _i(200, "dynamical 1/N term: equal-mass radii of ρ₀'s rings", low=2),
        "probe_nodes": _i(16, "dynamical 1/N term: radii of the added neuron (equal-mass)", low=2),
        "a_nodes": _i(
            8,
            "dynamical 1/N term, second layer with a_std > 0: Gauss–Hermite nodes of a (the "
            "law of a's term interpolates between them in the initial a)",
            low=1,
        ),
        "degree": _i(
            0,
            "dynamical 1/N term: highest Mehler degree (0: the first odd K with E c^{K+1} ≤ "
            "1e-7, K = 15 at d = 40)",
            low=0,
            high=63,
        ),
        "step": _f(0.05, "dynamical 1/N term: the longest RK4 step", low=0, low_open=True),
        "shared_noise": Key(
            "bool",
            False,
            "the first-order term of SGD's noise that the neurons share through the common "
            "sample (∝ sgd.eps / sgd.batch), as noise_shared and in risk_predicted "
            "(docs/finite_width.md)",
        ),
        "own_noise": Key(
            "bool",
            False,
            "the first-order term of each neuron's own step noise, as noise_own and in "
            "risk_predicted (dynamics.finite_step carries it in the mean law instead)",
        ),
        "euler_error": Key(
            "bool",
            False,
            "the first-order error of SGD's Euler steps of the drift (∝ sgd.eps), as "
            "euler_error and in risk_predicted",
        ),
        "noise_radial_nodes": _i(12, "step-noise terms: equal-mass radii of ρ's rings", low=2),
        "sample_nodes": _i(3, "step-noise terms: Gauss nodes in |x| per class", low=1),
        "cosine_nodes": _i(
            6, "step-noise terms: the pushed rings' cosines per piece between σ's kinks", low=2
        ),
        "noise_step": _f(
            0.1,
            "step-noise terms: the longest RK4 step of the pushed rings (0.05 moves the paper "
            "example's terms by < 1e-3 of themselves)",
            low=0,
            low_open=True,
        ),
        "injection_every": _f(
            0.025,
            "step-noise terms: the first spacing of the times s of ∫₀ᵗ ds (it then grows by 10% "
            "of s per step; pushes at t − 0.0125 … t − 0.2 resolve the shared part's fast "
            "decay in t − s)",
            low=0,
            low_open=True,
        ),
        "noise_lags": Key(
            "float_list",
            [0.0125, 0.025, 0.05, 0.1, 0.2],
            "step-noise terms: the lags τ of the extra pushes at t − τ before every stop time "
            "t, increasing, each > 0 (the shared part's integrand halves within about 0.03 of "
            "t − s on the paper example)",
        ),
        "law_of_a": Key(
            "bool",
            False,
            "with a second layer and a step-noise switch or finite_width.dynamical: the law "
            "of a's terms too — its CDF smoothed by N(0, law_bandwidth²) at every snapshot, as "
            "/snapshots/law_of_a_own, _shared, _euler, _error (noise switches) and "
            "law_of_a_dynamical, _dynamical_error (the dynamical 1/N term); ddsolver compare "
            "reports W1 of SGD's law of a against each cumulative prediction "
            "(docs/finite_width.md)",
        ),
        "law_bandwidth": _f(
            0.05,
            "law_of_a: the smoothing width b (the CDF is kept at x from grid.a_min to "
            "grid.a_max every b/2)",
            low=0,
            low_open=True,
        ),
        "law_a_nodes": _i(
            32,
            "law_of_a's step-noise terms: Gauss–Hermite nodes of a (on the second-layer "
            "transient 16 move W1 by up to 0.004, 48 by ≤ 3e-4 against 32)",
            low=2,
        ),
    },
    "output": {
        "path": Key("str", "", "output file (default: the config's name with .h5)"),
    },
}
TABLES = {"problem.activation", "dynamics.xi"}
#: Most snapshots and most observation stops of one run.
MAX_SNAPSHOTS = 100_000
MAX_STOPS = 10_000_000
#: Most SGD steps of one run (t_end / eps): beyond 2^53 the step index loses integers.
MAX_SGD_STEPS = 2**53
#: Seeds are what numpy's generators take: 0 ≤ seed < 2^63.
MAX_SEED = 2**63 - 1
#: Most seeds one SGD run advances together (each is a network held in memory at once).
MAX_SEEDS = 10_000


def _merge_kind_keys() -> None:
    """Add each problem kind's own keys to the tables of :data:`SCHEMA` (once, at import)."""
    for kind in SPECS.values():
        for table, keys in kind.keys.items():
            if table not in SCHEMA:  # a kind's own sub-table, e.g. problem.generate
                SCHEMA[table] = {}
                TABLES.add(table)
            for name, spec in keys.items():
                known = SCHEMA[table].get(name)
                if known is not None and known != spec:
                    raise RuntimeError(f"{kind.name} redefines config key {table}.{name}")
                SCHEMA[table][name] = spec


_merge_kind_keys()
