"""The figures of a comparison of a PDE file with an SGD file (``ddsolver compare``):
the risks, the error budget, the law of a, the grouped observables, the densities against
the neurons' histograms, and the Wasserstein distances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import io
from ..kinds.spec import Labels
from .common import (
    PNG,
    SaveAs,
    _decorate,
    _Figures,
    _overlap_panels,
    _pyplot,
    _save,
    _stored_config,
    file_labels,
    log_time_axes,
    overlap_groups,
    scale_by_range,
)


def risk_comparison_figure(pde_path, sgd_path, report: dict, plt=None):
    """The limit's objective at its own resolution, its 1/N correction, a finite-step run's,
    and the trained networks' mean (with min–max and ± std bands when there are several
    seeds) at their observation times; y scale by range (:func:`scale_by_range`). ``plt``:
    what makes the figure (pyplot by default; ``_Figures`` for one pyplot does not hold)."""
    plt = plt or _pyplot()
    risk = report["risk"]
    t = np.asarray(risk["time"])
    words, trained = file_labels(pde_path), file_labels(sgd_path)
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    # the limit at its own resolution (every observation it made), not only at the SGD's
    # times: a straight segment across a fast drop is not what the PDE said
    own = io.read_series(pde_path, "observables")
    inside = own["time"] <= t[-1] * (1 + 1e-12) if t.size else own["time"] < 0
    ax.plot(own["time"][inside], own["risk"][inside], label=f"{words.limit} {words.symbol}")
    if risk["pde_finite_n"] != risk["pde"] and "risk_finite_n" in own:  # the 1/N correction
        # the run's 1/N terms are at its own sgd.neurons: drawn at the SGD's N
        scale = _stored_config(pde_path)["sgd"]["neurons"] / report["neurons"]
        dynamical = "risk_finite_n_iid" in own
        for name, style, term in (("risk_finite_n", "--", "C(t)/N" if dynamical else "1/N"),
                                  ("risk_finite_n_iid", ":", "i.i.d. 1/N term")):  # fmt: skip
            if name in own:
                line = own["risk"] + (own[name] - own["risk"]) * scale
                ax.plot(own["time"][inside], line[inside], style,
                        label=f"{words.limit} + {term} (N = {report['neurons']})")  # fmt: skip
    step = report.get("finite_step")
    if step:
        ax.plot(t, step["risk"]["pde_finite_n"], "C3-",
                label=f"finite-step PDE + 1/N (ε = {report['eps']:g})")  # fmt: skip
    mean, std = np.asarray(risk["sgd_mean"]), np.asarray(risk["sgd_std"])
    seeds = report["seeds"]
    runs = f"seed {seeds[0]}" if len(seeds) == 1 else f"mean of {len(seeds)} seeds"
    ax.plot(t, mean, "k.", ms=3, label=f"{trained.trainer} {runs} ({trained.step})")
    if len(seeds) > 1:
        ax.fill_between(t, risk["sgd_min"], risk["sgd_max"], color="k", alpha=0.15,
                        label=f"{trained.trainer} min–max")  # fmt: skip
        ax.fill_between(t, mean - std, mean + std, color="k", alpha=0.25,
                        label=f"{trained.trainer} mean ± std")  # fmt: skip
    scale_by_range(ax, [own["risk"][inside], mean])
    _decorate(ax, "time t", words.objective)
    return fig


def _error_budget(plt, report: dict, words: Labels, trained: Labels):
    """SGD's mean minus each partial prediction — the limit alone, with the i.i.d. 1/N term,
    with the dynamical C(t)/N, then with each step-noise term added in turn (own, shared,
    Euler), and (``--corrected``) the finite-step limit with its 1/N term — against the SGD
    mean's standard error around zero."""
    risk = report["risk"]
    t = np.asarray(risk["time"])
    mean = np.asarray(risk["sgd_mean"])
    fig, ax = plt.subplots(figsize=(7, 6), constrained_layout=True)
    seeds = len(report["seeds"])
    if seeds > 1:
        se = np.asarray(risk["sgd_std"]) / np.sqrt(seeds)
        ax.fill_between(t, -2 * se, 2 * se, color="k", alpha=0.15,
                        label=f"± 2 standard errors of the {trained.trainer} mean")  # fmt: skip
    ax.axhline(0.0, color="k", lw=0.5)
    n = report["neurons"]
    ax.plot(t, mean - np.asarray(risk["pde"]), label=f"{words.limit} alone")
    if "gap_iid" in risk:
        ax.plot(t, risk["gap_iid"], ":", label=f"{words.limit} + i.i.d. 1/N term (N = {n})")
        ax.plot(t, risk["gap"], "--", label=f"{words.limit} + C(t)/N (N = {n})")
    else:
        ax.plot(t, risk["gap"], "--", label=f"{words.limit} + 1/N term (N = {n})")
    budget = report.get("budget")
    if budget:  # the step-noise terms, added one at a time after the 1/N term
        added = ""
        for k in range(2, len(budget["labels"])):
            added += " " + budget["labels"][k]
            gaps = np.asarray(budget["gaps"][k], dtype=float)  # (None: unresolved, a gap)
            ax.plot(t, gaps, "-", lw=1.2 + 0.4 * k,
                    label=f"{words.limit} + 1/N{added} (ε = {report['eps']:g})")  # fmt: skip
    step = report.get("finite_step")
    if step:
        ax.plot(t, step["risk"]["gap"], "C3-",
                label=f"finite-step {words.limit} + 1/N (ε = {report['eps']:g})")  # fmt: skip
    _decorate(ax, "time t", f"{trained.trainer} mean − prediction", below=True)
    return fig


