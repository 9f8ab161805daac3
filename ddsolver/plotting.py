"""Figures of a ddsolver output file (the one home of matplotlib).

* ``density.png`` — 1-D: heat map of the density over (coordinate, t) with a log colour
  scale; 2-D: the density at six snapshot times.
* ``risk.png`` — risk R(ρ_t), the 1/N-corrected risk, and the free energy against t.
* ``density.gif`` — animation of the density over the snapshots (Pillow writer).

Grids of three or four coordinates are shown by the marginal of their first two. An SGD
file gives ``risk.png`` (the exact risk of every seed, the mean reduced coordinates) and
``neurons.png`` (histograms of each reduced coordinate at four snapshot times); a sweep's
``summary.h5`` gives one result against a swept key (:func:`plot_sweep`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from . import io
from .kinds import get_spec
from .kinds.spec import Labels


@dataclass(frozen=True)
class SaveAs:
    """How figures are written: ``format`` (png, pdf or svg; the file's suffix) and ``dpi``
    (the resolution of png files and of rasterised parts of pdf and svg)."""

    format: str = "png"
    dpi: int = 120

    FORMATS: ClassVar[tuple[str, ...]] = ("png", "pdf", "svg")

    def __post_init__(self) -> None:
        if self.format not in self.FORMATS:
            raise ValueError(f"figure format {self.format!r}; allowed: {', '.join(self.FORMATS)}")
        if not (isinstance(self.dpi, int) and 10 <= self.dpi <= 2400):
            raise ValueError(f"dpi {self.dpi!r}; an integer in [10, 2400]")

    def target(self, out_dir: Path, name: str) -> Path:
        """``out_dir / name.<format>``."""
        return Path(out_dir) / f"{name}.{self.format}"

    def save(self, fig, out_dir: Path, name: str) -> Path:
        """Write ``fig`` as ``name`` into ``out_dir``; returns the file."""
        target = self.target(out_dir, name)
        fig.savefig(target, dpi=self.dpi, format=self.format)
        return target


PNG = SaveAs()


def _save(plt, fig, out_dir: Path, name: str, save_as: SaveAs) -> Path:
    target = save_as.save(fig, out_dir, name)
    plt.close(fig)
    return target


class _Figures:
    """``plt.subplots`` without pyplot: figures that need no backend and show in notebooks."""

    @staticmethod
    def figure(figsize=None, constrained_layout=False):
        """An empty figure (its axes added one by one, e.g. map projections)."""
        from matplotlib.figure import Figure

        return Figure(figsize=figsize, layout="constrained" if constrained_layout else None)

    @staticmethod
    def subplots(*args, figsize=None, constrained_layout=False, **kw):
        fig = _Figures.figure(figsize, constrained_layout)
        return fig, fig.subplots(*args, **kw)


#: A y range (max/min of positive values) beyond which the axis is logarithmic.
LOG_RANGE = 20.0


def scale_by_range(ax, series, axis: str = "y") -> str:
    """Log where the finite values are positive and span more than :data:`LOG_RANGE`, linear
    otherwise; plain tick labels either way (no "×10⁰", no offset). Returns the scale."""
    values = np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in series])
    values = values[np.isfinite(values)]
    log = values.size > 0 and values.min() > 0 and values.max() / values.min() > LOG_RANGE
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    if log:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        target.set_minor_formatter(NullFormatter())  # no "7.28×10⁰" between the decades
    else:
        formatter = ScalarFormatter(useOffset=False)
        formatter.set_scientific(False)
        target.set_major_formatter(formatter)
    return "log" if log else "linear"


def _decorate(ax, xlabel: str, ylabel: str, below: bool = False) -> None:
    """Axis labels, a grid, and the legend in the axes or (``below``) under them, off the
    curves — for figures with many of them."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if below:
        ax.figure.legend(loc="outside lower center", ncols=1, fontsize="small")
    elif ax.get_legend_handles_labels()[0]:
        ax.legend()
    ax.grid(alpha=0.3)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _read(path: str | Path) -> tuple[str, dict, dict, dict]:
    """(kind, observables, snapshots, grid) of a run file, each read once."""
    kind = io.read_attrs(path).get("kind")
    grid = io.read_grid(path) if kind == "pde" else {}
    return kind, io.read_series(path, "observables"), io.read_series(path, "snapshots"), grid


def _stored_config(path: str | Path) -> dict:
    import tomllib

    return tomllib.loads(io.read_attrs(path)["config"])


def file_labels(path: str | Path, cfg: dict | None = None) -> Labels:
    """The words of the figures of a run file: its kind's, for the config it stores (``cfg``,
    where the caller has read it already)."""
    cfg = _stored_config(path) if cfg is None else cfg
    x = io.read_data(path).get("x")
    return get_spec(cfg).labels(cfg, points=None if x is None else int(x.shape[0]))


def overlap_groups(path: str | Path) -> dict[str, list[str]]:
    """The observables of a file by the ``group`` its datasets declare (the committee's Q, R,
    v), in file order. A file of the previous release declares none: its committee
    observables are grouped by the names it was written with (Q_…, R_…, v_…)."""
    attrs = io.read_field_attrs(path, "observables")
    groups: dict[str, list[str]] = {}
    described = any("dims" in a for a in attrs.values())
    for name, a in attrs.items():
        group = a.get("group") if described else _previous_release_group(name)
        if group:
            groups.setdefault(group, []).append(name)
    return groups


def _previous_release_group(name: str) -> str | None:
    head = name.split("_", 1)[0]
    return head if head in ("Q", "R", "v") and name != head else None


def _figures(path: str | Path) -> dict[str, object]:
    """The figures a file's kind declares (:meth:`~ddsolver.kinds.spec.KindSpec.figures`)."""
    kind, obs, snaps, grid = _read(path)
    cfg = _stored_config(path)
    declared = get_spec(cfg).figures(cfg)
    labels = file_labels(path, cfg)
    if kind == "sgd":
        wanted = ("risk", "neurons", *(f for f in declared if f in ("overlaps", "classifier")))
    else:
        wanted = declared
    builders = {
        "risk": lambda: (_sgd_risk_figure if kind == "sgd" else _risk_figure)(
            _Figures, obs, labels
        ),
        "neurons": lambda: _sgd_coordinates_figure(_Figures, snaps),
        "density": lambda: _density_figure(_Figures, snaps, grid, list(grid)),
        "overlaps": lambda: _overlaps_figure(_Figures, obs, overlap_groups(path)),
        "training": lambda: _training_figure(_Figures, obs, io.max_margin_of(io.read_attrs(path))),
        "lazy": lambda: _lazy_figure(_Figures, obs),
        "circle": lambda: _circle_figure(_Figures, snaps, grid),
        "sphere": lambda: _sphere_figure(_Figures, snaps, io.read_data(path)["cell_centres"]),
        "classifier": lambda: classifier_figure(path),
    }
    if not snaps["time"].size:  # nothing saved yet: the figures over snapshots wait
        wanted = [w for w in wanted
                  if w not in ("density", "circle", "sphere", "neurons", "classifier")]  # fmt: skip
    figures = {name: builders[name]() for name in wanted}
    log_time_axes(figures.values(), cfg)
    return figures


def log_time_axes(figures, cfg: dict) -> None:
    """Put every time axis ("time t") of ``figures`` on a log scale when the run's stop times
    are log-spaced (``time.spacing = "log"``); t = 0 is left out (masked), not clipped to the
    axis' edge. Files written before the key have linear times."""
    if cfg.get("time", {}).get("spacing", "linear") != "log":
        return
    for fig in figures:
        for ax in fig.axes:
            if ax.get_xlabel() == "time t":
                ax.set_xscale("log", nonpositive="mask")


def _lazy_figure(plt, obs: dict):
    """A training-set run against its linearisation: the gaps to F_lin on the training and
    test points and to the minimum-norm interpolant, and the weights' relative movement."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    t = obs["time"]
    for name, label in (("lin_gap", "‖F − F_lin‖ train"), ("lin_gap_test", "‖F − F_lin‖ test"),
                        ("interp_gap", "‖F − F_min-norm‖"),
                        ("lin_interp_gap", "‖F_lin − F_min-norm‖")):  # fmt: skip
        if name in obs and np.isfinite(obs[name]).any():  # (from the first observation)
            axes[0].plot(t[1:], obs[name][1:], label=label)
    axes[0].set_yscale("log")
    _decorate(axes[0], "time t", "root mean square gap")
    axes[1].plot(t, obs["movement"], label="‖θ(t) − θ₀‖ / ‖θ₀‖")
    _decorate(axes[1], "time t", "relative movement of the weights")
    return fig


def _circle_figure(plt, snaps: dict, grid: dict):
    """The flow on the circle: the densities of ν₊ and ν₋ over the angle ψ against time."""
    dens, t = snaps["angle_density"], snaps["time"]
    centres = grid["angle"]["centres"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True, sharey=True)
    for k, (ax, label) in enumerate(zip(axes, ("ν₊ (b > 0)", "ν₋ (b < 0)"), strict=True)):
        if t.size > 1:
            mesh = ax.pcolormesh(centres, t, dens[:, k, :], shading="nearest", cmap="magma")
            fig.colorbar(mesh, ax=ax, label="density per radian")
        else:
            ax.plot(centres, dens[0, k])
        ax.set_xlabel("direction ψ of a = |a|(cos ψ, sin ψ)")
        ax.set_title(label)
    axes[0].set_ylabel("time t")
    return fig


def _sphere_figure(plt, snaps: dict, centres: np.ndarray, columns: int = 4):
    """The flow on the sphere: the densities of ν₊ (top) and ν₋ (bottom) over the directions
    u = (a₁, a₂, bias)/|a| in Mollweide's equal-area projection (longitude atan2(u₂, u₁),
    latitude asin(u₃)), at the first, the last and evenly spaced snapshots between; each
    pixel shows the cell whose centre is nearest, on a power-0.4 colour scale (the mass
    concentrates: a linear scale shows a few bright cells)."""
    from matplotlib.colors import PowerNorm
    from scipy.spatial import cKDTree

    dens, t = snaps["sphere_density"], snaps["time"]
    picks = np.unique(np.round(np.linspace(0, t.size - 1, min(columns, t.size))).astype(int))
    lon = np.linspace(-np.pi, np.pi, 361)
    lat = np.linspace(-0.5 * np.pi, 0.5 * np.pi, 181)
    mid_lon, mid_lat = np.meshgrid(0.5 * (lon[1:] + lon[:-1]), 0.5 * (lat[1:] + lat[:-1]))
    pixels = np.stack([np.cos(mid_lat) * np.cos(mid_lon), np.cos(mid_lat) * np.sin(mid_lon),
                       np.sin(mid_lat)], axis=-1)  # fmt: skip
    nearest = cKDTree(centres).query(pixels.reshape(-1, 3))[1].reshape(mid_lon.shape)
    fig = plt.figure(figsize=(3.6 * picks.size + 1.0, 4.6), constrained_layout=True)
    for row, label in enumerate(("ν₊ (b > 0)", "ν₋ (b < 0)")):
        top = float(np.max(dens[picks, row])) or 1.0
        for col, k in enumerate(picks):
            ax = fig.add_subplot(2, picks.size, row * picks.size + col + 1, projection="mollweide")
            mesh = ax.pcolormesh(lon, lat, dens[k, row][nearest], cmap="magma",
                                 norm=PowerNorm(0.4, 0.0, top))  # fmt: skip
            ax.set_xticklabels([])
            ax.set_yticklabels([])
            ax.set_title(f"{label}, t = {t[k]:.3g}", fontsize=9)
        fig.colorbar(mesh, ax=fig.axes[-picks.size :], shrink=0.8, label="per steradian")
    return fig


def _training_figure(plt, obs: dict, max_margin: dict | None = None):
    """A training set: the losses, the test error and the normalised margin over time (with
    the margin's limit γ* as a line where the file stores it)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    t = obs["time"]

    def mean(name):
        values = obs[name]
        return values if values.ndim == 1 else values.mean(axis=1)

    axes[0].plot(t, mean("loss"), label="training loss")
    if np.isfinite(mean("test_loss")).any():
        axes[0].plot(t, mean("test_loss"), label="test loss")
    scale_by_range(axes[0], [line.get_ydata() for line in axes[0].get_lines()])
    _decorate(axes[0], "time t", "loss")
    axes[1].plot(t, mean("test_error"))
    _decorate(axes[1], "time t", "test error")
    axes[2].plot(t, mean("margin"))
    if max_margin and max_margin.get("value") is not None:
        name = "F1 max-margin" if max_margin["kind"] == "F1" else "SVM margin"
        axes[2].axhline(max_margin["value"], color="k", ls="--", lw=1,
                        label=f"{name} γ* = {max_margin['value']:.4g}")  # fmt: skip
    axes[2].set_xscale("symlog", linthresh=max(t[-1] / 1000, 1e-3))
    _decorate(axes[2], "time t", "normalised margin γ")
    return fig


def _sphere_units(density: np.ndarray, data: dict) -> tuple[np.ndarray, np.ndarray]:
    """Units θ = (s, u_c) (2C, 4) with masses ν_s(c) from the sphere's densities (2, C):
    b σ(a·x̃) = s (u_c·x̃)₊, so they give the flow's predictor exactly at the cell centres.
    Cells below 1e-3 of the largest mass are left out (they would only crowd the figure)."""
    centres, areas = data["cell_centres"], data["cell_areas"]
    masses = (density * areas[None, :]).ravel()
    theta = np.concatenate([np.column_stack([np.full(len(centres), s), centres])
                            for s in (1.0, -1.0)])  # fmt: skip
    keep = masses > 1e-3 * masses.max() if masses.max() > 0 else np.ones(masses.size, bool)
    return theta[keep], masses[keep]


def classifier_figure(path: str | Path, times: int = 3):
    """A training set in R²: the classifier's sign and the particles at ``times`` snapshot
    times (last included) — points |b|·(a₁, a₂), coloured by the sign of b, area ∝ |b||a|."""
    import tomllib

    from .models.activations import Activation
    from .models.training_set import predict

    data = io.read_data(path)
    snaps = io.read_series(path, "snapshots")
    config = tomllib.loads(io.read_attrs(path)["config"])
    act = Activation.from_mapping(config["problem"]["activation"])
    x, y = data["x"], data["y"]
    picks = np.unique(np.linspace(0, snaps["time"].size - 1, times).astype(int))
    fig, axes = _Figures.subplots(2, len(picks), figsize=(4 * len(picks), 7.5),
                                  constrained_layout=True, squeeze=False)  # fmt: skip
    lo, hi = x.min(axis=0) - 0.2, x.max(axis=0) + 0.2
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], 160), np.linspace(lo[1], hi[1], 160))
    mesh = np.column_stack([g1.ravel(), g2.ravel()])
    for col, i in enumerate(picks):
        if "particles" in snaps:
            theta = snaps["particles"][i]
            if theta.ndim == 3:  # an SGD file: the first seed
                theta = theta[0]
            count = len(theta)
            masses = snaps["masses"][i] if "masses" in snaps else np.full(count, 1 / count)
        else:  # the flow on the sphere: its cells as units (s, u_c) of mass ν_s(c)
            theta, masses = _sphere_units(snaps["sphere_density"][i], data)
        values = np.empty(len(mesh))
        predict(theta, masses, mesh, act.code, act.param_array, values)
        if np.max(np.abs(values)) < 1e-12 * max(float(np.sum(masses)), 1e-300):
            values[:] = 0.0  # f = 0 (a symmetric start): no sign to draw, only round-off
        ax = axes[0][col]
        ax.contourf(g1, g2, np.sign(values).reshape(g1.shape), levels=[-2, 0, 2],
                    colors=["#f4c7c3", "#c6dbef"], alpha=0.8)  # fmt: skip
        ax.contour(g1, g2, values.reshape(g1.shape), levels=[0.0], colors="k", linewidths=1)
        ax.scatter(x[:, 0], x[:, 1], c=np.where(y > 0, "C0", "C3"), s=10)
        ax.set_title(f"t = {snaps['time'][i]:g}")
        weight = masses * np.abs(theta[:, 0]) * np.linalg.norm(theta[:, 1:], axis=1)
        ax = axes[1][col]
        ax.scatter(np.abs(theta[:, 0]) * theta[:, 1], np.abs(theta[:, 0]) * theta[:, 2],
                   s=2 + 200 * weight / max(weight.max(), 1e-300),
                   c=np.where(theta[:, 0] > 0, "C0", "C3"), alpha=0.6)  # fmt: skip
        ax.set_xlabel("|b| a₁")
    axes[0][0].set_ylabel("x₂ (classifier sign)")
    axes[1][0].set_ylabel("|b| a₂ (particles; blue b > 0)")
    return fig


