r"""Results that open lazily from their HDF5 file, with labelled arrays (xarray).

:class:`Run` is a PDE run (``ddsolver run``) or an SGD run (``ddsolver sgd``); it reads
nothing until asked. ``.observables`` and ``.snapshots`` are ``xarray.Dataset`` objects with
named dimensions and coordinates:

* PDE: observables over ``time``; snapshots ``density`` over (``time``, *coordinates*) with
  the cell centres as coordinates (and, for particle runs, ``particles`` over
  (``time``, ``particle``, ``coordinate``));
* SGD: observables over (``time``, ``seed``); snapshots, one variable per reduced coordinate
  over (``time``, ``seed``, ``neuron``);
* committee machines (ODE and SGD): snapshots ``Q`` over (…, ``student``, ``student_``),
  ``R`` over (…, ``student``, ``teacher``) and ``v`` over (…, ``student``).

:class:`SweepSummary` is a sweep's ``summary.h5``: one row per point (dimension ``point``).
xarray is the ``api`` extra (inside ``.[dev]``); without it the labelled views say how to
install it, and :meth:`Run.series` still gives plain arrays.
"""

from __future__ import annotations

import html
import json
import tomllib
from functools import cached_property
from pathlib import Path

import numpy as np

from . import io
from .errors import FileFormatError
from .status import RunResult


def _xarray():
    try:
        import xarray
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            'labelled results need xarray: pip install "ddsolver[api]" (or pip install xarray)'
        ) from None
    return xarray


#: Dimensions of the committee's snapshot arrays (student units k, teacher units n).
UNIT_DIMS = {"Q": ("student", "student_"), "R": ("student", "teacher"), "v": ("student",)}


def _unit_dims(name: str, ndim: int, units: bool) -> tuple[str, ...]:
    """The names of a snapshot array's dimensions after time (and seed); ``units``: a
    committee's file (Q, R, v over its units)."""
    dims = UNIT_DIMS.get(name, ("neuron",)) if units else ("neuron",)
    return dims if len(dims) == ndim else tuple(f"{name}_dim{i}" for i in range(ndim))


