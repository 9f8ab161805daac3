r"""Activation functions σ and their derivatives.

An :class:`Activation` is an immutable description (kind and parameters) that
evaluates in NumPy and hands the compiled kernels an integer ``code`` and a
``params`` array, so a single kernel serves every activation:

===========  ========================================================  ===========
kind         σ(t)                                                      parameters
===========  ========================================================  ===========
``ramp``     s1 for t ≤ t1, s2 for t ≥ t2, linear in between           t1, t2, s1, s2
``relu``     max(t, 0)                                                 —
``erf``      erf(t)                                                    —
``tanh``     tanh(t)                                                   —
``sigmoid``  1 / (1 + e^{−t})                                          —
``square``   t²                                                        —
``piecewise`` linear through (t_k, s_k), flat outside [t_1, t_K]       knots, values
``cubic``    c_0 + c_1 t + c_2 t² + c_3 t³                             coefficients
===========  ========================================================  ===========

The piecewise-linear σ = s_1 + Σ_k β_k (t − t_k)₊ (β_k the jumps of the slope, Σβ_k = 0)
generalises the ramp (two knots) and can be non-monotone; its Gaussian integrals are
closed forms in the biased-ReLU moments, like the ramp's. Its kernel parameters are
[K, t_1..t_K, s_1..s_K].

The cubic's Gaussian integrals are finite sums: σ(aG) = Σ_{n ≤ 3} f̂_n(a) h_n(G) with
f̂_0 = c_0 + c_2a², f̂_1 = c_1a + 3c_3a³, f̂_2 = √2 c_2a², f̂_3 = √6 c_3a³, so every Hermite
coefficient up to degree 3 can be non-zero at once (what a staircase needs). Its kernel
parameters are [c_0, c_1, c_2, c_3].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._jit import jit
from .._scipy import special

RAMP, RELU, ERF, TANH, SIGMOID, PIECEWISE, SQUARE, CUBIC = 0, 1, 2, 3, 4, 5, 6, 7

KIND_CODES = {
    "ramp": RAMP,
    "relu": RELU,
    "erf": ERF,
    "tanh": TANH,
    "sigmoid": SIGMOID,
    "piecewise": PIECEWISE,
    "square": SQUARE,
    "cubic": CUBIC,
}
PARAMETER_NAMES = {
    "ramp": ("t1", "t2", "s1", "s2"),
    "relu": (),
    "erf": (),
    "tanh": (),
    "sigmoid": (),
    "piecewise": ("knots", "values"),  # lists; stored as (K, *knots, *values)
    "square": (),
    "cubic": ("coefficients",),  # a list c_0 … c_3 (shorter: the rest 0); stored as 4 numbers
}
#: Default parameters of the ramp: the activation of Mei, Montanari & Nguyen (2018), Fig. 1.
RAMP_DEFAULTS = {"t1": 0.5, "t2": 1.5, "s1": -2.5, "s2": 7.5}
#: Default coefficients of the cubic: t + t²/2 + t³/6, the first terms of e^t − 1.
CUBIC_DEFAULTS = (0.0, 1.0, 0.5, 1.0 / 6.0)
#: Activations whose Gaussian integrals are in closed form; the others use quadrature.
CLOSED_FORM_KINDS = frozenset({"ramp", "relu", "erf", "piecewise", "square", "cubic"})
#: Piecewise-linear activations: σ'' is a sum of Dirac masses at the kinks (exact tables).
KINKED_KINDS = ("ramp", "relu", "piecewise")


@dataclass(frozen=True)
class Activation:
    """An activation function σ, identified by ``kind`` and its parameters.

    Parameters
    ----------
    kind : str
        One of ``ramp``, ``relu``, ``erf``, ``tanh``, ``sigmoid``, ``piecewise``, ``square``.
    params : tuple of float
        The parameters in the order of :data:`PARAMETER_NAMES` (empty but for the ramp).
    """

    kind: str
    params: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.kind not in KIND_CODES:
            raise ValueError(
                f"activation kind {self.kind!r} is not known; allowed: {sorted(KIND_CODES)}"
            )
        if self.kind == "piecewise":
            self._check_piecewise()
            return
        if self.kind == "cubic":
            if len(self.params) != 4 or not np.all(np.isfinite(self.params)):
                raise ValueError(f"cubic activation takes 4 finite coefficients, got {self.params}")
            return
        expected = PARAMETER_NAMES[self.kind]
        if len(self.params) != len(expected):
            raise ValueError(
                f"activation {self.kind!r} takes parameters {expected}, got {self.params}"
            )
        if self.kind == "ramp":
            t1, t2, _, _ = self.params
            if not t1 < t2:
                raise ValueError(f"ramp activation needs t1 < t2, got t1={t1}, t2={t2}")

    def _check_piecewise(self) -> None:
        p = self.params
        count = int(p[0]) if p else 0
        knots = np.asarray(p[1 : 1 + count], dtype=float)
        if count < 2 or len(p) != 1 + 2 * count or not np.all(np.isfinite(p)):
            raise ValueError(
                f"piecewise activation needs ≥ 2 knots and one value per knot, got {p}"
            )
        if not np.all(np.diff(knots) > 0):
            raise ValueError(f"piecewise knots must increase strictly, got {knots.tolist()}")

    @property
    def knots(self) -> np.ndarray:
        """Piecewise: the knots t_k, shape (K,)."""
        count = int(self.params[0])
        return np.array(self.params[1 : 1 + count])

    @property
    def values(self) -> np.ndarray:
        """Piecewise: the values s_k = σ(t_k), shape (K,)."""
        count = int(self.params[0])
        return np.array(self.params[1 + count :])

    def kink_structure(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(kinks, signs, slope): σ'' = slope Σ signs_k δ(t − kinks_k) (ramp, ReLU, piecewise)."""
        if self.kind == "ramp":
            t1, t2, s1, s2 = self.params
            return np.array([t1, t2]), np.array([1.0, -1.0]), (s2 - s1) / (t2 - t1)
        if self.kind == "relu":
            return np.array([0.0]), np.array([1.0]), 1.0
        if self.kind == "piecewise":
            slopes = np.diff(self.values) / np.diff(self.knots)
            jumps = np.diff(np.concatenate([[0.0], slopes, [0.0]]))
            return self.knots, jumps, 1.0
        raise ValueError(f"activation {self.kind!r} has no kinks")

    @classmethod
    def from_mapping(cls, table: dict) -> Activation:
        """Build from a config table such as ``{"kind": "ramp", "t1": 0.5, ...}``."""
        table = dict(table)
        kind = table.pop("kind", None)
        if kind not in KIND_CODES:
            raise ValueError(
                f"activation kind {kind!r} is not known; allowed: {sorted(KIND_CODES)}"
            )
        names = PARAMETER_NAMES[kind]
        if kind == "piecewise":
            unknown = set(table) - set(names)
            if unknown or set(table) != set(names):
                raise ValueError(
                    f"activation 'piecewise' takes exactly {list(names)}, got {sorted(table)}"
                )
            knots = [float(x) for x in table["knots"]]
            values = [float(x) for x in table["values"]]
            if len(knots) != len(values):
                raise ValueError("piecewise activation needs one value per knot")
            return cls(kind, (float(len(knots)), *knots, *values))
        if kind == "cubic":
            unknown = set(table) - set(names)
            if unknown:
                raise ValueError(
                    f"activation 'cubic' takes only ['coefficients'], got {sorted(table)}"
                )
            coefs = [float(x) for x in table.get("coefficients", CUBIC_DEFAULTS)]
            if not 1 <= len(coefs) <= 4:
                raise ValueError(f"cubic activation takes 1 to 4 coefficients, got {coefs}")
            return cls(kind, tuple(coefs + [0.0] * (4 - len(coefs))))
        defaults = RAMP_DEFAULTS if kind == "ramp" else {}
        unknown = set(table) - set(names)
        if unknown:
            raise ValueError(
                f"activation {kind!r} has no parameter(s) {sorted(unknown)}; allowed: {list(names)}"
            )
        return cls(kind, tuple(float(table.get(n, defaults[n])) for n in names))

    @property
    def code(self) -> int:
        """Integer code used by the compiled kernels."""
        return KIND_CODES[self.kind]

    @property
    def param_array(self) -> np.ndarray:
        """Parameters as a float64 array (length ≥ 1, for the kernels)."""
        return np.array(self.params if self.params else (0.0,), dtype=np.float64)

    @property
    def has_closed_form(self) -> bool:
        """Whether its Gaussian integrals are evaluated in closed form."""
        return self.kind in CLOSED_FORM_KINDS

    def as_mapping(self) -> dict:
        """The config table that rebuilds this activation."""
        if self.kind == "piecewise":
            return {"kind": self.kind, "knots": self.knots.tolist(), "values": self.values.tolist()}
        if self.kind == "cubic":
            return {"kind": self.kind, "coefficients": list(self.params)}
        return {
            "kind": self.kind,
            **dict(zip(PARAMETER_NAMES[self.kind], self.params, strict=True)),
        }

    def __call__(self, t):
        """σ(t), elementwise (NumPy)."""
        t = np.asarray(t, dtype=float)
        if self.kind == "ramp":
            t1, t2, s1, s2 = self.params
            return s1 + (s2 - s1) / (t2 - t1) * (np.clip(t, t1, t2) - t1)
        if self.kind == "relu":
            return np.maximum(t, 0.0)
        if self.kind == "erf":
            return special.erf(t)
        if self.kind == "tanh":
            return np.tanh(t)
        if self.kind == "piecewise":
            return np.interp(t, self.knots, self.values)
        if self.kind == "sigmoid":
            return special.expit(t)
        if self.kind == "square":
            return t * t
        if self.kind == "cubic":
            c0, c1, c2, c3 = self.params
            return c0 + t * (c1 + t * (c2 + t * c3))
        raise ValueError(f"activation {self.kind!r} has no value here")

    def derivative(self, t):
        """σ'(t), elementwise (NumPy); 0 at the kinks of ramp and ReLU."""
        t = np.asarray(t, dtype=float)
        if self.kind == "ramp":
            t1, t2, s1, s2 = self.params
            return np.where((t > t1) & (t < t2), (s2 - s1) / (t2 - t1), 0.0)
        if self.kind == "relu":
            return np.where(t > 0, 1.0, 0.0)
        if self.kind == "erf":
            return 2.0 / math.sqrt(math.pi) * np.exp(-t * t)
        if self.kind == "tanh":
            return 1.0 - np.tanh(t) ** 2
        if self.kind == "piecewise":
            knots = self.knots
            slopes = np.diff(self.values) / np.diff(knots)
            index = np.clip(np.searchsorted(knots, t, side="right") - 1, 0, knots.size - 2)
            inside = (t > knots[0]) & (t < knots[-1]) & ~np.isin(t, knots)
            return np.where(inside, slopes[index], 0.0)
        if self.kind == "sigmoid":
            e = special.expit(t)
            return e * (1.0 - e)
        if self.kind == "square":
            return 2.0 * t
        if self.kind == "cubic":
            _, c1, c2, c3 = self.params
            return c1 + t * (2.0 * c2 + t * 3.0 * c3)
        raise ValueError(f"activation {self.kind!r} has no derivative here")


