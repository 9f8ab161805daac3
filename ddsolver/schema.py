r"""The words of a config: keys, their errors, and the checks several modules share.

The lowest layer of the package: :mod:`ddsolver.config` builds the schema from these keys and
every problem kind (:mod:`ddsolver.kinds`) declares its own keys and cross-key checks with
them, so neither imports the other's internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A config key has a bad value: ``key``, ``value`` and what is ``allowed``."""

    def __init__(self, key: str, value: Any, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        allowed = " ".join(str(allowed).split())  # one line, whatever a library's message held
        super().__init__(f"config key '{_clip(key)}' = {_clip(repr(value))}: {allowed}")


#: A key or value longer than this is shortened in messages (a 2 MB value is not echoed).
MESSAGE_CLIP = 120


def _clip(text: str) -> str:
    return text if len(text) <= MESSAGE_CLIP else f"{text[:MESSAGE_CLIP]}… ({len(text)} characters)"


@dataclass(frozen=True)
class Key:
    """One config key: ``kind`` is float, int, bool, str, int_list, float_list, or 'any'."""

    kind: str
    default: Any
    doc: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    allow_inf: bool = False
    nullable: bool = False
    #: a file path: relative to the config file's directory where a file gives it
    #: (:func:`ddsolver.config.read_config_file`), to the working directory elsewhere
    path: bool = False

    def describe(self) -> str:
        """What is allowed, in words."""
        if self.choices:
            return "allowed: " + ", ".join(repr(c) for c in self.choices)
        words = {
            "float": "a number" if self.allow_inf else "a finite number",
            "int": "an integer",
            "bool": "true or false",
            "str": "a string",
            "int_list": "a list of integers",
            "float_list": "a list of numbers",
            "any": "a number or a table",
        }[self.kind]
        if self.low is not None or self.high is not None:
            lo = "(" if self.low_open else "["
            hi = ")" if self.high_open or (self.high is None and not self.allow_inf) else "]"
            low = "-inf" if self.low is None else f"{self.low:g}"
            high = "inf" if self.high is None else f"{self.high:g}"
            words += f" in {lo}{low}, {high}{hi}"
        if self.allow_inf:
            words += ' or "inf"'
        return "must be " + words


def float_key(default, doc, **kw) -> Key:
    """A float key."""
    return Key("float", default, doc, **kw)


def int_key(default, doc, **kw) -> Key:
    """An integer key."""
    return Key("int", default, doc, **kw)


def largest_factor(table: dict, section: str, names: tuple[str, ...]) -> tuple[str, Any]:
    """(dotted key, value) of the largest of ``table[name]`` for ``names``: the key a refusal
    of their product names (the one a user most likely enlarged)."""
    name = max(names, key=lambda n: table[n])
    return f"{section}.{name}", table[name]


#: Largest magnitude of a weight, a weight's scale or a grid axis's edge: beyond it the
#: kernels' products (|w|⁴, (1 + 2|w|²)(1 + 2|w'|²) and the like) overflow long before they
#: mean anything. ``EXTENT`` bounds a key that takes both signs, ``MAGNITUDE`` one that is > 0.
WEIGHT_MAX = 1e6
EXTENT = {"low": -WEIGHT_MAX, "high": WEIGHT_MAX}
MAGNITUDE = {"low": 0, "low_open": True, "high": WEIGHT_MAX}

#: ``problem.label_noise``, shared by the kinds with a teacher (teacher–student, committee).
LABEL_NOISE = float_key(
    0.0,
    "standard deviation ς of the additive label noise (teacher–student, committee, multi-index)",
    low=0,
    high=WEIGHT_MAX,
)


#: ``initial.seed``, shared by the kinds that draw their initial weights themselves.
INITIAL_SEED = int_key(
    0,
    "seed of the initial weights, the limit's and SGD's alike (committee, training set, "
    "multi-index)",
    low=0,
)


def check_interval(grid: dict, axis: str) -> None:
    """grid.<axis>_min < grid.<axis>_max, or the error naming the upper edge."""
    low, high = grid[f"{axis}_min"], grid[f"{axis}_max"]
    if not low < high:
        raise ConfigError(f"grid.{axis}_max", high, f"must exceed grid.{axis}_min = {low}")


def kind_defaults(table: dict, given: dict, defaults: dict) -> None:
    """A problem kind's own defaults for the keys of ``table`` the config file did not set."""
    for key, value in defaults.items():
        table[key] = given.get(key, value)


def dimension_value(cfg: dict) -> float:
    """problem.dimension as a float (``math.inf`` for "inf")."""
    return float(cfg["problem"]["dimension"])
