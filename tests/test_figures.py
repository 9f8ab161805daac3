"""Figures a paper can use: ``--format png|pdf|svg`` and ``--dpi`` on plot, compare and a
sweep's plot, read back from the files written."""

import struct
from pathlib import Path

import numpy as np
import pytest
from cli_runner import ddsolver

from ddsolver import cli

SMALL = """
[problem]
dimension = 20
delta = 0.8
[time]
t_end = 0.2
save_every = 0.1
[grid]
r_max = 3.0
r_cells = 60
[sgd]
neurons = 20
eps = 1e-3
seeds = [0, 1]
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    where = tmp_path_factory.mktemp("figures")
    cfg = where / "c.toml"
    cfg.write_text(SMALL)
    pde, sgd = where / "pde.h5", where / "sgd.h5"
    assert cli.main(["run", str(cfg), "-o", str(pde), "-q"]) == 0
    assert cli.main(["sgd", str(cfg), "-o", str(sgd), "-q"]) == 0
    return where, pde, sgd


def _png_size(path):
    """(width, height) in pixels from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize(
    ("fmt", "magic"), [("pdf", b"%PDF"), ("svg", b"<?xml"), ("png", b"\x89PNG")]
)
def test_plot_and_compare_write_the_format_asked_for(runs, tmp_path, fmt, magic):
    _, pde, sgd = runs
    assert cli.main(["plot", str(pde), "-o", str(tmp_path / "p"), "--format", fmt,
                     "--no-animation"]) == 0  # fmt: skip
    assert cli.main(["compare", str(pde), str(sgd), "-o", str(tmp_path / "c"),
                     "--format", fmt]) == 0  # fmt: skip
    for folder in ("p", "c"):
        files = [f for f in (tmp_path / folder).iterdir() if f.suffix != ".json"]
        assert files and all(f.suffix == f".{fmt}" for f in files), files
        assert all(f.read_bytes()[:5].startswith(magic) for f in files)
    if fmt == "svg":
        assert b"<svg" in (tmp_path / "c" / "risk_comparison.svg").read_bytes()[:2000]


def test_dpi_scales_a_png_and_is_bounded(runs, tmp_path, capsys):
    _, pde, _ = runs
    sizes = {}
    for dpi in (60, 240):
        out = tmp_path / str(dpi)
        assert cli.main(["plot", str(pde), "-o", str(out), "--dpi", str(dpi),
                         "--no-animation"]) == 0  # fmt: skip
        sizes[dpi] = _png_size(out / "risk.png")
    assert sizes[240][0] == pytest.approx(4 * sizes[60][0], rel=0.02)
    for bad in (["--dpi", "0"], ["--dpi", "1e9"], ["--format", "jpg"]):
        done = ddsolver("plot", pde, "-o", tmp_path / "bad", *bad)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert bad[0] in done.stderr


def test_the_api_compare_takes_the_format(runs, tmp_path):
    import ddsolver as dd

    _, pde, sgd = runs
    dd.compare(pde, sgd, tmp_path / "r", format="pdf", dpi=200)
    assert (tmp_path / "r" / "risk_comparison.pdf").read_bytes()[:4] == b"%PDF"
    with pytest.raises(ValueError, match="format"):
        dd.compare(pde, sgd, tmp_path / "r2", format="jpg")


def test_the_api_returns_the_comparison_figures_without_pyplot(runs, tmp_path):
    """dd.compare_figures gives the figures compare writes, as Figures pyplot does not hold
    (nothing accumulates in a notebook or a loop), with the same texts."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    import ddsolver as dd

    _, pde, sgd = runs
    before = plt.get_fignums()
    figures = dd.compare_figures(pde, dd.open(sgd))
    assert plt.get_fignums() == before
    written = dd.compare(pde, sgd, tmp_path / "r")
    assert written["risk"]["time"]  # the report itself is unchanged
    assert set(figures) == {p.stem for p in (tmp_path / "r").glob("*.png")}
    assert all(isinstance(f, Figure) for f in figures.values())
    legend = [t.get_text() for t in figures["risk_comparison"].axes[0].get_legend().get_texts()]
    assert any(text.startswith("PDE R(ρ_t)") for text in legend), legend
    figures["risk_comparison"].savefig(tmp_path / "mine.png")
    assert (tmp_path / "mine.png").stat().st_size > 0


def test_compare_prints_a_one_screen_summary(runs, tmp_path, capsys):
    _, pde, sgd = runs
    assert cli.main(["compare", str(pde), str(sgd), "-o", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "N = 20, ε = 0.001, 2 seeds" in out
    assert "largest |mean SGD − limit| = " in out and " at t = " in out
    assert "largest W1: r " in out
    assert len(out.strip().splitlines()) <= 6


def test_the_limit_is_drawn_at_its_own_resolution(runs):
    """Not only at the SGD's times, where a straight segment would cross a fast drop."""
    import json

    from ddsolver import io
    from ddsolver.comparison import compare_files
    from ddsolver.plotting import risk_comparison_figure

    _, pde, sgd = runs
    report = json.loads(json.dumps(compare_files(pde, sgd)))
    fig = risk_comparison_figure(pde, sgd, report)
    ax = fig.axes[0]
    limit = next(line for line in ax.get_lines() if line.get_label().startswith("PDE"))
    own = io.read_series(pde, "observables")["time"]
    assert len(limit.get_xdata()) == own.size > len(report["risk"]["time"])
    labels = [h.get_label() for h in ax.get_legend_handles_labels()[0]]
    assert any("mean of 2 seeds" in label for label in labels)
    assert any("min–max" in label for label in labels) and any("± std" in label for label in labels)


