r"""The ready experiments of ``grids/``, shipped with the package.

A regular install (``pip install .``, or a wheel) has no ``grids/`` directory beside it: the
configs travel inside the package as ``ddsolver.grids`` (the repository's ``grids/``, mapped
by ``pyproject.toml``). ``path("quickstart")`` is the file to pass to ``ddsolver run`` or
``ddsolver.solve``; ``ddsolver examples DIR`` (:func:`copy_to`) copies them all out to edit.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path


def _root():
    return resources.files("ddsolver.grids")


def names() -> list[str]:
    """The example configs by name (``sweeps/…`` for the sweep files)."""
    root = _root()
    out = [f.name.removesuffix(".toml") for f in root.iterdir() if f.name.endswith(".toml")]
    out += [
        "sweeps/" + f.name.removesuffix(".toml")
        for f in (root / "sweeps").iterdir()
        if f.name.endswith(".toml")
    ]
    return sorted(out)


def path(name: str) -> Path:
    """The file of the example ``name`` (e.g. ``"quickstart"``, ``"sweeps/quickstart_delta"``)."""
    target = _root().joinpath(*f"{name}.toml".split("/"))
    if not target.is_file():
        raise ValueError(f"no example {name!r}; there are: {', '.join(names())}")
    return Path(str(target))


def copy_to(directory: str | Path) -> list[Path]:
    """Copy every example into ``directory`` (sweeps into ``directory/sweeps``); existing
    files are left alone. Returns the files written."""
    directory = Path(directory)
    written = []
    for name in names():
        target = directory / f"{name}.toml"
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path(name), target)
        written.append(target)
    return written
