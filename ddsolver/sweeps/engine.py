"""Run a sweep's points as tasks on ``dask.distributed``: a local cluster or a given scheduler.

We do not schedule anything ourselves: each point is one task (its verbs in sequence,
then its summary row, see :mod:`.task`), submitted to a ``Client``. Without a scheduler
address a ``LocalCluster`` of worker processes is started (one Dask thread each, numba
threads = cores / workers); with ``tcp://host:port`` the same tasks go to that cluster.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError
from .spec import Point, SweepSpec
from .summary import summary_rows, write_summary
from .task import run_point

INSTALL_HINT = 'ddsolver sweep needs dask.distributed: pip install -e ".[sweep]"'


@dataclass
class SweepResult:
    """Outcome of :func:`run_sweep`: the summary rows and the files written."""

    rows: list[dict]
    written: list[Path]

    @property
    def failed(self) -> list[dict]:
        """Rows of the points that did not finish (invalid, failed or not run)."""
        return [row for row in self.rows if row["status"] != "finished"]


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ConfigError("sweep", "dask.distributed", INSTALL_HINT) from None
    return distributed


def _client(scheduler: str | None, workers: int | None, tasks: int):
    """A Client and the cluster it owns (None for an external scheduler)."""
    distributed = _distributed()
    quiet = max(logging.WARNING, logging.getLogger("ddsolver").getEffectiveLevel())
    logging.getLogger("distributed").setLevel(quiet)  # its INFO lines would drown ours
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except (OSError, ValueError, TypeError) as exc:  # ValueError: not an address
            reason = " ".join(str(exc).split())
            raise ConfigError(
                "--scheduler",
                scheduler,
                f"no Dask scheduler answers there ({reason}); "
                "give an address such as tcp://host:8786",
            ) from None
        return client, None
    # numba threads are set per task (numba.set_num_threads): a NUMBA_NUM_THREADS in the
    # workers' environment arrives after numba is imported and breaks its next compile
    count = workers or max(1, min(tasks, os.cpu_count() or 1))
    cluster = distributed.LocalCluster(
        n_workers=count,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    return distributed.Client(cluster), cluster


def _threads_by_host(client) -> dict[str, int]:
    """Dask threads per host: the numba threads of a task are the host's cores over this."""
    totals: dict[str, int] = {}
    for address, info in client.scheduler_info(n_workers=-1)["workers"].items():
        host = address.split("://")[-1].rsplit(":", 1)[0]
        totals[host] = totals.get(host, 0) + int(info.get("nthreads", 1))
    return totals


def run_sweep(
    spec: SweepSpec,
    out_dir: str | Path,
    scheduler: str | None = None,
    workers: int | None = None,
    echo: Callable[[str], None] = print,
) -> SweepResult:
    """Run every valid point of ``spec`` not finished in ``out_dir``; write the summary.

    Invalid points are reported (with the validation message) and not submitted; a point
    that fails does not stop the others; points whose files are finished with the same
    config are skipped by the task itself, so a stopped sweep restarts where it was.
    """
    out_dir = Path(out_dir).resolve()
    points = spec.points()
    valid = [p for p in points if not p.error]
    for point in points:
        if point.error:
            echo(f"point {point.index} ({point.label}): invalid: {point.error}")
    if workers != 0 or scheduler:
        _distributed()  # the install hint before any directory is made
    same_config: dict[str, list[Point]] = {}
    for point in valid:
        same_config.setdefault(point.key, []).append(point)  # equal configs run once
    here = workers == 0 and not scheduler
    # a scheduler that does not answer is refused before any directory or summary is made
    client, cluster = (
        (None, None) if here or not same_config else _client(scheduler, workers, len(same_config))
    )
    reports: dict[int, dict] = {}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            if client is not None:
                _submit_all(client, spec, same_config, out_dir, echo, reports)
            elif same_config:
                _run_here(spec, same_config, out_dir, echo, reports)
        finally:  # also when interrupted: the summary of what finished
            rows = summary_rows(spec, points, reports)
            written = write_summary(spec, rows, out_dir)
    finally:
        if client is not None:
            client.close()
            if cluster is not None:
                cluster.close()
    return SweepResult(rows, written)


def _run_here(spec, same_config, out_dir, echo, reports: dict[int, dict]) -> None:
    """``workers = 0``: every point in this process, one after another (no Dask): for small
    sweeps, notebooks and scripts without a ``__main__`` guard."""
    for key, points in same_config.items():
        report = run_point(
            points[0].config, key, str(out_dir), spec.verbs, spec.risk_times, {},
            tuple(spec.final),
        )  # fmt: skip
        for same in points:
            reports[same.index] = report
        echo(f"[{len(reports)}/{len(same_config)}] point {points[0].index} "
             f"({points[0].label}): " + _describe(report))  # fmt: skip


def refuse_unguarded_script() -> None:
    """A ConfigError when ``dd.sweep`` is called from the top level of a script that has no
    ``if __name__ == "__main__":`` guard: Dask's worker processes start by importing the
    script again, which would start another sweep in each of them ("Nanny failed to start",
    after hundreds of lines of traceback)."""
    import inspect
    import re

    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if not script or not str(script).endswith(".py"):
        return  # the command line, a notebook, an interactive session
    for frame in inspect.stack()[2:]:
        if frame.frame.f_globals is vars(main) and frame.function == "<module>":
            try:
                source = Path(script).read_text()
            except OSError:
                return
            if not re.search(r"""if\s+__name__\s*==\s*["']__main__["']""", source):
                raise ConfigError(
                    "dd.sweep",
                    Path(script).name,
                    "called at the top level of a script without an "
                    "'if __name__ == \"__main__\":' guard; Dask's worker processes import the "
                    "script again. Put the call under the guard, or pass workers=0 to run the "
                    "points in this process",
                )
            return


def _submit_all(client, spec, same_config, out_dir, echo, reports: dict[int, dict]) -> None:
    """Submit one task per distinct config; fill ``reports`` (point index → row) as they end."""
    from distributed import as_completed

    hosts = _threads_by_host(client)
    futures = {}
    for key, points in same_config.items():
        future = client.submit(
            run_point,
            points[0].config,
            key,
            str(out_dir),
            spec.verbs,
            spec.risk_times,
            hosts,
            tuple(spec.final),
            key=f"ddsolver-point-{key}",
            pure=False,
        )
        futures[future] = points
    done = 0
    try:
        for future in as_completed(futures):
            points = futures[future]
            point = points[0]
            try:
                report = future.result()
            except Exception as exc:  # the worker died (e.g. killed, out of memory)
                report = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            for same in points:
                reports[same.index] = report
            done += 1
            echo(
                f"[{done}/{len(futures)}] point {point.index} ({point.label}): " + _describe(report)
            )
    except KeyboardInterrupt:
        client.cancel(list(futures))
        echo("interrupted: finished points are kept; run the sweep again to continue")
        raise


def _describe(report: dict) -> str:
    if report["status"] != "finished":
        return f"FAILED: {report['error']}"
    if report.get("skipped"):
        return "finished earlier, skipped"
    walls = [f"{k[5:-2]} {v:.1f} s" for k, v in report.items() if k.startswith("wall_")]
    return "finished (" + ", ".join(walls) + ")"
