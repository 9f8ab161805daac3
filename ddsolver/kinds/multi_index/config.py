r"""The config section of the multi-index kind: its keys, its checks, the keys that apply.

Imports no kernel: :mod:`ddsolver.config` validates a config with this module alone.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import ClassVar

import numpy as np

from ...fields import Field, observables, snapshots, statistics_fields
from ...schema import (
    EXTENT,
    INITIAL_SEED,
    LABEL_NOISE,
    WEIGHT_MAX,
    ConfigError,
    Key,
    check_interval,
    dimension_value,
    float_key,
    int_key,
    kind_defaults,
)
from ..spec import KindSpec, Labels, check_dense_cells, grid_solver_keys, keys_of
from .mixed import MIXED_PAIRS
from .polynomial import PolynomialError, parse_polynomial

#: Activations whose pair moments K and their derivatives are closed forms: the flow evaluates
#: N² × (cosine nodes) of them per right-hand side, so quadrature ones would be far too slow.
ACTIVATIONS = ("erf", "relu", "ramp", "piecewise", "square", "cubic")
#: Observables name the mean and RMS of every m_l when k ≤ this.
MAX_NAMED_UNITS = 8
#: The r⊥ axis where the config does not set it (the shared defaults are the isotropic radius').
GRID_DEFAULTS = {"r_max": 2.0, "r_cells": 20}


def coordinate_names(units: int, second_layer: bool = False) -> tuple[str, ...]:
    """The reduced coordinates of a neuron: (a,) m_1 … m_k and r_perp."""
    first = (*(f"m_{j + 1}" for j in range(units)), "r_perp")
    return ("a", *first) if second_layer else first


def check_finite_step_dimension(cfg: dict) -> None:
    """``dynamics.finite_step`` of a particle flow in ((a,) m, r⊥) needs the SGD's finite d
    (``problem.dimension``, or ``initial.dimension`` with the d = ∞ kernel): the particles
    carry the correction's Itô drift of r⊥, of order εd; its O(ε) diffusions are not carried
    (:mod:`.step_noise`)."""
    d, d0 = dimension_value(cfg), float(cfg["initial"]["dimension"] or 0)
    if math.isinf(d) and (not d0 or math.isinf(d0)):
        raise ConfigError(
            "problem.dimension", d,
            "a finite d (or a finite initial.dimension with d = inf) with "
            "dynamics.finite_step: the correction grows like εd",
        )  # fmt: skip


STEP_DRIFT = Field(
    "∫ c dρ", "the finite step's mean Itô drift of r⊥ (order εd, dynamics.finite_step)"
)


def projection_fields(k: int, subspace: str) -> dict[str, Field]:
    """The observables of a flow reduced to projections m ∈ R^k on ``subspace`` and the
    orthogonal norm: the risk and its i.i.d. 1/N term, the alignment, and the RMS of each m_l
    (k ≤ :data:`MAX_NAMED_UNITS`)."""
    obs = {
        "risk": Field("R(ρ_t)", "population risk E (y − f(x))² of the mean-field network"),
        "risk_finite_n": Field(
            "R(ρ_t) + 1/N",
            "the risk plus the i.i.d. 1/N term at sgd.neurons, (1/N)(∫U(θ, θ) dρ − ∫∫Ū dρ dρ)",
        ),
        "alignment": Field("∫|m|²/|w|² dρ", f"share of the squared weight in {subspace}"),
    }
    if k <= MAX_NAMED_UNITS:
        for j in range(k):
            obs[f"m_rms_{j + 1}"] = Field(
                f"RMS of m_{j + 1}", f"(∫ m_{j + 1}² dρ)^½, the overlap with e_{j + 1}",
                group="m",
            )  # fmt: skip
    return obs


class MultiIndexSpec(KindSpec):
    """The config section of ``problem.kind = "multi_index"``."""

    name = "multi_index"
    summary = (
        "x ~ N(0, I_d), y = Σ_j v_j σ(<u_j, x>) (k teacher units) or a Hermite polynomial of k "
        "projections, + noise; students σ(<w, x>) as a particle flow in (m, r⊥) ∈ R^k × [0, ∞), "
        "or a σ(<w, x>) with both layers trained (problem.second_layer) in (a, m, r⊥)"
    )

    keys: ClassVar[dict[str, dict[str, Key]]] = {
        "problem.teacher": {
            "units": int_key(2, "multi-index: k, the teacher's units (its projections)", low=1),
            "v": Key(
                "float_list", [1.0], "multi-index: the teacher's second layer (one, or k values)"
            ),
            "gram": Key(
                "float_list",
                [],
                "multi-index: the Gram matrix u_i·u_j of the teacher's directions (k × k, row "
                "by row, positive definite; empty: the identity)",
            ),
            "activation": Key(
                "str",
                "",
                "multi-index: the teacher's activation g when it is not the students' σ (empty: "
                "σ); a pair of erf, relu and square has a closed mixed moment",
                choices=("", *ACTIVATIONS),
            ),
            "polynomial": Key(
                "str",
                "",
                "multi-index: a teacher y = Σ c_α Π h_{α_l}(z_l) in normalised Hermite form "
                "instead of the network, z_l = e_l·x (orthonormal e_l), e.g. the staircase "
                "'z1 + z1*z2 + z1*z2*z3'; factors z<l> or h<n>(z<l>) (empty: the network)",
            ),
        },
        "problem": {"label_noise": LABEL_NOISE},
        "initial": {"seed": INITIAL_SEED},
        "grid": {
            "m_min": float_key(
                -1.5, "multi-index grid: lower edge of every m_l axis (r⊥ uses r_*)", **EXTENT
            ),
            "m_max": float_key(1.5, "multi-index grid: upper edge of every m_l axis", **EXTENT),
            "m_cells": int_key(20, "multi-index grid: cells on every m_l axis", low=3),
        },
    }

    methods = ("particles", "grid")
    methods_reason = "particles for any k, the grid for k + 1 ≤ 3 coordinates"
    activations = ACTIVATIONS
    default_activation = "erf"

    def own_keys(self, cfg: dict) -> set[str]:
        """The teacher, the label noise, whether the second layer is trained (and then its
        initial law), λ, the finite-step switch, the initial law; then the method's keys
        (:meth:`reduced_keys`)."""
        teacher = (
            ("polynomial",)
            if cfg["problem"]["teacher"]["polynomial"]
            else ("v", "gram", "activation")
        )
        keys = keys_of("problem.teacher", "units", "polynomial", *teacher)
        keys |= {"problem.label_noise", "problem.second_layer", "dynamics.finite_step"}
        keys |= {"dynamics.lam"} | keys_of("initial", "kind", "scale", "dimension")
        if cfg["problem"]["second_layer"]:
            keys |= keys_of("initial", "a_mean", "a_std")
        return keys | self.reduced_keys(cfg)

    def reduced_keys(self, cfg: dict) -> set[str]:
        """The particles' seed, draw, count and tolerances, or the grid's axes and the grid
        solver's keys."""
        if cfg["discretisation"]["method"] == "grid":
            keys = grid_solver_keys(cfg) | {"grid.boundary_mass_max"}
            return keys | keys_of("grid", "m_min", "m_max", "m_cells", "r_min", "r_max",
                                  "r_cells", "r_stretch")  # fmt: skip
        return {"initial.seed"} | keys_of("particles", "count", "draw", "rtol", "atol")

    def check_finite_step(self, cfg: dict) -> None:
        """Accepted at the SGD's finite d: :func:`check_finite_step_dimension`."""
        check_finite_step_dimension(cfg)

    def inapplicable_reason(self, key: str, cfg: dict) -> str | None:
        """The network teacher's keys are off beside a polynomial teacher."""
        if key in ("problem.teacher.v", "problem.teacher.gram", "problem.teacher.activation"):
            if cfg["problem"]["teacher"]["polynomial"]:
                return "problem.teacher.polynomial replaces the network teacher"
        return None

    def labels(self, cfg: dict, points: int | None = None) -> Labels:
        """The mean-field DD's words, its limit a particle flow (or the grid's PDE)."""
        if cfg["discretisation"]["method"] == "grid":
            return super().labels(cfg, points)
        return replace(super().labels(cfg, points), limit="particle flow")

    def fields(self, cfg: dict) -> dict[str, Field]:
        """The particles' run: the risk; the mean and RMS of each projection m_l (k ≤
        :data:`MAX_NAMED_UNITS`), the weight's share in the teacher subspace, the statistics of
        every reduced coordinate, the finite step's drift; the particles (m_1 … m_k, r⊥) as
        snapshots. The grid's run has the shared fields only (the density and its statistics)."""
        k, second = cfg["problem"]["teacher"]["units"], cfg["problem"]["second_layer"]
        if cfg["discretisation"]["method"] == "grid":
            return {}  # the grid run's own: the density and its coordinates' statistics
        names = coordinate_names(k, second)
        obs = projection_fields(k, "the teacher subspace")
        if cfg["dynamics"]["finite_step"]:
            obs["step_drift"] = STEP_DRIFT
        obs.update(statistics_fields(names, "the particles"))
        snaps = {
            "particles": Field(
                "(a, m, r⊥)" if second else "(m, r⊥)",
                ("each particle's second layer, " if second else "each particle's ")
                + "projections on the teacher subspace and orthogonal norm",
                ("particle", "coordinate"),
                coordinates=names,
            ),
        }
        return {**observables(obs), **snapshots(snaps)}

    def figures(self, cfg: dict) -> tuple[str, ...]:
        """The risk, and the density of the (m, r⊥) grid at k = 1 (the particles' statistics
        are in the observables)."""
        grid = cfg["discretisation"]["method"] == "grid"
        return (
            ("risk", "density") if grid and cfg["problem"]["teacher"]["units"] == 1 else ("risk",)
        )

    def check(self, raw: dict, cfg: dict) -> None:
        super().check(raw, cfg)
        p, t = cfg["problem"], cfg["problem"]["teacher"]
        k, d = t["units"], p["dimension"]
        if not math.isinf(d) and d < k + 2:
            raise ConfigError(
                "problem.dimension", d,
                f"multi_index: d ≥ k + 2 = {k + 2} (the orthogonal parts need ≥ 2 dimensions)",
            )  # fmt: skip
        d0 = cfg["initial"]["dimension"]
        if d0 and not math.isinf(d0) and d0 < k + 1:
            raise ConfigError("initial.dimension", d0, f"multi_index: at least k + 1 = {k + 1}")
        if t["polynomial"]:
            self._check_polynomial(t["polynomial"], k)
        if cfg["discretisation"]["method"] == "grid":
            self._check_grid(raw, cfg)
        student = p["activation"]["kind"]
        if t["activation"] and t["activation"] != student:
            pair = (t["activation"], student)
            if pair not in MIXED_PAIRS:
                raise ConfigError(
                    "problem.teacher.activation", t["activation"],
                    f"a teacher unlike the students' σ = {student!r} needs a closed mixed "
                    "moment: two different ones of 'erf', 'relu', 'square' (or empty: σ)",
                )  # fmt: skip
        if len(t["v"]) not in (1, k):
            raise ConfigError("problem.teacher.v", t["v"], f"one number or k = {k} numbers")
        if max(map(abs, t["v"])) > WEIGHT_MAX:
            raise ConfigError("problem.teacher.v", t["v"], f"|v| ≤ {WEIGHT_MAX:g}")
        self._check_gram(t["gram"], k)

    @staticmethod
    def _check_grid(raw: dict, cfg: dict) -> None:
        """The grid holds k + 1 ≤ 3 axes of the first layer, its dense kernel at most
        :data:`~ddsolver.kinds.spec.MAX_DENSE_CELLS` cells; the finite step's drift is carried
        by particles."""
        k, grid = cfg["problem"]["teacher"]["units"], cfg["grid"]
        need = 'use discretisation.method = "particles"'
        for key, value, ok, allowed in (
            ("problem.teacher.units", k, k <= 2, f"at most 2 on the grid (k + 1 ≤ 3 axes); {need}"),
            ("problem.second_layer", True, not cfg["problem"]["second_layer"],
             f"false on the grid (it solves the first layer's (m, r⊥)); {need}"),
            ("dynamics.finite_step", True, not cfg["dynamics"]["finite_step"],
             f"false on the grid (the finite step's drift is built for particles); {need}"),
        ):  # fmt: skip
            if not ok:
                raise ConfigError(key, value, allowed)
        kind_defaults(grid, raw.get("grid", {}), GRID_DEFAULTS)
        check_interval(grid, "m")
        cells = grid["m_cells"] ** k * grid["r_cells"]
        check_dense_cells(grid, ("m_cells", "r_cells"), cells, "m_cells^k × r_cells")

    @staticmethod
    def _check_polynomial(text: str, k: int) -> None:
        try:
            parse_polynomial(text, k)
        except PolynomialError as err:
            raise ConfigError("problem.teacher.polynomial", text, str(err)) from None

    @staticmethod
    def _check_gram(gram: list[float], k: int) -> None:
        if not gram:
            return
        if len(gram) != k * k:
            raise ConfigError(
                "problem.teacher.gram", gram, f"k × k = {k * k} numbers, row by row (k = {k})"
            )
        g = np.reshape(np.asarray(gram, float), (k, k))
        if not np.allclose(g, g.T, rtol=0, atol=1e-12 * max(1.0, float(np.abs(g).max()))):
            raise ConfigError("problem.teacher.gram", gram, "must be symmetric")
        if np.abs(g).max() > WEIGHT_MAX**2:
            raise ConfigError("problem.teacher.gram", gram, f"entries ≤ {WEIGHT_MAX**2:g}")
        eig = np.linalg.eigvalsh(g)
        if eig.min() <= 1e-12 * max(eig.max(), 0.0):
            raise ConfigError(
                "problem.teacher.gram", gram,
                f"must be positive definite (eigenvalues {eig.min():.3g} … {eig.max():.3g}): "
                "the k directions must be independent",
            )  # fmt: skip


SPEC = MultiIndexSpec()
