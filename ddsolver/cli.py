"""Command line: ``ddsolver run|sgd|compare|info|plot|sweep`` (see ``ddsolver --help``).

Exit status: 0 success, 1 failed run, 2 bad config or bad arguments (one line on stderr
naming the key, the value and what is allowed).
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import signal
import sys
from pathlib import Path

from . import __version__
from .config import ConfigError, check_sgd_run, load_config, to_toml
from .errors import DiskFullError, FileFormatError, OutputBusyError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
#: Interrupted by SIGINT (128 + 2, as shells report it); the file resumes.
EXIT_INTERRUPTED = 128 + signal.SIGINT
#: Errors that are the input's fault: one line on stderr, exit 2.
REFUSED = (ConfigError, FileFormatError, OutputBusyError, FileExistsError, FileNotFoundError)

EPILOG = """examples:
  ddsolver check grids/quickstart.toml               validate a config (no compute)
  ddsolver run grids/quickstart.toml                 solve the PDE, write quickstart.h5
  ddsolver run grids/isotropic_d40.toml --set time.t_end=5 -o short.h5
  ddsolver run grids/isotropic_d40.toml -o run.h5 --resume   continue a stopped run
  ddsolver sgd grids/isotropic_d40.toml -o sgd.h5    finite-N SGD, seeds of sgd.seeds
  ddsolver sgd grids/isotropic_d40.toml -o sgd.h5 --resume   continue a stopped SGD run
  ddsolver compare run.h5 sgd.h5 -o report/          risk, densities and W1: PDE vs SGD
  ddsolver info run.h5                               status, config and contents
  ddsolver plot run.h5 -o figures/                   density, risk and free energy
  ddsolver sweep grids/sweeps/quickstart_delta.toml  every point of a sweep, on Dask
  ddsolver plot quickstart_delta/summary.h5 --x problem.delta  a result vs a swept key
  ddsolver examples my_configs/                      copy the ready configs out to edit
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with one line, as for a bad config
        self.exit(EXIT_BAD_INPUT, f"ddsolver: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ddsolver",
        description="Solve the mean-field distributional dynamics of two-layer neural networks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ddsolver {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=_Parser)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "config", metavar="CONFIG", help="experiment file (TOML), e.g. grids/quickstart.toml"
    )
    common.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a dotted config key, e.g. --set problem.delta=0.6 (repeatable)",
    )
    common.add_argument(
        "--unset",
        dest="unset",
        action="append",
        default=[],
        metavar="KEY",
        help="remove a dotted key the file sets, e.g. --unset grid.angle_cells when --set "
        "switches to a method the key does not apply to (repeatable; before --set)",
    )
    common.add_argument(
        "--resume", action="store_true", help="continue OUT.h5 from its last checkpoint"
    )
    common.add_argument("--force", action="store_true", help="overwrite an existing OUT.h5")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    check = sub.add_parser(
        "check",
        help="validate a config without running it (imports no kernel)",
        description="Validate CONFIG with its --set overrides as ddsolver run and ddsolver sgd "
        "would, before any compute: exit 0 with one line saying what it describes, or one "
        "line naming the bad key (exit 2). Kernel-dependent checks (the memory estimate, the "
        "anisotropic kernel's convergence) are left to run and sgd.",
    )
    check.add_argument("config", metavar="CONFIG", help="experiment file (TOML)")
    check.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a dotted config key (repeatable)",
    )
    check.add_argument(
        "--unset",
        dest="unset",
        action="append",
        default=[],
        metavar="KEY",
        help="remove a dotted key the file sets (repeatable; before --set)",
    )

    run = sub.add_parser(
        "run",
        parents=[common],
        help="solve the PDE of a config and write HDF5 snapshots",
        description="Solve the PDE described by CONFIG (TOML) and write "
        "snapshots, observables and a checkpoint to OUT.h5.",
    )
    run.add_argument(
        "-o",
        "--output",
        metavar="OUT.h5",
        help="output file (default: output.path, or CONFIG with .h5 in the current directory)",
    )

    sgd = sub.add_parser(
        "sgd",
        parents=[common],
        help="finite-width SGD for the problem of a config (several seeds)",
        description="Run online SGD with sgd.neurons neurons in the full input "
        "dimension, one run per seed in sgd.seeds, recording the exact risk and "
        "the neurons' reduced coordinates; checkpoints every seed's weights and random "
        "generator, so --resume continues bit for bit.",
    )
    sgd.add_argument(
        "-o", "--output", metavar="OUT.h5", help="output file (default: CONFIG_sgd.h5)"
    )

    compare = sub.add_parser(
        "compare",
        help="report PDE against SGD: risk, densities, W1",
        description="Compare a PDE run with an SGD run of the same problem: "
        "report.json and figures in REPORT_DIR.",
    )
    compare.add_argument("pde", metavar="PDE.h5")
    compare.add_argument("sgd", metavar="SGD.h5")
    compare.add_argument(
        "-o", "--output", metavar="REPORT_DIR", help="default: PDE_vs_SGD next to PDE.h5"
    )
    compare.add_argument(
        "--corrected",
        metavar="CORRECTED.h5",
        help="also a run of the same problem with dynamics.finite_step = true (the finite-step "
        "correction at the SGD's ε): drawn beside PDE.h5, reported under finite_step",
    )

    _figure_options(compare)

    info = sub.add_parser("info", help="show status, config and contents of an output file")
    info.add_argument("file", metavar="FILE.h5")
    info.add_argument(
        "--verify", action="store_true", help="read every dataset and check its checksums"
    )

    plot = sub.add_parser("plot", help="figures of an output file: density, risk, free energy")
    plot.add_argument("file", metavar="FILE.h5")
    plot.add_argument(
        "-o",
        "--output",
        metavar="FIG_DIR",
        help="directory for the figures (default: FILE_figures next to FILE.h5)",
    )
    plot.add_argument("--no-animation", action="store_true", help="skip the animated GIF")
    _figure_options(plot)
    plot.add_argument(
        "--x", metavar="KEY", help="sweep summary: the swept key on the x axis (default: first)"
    )
    plot.add_argument(
        "--y",
        metavar="COLUMN",
        help="sweep summary: the result to draw (default: risk_final, or sgd_risk_final)",
    )

    examples = sub.add_parser(
        "examples",
        help="copy the ready experiment configs (grids/) into a directory",
        description="Copy the example configs that ship with ddsolver into DIR (existing files "
        "are left alone), to run or edit them: ddsolver run DIR/quickstart.toml.",
    )
    examples.add_argument("directory", metavar="DIR", help="where to copy them (made if needed)")

    sweep = sub.add_parser(
        "sweep",
        help="run every point of a sweep file on dask.distributed",
        description="Vary config keys over lists and ranges (crossed or zipped) and run "
        "each point as a task: locally on a LocalCluster, or on the Dask cluster at "
        "--scheduler. One HDF5 file per point, named by the hash of its config; finished "
        "points are skipped on a restart; summary.csv and summary.h5 collect the results.",
    )
    sweep.add_argument(
        "sweep", metavar="SWEEP", help="sweep file (TOML), e.g. grids/sweeps/quickstart_delta.toml"
    )
    sweep.add_argument(
        "-o", "--output", metavar="DIR", help="output directory (default: SWEEP's name, here)"
    )
    sweep.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a running Dask scheduler, e.g. tcp://host:8786 (default: a local cluster)",
    )
    sweep.add_argument(
        "--workers",
        type=_worker_count,
        metavar="K",
        help="local cluster: worker processes (default: min(points, cores)); 0: the points one "
        "after another in this process, without Dask",
    )
    sweep.add_argument(
        "--dry-run", action="store_true", help="list the points and their files; run nothing"
    )
    return parser