def _overlap_panels(plt, groups: dict[str, list[str]]):
    """(figure, [(axes, group, the names of that group)]): one panel for each group of
    observables (:func:`overlap_groups`)."""
    fig, axes = plt.subplots(
        1, len(groups), figsize=(4.5 * len(groups), 3.8), constrained_layout=True, squeeze=False
    )
    return fig, [(ax, g, names) for ax, (g, names) in zip(axes[0], groups.items(), strict=True)]


def _overlaps_figure(plt, obs: dict, groups: dict[str, list[str]]):
    """The committee's order parameters Q, R, v over time (SGD: the mean over seeds)."""
    fig, panels = _overlap_panels(plt, groups)
    for ax, group, members in panels:
        for name in members:
            values = obs[name]
            ax.plot(obs["time"], values if values.ndim == 1 else values.mean(axis=1), label=name)
        _decorate(ax, "time t", group)
    return fig


def file_figures(path: str | Path) -> dict[str, object]:
    """The figures of a PDE or SGD file by name (``risk``, ``density`` / ``neurons``; a
    committee's ``overlaps``; a training set's ``training`` and, in R², ``classifier``).

    matplotlib ``Figure`` objects made without pyplot: they need no backend, show themselves
    in a notebook, and are saved with ``fig.savefig``.
    """
    return _figures(path)


