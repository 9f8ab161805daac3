"""Figures a paper can use: ``--format png|pdf|svg`` and ``--dpi`` on plot, compare and a
sweep's plot, read back from the files written."""

import struct

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
