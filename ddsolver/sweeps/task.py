"""One sweep point, run where a Dask worker puts it: ``run`` and/or ``sgd``, then its summary row.

Everything here works on the files only, so the client never reads them: a worker on
another machine needs the output directory at the same path (a shared file system),
the client does not. A point whose files are finished with the same config is not run
again; a PDE file left "running" by a killed sweep is resumed from its checkpoint.
"""

from __future__ import annotations

import math
import os
import time as clock
import traceback
from pathlib import Path

import numpy as np

from .. import io
from ..config import to_toml
from ..errors import OutputBusyError

FINISHED = "finished"


def point_files(out_dir: str | Path, key: str) -> dict[str, Path]:
    """The files of the point with hash ``key``: ``run`` (PDE) and ``sgd``."""
    out_dir = Path(out_dir)
    return {"run": out_dir / f"{key}.h5", "sgd": out_dir / f"{key}_sgd.h5"}


def _stored(path: Path) -> dict:
    """Root attributes of an existing file; {} when it is missing or unreadable."""
    if not path.exists():
        return {}
    try:
        return io.read_attrs(path)
    except OSError:  # a file cut off before its header was written
        return {}


def _set_threads(threads: int) -> None:
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


#: How often a point waits for another process that is writing its file (seconds).
BUSY_POLL_SECONDS = 0.5


def run_verb(verb: str, cfg: dict, path: Path, threads: int) -> tuple[str, float, bool]:
    """Run one verb of a point unless its file is finished: (status, wall seconds, skipped).

    A point whose file another process is writing (a second sweep over the same directory)
    waits for that writer to end and then takes its result, or resumes what it left.
    """
    while True:
        try:
            return _run_verb(verb, cfg, path, threads)
        except OutputBusyError:
            clock.sleep(BUSY_POLL_SECONDS)


def _run_verb(verb: str, cfg: dict, path: Path, threads: int) -> tuple[str, float, bool]:
    stored = _stored(path)
    same_config = stored.get("config") == to_toml(cfg)
    if same_config and stored.get("status") == FINISHED:
        return FINISHED, float(stored.get("wall_seconds", math.nan)), True
    started = clock.monotonic()
    if verb == "run":
        from ..integrate import run_pde

        # run_pde resumes from the checkpoint, or starts over in the file if it has none
        resume = same_config and stored.get("status") == "running"
        result = run_pde(cfg, path, resume=resume, force=not resume, quiet=True)
    else:
        from ..sgd.run import run_sgd

        resume = same_config and stored.get("status") == "running"
        result = run_sgd(cfg, path, resume=resume, force=not resume, threads=threads, quiet=True)
    wall = clock.monotonic() - started
    io.set_attrs(path, wall_seconds=wall)
    return result.status, wall, False


def summarise(
    cfg: dict,
    files: dict[str, Path],
    verbs: tuple[str, ...],
    risk_times: list[float],
    final: tuple[str, ...] = (),
) -> dict:
    """Key results of a point's files (NaN where a verb was not run or stopped early, or
    the run has no such observable); ``final``: observables whose last value to report."""
    row: dict[str, float] = {}
    nan = math.nan
    if "run" in verbs:
        obs = io.read_series(files["run"], "observables")
        t, risk = obs["time"], obs["risk"]
        row.update(
            t_reached=float(t[-1]) if t.size else nan,
            risk_initial=float(risk[0]) if t.size else nan,
            risk_final=float(risk[-1]) if t.size else nan,
        )
        for s in risk_times:
            inside = t.size and t[0] <= s <= t[-1] * (1 + 1e-12)
            row[f"risk_at_{s:g}"] = float(np.interp(s, t, risk)) if inside else nan
        for name in final:
            values = obs.get(name)
            row[f"final_{name}"] = float(values[-1]) if values is not None and t.size else nan
    if "sgd" in verbs:
        obs = io.read_series(files["sgd"], "observables")
        risk = obs["risk"]
        row["sgd_risk_final"] = float(risk[-1].mean()) if risk.shape[0] else nan
        if "run" not in verbs:
            row["t_reached"] = float(obs["time"][-1]) if risk.shape[0] else nan
    if set(verbs) == {"run", "sgd"}:
        from ..comparison import compare_files

        try:
            row["pde_sgd_gap"] = compare_files(files["run"], files["sgd"])["max_abs_gap"]
        except (ValueError, IndexError):  # no common times (a run stopped at t = 0)
            row["pde_sgd_gap"] = nan
    return row


def run_point(
    cfg: dict,
    key: str,
    out_dir: str,
    verbs: tuple[str, ...],
    risk_times: list[float],
    threads_by_host: dict[str, int],
    final: tuple[str, ...] = (),
) -> dict:
    """Run a point's verbs and return its summary row; never raises (errors are reported).

    ``threads_by_host`` maps a host to the Dask threads on it; the numba threads of this
    point are the host's cores divided by that number, so a machine is not oversubscribed.
    """
    threads = _threads(threads_by_host)
    _set_threads(threads)
    files = point_files(out_dir, key)
    report: dict = {"key": key, "status": FINISHED, "error": "", "skipped": True}
    try:
        for verb in verbs:
            status, wall, skipped = run_verb(verb, cfg, files[verb], threads)
            report[f"wall_{verb}_s"] = wall
            report["skipped"] = report["skipped"] and skipped
            if status != FINISHED:
                report["status"] = "failed"
                report["error"] = f"{verb}: {status}"
                break
        report.update(summarise(cfg, files, verbs, risk_times, final))
    except Exception as exc:  # a point's failure must not stop the sweep
        report["status"] = "failed"
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["traceback"] = traceback.format_exc()
    report["files"] = {v: str(files[v]) for v in verbs}
    return report


def _threads(threads_by_host: dict[str, int]) -> int:
    cores = os.cpu_count() or 1
    try:
        from distributed import get_worker

        host = get_worker().address.split("://")[-1].rsplit(":", 1)[0]
    except (ImportError, ValueError):  # not on a worker (a direct call)
        return cores
    return max(1, cores // max(1, threads_by_host.get(host, 1)))
