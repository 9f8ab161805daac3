"""Typed settings: built once from a validated config, frozen, and one source with the key
schema."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ddsolver.config import SCHEMA, load_config
from ddsolver.settings import CLASSES, Section, Settings, schema_of, settings

GRIDS = sorted(Path(__file__).resolve().parents[1].joinpath("grids").glob("*.toml"))


def _plain(value):
    """A settings value back as the resolved config holds it (tuples as lists)."""
    if isinstance(value, Section):
        return {k: _plain(value[k]) for k in value}
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def test_the_classes_and_the_key_schema_are_one_source():
    """Every key of the schema is one field of its table's class, with its Key (type, default,
    bounds, choices, doc) in the field's metadata, and no field is anything else."""
    flat = {f"{t}.{k}": key for t, keys in SCHEMA.items() for k, key in keys.items()}
    keys = {name: key for name, key in flat.items() if name not in SCHEMA}  # not sub-tables
    assert schema_of(Settings) == keys
    for table, cls in CLASSES.items():
        assert dataclasses.fields(cls) and cls.__dataclass_params__.frozen, table


@pytest.mark.parametrize("path", GRIDS, ids=lambda p: p.stem)
def test_settings_hold_the_resolved_config_and_are_read_only(path):
    cfg = load_config(path)
    s = settings(cfg)
    assert s.config is cfg and settings(s) is s
    assert {t: _plain(getattr(s, t)) for t in cfg} == cfg  # every value, as resolved
    assert s.kind == cfg["problem"]["kind"]
    assert s.dimension == float(cfg["problem"]["dimension"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.time.t_end = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.problem.activation.kind = "relu"
    assert isinstance(s.sgd.seeds, tuple)  # a list would be changeable behind a reader


def test_a_variable_table_reads_its_own_keys_only():
    s = settings(
        load_config(
            "grids/quickstart.toml",
            ['dynamics.xi={kind="piecewise", times=[0.0, 1.0], values=[1.0, 0.5]}'],
        )
    )
    assert s.dynamics.xi.values == (1.0, 0.5)  # a key named like a Mapping method
    assert dict(s.problem.activation)["kind"] == "ramp"
    with pytest.raises(AttributeError, match="no key 'alpha'"):
        s.problem.activation.alpha  # noqa: B018