def test_one_seed_has_no_mean_and_no_band(runs, tmp_path):
    import json

    from ddsolver.comparison import compare_files
    from ddsolver.plotting import risk_comparison_figure

    where, pde, _ = runs
    one = tmp_path / "one.h5"
    assert cli.main(["sgd", str(where / "c.toml"), "-o", str(one), "-q",
                     "--set", "sgd.seeds=[3]"]) == 0  # fmt: skip
    fig = risk_comparison_figure(pde, one, json.loads(json.dumps(compare_files(pde, one))))
    labels = " | ".join(fig.axes[0].get_legend_handles_labels()[1])
    assert "seed 3" in labels and "mean" not in labels and "min–max" not in labels


@pytest.mark.parametrize(
    ("values", "scale"),
    [([7.25, 7.26, 7.28], "linear"), ([1.0, 0.5, 0.01], "log"), ([0.3, -0.1, 0.2], "linear")],
)
def test_the_y_scale_follows_the_range_with_plain_ticks(values, scale):
    """Failure of convergence: 7.25–7.28 on a log axis read "7.28×10⁰"; now linear, plain."""
    from matplotlib.figure import Figure

    from ddsolver.plotting import scale_by_range

    fig = Figure()
    ax = fig.subplots()
    ax.plot([0, 1, 2], values)
    assert scale_by_range(ax, [values]) == scale
    assert ax.get_yscale() == scale
    fig.canvas.draw()
    texts = [t.get_text() for t in ax.get_yticklabels()] + [ax.yaxis.get_offset_text().get_text()]
    assert not any("×" in t or "times" in t for t in texts), texts  # no "7.28×10⁰"
    if scale == "linear":
        assert ax.yaxis.get_offset_text().get_text() == ""
        assert not any("10^" in t for t in texts), texts


def _summary(tmp_path, risks):
    """A sweep summary over problem.delta with the given final risks, written as a sweep
    writes it (the points' run files stand in as empty files)."""
    from ddsolver.sweeps import read_sweep
    from ddsolver.sweeps.summary import summary_rows, write_summary

    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "base.toml").write_text(SMALL)
    deltas = ", ".join(str(0.2 * (i + 1)) for i in range(len(risks)))
    (tmp_path / "s.toml").write_text(f'base = "base.toml"\n[axes]\n"problem.delta" = [{deltas}]\n')
    spec = read_sweep(tmp_path / "s.toml")
    out = tmp_path / "sweep"
    out.mkdir()
    reports = {}
    for point, risk in zip(spec.points(), risks, strict=True):
        run = out / f"{point.key}.h5"
        run.write_text("")
        reports[point.index] = {
            "status": "finished",
            "risk_final": risk,
            "files": {"run": str(run)},
        }
    write_summary(spec, summary_rows(spec, spec.points(), reports), out)
    return out / "summary.h5"


def _sweep_axes(path, monkeypatch):
    from ddsolver.plotting import sweep as plotting

    captured = []
    monkeypatch.setattr(plotting, "_save", lambda plt, fig, out_dir, name, save_as:
                        captured.append(fig) or save_as.target(out_dir, name))  # fmt: skip
    plotting.plot_sweep(path, path.parent / "figs")
    return captured[0].axes[0]


def test_a_sweep_plot_chooses_its_scales_and_says_what_its_axes_are(tmp_path, monkeypatch):
    ax = _sweep_axes(_summary(tmp_path, [1.0, 0.1, 0.001]), monkeypatch)
    assert ax.get_yscale() == "log" and ax.get_xscale() == "linear"
    assert ax.get_xlabel().startswith("problem.delta — ")
    assert len(ax.get_xlabel()) > len("problem.delta — ") + 3
    assert ax.get_ylabel() == "risk of the limit at the end"
    narrow = _sweep_axes(_summary(tmp_path / "n", [0.5, 0.51, 0.52]), monkeypatch)
    assert narrow.get_yscale() == "linear"


def test_a_sweep_summary_gives_paths_that_work_from_anywhere(tmp_path):
    import csv

    path = _summary(tmp_path, [1.0, 0.5])
    rows = list(csv.DictReader((path.parent / "summary.csv").open()))
    for row in rows:
        assert (path.parent / row["run_file"]).exists()  # beside the summary
        full = Path(row["run_path"])
        assert full.is_absolute() and full.exists()


def test_a_trapped_mass_fills_its_density_panel():
    """Failure of convergence: all the mass in one cell near r = 0 of a [0, 4] axis. The
    panel shows a window of a few cells around it (it was the whole axis, the mass one
    pixel wide); the SGD neurons' spread widens the window to cover them."""
    from ddsolver.plotting import mass_window

    edges = np.linspace(0.0, 4.0, 401)
    density = np.zeros(400)
    density[5] = 1.0 / 0.01  # the mass in the cell [0.05, 0.06]
    low, high = mass_window(edges, density, np.array([0.052, 0.055, 0.058]))
    assert 0.0 <= low <= 0.05 and 0.06 <= high <= 0.1, (low, high)
    low, high = mass_window(edges, density, np.linspace(0.05, 0.9, 1000))
    assert high >= 0.9 and high < 1.2, high
    spread = np.full(400, 0.25)  # uniform on [0, 4]: the whole axis
    assert mass_window(edges, spread, np.array([])) == (0.0, 4.0)


def test_the_density_panels_are_zoomed_to_the_mass(runs):
    """Each panel's x range is :func:`mass_window` of its marginal and neurons, and holds
    the SGD histogram inside it."""
    import ddsolver as dd

    _, pde, sgd = runs
    fig = dd.compare_figures(pde, sgd)["density_vs_sgd"]
    for ax in fig.axes:
        low, high = ax.get_xlim()
        assert low < high and ax.patches
        assert all(low - 1e-9 <= p.get_x() <= high + 1e-9 for p in ax.patches)