def paper_ramp() -> Activation:
    """The ramp of Mei, Montanari & Nguyen (2018): t1 = 0.5, t2 = 1.5, s1 = −2.5, s2 = 7.5."""
    return Activation("ramp", tuple(RAMP_DEFAULTS[n] for n in PARAMETER_NAMES["ramp"]))


@jit
def act_value(code, params, t):
    """σ(t) for the activation with integer ``code`` and ``params`` (compiled)."""
    if code == RAMP:
        t1, t2, s1, s2 = params[0], params[1], params[2], params[3]
        if t <= t1:
            return s1
        if t >= t2:
            return s2
        return s1 + (s2 - s1) / (t2 - t1) * (t - t1)
    if code == RELU:
        return t if t > 0.0 else 0.0
    if code == ERF:
        return math.erf(t)
    if code == TANH:
        return math.tanh(t)
    if code == PIECEWISE:
        count = int(params[0])
        if t <= params[1]:
            return params[1 + count]
        for k in range(1, count):
            if t < params[1 + k]:
                t0, t1 = params[k], params[1 + k]
                s0, s1 = params[count + k], params[count + k + 1]
                return s0 + (s1 - s0) / (t1 - t0) * (t - t0)
        return params[2 * count]
    if code == SIGMOID:
        if t >= 0.0:
            return 1.0 / (1.0 + math.exp(-t))
        e = math.exp(t)
        return e / (1.0 + e)
    if code == SQUARE:
        return t * t
    if code == CUBIC:
        return params[0] + t * (params[1] + t * (params[2] + t * params[3]))
    raise ValueError("act_value: unknown activation code")


@jit
def act_derivative(code, params, t):
    """σ'(t) (compiled twin of :meth:`Activation.derivative`)."""
    if code == RAMP:
        t1, t2 = params[0], params[1]
        if t1 < t < t2:
            return (params[3] - params[2]) / (t2 - t1)
        return 0.0
    if code == RELU:
        return 1.0 if t > 0.0 else 0.0
    if code == ERF:
        return 1.1283791670955126 * math.exp(-t * t)
    if code == TANH:
        th = math.tanh(t)
        return 1.0 - th * th
    if code == PIECEWISE:
        count = int(params[0])
        for k in range(1, count):
            if params[k] < t < params[1 + k]:
                return (params[count + k + 1] - params[count + k]) / (params[1 + k] - params[k])
        return 0.0
    if code == SIGMOID:
        e = act_value(SIGMOID, params, t)
        return e * (1.0 - e)
    if code == SQUARE:
        return 2.0 * t
    if code == CUBIC:
        return params[1] + t * (2.0 * params[2] + t * 3.0 * params[3])
    raise ValueError("act_derivative: unknown activation code")
