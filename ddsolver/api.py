r"""The Python face of the command line: solve, train, compare (and its figures), sweep, open.

Each function is the twin of a CLI verb and takes a config as a path, TOML text or a dict,
with ``overrides`` in the dotted keys of ``--set`` (``{"problem.delta": 0.6}``, or as keyword
arguments with ``__`` for the dots: ``problem__delta=0.6``). A bad value raises
:class:`~ddsolver.schema.ConfigError` (a ``ValueError``) with the key, the value and what is
allowed — the line the CLI prints. Runs return a :class:`~ddsolver.results.Run` that reads its
HDF5 file lazily.

    import ddsolver as dd

    run = dd.solve("grids/quickstart.toml", time__t_end=1.0)       # a temporary file
    sgd = dd.train("grids/quickstart.toml", "q_sgd.h5", time__t_end=1.0)
    report = dd.compare(run, sgd)
    run.observables.risk.plot()                                      # xarray
"""

from __future__ import annotations

import tempfile
import tomllib
from pathlib import Path
from typing import Any

from .config import read_config_file, set_dotted, validate
from .results import Run, open_file
from .schema import ConfigError
from .toml_io import TOO_DEEP, check_nesting

ConfigLike = str | Path | dict


def resolve_config(config: ConfigLike, overrides: dict[str, Any] | None = None, **dotted) -> dict:
    """A validated config from a path, TOML text or a dict, with dotted-key overrides.

    ``dotted`` keyword arguments take ``__`` for the dots (``time__t_end=2.0``).
    """
    if isinstance(config, dict):
        check_nesting(config, "CONFIG", "(a dict)")
        raw = config
    elif isinstance(config, Path) or (isinstance(config, str) and _looks_like_path(config)):
        raw = read_config_file(config)
    elif isinstance(config, str):
        try:
            raw = tomllib.loads(config)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                "CONFIG", config[:60], f"neither a file nor TOML text ({exc})"
            ) from None
        except RecursionError:
            raise ConfigError("CONFIG", config[:60], TOO_DEEP) from None
        check_nesting(raw, "CONFIG", config[:60])
    else:
        raise ConfigError(
            "CONFIG", config, "a path, TOML text or a dict of tables (e.g. dd.examples.path(…))"
        )
    for key, value in {
        **(overrides or {}),
        **{k.replace("__", "."): v for k, v in dotted.items()},
    }.items():
        raw = set_dotted(raw, key, value)
    return validate(raw)


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and "=" not in text


def _output(output: str | Path | None, suffix: str) -> Path:
    if output is not None:
        return Path(output)
    return Path(tempfile.mkdtemp(prefix="ddsolver-")) / f"run{suffix}.h5"


def solve(
    config: ConfigLike,
    output: str | Path | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    resume: bool = False,
    force: bool = False,
    quiet: bool = False,
    **dotted,
) -> Run:
    """Solve the DD of ``config`` (``ddsolver run``); ``output=None``: a temporary file."""
    from .integrate import run_pde

    cfg = resolve_config(config, overrides, **dotted)
    path = _output(output, "")
    result = run_pde(cfg, path, resume=resume, force=force or output is None, quiet=quiet)
    return Run(path, result)


def train(
    config: ConfigLike,
    output: str | Path | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    resume: bool = False,
    force: bool = False,
    quiet: bool = False,
    **dotted,
) -> Run:
    """Finite-width SGD for ``config``, every seed of ``sgd.seeds`` (``ddsolver sgd``)."""
    from .sgd.run import run_sgd

    cfg = resolve_config(config, overrides, **dotted)
    path = _output(output, "_sgd")
    result = run_sgd(cfg, path, resume=resume, force=force or output is None, quiet=quiet)
    return Run(path, result)


def compare(
    pde: Run | str | Path,
    sgd: Run | str | Path,
    output: str | Path | None = None,
    corrected: Run | str | Path | None = None,
    *,
    format: str = "png",
    dpi: int = 120,
) -> dict:
    """The PDE-against-SGD report (``ddsolver compare``); with ``output``, also the figures
    (``format`` png, pdf or svg at ``dpi``, as ``--format`` and ``--dpi``); with ``corrected``
    (a run with ``dynamics.finite_step = true``), its section too."""
    from .comparison import compare_files, write_report
    from .plotting import SaveAs

    save_as = SaveAs(format, dpi)
    pde_path, sgd_path, corr_path = _paths(pde, sgd, corrected)
    if output is None:
        return compare_files(pde_path, sgd_path, corr_path)
    write_report(pde_path, sgd_path, output, corr_path, save_as)
    return compare_files(pde_path, sgd_path, corr_path)


def compare_figures(
    pde: Run | str | Path,
    sgd: Run | str | Path,
    corrected: Run | str | Path | None = None,
) -> dict:
    """The figures ``ddsolver compare`` writes, as matplotlib Figures by name
    (``risk_comparison``, and where the files hold them ``overlaps_comparison``,
    ``density_vs_sgd``, ``wasserstein``), drawn without pyplot (they show in a notebook, and
    ``fig.savefig`` writes one), as :meth:`Run.plot` does for one file."""
    from .comparison import compare_files
    from .plotting import comparison_figure_objects

    pde_path, sgd_path, corr_path = _paths(pde, sgd, corrected)
    report = compare_files(pde_path, sgd_path, corr_path)
    return comparison_figure_objects(pde_path, sgd_path, report)


def _paths(*files: Run | str | Path | None) -> tuple[Path | None, ...]:
    """Each run or path as a path (None stays None)."""
    return tuple(None if f is None else f.path if isinstance(f, Run) else Path(f) for f in files)


def sweep(
    sweep: str | Path | dict,
    output: str | Path | None = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    quiet: bool = False,
):
    """Every point of a sweep (``ddsolver sweep``); returns the summary.

    ``sweep``: a sweep file, or a dict of its tables, checked the same way — e.g.
    ``{"base": "grids/quickstart.toml", "axes": {"problem.delta": [0.6, 0.8]}}`` (``base`` a
    path relative to the current directory, or a config dict). ``workers``: local Dask worker
    processes (default: one per point, at most the cores); ``0`` runs the points one after
    another in this process, without Dask. A script that calls this with workers on Dask
    needs the call under ``if __name__ == "__main__":`` (refused otherwise: the workers
    import the script again).
    """
    from .sweeps import read_sweep
    from .sweeps.engine import run_sweep
    from .sweeps.spec import sweep_from_dict

    if isinstance(sweep, dict):
        spec = sweep_from_dict(sweep)
    elif isinstance(sweep, str | Path):
        spec = read_sweep(sweep)
    else:
        raise ConfigError("SWEEP", sweep, "a sweep file's path or a dict of its tables")
    if workers is not None and (not isinstance(workers, int) or workers < 0):
        raise ConfigError("workers", workers, "an integer ≥ 0 (0: in this process, no Dask)")
    if workers != 0 or scheduler:
        from .sweeps.engine import refuse_unguarded_script

        refuse_unguarded_script()
    out = Path(output) if output is not None else Path(tempfile.mkdtemp(prefix="ddsolver-sweep-"))
    run_sweep(
        spec, out, scheduler=scheduler, workers=workers, echo=(lambda _: None) if quiet else print
    )
    return open_file(out / "summary.h5")


def open(path: str | Path):
    """Open any file ddsolver wrote: a PDE or SGD run (:class:`~ddsolver.results.Run`) or a
    sweep summary (:class:`~ddsolver.results.SweepSummary`)."""
    return open_file(path)
