r"""The config section of the Gaussian-mixture kind: its keys, its checks, the keys that apply.

Imports no kernel: :mod:`ddsolver.config` validates a config with this module alone.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import ClassVar

from ...fields import Field, observables, snapshots, statistics_fields
from ...schema import INITIAL_SEED, LABEL_NOISE, WEIGHT_MAX, ConfigError, Key
from ..multi_index.config import STEP_DRIFT, check_finite_step_dimension, projection_fields
from ..multi_index.config import coordinate_names as multi_index_coordinates
from ..spec import KindSpec, Labels, keys_of

#: Activations with closed-form (or exact-quadrature) biased pair moments (:mod:`.moments`).
ACTIVATIONS = ("erf", "relu", "square")
#: The ready XOR: ±μ e₁ labelled +1, ±μ e₂ labelled −1 (μ = 2, unit widths).
XOR_MEANS = [2.0, 0.0, -2.0, 0.0, 0.0, 2.0, 0.0, -2.0]
XOR_LABELS = [1.0, 1.0, -1.0, -1.0]


def coordinate_names(span: int) -> tuple[str, ...]:
    """The reduced coordinates of a neuron: a, m_1 … m_p and r_perp."""
    return multi_index_coordinates(span, second_layer=True)


def mixture_span(cfg: dict) -> int:
    """p, the length of each cluster's mean (the config's means are clusters × p, row by row)."""
    mix = cfg["problem"]["mixture"]
    return len(mix["means"]) // len(mix["labels"])


class GaussianMixtureSpec(KindSpec):
    """The config section of ``problem.kind = "gaussian_mixture"``."""

    name = "gaussian_mixture"
    summary = (
        "clusters x | c ~ N(μ_c, s_c² I_d) with labels y_c (XOR by default); students "
        "a σ(<w, x>), both layers trained, as a particle flow in (a, m, r⊥)"
    )

    keys: ClassVar[dict[str, dict[str, Key]]] = {
        "problem.mixture": {
            "labels": Key(
                "float_list", XOR_LABELS, "mixture: y_c, one label per cluster (sets the count C)"
            ),
            "means": Key(
                "float_list",
                XOR_MEANS,
                "mixture: the clusters' means μ_c in the first p axes (C × p, row by row)",
            ),
            "widths": Key(
                "float_list", [1.0], "mixture: s_c > 0, x | c ~ N(μ_c, s_c² I_d) (one, or C values)"
            ),
            "probs": Key(
                "float_list", [], "mixture: the clusters' probabilities π_c (empty: equal)"
            ),
        },
        "problem": {"label_noise": LABEL_NOISE},
        "initial": {"seed": INITIAL_SEED},
    }

    methods = ("particles",)
    methods_reason = "its limit is a flow of particles in (a, m, r⊥)"
    activations = ACTIVATIONS
    default_activation = "relu"

    def own_keys(self, cfg: dict) -> set[str]:
        """The clusters, the label noise, λ, the finite-step switch, the initial law of both
        layers (its draw of the particles), the particles' count and tolerances."""
        keys = keys_of("problem.mixture", "labels", "means", "widths", "probs")
        keys |= {"problem.label_noise", "dynamics.lam", "dynamics.finite_step"}
        keys |= keys_of("initial", "kind", "scale", "dimension", "seed", "a_mean", "a_std")
        return keys | keys_of("particles", "count", "draw", "rtol", "atol")

    def check_finite_step(self, cfg: dict) -> None:
        """Accepted at the SGD's finite d, as for the multi-index kind."""
        check_finite_step_dimension(cfg)

    def labels(self, cfg: dict, points: int | None = None) -> Labels:
        """The mean-field DD's words, its limit a particle flow."""
        return replace(super().labels(cfg, points), limit="particle flow")

    def fields(self, cfg: dict) -> dict[str, Field]:
        """The risk and its 1/N term, the alignment, the RMS of each m_l (p ≤ 8)
        (:func:`~ddsolver.kinds.multi_index.config.projection_fields`), the statistics of
        every reduced coordinate, the finite step's drift; the particles (a, m_1 … m_p, r⊥) as
        snapshots."""
        span = mixture_span(cfg)
        names = coordinate_names(span)
        obs = projection_fields(span, "the means' span")
        if cfg["dynamics"]["finite_step"]:
            obs["step_drift"] = STEP_DRIFT
        obs.update(statistics_fields(names, "the particles"))
        snaps = {
            "particles": Field(
                "(a, m, r⊥)",
                "each particle's second layer, projections on the means' span and orthogonal norm",
                ("particle", "coordinate"),
                coordinates=names,
            ),
        }
        return {**observables(obs), **snapshots(snaps)}

    def figures(self, cfg: dict) -> tuple[str, ...]:
        """The risk only (the particles' statistics are in the observables)."""
        return ("risk",)

    def check(self, raw: dict, cfg: dict) -> None:
        super().check(raw, cfg)
        p, mix = cfg["problem"], cfg["problem"]["mixture"]
        if p["second_layer"]:
            raise ConfigError(
                "problem.second_layer", True,
                "gaussian_mixture always trains both layers (its students are a σ(<w, x>))",
            )  # fmt: skip
        count = len(mix["labels"])  # (an empty list is refused by its type)
        means = mix["means"]
        if len(means) % count:
            raise ConfigError(
                "problem.mixture.means", means,
                f"C × p numbers, row by row, every mean of one length p (C = {count} clusters "
                f"from problem.mixture.labels; {len(means)} numbers)",
            )  # fmt: skip
        span = len(means) // count
        d = p["dimension"]
        if not math.isinf(d) and d < span + 2:
            raise ConfigError(
                "problem.dimension", d,
                f"gaussian_mixture: d ≥ p + 2 = {span + 2} (the means have p = {span} "
                "coordinates; the orthogonal parts need ≥ 2 dimensions)",
            )  # fmt: skip
        d0 = cfg["initial"]["dimension"]
        if d0 and not math.isinf(d0) and d0 < span + 1:
            raise ConfigError(
                "initial.dimension", d0, f"gaussian_mixture: at least p + 1 = {span + 1}"
            )
        for key in ("labels", "means"):
            if max(map(abs, mix[key])) > WEIGHT_MAX:
                raise ConfigError(f"problem.mixture.{key}", mix[key], f"|·| ≤ {WEIGHT_MAX:g}")
        widths = mix["widths"]
        if len(widths) not in (1, count):
            raise ConfigError(
                "problem.mixture.widths", widths, f"one number or C = {count} numbers"
            )
        if min(widths) <= 0 or max(widths) > WEIGHT_MAX:
            raise ConfigError("problem.mixture.widths", widths, f"each in (0, {WEIGHT_MAX:g}]")
        self._check_probs(mix["probs"], count)

    @staticmethod
    def _check_probs(probs: list[float], count: int) -> None:
        if not probs:
            return
        if len(probs) != count:
            raise ConfigError("problem.mixture.probs", probs, f"C = {count} numbers, or empty")
        if min(probs) <= 0 or not math.isclose(sum(probs), 1.0, rel_tol=0, abs_tol=1e-9):
            raise ConfigError(
                "problem.mixture.probs", probs, "positive numbers summing to 1 (within 1e-9)"
            )


SPEC = GaussianMixtureSpec()
