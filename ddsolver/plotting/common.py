"""What every figure shares: how figures are made and saved, the y scale by range, axis
decoration, and the words and groups a run file declares for its figures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from .. import io
from ..kinds import get_spec
from ..kinds.spec import Labels


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


def _overlap_panels(plt, groups: dict[str, list[str]]):
    """(figure, [(axes, group, the names of that group)]): one panel for each group of
    observables (:func:`overlap_groups`)."""
    fig, axes = plt.subplots(
        1, len(groups), figsize=(4.5 * len(groups), 3.8), constrained_layout=True, squeeze=False
    )
    return fig, [(ax, g, names) for ax, (g, names) in zip(axes[0], groups.items(), strict=True)]