def verb_help(width: int = 100) -> dict[str, str]:
    """``ddsolver --help`` and ``ddsolver VERB --help`` of every verb (the docs' CLI reference)."""
    import os

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)  # argparse wraps to the terminal's width
    try:
        parser = _parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        out = {"": parser.format_help()}
        out.update({name: verb.format_help() for name, verb in sub.choices.items()})
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return out


def _figure_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=("png", "pdf", "svg"), default="png",
        help="figure files: png (default), or pdf and svg (vector, for a paper)",
    )  # fmt: skip
    parser.add_argument(
        "--dpi", type=_dpi, default=120, metavar="N",
        help="resolution of png figures and of rasterised parts of pdf/svg (default 120)",
    )  # fmt: skip


def _dpi(text: str) -> int:
    value = _positive_int(text)
    if not 10 <= value <= 2400:
        raise argparse.ArgumentTypeError(f"must be an integer in [10, 2400], got {text!r}")
    return value


def _save_as(args):
    from .plotting import SaveAs

    return SaveAs(args.format, args.dpi)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer ≥ 1, got {text!r}")
    return value


#: Most local worker processes per core a sweep starts (each holds an interpreter and numba).
WORKERS_PER_CORE = 4


def _worker_count(text: str) -> int:
    value = 0 if text.strip() == "0" else _positive_int(text)
    most = WORKERS_PER_CORE * (os.cpu_count() or 1)
    if value > most:
        raise argparse.ArgumentTypeError(
            f"at most {most} local workers ({WORKERS_PER_CORE} per core), got {value}"
        )
    return value


