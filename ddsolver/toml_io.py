r"""Config text in and out: TOML files, ``--set`` overrides, resolved configs as TOML.

Nothing here knows the schema: :mod:`ddsolver.config` validates what these read. A value is
only ever parsed as TOML, never evaluated.
"""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path
from typing import Any

from .schema import ConfigError

#: The deepest dotted key a config has (problem.activation.kind): a longer one is refused.
MAX_KEY_DEPTH = 4


def parse_override(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` → (key, value); VALUE is read as one TOML value, else as a plain string.

    A value spanning lines (which could smuggle in further TOML tables) is refused.
    """
    if "=" not in text:
        raise ConfigError(text, None, "--set takes KEY=VALUE, e.g. --set problem.delta=0.6")
    key, value = (s.strip() for s in text.split("=", 1))
    if not key:
        raise ConfigError("--set", text, "takes KEY=VALUE with a dotted config key before '='")
    if "\n" in value or "\r" in value:
        raise ConfigError(key, value, "a --set value is one line (one TOML value)")
    try:
        table = tomllib.loads(f"v = {value}")
    except (tomllib.TOMLDecodeError, ValueError):  # ValueError: an integer of 4300+ digits
        return key, value
    except RecursionError:
        raise ConfigError(key, value, TOO_DEEP) from None
    if list(table) != ["v"]:
        raise ConfigError(key, value, "a --set value is one TOML value")
    check_nesting(table["v"], key)
    return key, table["v"]


#: Deepest nesting of tables and lists in a config value (ddsolver's deepest is 2).
MAX_NESTING = 8
TOO_DEEP = f"tables and lists nested more than {MAX_NESTING} deep"


def check_nesting(value: Any, key: str, shown: str = "(nested)") -> None:
    """ConfigError naming ``key`` when ``value`` nests tables and lists more than
    :data:`MAX_NESTING` deep (walked without recursion)."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth >= MAX_NESTING:
                raise ConfigError(key, shown, TOO_DEEP)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)


def set_dotted(raw: dict, key: str, value: Any) -> dict:
    """A copy of the raw config with the dotted ``key`` set to ``value``."""
    parts = key.split(".")
    if len(parts) > MAX_KEY_DEPTH or not all(parts):
        raise ConfigError(
            "--set", key, f"a config key is 1 to {MAX_KEY_DEPTH} dotted names, none empty"
        )
    raw = copy.deepcopy(raw)
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(key, value, f"'{part}' is not a table")
    node[parts[-1]] = copy.deepcopy(value)
    return raw


def unset_dotted(raw: dict, key: str) -> dict:
    """A copy of the raw config without the dotted ``key`` (``--unset``: the key takes its
    default, or leaves a run it does not apply to); a table left empty is removed with it."""
    parts = key.split(".")
    raw = copy.deepcopy(raw)
    tables = [raw]
    for part in parts[:-1]:
        node = tables[-1].get(part)
        if not isinstance(node, dict):
            break
        tables.append(node)
    if len(tables) != len(parts) or parts[-1] not in tables[-1]:
        raise ConfigError("--unset", key, "the config does not set this key")
    del tables[-1][parts[-1]]
    for depth in range(len(parts) - 1, 0, -1):
        if not tables[depth]:
            del tables[depth - 1][parts[depth - 1]]
    return raw


def apply_overrides(raw: dict, overrides: list[str], unset: list[str] | None = None) -> dict:
    """Remove the dotted keys of ``unset``, then set those of ``KEY=VALUE`` texts, in a copy
    of the raw config."""
    for key in unset or []:
        raw = unset_dotted(raw, key)
    for text in overrides:
        raw = set_dotted(raw, *parse_override(text))
    return copy.deepcopy(raw)


def read_toml(path: str | Path) -> dict:
    """Parse a TOML file; an unreadable file becomes a ConfigError naming it."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError("CONFIG", str(path), "is a directory, not a TOML file")
    if not path.is_file():
        raise ConfigError("CONFIG", str(path), "no such file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("CONFIG", str(path), "not UTF-8 text (TOML files are UTF-8)") from None
    except OSError as exc:
        raise ConfigError("CONFIG", str(path), f"cannot be read ({exc.strerror})") from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("CONFIG", str(path), f"not valid TOML ({exc})") from None
    except RecursionError:
        raise ConfigError("CONFIG", str(path), TOO_DEEP) from None
    check_nesting(table, "CONFIG", str(path))
    return table


def to_toml(cfg: dict) -> str:
    """Serialise a resolved config (tables of scalars and lists) as TOML text."""

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return repr(v)
        if isinstance(v, int):
            return str(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        raise TypeError(f"cannot write {v!r} to TOML")

    lines: list[str] = []

    def table(name: str, node: dict) -> None:
        plain = {k: v for k, v in node.items() if not isinstance(v, dict)}
        subs = {k: v for k, v in node.items() if isinstance(v, dict)}
        if plain:
            lines.append(f"[{name}]")
            lines.extend(f"{k} = {scalar(v)}" for k, v in plain.items())
            lines.append("")
        for k, v in subs.items():
            table(f"{name}.{k}", v)

    for name, node in cfg.items():
        table(name, node)
    return "\n".join(lines)
