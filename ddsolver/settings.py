r"""Typed settings: a validated config as frozen dataclasses, built once.

The command line and the Python API read TOML into a dict, and :func:`ddsolver.config.validate`
resolves it (defaults, bounds, choices, a kind's own keys). Below them nothing reads that
dict: a driver or a kind takes the :class:`Settings` that :func:`settings` builds from it,
and reads ``s.time.t_end`` where it once read ``cfg["time"]["t_end"]``.

One source of truth: each table's class is generated from the key schema
(:data:`ddsolver.config.SCHEMA`, the kinds' keys merged in), one field per key, its
:class:`~ddsolver.schema.Key` (type, default, bounds, choices, doc) in the field's
``metadata["key"]``; :func:`schema_of` reads the schema back from the classes. A table whose
keys depend on a value — the activation's parameters (by ``kind``) and the step-size
schedule ξ (a number or a table) — is a :class:`Section`, a frozen record of the keys it
holds. Lists become tuples, so a value cannot be changed behind a reader's back; a derived
value is a property (:attr:`Settings.dimension`, :attr:`Settings.initial_dimension`).

:attr:`Settings.config` is the resolved dict itself, kept for what is written as text: the
run file's ``config`` attribute and ``ddsolver info``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from .config import SCHEMA
from .schema import dimension_value

#: The Python type of each kind of key.
TYPES = {
    "float": float,
    "int": int,
    "bool": bool,
    "str": str,
    "int_list": tuple,
    "float_list": tuple,
    "any": object,
}
#: Tables whose keys depend on a value: records of the keys they hold, not fixed classes.
VARIABLE_TABLES = ("problem.activation", "dynamics.xi")


def _frozen(value: Any) -> Any:
    """A value no reader can change: lists as tuples, tables as :class:`Section`."""
    if isinstance(value, Mapping):
        return Section(value)
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


class Section:
    """A frozen table of settings whose keys vary (the activation's, ξ's): attribute access
    (``xi.values``), item access and ``keys()`` (so ``dict(section)`` and ``**section``
    work). Not a Mapping: its keys ``values`` and ``items`` would clash with the methods."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]):
        object.__setattr__(self, "_values", {k: _frozen(v) for k, v in values.items()})

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"this table has no key {name!r} (it has {list(self)})") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"settings are read-only: cannot set {name!r}")

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Section) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(self._values.items()))

    def keys(self):
        """The table's keys."""
        return self._values.keys()

    def __repr__(self) -> str:
        return f"Section({self._values!r})"


def _class_name(table: str) -> str:
    return "".join(p.title() for p in table.replace("_", ".").split(".")) + "Settings"


def _children(table: str) -> list[str]:
    depth = table.count(".") + 1
    return [t for t in SCHEMA if t.startswith(table + ".") and t.count(".") == depth]


def _make_class(table: str, classes: dict[str, type]) -> type:
    """The frozen dataclass of ``table``: one field per key (its Key in the metadata), one per
    sub-table (a class of its own, or a :class:`Section`)."""
    children = {t.rsplit(".", 1)[1]: t for t in _children(table)}
    spec = []
    for name, key in SCHEMA[table].items():
        if name in children:
            continue
        meta = {"key": key, "name": f"{table}.{name}"}
        spec.append((name, TYPES[key.kind], dataclasses.field(metadata=meta)))
    for name, child in children.items():
        kind = Section if child in VARIABLE_TABLES else classes[child]
        spec.append((name, kind | float, dataclasses.field(metadata={"table": child})))
    doc = f"The [{table}] table (generated from the key schema; see docs/config.md)."
    return dataclasses.make_dataclass(
        _class_name(table), spec, frozen=True, namespace={"__doc__": doc}
    )


def _make_classes() -> dict[str, type]:
    classes: dict[str, type] = {}
    for table in sorted(SCHEMA, key=lambda t: -t.count(".")):  # sub-tables first
        if table not in VARIABLE_TABLES:
            classes[table] = _make_class(table, classes)
    return classes


#: The settings class of each fixed table of the schema, e.g. ``CLASSES["time"]``.
CLASSES = _make_classes()
TOP_TABLES = tuple(t for t in SCHEMA if "." not in t)


@dataclasses.dataclass(frozen=True)
class _Root:
    config: dict = dataclasses.field(repr=False, compare=False)


class Settings(
    dataclasses.make_dataclass(
        "_Tables",
        [(t, CLASSES[t], dataclasses.field(metadata={"table": t})) for t in TOP_TABLES],
        bases=(_Root,),
        frozen=True,
    )
):
    """A validated config as frozen dataclasses, one per table (``problem``, ``initial``,
    ``dynamics``, ``time``, ``sgd``, ``discretisation``, ``particles``, ``grid``, ``solver``,
    ``output``); build it with :func:`settings`."""

    @property
    def dimension(self) -> float:
        """problem.dimension as a float (``math.inf`` for "inf")."""
        return dimension_value(self.config)

    @property
    def initial_dimension(self) -> float:
        """The d of the initial law: ``initial.dimension``, or problem.dimension when it is 0."""
        d = self.initial.dimension
        return float(d) if d else self.dimension

    @property
    def sgd_dimension(self) -> float:
        """The SGD's d: problem.dimension, or the initial law's d with the d = ∞ kernel (the
        d = ∞ kernel solved for the law of a finite-d network)."""
        d = self.dimension
        return self.initial_dimension if d == float("inf") else d

    @property
    def kind(self) -> str:
        """problem.kind."""
        return self.problem.kind


def _build(table: str, values: Mapping[str, Any]) -> Any:
    cls = CLASSES[table]
    kwargs = {}
    for f in dataclasses.fields(cls):
        value = values[f.name]
        child = f.metadata.get("table")
        fixed = child is not None and child not in VARIABLE_TABLES  # ξ may be a number
        kwargs[f.name] = _build(child, value) if fixed else _frozen(value)
    return cls(**kwargs)


def settings(cfg: Mapping[str, Any] | Settings) -> Settings:
    """The :class:`Settings` of a resolved config (the output of
    :func:`ddsolver.config.validate`); a :class:`Settings` is returned as it is."""
    if isinstance(cfg, Settings):
        return cfg
    tables = {t: _build(t, cfg[t]) for t in TOP_TABLES}
    return Settings(config=cfg, **tables)


def schema_of(cls: type) -> dict[str, Any]:
    """The keys of a settings class, by their full name (``"time.t_end"`` → Key), sub-tables
    included: the schema read back from the dataclasses."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if "key" in f.metadata:
            out[f.metadata["name"]] = f.metadata["key"]
        elif f.metadata.get("table") in CLASSES:
            out.update(schema_of(CLASSES[f.metadata["table"]]))
        elif "table" in f.metadata:
            out.update(
                {f"{f.metadata['table']}.{k}": v for k, v in SCHEMA[f.metadata["table"]].items()}
            )
    return out
