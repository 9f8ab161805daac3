r"""The problem kinds: one package each, ``ddsolver/kinds/<name>/``, looked up by ``problem.kind``.

A kind's package holds ``config.py``, its config section (a
:class:`~ddsolver.kinds.spec.KindSpec` instance ``SPEC``: keys, checks, the keys that apply),
and ``kind.py``, its physics (a :class:`~ddsolver.kinds.base.ProblemKind` instance ``KIND``,
a subclass of the same spec: its limit, its SGD network, its kernels). Adding a kind is its
package and one line in :data:`NAMES` (plus its tests, a ``grids/`` file and a docs page).

:data:`SPECS` imports the config sections only, so checking a config imports no kernel;
:func:`get_kind` imports a kind's physics when a run needs it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ..schema import ConfigError
from .spec import KindSpec as KindSpec

#: Every problem kind by its ``problem.kind`` name, in the order the docs list them.
NAMES = (
    "isotropic_gaussians",
    "anisotropic_gaussians",
    "teacher_student",
    "committee",
    "training_set",
    "multi_index",
    "gaussian_mixture",
)

#: The config section of every kind, by name (light: no kernel is imported).
SPECS: dict[str, KindSpec] = {
    name: import_module(f".{name}.config", __name__).SPEC for name in NAMES
}


def get_spec(cfg_or_name: Any) -> KindSpec:
    """The config section of the kind of a resolved config or its Settings (or of a
    ``problem.kind`` name)."""
    if isinstance(cfg_or_name, str):
        name = cfg_or_name
    elif hasattr(cfg_or_name, "kind"):  # a Settings
        name = cfg_or_name.kind
    else:
        name = cfg_or_name["problem"]["kind"]
    try:
        return SPECS[name]
    except KeyError:
        raise ConfigError("problem.kind", name, f"allowed: {', '.join(map(repr, SPECS))}") from None


def get_kind(cfg_or_name: Any) -> KindSpec:
    """The problem kind of a resolved config or its Settings (or of a ``problem.kind`` name),
    its physics imported on first use: a :class:`~ddsolver.kinds.base.ProblemKind`, the
    subclass of its :class:`KindSpec`. (Annotated by the spec: this module is the config
    layer's registry, and naming the physics' base class here would close an import cycle
    config → kinds → kinds.base → settings → config.)"""
    spec = get_spec(cfg_or_name)
    return import_module(f".{spec.name}.kind", __name__).KIND