def _law_of_a(plt, law: dict, words: Labels, trained: Labels):
    """W1 between the trained networks' law of a and each cumulative prediction of it (the
    limit's, + each step-noise term), all smoothed by N(0, b²), against the seeds' own scatter
    (half the seeds against the other half, halved)."""
    t = np.asarray(law["time"])
    fig, ax = plt.subplots(figsize=(7, 5), constrained_layout=True)
    halves = np.asarray(law["sgd_halves"], dtype=float)  # None (one seed) → NaN
    if np.isfinite(halves).any():
        ax.fill_between(t, 0.0, halves, color="k", alpha=0.15,
                        label=f"{trained.trainer} seeds' own scatter")  # fmt: skip
    added = ""
    for k, (label, row) in enumerate(zip(law["labels"], law["w1"], strict=True)):
        added = "" if k == 0 else added + " " + label
        ax.plot(t, np.asarray(row, dtype=float), "o-", ms=3, lw=1.2 + 0.4 * k,
                label=f"{words.limit}{added}")  # fmt: skip
    ax.set_ylim(bottom=0.0)
    _decorate(ax, "time t", f"W1 of the law of a (smoothed, b = {law['bandwidth']:g})", below=True)
    return fig


def comparison_figures(
    pde_path, sgd_path, report: dict, out_dir: Path, save_as: SaveAs = PNG
) -> list[Path]:
    """The figures of :func:`comparison_figure_objects`, written as ``save_as`` says."""
    plt = _pyplot()
    figures = comparison_figure_objects(pde_path, sgd_path, report, plt)
    return [_save(plt, fig, out_dir, name, save_as) for name, fig in figures.items()]


def comparison_figure_objects(pde_path, sgd_path, report: dict, plt=None) -> dict[str, Any]:
    """risk_comparison, density_vs_sgd and wasserstein (grouped observables:
    overlaps_comparison; a dynamical 1/N run: error_budget; the law of a's terms: law_of_a)
    of a comparison report, as
    matplotlib Figures by name; ``plt``: pyplot, or by default figures that pyplot does not
    hold (for notebooks and scripts)."""
    plt = plt or _Figures
    out = {"risk_comparison": risk_comparison_figure(pde_path, sgd_path, report, plt)}
    t = np.asarray(report["risk"]["time"])
    step = report.get("finite_step")
    words, trained = file_labels(pde_path), file_labels(sgd_path)
    if "gap_iid" in report["risk"] or "budget" in report:
        out["error_budget"] = _error_budget(plt, report, words, trained)
    if report.get("law_of_a", {}).get("time"):
        out["law_of_a"] = _law_of_a(plt, report["law_of_a"], words, trained)
    groups = {
        g: [n for n in names if n in report.get("observables", {})]
        for g, names in overlap_groups(pde_path).items()
    }
    groups = {g: names for g, names in groups.items() if names}
    if groups:
        out["overlaps_comparison"] = _overlaps_comparison(
            plt, pde_path, trained.trainer, t, report["observables"], groups
        )

    psnap, ssnap = io.read_series(pde_path, "snapshots"), io.read_series(sgd_path, "snapshots")
    grid = io.read_grid(pde_path)
    times = report["wasserstein1"]["time"]
    if times:
        name = list(grid)[-1]
        picks = [
            times[i]
            for i in np.unique(np.linspace(0, len(times) - 1, min(4, len(times))).astype(int))
        ]
        fig, axes = plt.subplots(
            1, len(picks), figsize=(3.6 * len(picks), 3.4), constrained_layout=True, squeeze=False
        )
        corrected = None
        if step:  # read once for every panel
            path = step["pde_file"]
            corrected = io.read_series(path, "snapshots"), io.read_grid(path)
        for ax, ts in zip(axes[0], picks, strict=True):
            j = int(np.argmin(np.abs(ssnap["time"] - ts)))
            samples = ssnap[name][j].ravel()
            marginal = _marginal(psnap, grid, ts, name)
            low, high = mass_window(grid[name]["edges"], marginal, samples)
            inside = samples[(samples >= low) & (samples <= high)]
            ax.hist(inside, bins=np.linspace(low, high, 61), color="0.6",
                    weights=np.full(inside.size, 60 / (high - low) / max(samples.size, 1)),
                    label=f"{trained.trainer} neurons")  # fmt: skip
            ax.plot(grid[name]["centres"], marginal, "C0", label=words.limit)
            ax.set_xlim(low, high)  # zoomed to where the mass is (one cell can hold it all)
            if corrected:
                snap, cgrid = corrected
                ax.plot(cgrid[name]["centres"], _marginal(snap, cgrid, ts, name), "C3--",
                        label="finite-step PDE")  # fmt: skip
            ax.set_title(f"t = {ts:g}")
            ax.set_xlabel(name)
        axes[0][0].set_ylabel("density")
        axes[0][0].legend()
        out["density_vs_sgd"] = fig
        fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
        for key, values in report["wasserstein1"].items():
            if key != "time":
                ax.plot(times, values, "o-", ms=3, label=f"W1 in {key}")
        for key, values in (step or {}).get("wasserstein1", {}).items():
            if key != "time":
                ax.plot(step["wasserstein1"]["time"], values, "s--", ms=3, color="C3",
                        label=f"W1 in {key}, finite-step PDE")  # fmt: skip
        _decorate(ax, "time t", "Wasserstein-1 distance")
        out["wasserstein"] = fig
    log_time_axes(out.values(), _stored_config(sgd_path))
    return out


