"""The figure of a sweep: one result of its ``summary.h5`` against one swept key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .common import PNG, SaveAs, _decorate, _pyplot, _save, scale_by_range


def plot_sweep(
    path: str | Path,
    out_dir: str | Path,
    x: str | None = None,
    y: str | None = None,
    save_as: SaveAs = PNG,
) -> list[Path]:
    """A result of a sweep's ``summary.h5`` against one swept key: ``<y>_vs_<x>.png``.

    Points that differ in the other swept keys are drawn as separate lines, labelled by
    those keys; points that did not finish are left out.
    """

    from ..config import ConfigError
    from ..sweeps.summary import read_summary

    cols, attrs = read_summary(path)
    params = json.loads(attrs["parameters"])
    numeric = [p for p in params if cols[p].dtype.kind == "f"]
    if x is None:
        if not numeric:
            raise ConfigError("--x", None, "no swept key has numeric values to put on an axis")
        x = numeric[0]
    elif x not in numeric:
        raise ConfigError("--x", x, "allowed: " + ", ".join(repr(p) for p in numeric))
    results = [c for c in json.loads(attrs["columns"]) if c not in params and c != "index"]
    results = [c for c in results if cols[c].dtype.kind == "f"]
    if y is None:
        y = "risk_final" if np.isfinite(cols["risk_final"]).any() else "sgd_risk_final"
    elif y not in results:
        raise ConfigError("--y", y, "allowed: " + ", ".join(repr(c) for c in results))
    done = cols["status"] == "finished"
    others = [p for p in params if p != x]
    labels = np.array([", ".join(f"{p}={cols[p][i]}" for p in others) for i in range(done.size)])
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for label in dict.fromkeys(labels[done]):
        pick = done & (labels == label)
        order = np.argsort(cols[x][pick])
        ax.plot(cols[x][pick][order], cols[y][pick][order], "o-", label=label or y)
    scale_by_range(ax, [cols[x][done]], axis="x")
    scale_by_range(ax, [cols[y][done]])
    _decorate(ax, sweep_label(x), sweep_label(y))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [_save(plt, fig, out_dir, f"{y}_vs_{x}", save_as)]


#: What a sweep summary's result columns mean (axis labels; ``risk_at_<t>`` and
#: ``final_<name>`` are read from their names).
SWEEP_COLUMNS = {
    "t_reached": "time reached",
    "risk_initial": "risk of the limit at t = 0",
    "risk_final": "risk of the limit at the end",
    "sgd_risk_final": "SGD risk at the end (mean over seeds)",
    "pde_sgd_gap": "largest |mean SGD − limit| (with its 1/N term)",
    "wall_run_s": "wall time of the run (s)",
    "wall_sgd_s": "wall time of SGD (s)",
}


def sweep_label(column: str) -> str:
    """An axis label for a sweep's column: a config key with the start of its documentation
    (``problem.delta — Δ: anisotropy …``), or what a result column means."""
    from ..config import SCHEMA

    table, _, name = column.rpartition(".")
    key = SCHEMA.get(table, {}).get(name)
    if key is not None:
        doc = key.doc.split(" (")[0]
        return f"{column} — {doc[:48]}{'…' if len(doc) > 48 else ''}"
    if column.startswith("risk_at_"):
        return f"risk of the limit at t = {column.removeprefix('risk_at_')}"
    if column.startswith("final_"):
        return f"{column.removeprefix('final_')} at the end"
    return SWEEP_COLUMNS.get(column, column)