def plot_file(
    path: str | Path, out_dir: str | Path, animation: bool = True, save_as: SaveAs = PNG
) -> list[Path]:
    """Write the figures of ``path`` into ``out_dir`` (as ``save_as`` says: png at 120 dpi
    unless told); returns the files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _, _, snaps, grid = _read(path)
    written = [save_as.save(fig, out_dir, name) for name, fig in file_figures(path).items()]
    if animation and "density" in snaps and snaps["time"].size > 1:
        written.append(_animation(_pyplot(), snaps, grid, list(grid), out_dir / "density.gif"))
    return written


def _risk_figure(plt, obs, labels: Labels):
    """The limit's objective (and its 1/N correction), beside the free energy where the
    limit has one."""
    energy = "free_energy" in obs
    fig, axes = plt.subplots(1, 1 + energy, figsize=(5 + 5 * energy, 4), constrained_layout=True,
                             squeeze=False)  # fmt: skip
    t = obs["time"]
    ax1 = axes[0][0]
    ax1.plot(t, obs["risk"], label=f"{labels.limit} {labels.symbol}")
    if "risk_finite_n_iid" in obs:  # finite_width.dynamical: C(t)/N beside the i.i.d. term
        ax1.plot(t, obs["risk_finite_n"], "--", label=f"{labels.symbol} + C(t)/N (dynamical)")
        ax1.plot(t, obs["risk_finite_n_iid"], ":", label=f"{labels.symbol} + i.i.d. 1/N term")
    elif "risk_finite_n" in obs:
        ax1.plot(t, obs["risk_finite_n"], "--", label=f"{labels.symbol} + 1/N correction")
    scale_by_range(ax1, [line.get_ydata() for line in ax1.get_lines()])
    _decorate(ax1, "time t", labels.objective)
    if energy:
        ax2 = axes[0][1]
        ax2.plot(t, obs["free_energy"], color="C2")
        ax2.set_ylabel("free energy F(ρ_t)")
        ax2.set_xlabel("time t")
        ax2.grid(alpha=0.3)
    return fig


def _density_figure(plt, snaps, grid, names):
    from matplotlib.colors import LogNorm

    dens = snaps["density"]
    t = snaps["time"]
    if len(names) == 1:
        edges = grid[names[0]]["edges"]
        fig, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
        positive = dens[dens > 0]
        vmax = positive.max() if positive.size else 1.0
        t_edges = (
            np.concatenate([[t[0]], 0.5 * (t[1:] + t[:-1]), [t[-1]]]) if t.size > 1 else [0, 1]
        )
        mesh = ax.pcolormesh(
            t_edges,
            edges,
            np.maximum(dens, vmax * 1e-6).T,
            norm=LogNorm(vmin=vmax * 1e-6, vmax=vmax),
            shading="flat",
        )
        fig.colorbar(mesh, ax=ax, label=f"density p({names[0]}, t)")
        ax.set_xlabel("time t")
        ax.set_ylabel(f"{names[0]}")
    else:
        picks = np.unique(np.linspace(0, t.size - 1, min(6, t.size)).astype(int))
        fig, axes = plt.subplots(
            1, len(picks), figsize=(3.2 * len(picks), 3.2), constrained_layout=True, squeeze=False
        )
        x, y = grid[names[0]]["edges"], grid[names[1]]["edges"]
        for ax, i in zip(axes[0], picks, strict=True):
            ax.pcolormesh(x, y, _first_two(dens[i], grid, names).T, shading="flat")
            ax.set_title(f"t = {t[i]:g}")
            ax.set_xlabel(names[0])
            ax.set_ylabel(names[1])
    return fig


def _first_two(density: np.ndarray, grid, names) -> np.ndarray:
    """The marginal density of the first two coordinates (integrated over the others)."""
    out = density
    for name in reversed(names[2:]):
        out = out @ np.diff(grid[name]["edges"])
    return out


def _animation(plt, snaps, grid, names, target: Path) -> Path:
    from matplotlib.animation import FuncAnimation, PillowWriter

    dens, t = snaps["density"], snaps["time"]
    frames = np.unique(np.linspace(0, t.size - 1, min(60, t.size)).astype(int))
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    if len(names) == 1:
        c = grid[names[0]]["centres"]
        (line,) = ax.plot(c, dens[0])
        ax.set_xlim(c[0], c[-1])
        ax.set_ylim(0, 1.05 * dens.max())
        ax.set_xlabel(names[0])
        ax.set_ylabel("density")

        def draw(i):
            line.set_ydata(dens[i])
            ax.set_title(f"t = {t[i]:.3g}")
            return (line,)
    else:
        x, y = grid[names[0]]["edges"], grid[names[1]]["edges"]
        marginals = [_first_two(d, grid, names) for d in dens]
        top = max(m.max() for m in marginals)
        img = ax.pcolormesh(x, y, marginals[0].T, shading="flat", vmin=0, vmax=top)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])

        def draw(i):
            img.set_array(marginals[i].T.ravel())
            ax.set_title(f"t = {t[i]:.3g}")
            return (img,)

    anim = FuncAnimation(fig, draw, frames=frames, blit=False)
    anim.save(target, writer=PillowWriter(fps=10))
    plt.close(fig)
    return target


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

    from .config import ConfigError
    from .sweeps.summary import read_summary

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
    from .config import SCHEMA

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


def _sgd_risk_figure(plt, obs, labels: Labels):
    """SGD: the exact risk of every seed, and the mean of each reduced coordinate."""
    t = obs["time"]
    means = [name for name in obs if name.startswith("mean_")]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for seed, risk in enumerate(obs["risk"].T):
        ax1.plot(t, risk, lw=1, label=f"seed {seed}" if seed < 8 else None)
    scale_by_range(ax1, [obs["risk"]])
    _decorate(ax1, "time t", f"{labels.objective} {labels.finite} ({labels.trainer})")
    for name in means:
        ax2.plot(t, obs[name].mean(axis=1), label=name.removeprefix("mean_") + " (mean)")
    _decorate(ax2, "time t", "reduced coordinates")
    return fig


def _sgd_coordinates_figure(plt, snaps):
    """SGD: histograms of each reduced coordinate (all seeds) at up to four snapshot times."""
    names = [name for name in snaps if name != "time"]
    t = snaps["time"]
    picks = np.unique(np.linspace(0, t.size - 1, min(4, t.size)).astype(int))
    fig, axes = plt.subplots(
        1, len(names), figsize=(4 * len(names), 3.5), constrained_layout=True, squeeze=False
    )
    for ax, name in zip(axes[0], names, strict=True):
        for i in picks:
            ax.hist(snaps[name][i].ravel(), bins=60, density=True, histtype="step",
                    label=f"t = {t[i]:g}")  # fmt: skip
        _decorate(ax, name, "density of neurons")
    return fig