def _output_path(args, cfg) -> Path:
    if args.output:
        return Path(args.output)
    if cfg["output"]["path"]:
        return Path(cfg["output"]["path"])
    return Path(Path(args.config).stem + ".h5")


#: Tables a resumed run must share with its file: everything but time.t_end and output.*.
RESUME_TABLES = {
    "run": (
        "problem",
        "initial",
        "dynamics",
        "sgd",
        "discretisation",
        "particles",
        "grid",
        "solver",
    ),
    "sgd": ("problem", "initial", "dynamics", "sgd"),
}
#: Keys of [time] that a resume may change.
RESUME_TIME_KEYS = ("t_end",)


def _check_resumable(out: Path, cfg: dict, verb: str) -> None:
    """Refuse a --resume whose config differs from the file's beyond time.t_end and output.*."""
    import tomllib

    from . import io

    if not out.exists():
        raise ConfigError("--resume", str(out), "no such output file to resume")
    attrs = io.check_run_file(out, ("pde",) if verb == "run" else ("sgd",), complete=False)
    try:
        stored = tomllib.loads(attrs["config"])
    except tomllib.TOMLDecodeError:
        raise FileFormatError(out, "damaged: its stored config is not TOML") from None
    current = tomllib.loads(to_toml(cfg))  # the same round trip the file's config made
    time_stored, time_current = stored.get("time", {}), current.get("time", {})
    for key in sorted(set(time_stored) | set(time_current)):
        if key not in RESUME_TIME_KEYS and time_stored.get(key) != time_current.get(key):
            raise ConfigError(
                f"time.{key}",
                time_current.get(key),
                f"--resume needs the file's value {time_stored.get(key)!r}; "
                "only time.t_end and output.* may change",
            )
    for table in RESUME_TABLES[verb]:
        if stored.get(table) != current.get(table):
            raise ConfigError(
                f"{table}",
                "(differs from the file)",
                f"--resume needs the config {out} was written with; "
                f"only time.t_end and output.* may change",
            )


