r"""The config section of teacher–student: its keys, its checks, the keys that apply.

Imports no kernel: :mod:`ddsolver.config` validates a config with this module alone.
"""

from __future__ import annotations

import math
from typing import ClassVar

from ...schema import (
    EXTENT,
    LABEL_NOISE,
    MAGNITUDE,
    ConfigError,
    Key,
    check_interval,
    float_key,
    int_key,
    kind_defaults,
)
from ..spec import ReducedSpec, check_dense_cells, keys_of

#: (u, v) grid where the config does not set it.
GRID_DEFAULTS = {"r_max": 2.0, "r_cells": 40}


class TeacherStudentSpec(ReducedSpec):
    """The config section of ``problem.kind = "teacher_student"``."""

    name = "teacher_student"
    summary = "x ~ N(0, I_d), y = σ(<w*, x>) + noise; students σ(<w, x>) on a (u, v) grid"

    keys: ClassVar[dict[str, dict[str, Key]]] = {
        "problem": {
            "teacher_norm": float_key(
                1.0, "teacher–student: |w*|, y = σ(<w*, x>) + label noise", **MAGNITUDE
            ),
            "label_noise": LABEL_NOISE,
        },
        "grid": {
            "u_min": float_key(
                -1.0, "teacher–student: lower edge of u = <w, w*/|w*|> (v uses r_*)", **EXTENT
            ),
            "u_max": float_key(2.0, "teacher–student: upper edge of the u axis", **EXTENT),
            "u_cells": int_key(48, "teacher–student: cells on the u axis", low=3),
        },
    }

    methods = ("grid",)
    methods_reason = "its kernel is dense (no factorisation for particles)"

    def reduced_keys(self, cfg: dict) -> set[str]:
        """The teacher's norm and label noise, τ, and the (u, v) grid (v on the r_* keys)."""
        keys = keys_of("problem", "teacher_norm", "label_noise") | {"dynamics.tau"}
        return keys | keys_of(
            "grid", "u_min", "u_max", "u_cells", "r_min", "r_max", "r_cells", "r_stretch"
        )

    def check(self, raw: dict, cfg: dict) -> None:
        problem, grid = cfg["problem"], cfg["grid"]
        if problem["second_layer"]:
            raise ConfigError(
                "problem.second_layer", True, "teacher_student trains w only (σ(<w, x>) students)"
            )
        if problem["dimension"] != math.inf and problem["dimension"] < 3:
            raise ConfigError("problem.dimension", problem["dimension"], 'must be ≥ 3 or "inf"')
        super().check(raw, cfg)
        kind_defaults(grid, raw.get("grid", {}), GRID_DEFAULTS)
        check_interval(grid, "u")
        cells = grid["u_cells"] * grid["r_cells"]
        check_dense_cells(grid, ("u_cells", "r_cells"), cells, "u_cells × r_cells")
        if cfg["dynamics"]["tau"] > 0 and grid["r_min"] == 0:
            raise ConfigError(
                "grid.r_min",
                0.0,
                "with τ > 0 the reference measure v^(d−2) needs the v axis to start above 0",
            )


SPEC = TeacherStudentSpec()
