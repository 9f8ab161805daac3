"""The summary table of a sweep: one row per point, written as CSV and as HDF5.

Columns, in order: ``index``, ``key`` (the point's hash, also its file name), ``status``
("finished", "failed" or "invalid"), ``error``, one column per swept config key, then
the results — ``t_reached``, ``risk_initial``, ``risk_final``, ``risk_at_<t>`` for each
of the sweep's ``risk_times`` (linear interpolation of /observables/risk), ``final_<name>``
for each observable of its ``final`` list (the PDE run's last value), ``sgd_risk_final``
(mean over seeds), ``pde_sgd_gap`` (max over common times of |mean SGD risk − PDE risk
with its 1/N term|, as ``ddsolver compare``), ``wall_run_s``, ``wall_sgd_s`` — and the
``run_file`` and ``sgd_file`` of the point (names beside the summary) and their absolute
``run_path`` and ``sgd_path`` (which ``ddsolver plot`` takes from any directory). A result
a point does not have is NaN (CSV: empty).

HDF5 layout (``summary.h5``)::

    /                  attrs: kind = "sweep", status, sweep (the sweep file's text),
                       base_config (the base config's text), parameters (JSON list of
                       the swept keys), columns (JSON list), ddsolver_version
    /columns/<name>    (n_points,) float64 for numbers (index: int64), UTF-8 strings otherwise
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path

import h5py
import numpy as np

from .. import io
from .._version import __version__
from .spec import Point, SweepSpec

RESULT_COLUMNS = ("t_reached", "risk_initial", "risk_final")
TAIL_COLUMNS = ("sgd_risk_final", "pde_sgd_gap", "wall_run_s", "wall_sgd_s")


def _cell(value):
    """Axis values as numbers where they are numbers, else their JSON text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return json.dumps(value)
    return float(value)


def summary_rows(spec: SweepSpec, points: list[Point], reports: dict[int, dict]) -> list[dict]:
    """One dict per point, with every column (see the module docstring)."""
    columns = summary_columns(spec)
    rows = []
    for point in points:
        report = reports.get(point.index, {})
        row: dict = dict.fromkeys(columns, math.nan)
        row.update(index=point.index, key=point.key, run_file="", sgd_file="", run_path="",
                   sgd_path="")  # fmt: skip
        if point.error:
            row.update(status="invalid", error=point.error)
        else:
            row.update(status=report.get("status", "not run"), error=report.get("error", ""))
        for name, value in point.values.items():
            row[name] = _cell(value)
        for name in columns:
            if name in report and name not in ("status", "error"):
                row[name] = report[name]
        for verb, path in report.get("files", {}).items():
            row[f"{verb}_file"] = Path(path).name  # beside summary.csv
            row[f"{verb}_path"] = str(Path(path).resolve())  # from anywhere
        rows.append(row)
    return rows


def summary_columns(spec: SweepSpec) -> list[str]:
    """The column names of a sweep's summary, in order."""
    times = [f"risk_at_{t:g}" for t in spec.risk_times]
    return [
        "index",
        "key",
        "status",
        "error",
        *spec.axes,
        *RESULT_COLUMNS,
        *times,
        *(f"final_{name}" for name in spec.final),
        *TAIL_COLUMNS,
        "run_file",
        "sgd_file",
        "run_path",
        "sgd_path",
    ]


def write_summary(spec: SweepSpec, rows: list[dict], out_dir: Path) -> list[Path]:
    """Write ``summary.csv`` and ``summary.h5`` into ``out_dir``; returns both paths."""
    columns = summary_columns(spec)
    csv_path, h5_path = out_dir / "summary.csv", out_dir / "summary.h5"
    # each written beside its place under a name of this process's own, then moved there:
    # a reader, or a second sweep summarising into the same directory, never sees half a file
    csv_tmp = csv_path.with_name(f".summary.csv.{os.getpid()}.tmp")
    with csv_tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(
                [
                    ""
                    if isinstance(row[c], float) and math.isnan(row[c])
                    else (repr(row[c]) if isinstance(row[c], float) else row[c])
                    for c in columns
                ]
            )
    csv_tmp.replace(csv_path)
    failed = sum(row["status"] != "finished" for row in rows)
    tmp = h5_path.with_name(f".summary.h5.{os.getpid()}.tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs.update(
            kind="sweep",
            status="finished" if not failed else f"failed: {failed} of {len(rows)} points",
            sweep=spec.text,
            base_config=spec.base_text,
            parameters=json.dumps(list(spec.axes)),
            columns=json.dumps(columns),
            ddsolver_version=__version__,
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        group = f.create_group("columns")
        for name in columns:
            values = [row[name] for row in rows]
            if name == "index":
                group.create_dataset(name, data=np.asarray(values, dtype=np.int64))
            elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                group.create_dataset(name, data=np.asarray(values, dtype=np.float64))
            else:
                group.create_dataset(name, data=[str(v) for v in values], dtype=h5py.string_dtype())
    tmp.replace(h5_path)
    return [csv_path, h5_path]


def read_summary(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Columns (name → array; strings decoded) and root attributes of a ``summary.h5``."""
    with io.open_file(path, "r") as f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        cols = {}
        for name in json.loads(attrs["columns"]):
            ds = f["columns"][name]
            cols[name] = ds.asstr()[()] if ds.dtype.kind == "O" else ds[()]
    return cols, attrs
