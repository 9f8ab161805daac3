"""The figures of one run file (a PDE's or an SGD's).

* ``density.png`` — 1-D: heat map of the density over (coordinate, t) with a log colour
  scale; 2-D: the density at six snapshot times.
* ``risk.png`` — risk R(ρ_t), the 1/N-corrected risk, and the free energy against t.
* ``density.gif`` — animation of the density over the snapshots (Pillow writer).

Grids of three or four coordinates are shown by the marginal of their first two. An SGD
file gives ``risk.png`` (the exact risk of every seed, the mean reduced coordinates) and
``neurons.png`` (histograms of each reduced coordinate at four snapshot times); a kind may
declare more (a committee's ``overlaps``, a training set's ``training``, ``lazy``,
``circle``, ``sphere`` and ``classifier``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import io
from ..kinds import get_spec
from ..kinds.spec import Labels
from .common import (
    PNG,
    SaveAs,
    _decorate,
    _Figures,
    _overlap_panels,
    _pyplot,
    _stored_config,
    file_labels,
    log_time_axes,
    overlap_groups,
    scale_by_range,
)


def _read(path: str | Path) -> tuple[str, dict, dict, dict]:
    """(kind, observables, snapshots, grid) of a run file, each read once."""
    kind = io.read_attrs(path).get("kind")
    grid = io.read_grid(path) if kind == "pde" else {}
    return kind, io.read_series(path, "observables"), io.read_series(path, "snapshots"), grid


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

    from ..models.activations import Activation
    from ..models.training_set import predict

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
