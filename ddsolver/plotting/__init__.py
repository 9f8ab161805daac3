"""Figures of ddsolver's files (the one home of matplotlib).

* :mod:`~ddsolver.plotting.run` — the figures of one run file (PDE or SGD);
* :mod:`~ddsolver.plotting.comparison` — the figures of ``ddsolver compare``;
* :mod:`~ddsolver.plotting.sweep` — one result of a sweep against a swept key;
* :mod:`~ddsolver.plotting.common` — what they share: making and saving figures, scales,
  axis words.
"""

from .common import (
    LOG_RANGE,
    PNG,
    SaveAs,
    file_labels,
    log_time_axes,
    overlap_groups,
    scale_by_range,
)
from .comparison import (
    WINDOW_TAIL,
    comparison_figure_objects,
    comparison_figures,
    mass_window,
    risk_comparison_figure,
)
from .run import classifier_figure, file_figures, plot_file
from .sweep import SWEEP_COLUMNS, plot_sweep, sweep_label

__all__ = [
    "LOG_RANGE",
    "PNG",
    "SWEEP_COLUMNS",
    "WINDOW_TAIL",
    "SaveAs",
    "classifier_figure",
    "comparison_figure_objects",
    "comparison_figures",
    "file_figures",
    "file_labels",
    "log_time_axes",
    "mass_window",
    "overlap_groups",
    "plot_file",
    "plot_sweep",
    "risk_comparison_figure",
    "scale_by_range",
    "sweep_label",
]
