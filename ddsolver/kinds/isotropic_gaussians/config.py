r"""The config section of isotropic Gaussians: its keys, its checks, the keys that apply.

Imports no kernel: :mod:`ddsolver.config` validates a config with this module alone.
"""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

from ...fields import NOISE_SWITCHES
from ...schema import ConfigError, Key, dimension_value
from ..spec import ReducedSpec, keys_of

#: The activations of the dynamical 1/N term (piecewise linear: closed-form Hermite columns);
#: models.activations.KINKED_KINDS restated, since a config check imports no kernel module.
KINKED = ("ramp", "relu", "piecewise")
#: Unbounded σ: the Mehler series of ū_d has no truncation bound, so particles (which need
#: the factorised interaction) run them only at d = ∞ (models.isotropic._second_moment_bound).
UNBOUNDED = ("relu", "square")
#: The switches of SGD's first-order step-noise terms and their numerics (docs/finite_width.md).
NOISE_TERMS = tuple(NOISE_SWITCHES)
NOISE_NUMERICS = (
    "noise_radial_nodes",
    "sample_nodes",
    "cosine_nodes",
    "noise_step",
    "injection_every",
    "noise_lags",
)


class IsotropicGaussiansSpec(ReducedSpec):
    """The config section of ``problem.kind = "isotropic_gaussians"``."""

    name = "isotropic_gaussians"
    summary = "y = ±1, x | y ~ N(0, (1 + yΔ)² I_d), σ*(x; w) = σ(<w, x>) (or a σ(<w, x>))"

    keys: ClassVar[dict[str, dict[str, Key]]] = {
        "problem": {
            "second_layer": Key(
                "bool",
                False,
                "isotropic, multi_index: students a σ(<w, x>) with a trained; isotropic θ = (a, w)",
            ),
            "mehler_tolerance": Key(
                "float",
                1e-13,
                "isotropic: bound on the truncation of ū_d's Mehler series (the rank follows: "
                "at d = 40, 1e-13 → J = 32, 1e-6 → J = 9, which moves the paper example's risk "
                "by 1.5e-9 and runs particles ~1.9× faster)",
                low=0.0,
                high=1.0,
                low_open=True,
                high_open=True,
            ),
        },
    }

    def reduced_keys(self, cfg: dict) -> set[str]:
        """Δ, the Mehler bound, τ, the finite-step and dynamical-1/N switches (with the latter's
        numerics when it is on); the r axis, and with a second
        layer the a axis and the law of a; on particles their counts (and τ's blob width at a
        finite d)."""
        second = cfg["problem"]["second_layer"]
        keys = keys_of("problem", "delta", "second_layer", "mehler_tolerance")
        keys |= keys_of("dynamics", "tau", "finite_step")
        keys |= keys_of("finite_width", "dynamical", *NOISE_TERMS)
        if cfg["dynamics"]["finite_step"]:
            keys.add("solver.finite_step_scheme")
        fw = cfg["finite_width"]
        noise = any(fw[name] for name in NOISE_TERMS)
        if fw["dynamical"]:
            keys |= keys_of("finite_width", "radial_nodes", "probe_nodes", "step")
        if noise:
            keys |= keys_of("finite_width", *NOISE_NUMERICS)
        if fw["dynamical"] or noise:
            keys.add("finite_width.degree")
            if second and cfg["initial"]["a_std"] > 0:
                keys.add("finite_width.a_nodes")
        if second and (noise or fw["dynamical"]) and cfg["discretisation"]["method"] == "grid":
            keys.add("finite_width.law_of_a")
            if fw["law_of_a"]:
                keys.add("finite_width.law_bandwidth")
                if noise and cfg["initial"]["a_std"] > 0:
                    keys.add("finite_width.law_a_nodes")
        keys |= keys_of("grid", "r_min", "r_max", "r_cells", "r_stretch")
        if second:
            keys |= keys_of("initial", "a_mean", "a_std")
            keys |= keys_of("grid", "a_min", "a_max", "a_cells")
        if cfg["discretisation"]["method"] == "particles":
            keys |= {"particles.r_count"} | ({"particles.a_count"} if second else set())
            if cfg["dynamics"]["tau"] > 0 and not math.isinf(dimension_value(cfg)):
                keys.add("particles.blob_width")
        return keys

    def check(self, raw: dict, cfg: dict) -> None:
        super().check(raw, cfg)
        kind = cfg["problem"]["activation"]["kind"]
        finite_d = not math.isinf(dimension_value(cfg))
        if cfg["discretisation"]["method"] == "particles" and finite_d and kind in UNBOUNDED:
            raise ConfigError(
                "problem.activation.kind", kind,
                "a bounded σ for particles at a finite d (the interaction's Mehler series has "
                f"no error bound for an unbounded σ such as {', '.join(UNBOUNDED)}); use the grid",
            )  # fmt: skip
        fw = cfg["finite_width"]
        if fw["dynamical"]:
            self.check_dynamical(cfg, "finite_width.dynamical (the dynamical 1/N term")
        for name in NOISE_TERMS:
            if fw[name]:
                self.check_dynamical(cfg, f"finite_width.{name} (the step-noise terms")
        lags = fw["noise_lags"]
        if any(fw[name] for name in NOISE_TERMS) and (
            any(lag <= 0 for lag in lags) or any(b <= a for a, b in itertools.pairwise(lags))
        ):
            raise ConfigError("finite_width.noise_lags", lags, "increasing lags, each > 0")
        if fw["own_noise"] and cfg["dynamics"]["finite_step"]:
            raise ConfigError(
                "finite_width.own_noise", True,
                "false with dynamics.finite_step, whose mean law already carries each "
                "neuron's own step noise (to all orders in ε)",
            )  # fmt: skip

    def inapplicable_reason(self, key: str, cfg: dict) -> str | None:
        """The law of a's terms need a second layer, a noise switch or the dynamical term, and
        the grid (whose law of a is their base); their numerics need the switch itself."""
        fw = cfg["finite_width"]
        if key == "finite_width.law_of_a":
            return ("it needs problem.second_layer = true, a finite_width noise switch "
                    f"({', '.join(NOISE_TERMS)}) or finite_width.dynamical, and "
                    'discretisation.method = "grid"')  # fmt: skip
        if key == "finite_width.law_a_nodes" and fw["law_of_a"]:
            if not any(fw[name] for name in NOISE_TERMS):
                return ("it sets the law of a's step-noise terms: it needs a finite_width noise "
                        f"switch ({', '.join(NOISE_TERMS)}); the dynamical term takes "
                        "finite_width.a_nodes")  # fmt: skip
            return "it needs initial.a_std > 0 (a point mass of a is one node)"
        if key in ("finite_width.law_bandwidth", "finite_width.law_a_nodes"):
            return "it needs finite_width.law_of_a = true"
        return None

    def check_dynamical(self, cfg: dict, switch: str) -> None:
        """The dynamical 1/N term and the step-noise terms cover noiseless networks (with or
        without a second layer) with a kinked σ at a finite d (docs/finite_width.md)."""
        need = f"with {switch} covers it only)"
        for key, value, ok, allowed in (
            ("problem.dimension", cfg["problem"]["dimension"],
             not math.isinf(dimension_value(cfg)), f"a finite d {need}"),
            ("problem.activation.kind", cfg["problem"]["activation"]["kind"],
             cfg["problem"]["activation"]["kind"] in KINKED, f"one of {', '.join(KINKED)} {need}"),
            ("dynamics.tau", cfg["dynamics"]["tau"], cfg["dynamics"]["tau"] == 0,
             f"0 {need}: noiseless dynamics"),
        ):  # fmt: skip
            if not ok:
                raise ConfigError(key, value, allowed)

    def check_finite_step(self, cfg: dict) -> None:
        """The correction is built at finite d on the grid (r, or (a, r))."""
        for key, value, ok, allowed in (
            ("problem.dimension", cfg["problem"]["dimension"],
             not math.isinf(dimension_value(cfg)), "a finite d with dynamics.finite_step "
             "(the correction grows like εd)"),
            ("discretisation.method", cfg["discretisation"]["method"],
             cfg["discretisation"]["method"] == "grid", "\"grid\" with dynamics.finite_step "
             "(the radial diffusion needs the grid)"),
        ):  # fmt: skip
            if not ok:
                raise ConfigError(key, value, allowed)


SPEC = IsotropicGaussiansSpec()
