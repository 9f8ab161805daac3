"""ddsolver: the mean-field distributional dynamics of two-layer neural networks.

The public names load on first use (PEP 562), so that ``import ddsolver.config`` — what
``ddsolver check`` needs — imports no kernel: numba, SciPy and h5py come with the first
solver, model or file.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__
from .schema import ConfigError as ConfigError

#: Each public name and the module that defines it.
_PUBLIC = {
    "compare": "api",
    "compare_figures": "api",
    "open": "api",
    "solve": "api",
    "sweep": "api",
    "train": "api",
    "Activation": "models",
    "Factorisation": "models",
    "GaussianInitial": "models",
    "IsotropicGaussians": "models",
    "paper_ramp": "models",
    "Run": "results",
    "SweepSummary": "results",
}
__all__ = [
    "Activation",
    "ConfigError",
    "Factorisation",
    "GaussianInitial",
    "IsotropicGaussians",
    "Run",
    "SweepSummary",
    "__version__",
    "compare",
    "compare_figures",
    "open",
    "paper_ramp",
    "solve",
    "sweep",
    "train",
]

if TYPE_CHECKING:
    from .api import compare as compare
    from .api import compare_figures as compare_figures
    from .api import open as open
    from .api import solve as solve
    from .api import sweep as sweep
    from .api import train as train
    from .models import Activation as Activation
    from .models import Factorisation as Factorisation
    from .models import GaussianInitial as GaussianInitial
    from .models import IsotropicGaussians as IsotropicGaussians
    from .models import paper_ramp as paper_ramp
    from .results import Run as Run
    from .results import SweepSummary as SweepSummary


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        if not name.startswith("_") and find_spec(f"{__name__}.{name}") is not None:
            return import_module(f".{name}", __name__)  # a submodule: dd.examples, dd.io, …
        raise AttributeError(f"module 'ddsolver' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
