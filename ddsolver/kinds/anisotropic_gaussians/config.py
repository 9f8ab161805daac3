r"""The config section of anisotropic Gaussians: its keys, its checks, the keys that apply.

Imports no kernel: :mod:`ddsolver.config` validates a config with this module alone.
"""

from __future__ import annotations

import math
from typing import ClassVar

from ...schema import (
    EXTENT,
    WEIGHT_MAX,
    ConfigError,
    Key,
    check_interval,
    float_key,
    int_key,
    kind_defaults,
    largest_factor,
)
from ..spec import ReducedSpec, keys_of

#: Output grid where the config does not set it (the isotropic defaults would make a 4-D
#: snapshot of 96 × 24 × 800 × 800 cells).
GRID_DEFAULTS = {"r_cells": 24, "a_cells": 24}

#: Largest density snapshot (cells) of a 4-D particle run: 24⁴ ≈ 3.3e5 is typical.
MAX_DENSITY_CELLS = 2_000_000

#: Most particles of a 4-D particle run (the velocity is O(M) per evaluation).
MAX_PARTICLES = 200_000


class AnisotropicGaussiansSpec(ReducedSpec):
    """The config section of ``problem.kind = "anisotropic_gaussians"``."""

    name = "anisotropic_gaussians"
    summary = "y = ±1, only s₀ coordinates of x carry the label; a·ReLU(<w, x> + b) neurons"

    keys: ClassVar[dict[str, dict[str, Key]]] = {
        "problem": {
            "informative": int_key(
                10, "anisotropic: s₀, the coordinates whose variance carries the label", low=1
            ),
        },
        "initial": {
            "b_mean": float_key(0.0, "anisotropic: mean of the bias b", **EXTENT),
            "b_std": float_key(
                0.0, "anisotropic: standard deviation of b (0: point mass)", low=0, high=WEIGHT_MAX
            ),
        },
        "particles": {
            "b_count": int_key(
                1, "anisotropic: particles along b (r₁ and r₂ take r_count each)", low=1
            ),
        },
        "grid": {
            "b_min": float_key(-2.0, "anisotropic: lower edge of the b axis", **EXTENT),
            "b_max": float_key(2.0, "anisotropic: upper edge of the b axis", **EXTENT),
            "b_cells": int_key(
                24, "anisotropic: cells on the b axis (r₁, r₂ take r_cells each)", low=3
            ),
        },
    }

    methods = ("particles",)
    methods_reason = "it has 4 reduced coordinates (a, b, r1, r2)"

    def reduced_keys(self, cfg: dict) -> set[str]:
        """Δ and s₀, the laws of a and b, the finite-step switch, the particle counts and the
        (a, b, r₁, r₂) density grid (uniform: no r_stretch); τ is 0."""
        keys = keys_of("problem", "delta", "informative") | {"dynamics.finite_step"}
        keys |= keys_of("initial", "a_mean", "a_std", "b_mean", "b_std")
        keys |= keys_of("particles", "r_count", "a_count", "b_count")
        return keys | keys_of(
            "grid", "a_min", "a_max", "a_cells", "b_min", "b_max", "b_cells", "r_min", "r_max",
            "r_cells",
        )  # fmt: skip

    def check_finite_step(self, cfg: dict) -> None:
        """Accepted: the particles carry the correction's Itô drift of r₁ and r₂ (order εs₀ and
        ε(d − s₀)) at the SGD's d; its O(ε) diffusions are not carried (docs/finite_step.md)."""

    def check(self, raw: dict, cfg: dict) -> None:
        problem = cfg["problem"]
        kind = raw.get("problem", {}).get("activation", {}).get("kind", "relu")
        if kind != "relu":
            raise ConfigError(
                "problem.activation.kind", kind, "anisotropic_gaussians has σ = ReLU; use 'relu'"
            )
        problem["activation"] = {"kind": "relu"}
        if problem["second_layer"]:
            raise ConfigError(
                "problem.second_layer",
                True,
                "anisotropic_gaussians always trains (a, b, w); leave second_layer false",
            )
        d = problem["dimension"]
        if d != math.inf and not problem["informative"] < d:
            raise ConfigError(
                "problem.informative",
                problem["informative"],
                f"must be below problem.dimension = {d}",
            )
        if cfg["dynamics"]["tau"] > 0:
            raise ConfigError(
                "dynamics.tau", cfg["dynamics"]["tau"], "anisotropic_gaussians is solved with τ = 0"
            )
        super().check(raw, cfg)
        initial_d = cfg["initial"]["dimension"] or d
        if initial_d == math.inf:
            raise ConfigError(
                "initial.dimension",
                cfg["initial"]["dimension"],
                "the anisotropic initial law needs a finite d (|w₁| ~ κ√(s₀/d)); with "
                'problem.dimension = "inf" set initial.dimension to the d of the data',
            )
        if not problem["informative"] < initial_d:
            raise ConfigError(
                "problem.informative",
                problem["informative"],
                f"must be below the initial law's d = {initial_d}",
            )
        grid, part = cfg["grid"], cfg["particles"]
        kind_defaults(grid, raw.get("grid", {}), GRID_DEFAULTS)
        initial = cfg["initial"]
        counts = {
            "r_count": 8,
            "a_count": 8 if initial["a_std"] > 0 else 1,
            "b_count": 8 if initial["b_std"] > 0 else 1,
        }
        kind_defaults(part, raw.get("particles", {}), counts)
        check_interval(grid, "b")
        cells = grid["a_cells"] * grid["b_cells"] * grid["r_cells"] ** 2
        if cells > MAX_DENSITY_CELLS:
            raise ConfigError(
                *largest_factor(grid, "grid", ("a_cells", "b_cells", "r_cells")),
                f"the 4-D density snapshot would have {cells} cells (a × b × r × r, at most "
                f"{MAX_DENSITY_CELLS}); use e.g. 24 cells per axis",
            )
        count = part["a_count"] * part["b_count"] * part["r_count"] ** 2
        if count > MAX_PARTICLES:
            raise ConfigError(
                *largest_factor(part, "particles", ("a_count", "b_count", "r_count")),
                f"a_count × b_count × r_count² = {count} particles (at most {MAX_PARTICLES})",
            )


SPEC = AnisotropicGaussiansSpec()
