r"""Step-size schedules ξ(t): the SGD step at time t is s_k = ε ξ(kε).

=============  ==========================================  =======================
kind           ξ(t)                                        parameters
=============  ==========================================  =======================
``constant``   value                                       value
``power``      value · (t + t0)^(−alpha)                   value, t0 > 0, alpha ≥ 0
``piecewise``  values[i] for times[i] ≤ t < times[i+1]     times (from 0), values
=============  ==========================================  =======================

A schedule is encoded for the compiled kernels as ``(code, params)``.

:class:`Temperature` is the temperature τ(t) of mean-field Langevin dynamics: constant, or
annealed as τ(t) = τ₀ / log(e + t/t_a) (``dynamics.anneal = "log"``), the logarithmic decay
under which Chizat 2022 ("Mean-field Langevin dynamics: exponential convergence and
annealing", §4) shows convergence to the minimisers of the unregularised objective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._jit import jit

CONSTANT, POWER, PIECEWISE = 0, 1, 2
KINDS = {"constant": CONSTANT, "power": POWER, "piecewise": PIECEWISE}


@dataclass(frozen=True)
class Schedule:
    """ξ(t) as ``kind`` and its parameters (see the module table)."""

    kind: str
    value: float = 1.0
    t0: float = 1.0
    alpha: float = 0.0
    times: tuple[float, ...] = ()
    values: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"schedule kind {self.kind!r}; allowed: {sorted(KINDS)}")
        if self.kind == "piecewise":
            t = np.asarray(self.times, dtype=float)
            if len(self.times) != len(self.values) or not self.times or self.times[0] != 0.0:
                raise ValueError("piecewise schedule: times start at 0, one value per time")
            if np.any(np.diff(t) <= 0) or min(self.values) <= 0:
                raise ValueError("piecewise schedule: times increasing and values > 0")
        elif self.value <= 0:
            raise ValueError(f"schedule value must be > 0, got {self.value}")
        if self.kind == "power" and (self.t0 <= 0 or self.alpha < 0):
            raise ValueError("power schedule needs t0 > 0 and alpha ≥ 0")

    @property
    def code(self) -> int:
        """Integer code for the kernels."""
        return KINDS[self.kind]

    @property
    def params(self) -> np.ndarray:
        """Parameter array for the kernels."""
        if self.kind == "piecewise":
            return np.concatenate([self.times, self.values]).astype(np.float64)
        return np.array([self.value, self.t0, self.alpha])

    def __call__(self, t: float) -> float:
        """ξ(t)."""
        return float(schedule_value(self.code, self.params, float(t)))

    def maximum(self, t_start: float, t_end: float) -> float:
        """sup of ξ over [t_start, t_end] (for step-size bounds)."""
        if self.kind == "constant":
            return self.value
        if self.kind == "power":
            return self.value * (t_start + self.t0) ** (-self.alpha)
        t = np.asarray(self.times)
        active = (t < t_end) & (np.append(t[1:], np.inf) > t_start)
        return float(np.max(np.asarray(self.values)[active]))


def schedule_from(xi) -> Schedule:
    """ξ(t) from a resolved ``dynamics.xi``: a number (constant), or a table — a mapping or a
    record with the attributes ``kind``, ``value``, ``t0``, ``alpha``, ``times``, ``values``."""
    if isinstance(xi, int | float):
        return Schedule("constant", value=float(xi))
    get = xi.get if isinstance(xi, dict) else lambda name, default: getattr(xi, name, default)
    return Schedule(
        get("kind", "constant"),
        value=float(get("value", 1.0)),
        t0=float(get("t0", 1.0)),
        alpha=float(get("alpha", 0.0)),
        times=tuple(get("times", ())),
        values=tuple(get("values", ())),
    )


@dataclass(frozen=True)
class Temperature:
    """τ(t) = value (``anneal = "none"``) or value / log(e + t/time) (``"log"``): τ(0) = value,
    τ(t) ~ value / log(t/time) for t ≫ time."""

    value: float
    anneal: str = "none"
    time: float = 1.0

    def __post_init__(self) -> None:
        if self.anneal not in ("none", "log"):
            raise ValueError(f"annealing {self.anneal!r}; allowed: 'none', 'log'")
        if self.value < 0 or self.time <= 0:
            raise ValueError("temperature ≥ 0 and annealing time > 0")

    def __call__(self, t: float) -> float:
        if self.anneal == "none":
            return self.value
        return self.value / math.log(math.e + t / self.time)


def temperature_from(dynamics) -> Temperature:
    """τ(t) from a resolved ``[dynamics]`` (a record with ``tau`` and, where they apply,
    ``anneal`` and ``anneal_time``)."""
    anneal = getattr(dynamics, "anneal", "none") or "none"
    return Temperature(float(dynamics.tau), anneal, float(getattr(dynamics, "anneal_time", 1.0)))


@jit
def schedule_value(code, params, t):
    """ξ(t) for an encoded schedule (compiled)."""
    if code == CONSTANT:
        return params[0]
    if code == POWER:
        return params[0] * (t + params[1]) ** (-params[2])
    n = params.shape[0] // 2
    value = params[n]
    for i in range(1, n):
        if t >= params[i]:
            value = params[n + i]
    return value