class Run:
    """A PDE or SGD run file, read lazily.

    Parameters
    ----------
    path : the HDF5 file ``ddsolver run`` or ``ddsolver sgd`` wrote
    result : the :class:`~ddsolver.status.RunResult` of the call that just wrote it, if any
        (its wall time; ``t`` and ``steps`` are read from the file otherwise)
    """

    def __init__(self, path: str | Path, result: RunResult | None = None):
        self.path = Path(path)
        self.result = result
        self.attrs = io.check_run_file(self.path, ("pde", "sgd"))

    @property
    def kind(self) -> str:
        """ "pde" or "sgd"."""
        return self.attrs["kind"]

    @property
    def status(self) -> str:
        """ "finished", "running" or "failed: <reason>", as the file says now."""
        return io.read_attrs(self.path)["status"]

    @property
    def ok(self) -> bool:
        """Whether the run finished."""
        return self.status == "finished"

    @property
    def t(self) -> float:
        """The time the run reached (its last observation)."""
        if self.result is not None:
            return self.result.t
        times = self.series("observables")["time"]
        return float(times[-1]) if times.size else 0.0

    @property
    def steps(self) -> int | None:
        """Time steps taken (SGD: steps × seeds), where this object ran it."""
        return None if self.result is None else self.result.steps

    @property
    def max_margin(self) -> dict | None:
        """A training-set run's limit of its normalised margin, stored when the file was made
        (root attribute ``max_margin``): ``kind`` ("F1", or "SVM of the fixed features"),
        ``value`` γ* and, for F1, the dictionary ``sizes`` and ``values`` of its refinement
        and ``converged``; None for other runs."""
        return io.max_margin_of(self.attrs)

    @property
    def wall_seconds(self) -> float | None:
        """Wall time of the call that ran it, where this object ran it."""
        return None if self.result is None else self.result.wall_seconds

    @cached_property
    def config(self) -> dict:
        """The resolved config the run was made with."""
        return tomllib.loads(self.attrs["config"])

    def series(self, group: str) -> dict[str, np.ndarray]:
        """The datasets of ``observables`` or ``snapshots`` as plain arrays."""
        return io.read_series(self.path, group)

    @cached_property
    def grid(self) -> dict[str, dict[str, np.ndarray]]:
        """PDE runs: the edges and centres of each reduced coordinate."""
        return io.read_grid(self.path) if self.kind == "pde" else {}

    def _described(self, group: str):
        """``group`` as an ``xarray.Dataset`` built from its datasets' own ``dims``,
        ``long_name``, ``units`` and ``description``; None for a file written before them."""
        xr = _xarray()
        arrays = self.series(group)
        attrs = io.read_field_attrs(self.path, group)
        if not all("dims" in attrs[name] for name in arrays):
            return None
        coords: dict = {"time": arrays.pop("time")}
        if self.kind == "sgd":
            coords["seed"] = io.read_series_item(self.path, "seeds")
        coords.update({name: axis["centres"] for name, axis in self.grid.items()})
        data = {}
        for name, values in arrays.items():
            meta = dict(attrs[name])
            dims = tuple(meta.pop("dims").split(","))
            labels = meta.pop("coordinate_labels", None)
            meta.pop("group", None)
            if labels:
                coords[dims[-1]] = labels.split(",")
            if "sign" in dims:  # the circle's two species
                coords["sign"] = [1, -1]
            if "law_x" in dims:  # the law of a's points (finite_width.law_of_a)
                coords["law_x"] = io.read_series_item(self.path, "data/law_of_a_x")
            data[name] = (dims, values, meta)
        used = {d for dims, _, _ in data.values() for d in dims} | {"time"}
        coords = {k: v for k, v in coords.items() if k in used}
        return xr.Dataset(data, coords=coords, attrs={"path": str(self.path), "kind": self.kind})

    @property
    def observables(self):
        """The observables as an ``xarray.Dataset`` (read now: a running file grows); each
        variable carries its ``long_name``, ``units`` and ``description``."""
        described = self._described("observables")
        if described is not None:
            return described
        xr = _xarray()  # a file of an earlier release: dimensions by the layout it had
        obs = self.series("observables")
        time = obs.pop("time")
        if self.kind == "sgd":
            seeds = io.read_series_item(self.path, "seeds")
            data = {n: (("time", "seed"), v) for n, v in obs.items()}
            coords = {"time": time, "seed": seeds}
        else:
            data = {n: (("time",), v) for n, v in obs.items()}
            coords = {"time": time}
        return xr.Dataset(data, coords=coords, attrs={"path": str(self.path), "kind": self.kind})

    @property
    def snapshots(self):
        """The snapshots as an ``xarray.Dataset`` (see the module docstring for the layout),
        its dimensions from each dataset's ``dims``."""
        described = self._described("snapshots")
        if described is not None:
            return described
        xr = _xarray()  # a file of an earlier release: dimensions by the layout it had
        snaps = self.series("snapshots")
        time = snaps.pop("time")
        coords: dict = {"time": time}
        data = {}
        if self.kind == "sgd":
            coords["seed"] = io.read_series_item(self.path, "seeds")
            units = "Q" in snaps
            for name, values in snaps.items():
                dims = _unit_dims(name, values.ndim - 2, units)
                data[name] = (("time", "seed", *dims), values)
        elif "angle_density" in snaps:  # a training set's flow on the circle of directions
            coords.update({"sign": [1, -1], "angle": self.grid["angle"]["centres"]})
            data["angle_density"] = (("time", "sign", "angle"), snaps["angle_density"])
        elif "density" not in snaps:  # a limit without a grid: the committee's Q, R, v
            for name, values in snaps.items():
                data[name] = (("time", *_unit_dims(name, values.ndim - 1, True)), values)
        else:
            names = list(self.grid)
            coords.update({n: self.grid[n]["centres"] for n in names})
            data["density"] = (("time", *names), snaps["density"])
            if "particles" in snaps:
                coords["coordinate"] = names
                data["particles"] = (("time", "particle", "coordinate"), snaps["particles"])
        return xr.Dataset(data, coords=coords, attrs={"path": str(self.path), "kind": self.kind})

    def plot(self) -> dict:
        """The figures ``ddsolver plot`` draws, as matplotlib Figures by name."""
        from .plotting import file_figures

        return file_figures(self.path)

    def _summary(self) -> list[tuple[str, str]]:
        obs = self.series("observables")
        rows = [("file", str(self.path)), ("kind", self.kind), ("status", self.status)]
        if obs["time"].size:
            risk = obs["risk"]
            first, last = (
                (risk[0].mean(), risk[-1].mean()) if risk.ndim == 2 else (risk[0], risk[-1])
            )
            rows.append(("time", f"0 → {obs['time'][-1]:g} ({obs['time'].size} observations)"))
            rows.append(("risk", f"{first:.6g} → {last:.6g}"))
        problem = self.config.get("problem", {})
        rows.append(("problem", f"{problem.get('kind')}, d = {problem.get('dimension')}"))
        return rows

    def __repr__(self) -> str:
        return "<ddsolver.Run " + ", ".join(f"{k}: {v}" for k, v in self._summary()) + ">"

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in self._summary()
        )
        return f"<table><caption>ddsolver run</caption>{cells}</table>"


class SweepSummary:
    """A sweep's ``summary.h5``: one row per point."""

    def __init__(self, path: str | Path):
        from .sweeps.summary import read_summary

        self.path = Path(path)
        self.columns, self.attrs = read_summary(self.path)

    @property
    def parameters(self) -> list[str]:
        """The swept config keys."""
        return json.loads(self.attrs["parameters"])

    @property
    def table(self):
        """The summary as an ``xarray.Dataset`` over the dimension ``point``."""
        xr = _xarray()
        data = {name: (("point",), values) for name, values in self.columns.items()}
        return xr.Dataset(data, coords={"point": self.columns["index"]})

    def run(self, index: int, verb: str = "run") -> Run:
        """The PDE (``verb="run"``) or SGD (``"sgd"``) run of one point."""
        row = int(np.nonzero(self.columns["index"] == index)[0][0])
        return Run(self.path.parent / self.columns[f"{verb}_file"][row])

    def __repr__(self) -> str:
        status = self.columns["status"]
        done = int(np.sum(status == "finished"))
        return (
            f"<ddsolver.SweepSummary {self.path}: {len(status)} points, {done} finished, "
            f"swept {', '.join(self.parameters)}>"
        )

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(repr(self))}</pre>"


def open_file(path: str | Path) -> Run | SweepSummary:
    """A :class:`Run` or a :class:`SweepSummary`, by what the file is."""
    kind = io.check_run_file(path, ("pde", "sgd", "sweep")).get("kind")
    if kind == "sweep":
        return SweepSummary(path)
    if kind in ("pde", "sgd"):
        return Run(path)
    raise FileFormatError(path, f"a {kind!r} file")