#: The share of the mass :func:`mass_window` may leave out on each side.
WINDOW_TAIL = 1e-3


def mass_window(edges: np.ndarray, density: np.ndarray, samples: np.ndarray) -> tuple[float, float]:
    """The interval a density panel shows: from the :data:`WINDOW_TAIL` to the 1 − tail
    quantile of the limit's marginal (cells of ``edges``, ``density`` per unit length) and of
    the SGD neurons' ``samples``, padded by a tenth of its width and by one cell on each side,
    within the grid and the samples. A mass trapped in one cell then fills the panel instead
    of a pixel."""
    widths = np.diff(edges)
    mass = np.clip(density, 0, None) * widths
    cdf = np.cumsum(mass) / max(mass.sum(), np.finfo(float).tiny)
    first = int(np.searchsorted(cdf, WINDOW_TAIL))
    last = int(min(np.searchsorted(cdf, 1 - WINDOW_TAIL), widths.size - 1))
    low, high = edges[first], edges[last + 1]
    if samples.size:
        low = min(low, float(np.quantile(samples, WINDOW_TAIL)))
        high = max(high, float(np.quantile(samples, 1 - WINDOW_TAIL)))
    pad = 0.1 * (high - low) + widths.max(initial=0.0)
    floor = min(edges[0], float(samples.min())) if samples.size else edges[0]
    ceiling = max(edges[-1], float(samples.max())) if samples.size else edges[-1]
    return max(floor, low - pad), min(ceiling, high + pad)


def _marginal(snap: dict, grid: dict, ts: float, name: str) -> np.ndarray:
    """The marginal density of coordinate ``name`` in the density snapshot nearest ``ts``."""
    dens = snap["density"][int(np.argmin(np.abs(snap["time"] - ts)))]
    axis = list(grid).index(name)
    other = tuple(k for k in range(dens.ndim) if k != axis)
    return (dens * io.grid_volumes(grid)).sum(axis=other) / np.diff(grid[name]["edges"])


def _overlaps_comparison(
    plt, pde_path, trainer: str, t, observables: dict, groups: dict[str, list[str]]
):
    """overlaps_comparison: the grouped observables (the committee's Q, R, v; the multi-index
    RMS of m) — the limit's lines at its own resolution, the trained networks' (``trainer``:
    SGD or GD) mean ± std at their times."""
    fig, panels = _overlap_panels(plt, groups)
    words = file_labels(pde_path)
    own = io.read_series(pde_path, "observables")
    names = {
        n: a.get("long_name", n) for n, a in io.read_field_attrs(pde_path, "observables").items()
    }
    inside = own["time"] <= t[-1] * (1 + 1e-12) if t.size else own["time"] < 0
    for ax, group, members in panels:
        for i, name in enumerate(members):
            entry = observables[name]
            mean, std = np.asarray(entry["sgd_mean"]), np.asarray(entry["sgd_std"])
            ax.plot(own["time"][inside], own[name][inside], color=f"C{i % 10}",
                    label=names.get(name, name))  # fmt: skip
            ax.errorbar(t, mean, std, fmt=".", ms=3, color=f"C{i % 10}", alpha=0.6)
        _decorate(ax, "time t", f"{group} (lines: {words.limit}; points: {trainer} mean ± std)")
    return fig
