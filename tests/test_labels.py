"""Every kind's figures and files carry its own words, not the isotropic kind's.

The committee's limit is an ODE of ε_g, a training set's objective is a training loss and its
full-batch trainer GD; one seed is "seed 0", not a "mean of 1 seeds"; the file says what
was solved (its ``limit`` attribute).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest

import ddsolver as dd
from ddsolver.plotting import file_figures

GRIDS = Path(__file__).resolve().parents[1] / "grids"

SHORT = {"time.t_end": 0.4, "time.save_every": 0.2, "time.observe_every": 0.1}

#: config, extra keys, the run file's limit, the SGD file's, words the figures must hold,
#: words they must not.
CASES = {
    "committee": (
        "committee.toml",
        {"sgd.seeds": [0]},
        "ODE",
        "SGD",
        ["ODE ε_g", "generalisation error ε_g", "SGD seed 0 (η = 0.5)"],
        ["PDE", "population risk", "ε = ", "mean of 1 seeds"],
    ),
    "training_set": (
        "training_set.toml",
        {"particles.count": 40, "sgd.neurons": 40, "sgd.eps": 0.05, "sgd.seeds": [0, 1]},
        "particle flow",
        "GD",
        ["particle flow J(ρ_t)", "training objective", "GD mean of 2 seeds (ε = 0.05)"],
        ["PDE", "population risk", "SGD"],
    ),
    "sphere": (
        "training_set_sphere.toml",
        {"grid.sphere_cells": 4, "sgd.neurons": 40, "sgd.eps": 0.05, "sgd.seeds": [0]},
        "PDE on the sphere",
        "GD",
        ["PDE on the sphere J(ρ_t)", "training objective", "ν₊ (b > 0), t = 0.4"],
        ["population risk", "SGD", "mean of 1 seeds", "PDE on the circle"],
    ),
    "multi_index": (
        "multi_index.toml",
        {"particles.count": 30, "sgd.neurons": 30, "sgd.seeds": [0]},
        "particle flow",
        "SGD",
        ["particle flow R(ρ_t)", "population risk", "SGD seed 0 (ε = 0.001)"],
        ["PDE", "mean of 1 seeds"],
    ),
    "gaussian_mixture": (
        "gaussian_mixture_xor.toml",
        {"particles.count": 30, "sgd.neurons": 30, "sgd.seeds": [0], "sgd.observe_every": 0.1},
        "particle flow",
        "SGD",
        ["particle flow R(ρ_t)", "population risk", "SGD seed 0 (ε = 0.001)"],
        ["PDE", "mean of 1 seeds"],
    ),
    "isotropic": (
        "quickstart.toml",
        {"sgd.neurons": 40, "sgd.eps": 2e-3, "sgd.seeds": [0]},
        "PDE",
        "SGD",
        ["PDE R(ρ_t)", "population risk", "SGD seed 0 (ε = 0.002)"],
        ["mean of 1 seeds"],
    ),
}


def _texts(fig) -> list[str]:
    out = []
    for ax in fig.axes:
        out += [ax.get_xlabel(), ax.get_ylabel(), ax.get_title()]
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
    return [t for t in out if t]


@pytest.mark.parametrize("name", list(CASES))
def test_figures_and_files_use_the_kinds_words(name, tmp_path):
    config, extra, limit, trainer, words, foreign = CASES[name]
    sets = {**SHORT, **extra}
    run = dd.solve(GRIDS / config, tmp_path / "run.h5", overrides=sets)
    sgd = dd.train(GRIDS / config, tmp_path / "sgd.h5", overrides=sets)
    with h5py.File(run.path) as f:
        assert f.attrs["limit"] == limit and f.attrs["kind"] == "pde"
    with h5py.File(sgd.path) as f:
        assert f.attrs["limit"] == trainer
    report_dir = tmp_path / "report"
    dd.compare(run, sgd, report_dir)
    texts = []
    for path in (run.path, sgd.path):
        for fig in file_figures(path).values():
            texts += _texts(fig)
            assert all(ax.has_data() for ax in fig.axes if not ax.get_label() == "<colorbar>"), (
                "an empty panel"
            )
    texts += _comparison_texts(run.path, sgd.path, report_dir)
    joined = "\n".join(texts)
    for word in words:
        assert word in joined, (word, texts)
    for word in foreign:
        assert word not in joined, (word, texts)


def _comparison_texts(pde: Path, sgd: Path, report_dir: Path) -> list[str]:
    """The texts of the comparison's risk figure, drawn again from its report."""
    from ddsolver.plotting import comparison as plotting

    report = json.loads((report_dir / "report.json").read_text())
    captured = []

    def keep(plt, fig, out_dir, name, save_as):
        captured.append(fig)
        return save_as.target(out_dir, name)

    original = plotting._save
    plotting._save = keep
    try:
        plotting.comparison_figures(pde, sgd, report, report_dir)
    finally:
        plotting._save = original
    return [t for fig in captured for t in _texts(fig)]


def test_each_kind_draws_the_figures_it_declares(tmp_path):
    """Plotting draws what the kind declares and groups the committee's overlaps by the
    ``group`` their datasets carry, not by their names."""
    sets = {**SHORT, "particles.count": 20}
    ts = dd.solve(GRIDS / "training_set.toml", tmp_path / "ts.h5", overrides=sets)
    assert list(file_figures(ts.path)) == ["risk", "training", "classifier"]
    committee = dd.solve(GRIDS / "committee.toml", tmp_path / "c.h5", overrides=SHORT)
    figures = file_figures(committee.path)
    assert list(figures) == ["risk", "overlaps"]
    assert [ax.get_ylabel() for ax in figures["overlaps"].axes] == ["Q", "R", "v"]
    with h5py.File(committee.path, "r+") as f:  # regroup one dataset: the figure follows
        f["observables/v_1"].attrs["group"] = "R"
    panels = file_figures(committee.path)["overlaps"].axes
    assert [len(ax.get_lines()) for ax in panels] == [10, 8 + 1, 3]
    quick = dd.solve(GRIDS / "quickstart.toml", tmp_path / "q.h5", overrides=SHORT)
    assert list(file_figures(quick.path)) == ["risk", "density"]