def _name_fits(path: Path, key: str) -> None:
    """Refuse a path whose name (or whose lock file's name) the file system cannot hold."""
    parent = path.parent if str(path.parent) else Path()
    try:
        most = os.pathconf(parent if parent.is_dir() else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        most = 255
    longest = max((len(os.fsencode(p)) for p in path.parts), default=0)
    if longest + len(".lock") > most or len(os.fsencode(str(path))) >= 4096:
        raise ConfigError(
            key,
            str(path),
            f"a name longer than the file system allows ({most} bytes, with the .lock beside it)",
        )


def _writable_file(path: Path, key: str = "-o") -> None:
    """Refuse an output file path that cannot be written, before any compute."""
    _name_fits(path, key)
    if path.is_dir():
        raise ConfigError(key, str(path), "is a directory; name an output file")
    if path.exists() and not path.is_file():
        raise ConfigError(key, str(path), "is not a regular file")
    parent = path.parent if str(path.parent) else Path()
    if not parent.is_dir():
        raise ConfigError(key, str(path), f"no such directory: {parent}")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(key, str(path), "is not writable")


def _writable_dir(path: Path, key: str = "-o") -> None:
    """Refuse an output directory path that is a file or cannot be made."""
    _name_fits(path, key)
    if path.exists() and not path.is_dir():
        raise ConfigError(key, str(path), "exists and is not a directory")
    existing = next((p for p in (path, *path.parents) if p.exists()), Path())
    if not os.access(existing, os.W_OK):
        raise ConfigError(key, str(path), f"cannot be created ({existing} is not writable)")


def _prepare_output(args, cfg: dict, out: Path) -> None:
    """Refuse an existing output without --force or --resume, or a resume that cannot be."""
    _writable_file(out)
    if args.resume:
        _check_resumable(out, cfg, args.verb)
    elif out.exists() and not args.force:
        raise ConfigError(
            "-o", str(out), "exists; pass --force to overwrite or --resume to continue"
        )


def _hint(status: str) -> str:
    """What to do about a failed run's status, where there is something to do."""
    if status.startswith("failed: disk full"):
        return "; free some disk space and resume with --resume"
    return ""


def _check(args) -> int:
    """Validate a config as ``run`` and ``sgd`` do; one line either way."""
    cfg = load_config(args.config, args.overrides, args.unset)
    what = f"problem.kind = {cfg['problem']['kind']!r}, {cfg['discretisation']['method']}"
    try:
        check_sgd_run(cfg)
    except ConfigError as exc:
        print(f"{args.config}: valid for ddsolver run ({what}); ddsolver sgd refuses it: {exc}")
    else:
        print(f"{args.config}: valid for ddsolver run and ddsolver sgd ({what})")
    return EXIT_OK


def _run(args) -> int:
    from .integrate import run_pde

    cfg = load_config(args.config, args.overrides, args.unset)
    out = _output_path(args, cfg)
    _prepare_output(args, cfg, out)
    result = run_pde(cfg, out, resume=args.resume, force=args.force, quiet=args.quiet)
    summary = f"{result.steps} steps, {result.wall_seconds:.1f} s"
    reached = f" at t = {result.t:g}" if result.ok else ""  # a failure names its own time
    print(f"{out}: {result.status}{reached} ({summary}){_hint(result.status)}")
    return EXIT_OK if result.ok else EXIT_FAILED


def _sgd(args) -> int:
    from .sgd.run import run_sgd

    cfg = load_config(args.config, args.overrides, args.unset)
    check_sgd_run(cfg)
    out = Path(args.output) if args.output else Path(Path(args.config).stem + "_sgd.h5")
    _prepare_output(args, cfg, out)
    result = run_sgd(cfg, out, force=args.force, resume=args.resume, quiet=args.quiet)
    reached = f" at t = {result.t:g}" if result.ok else ""
    print(f"{out}: {result.status}{reached} ({result.wall_seconds:.1f} s){_hint(result.status)}")
    return EXIT_OK if result.ok else EXIT_FAILED


def _compare(args) -> int:
    from . import io
    from .comparison import summary_lines, write_report

    io.check_run_file(args.pde, ("pde",))
    io.check_run_file(args.sgd, ("sgd",))
    if args.corrected:
        io.check_run_file(args.corrected, ("pde",))
    pde = Path(args.pde)
    out = (
        Path(args.output) if args.output else pde.with_name(f"{pde.stem}_vs_{Path(args.sgd).stem}")
    )
    _writable_dir(out)
    written = write_report(pde, args.sgd, out, args.corrected, _save_as(args))
    report = json.loads((out / "report.json").read_text())
    print("\n".join(summary_lines(report)))
    print("written: " + ", ".join(str(w) for w in written))
    return EXIT_OK


def _info(args) -> int:
    import h5py
    import numpy as np

    from . import io

    path = Path(args.file)
    attrs = io.check_run_file(path, ("pde", "sgd", "sweep"))
    if args.verify:
        print(f"{path}: {io.verify(path)} datasets read, every checksum matches")

    def summary(f: h5py.File) -> list[str]:  # read whole, so that a torn read is tried again
        lines = [
            f"{path}: {attrs.get('kind', '?')} run, status: {attrs.get('status')}",
            f"ddsolver {attrs.get('ddsolver_version')}, created {attrs.get('created', '?')}",
        ]
        n = io.complete_rows(f, "observables") if "observables/risk" in f else 0
        if n:
            t = f["observables/time"][:n]
            risk = f["observables/risk"][:n]
            per_seed = risk.ndim == 2
            first, last = (risk[0].mean(), risk[-1].mean()) if per_seed else (risk[0], risk[-1])
            what = f"risk (mean of {risk.shape[1]} seeds)" if per_seed else "risk"
            finite = "" if np.all(np.isfinite(risk)) else " (non-finite values)"
            lines.append(f"reached t = {t[-1]:g}; {what} {first:.6g} -> {last:.6g}{finite}")
        margin = io.max_margin_of(attrs)
        if margin is not None:
            lines.append(_margin_line(margin))

        def show(name, obj):
            if isinstance(obj, h5py.Dataset):
                lines.append(f"  /{name}  {obj.shape} {obj.dtype}")

        f.visititems(show)
        return lines

    print("\n".join(io.read_with(path, summary)))
    text, whole = _applicable_text(str(attrs.get("config", "")))
    print("config:" if not whole else "config (all keys: it no longer validates here):")
    print("  " + text.replace("\n", "\n  "))
    return EXIT_OK


def _applicable_text(stored: str) -> tuple[str, bool]:
    """The keys of a file's stored config that apply to its kind, as TOML; (the stored text,
    True) where it does not re-validate (an older release's key, a data file moved away)."""
    import tomllib

    from .config import applicable_config, validate

    try:
        return to_toml(applicable_config(validate(tomllib.loads(stored)))), False
    except (ConfigError, tomllib.TOMLDecodeError):
        return stored, True


def _plot(args) -> int:
    from . import io
    from .plotting import plot_file, plot_sweep

    path = Path(args.file)
    kind = io.check_run_file(path, ("pde", "sgd", "sweep")).get("kind")
    out = Path(args.output) if args.output else path.with_name(path.stem + "_figures")
    _writable_dir(out)
    if kind == "sweep":
        written = plot_sweep(path, out, args.x, args.y, _save_as(args))
    elif args.x or args.y:
        raise ConfigError("--x/--y", args.x or args.y, "only for a sweep's summary.h5")
    else:
        written = plot_file(path, out, animation=not args.no_animation, save_as=_save_as(args))
    for target in written:
        print(target)
    return EXIT_OK


def _examples(args) -> int:
    from .examples import copy_to

    out = Path(args.directory)
    _writable_dir(out, "DIR")
    written = copy_to(out)
    for target in written:
        print(target)
    print(f"{out}: {len(written)} example configs copied")
    return EXIT_OK


def _margin_line(margin: dict) -> str:
    """The ``info`` line of a training set's stored margin limit (attribute max_margin)."""
    if margin.get("value") is None:
        return f"max margin ({margin.get('kind')}): {margin.get('reason', 'not computed')}"
    line = f"max margin ({margin['kind']}): γ* = {margin['value']:.6g}"
    if "sizes" in margin:
        state = "converged" if margin.get("converged") else "not converged"
        line += f" ({margin['sizes'][-1]} directions, {state})"
    return line


def _sweep(args) -> int:
    from .sweeps import read_sweep

    spec = read_sweep(args.sweep)
    out = Path(args.output) if args.output else Path(Path(args.sweep).stem)
    _writable_dir(out)
    if args.dry_run:
        from .sweeps.task import point_files

        points = spec.points()
        for point in points:
            where = point.error or ", ".join(
                str(point_files(out, point.key)[verb]) for verb in spec.verbs
            )
            print(f"point {point.index} ({point.label}): {where}")
        invalid = sum(1 for point in points if point.error)
        if invalid:
            print(f"{args.sweep}: {invalid} of {len(points)} points are invalid", file=sys.stderr)
            return EXIT_BAD_INPUT
        return EXIT_OK
    from .sweeps.engine import run_sweep

    result = run_sweep(spec, out, scheduler=args.scheduler, workers=args.workers)
    for written in result.written:
        print(written)
    total, failed = len(result.rows), len(result.failed)
    print(
        f"{out}: {total - failed} of {total} points finished"
        + (f", {failed} failed" if failed else "")
    )
    return EXIT_FAILED if failed else EXIT_OK


def _on_sigint(signum, frame) -> None:
    """SIGINT: remember it for the run loop (:data:`ddsolver.runloop.INTERRUPT_REQUESTED`),
    then interrupt as Python would."""
    from .runloop import INTERRUPT_REQUESTED

    INTERRUPT_REQUESTED.set()
    raise KeyboardInterrupt


def _quiet_interrupts(previous):
    """A :data:`sys.unraisablehook` that drops a KeyboardInterrupt raised where Python cannot
    propagate it (a weakref callback, a ``__del__``): the interrupt is not lost — the run loop
    reads :data:`~ddsolver.runloop.INTERRUPT_REQUESTED` after every advance — and the user
    sees the one-line message instead of an "Exception ignored" traceback. Anything else goes
    to ``previous``."""
    from .runloop import INTERRUPT_REQUESTED

    def hook(unraisable) -> None:
        if issubclass(unraisable.exc_type, KeyboardInterrupt) and INTERRUPT_REQUESTED.is_set():
            return
        previous(unraisable)

    return hook


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ddsolver`` command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.verb == "check":  # before the run loop's imports: checking loads no kernel
        return _dispatch({"check": _check}, args)
    handlers = {
        "run": _run,
        "sgd": _sgd,
        "compare": _compare,
        "info": _info,
        "plot": _plot,
        "sweep": _sweep,
        "examples": _examples,
    }
    from .runloop import INTERRUPT_REQUESTED

    previous = signal.getsignal(signal.SIGINT)
    own = previous is signal.default_int_handler  # not when ignored or handled by a host
    if own:
        signal.signal(signal.SIGINT, _on_sigint)
    unraisable = sys.unraisablehook
    sys.unraisablehook = _quiet_interrupts(unraisable)
    try:
        return _dispatch(handlers, args)
    finally:
        if own:
            signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = unraisable
        INTERRUPT_REQUESTED.clear()


def _dispatch(handlers: dict, args: argparse.Namespace) -> int:
    """Run the verb; map the refusals, failures and interrupts to exit statuses."""
    try:
        output = getattr(args, "output", None)
        if output is not None and not output.strip():
            raise ConfigError("-o", output, "an empty output path; name a file or directory")
        return handlers[args.verb](args)
    except (
        ConfigError,
        FileFormatError,
        OutputBusyError,
        FileExistsError,
        FileNotFoundError,
    ) as exc:
        return _refuse(exc)
    except DiskFullError as exc:
        print(f"ddsolver: error: disk full: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # the reader of our output went away (| head): end quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # the system refused a write or a read (a full disk, a quota)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            print(f"ddsolver: error: disk full ({_os_reason(exc)})", file=sys.stderr)
        else:
            print(f"ddsolver: error: {_os_reason(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except MemoryError as exc:  # past the estimate (resources.check_memory): one line
        reason = " ".join(str(exc).split()) or "an allocation failed"
        print(f"ddsolver: error: out of memory ({reason})", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        again = "run the sweep again" if args.verb == "sweep" else "resume with --resume"
        print(f"ddsolver: interrupted; {again}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _os_reason(exc: OSError) -> str:
    """One line: the system's words and the file, without a library's traceback text."""
    where = f": {exc.filename}" if exc.filename else ""
    return " ".join(f"{exc.strerror or exc}{where}".split())


def _refuse(exc: Exception) -> int:
    """One line on stderr, exit 2."""
    print(f"ddsolver: error: {exc}", file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
