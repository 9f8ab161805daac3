"""SciPy modules imported on first use.

``scipy.special`` costs 0.16–0.28 s of every start-up (its array-API layer imports
``numpy.testing`` and f2py), and a run of the quickstart needs none of it: the modules that
use it hold this stand-in instead, which imports the module at the first attribute lookup.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class LazyModule:
    """Stands in for the module ``name`` until an attribute of it is first looked up."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _module(self) -> ModuleType:
        return importlib.import_module(self._name)

    def __getattr__(self, attribute: str):
        return getattr(self._module(), attribute)

    def __dir__(self) -> list[str]:
        return dir(self._module())


special = LazyModule("scipy.special")
