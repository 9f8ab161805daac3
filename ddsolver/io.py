r"""HDF5 files written by ddsolver (the one home of h5py).

Layout (CONTRACT.md, extended)::

    /                         attrs: config (resolved TOML), ddsolver_version, status
                              ("running", "finished" or "failed: <reason>"), kind ("pde"|"sgd"),
                              versions (JSON: python, numpy, scipy, numba, h5py), created
    /grid/<name>/edges        (n+1,) cell edges of each reduced coordinate   attrs: units
    /grid/<name>/centres      (n,)
    /snapshots/time           (n_s,)
    /snapshots/density        (n_s, *grid) density p in the reduced coordinates
                              (w.r.t. d<name>…; cell mass = p × cell volume)
    /observables/time         (n_o,)
    /observables/<name>       (n_o,) risk, risk_finite_n, free_energy, mass, boundary_mass,
                              mean_<coord>, q10_<coord>, q50_<coord>, q90_<coord>, dt
    /checkpoint/density       (2, *state) double buffer of the solver state (grid: the density;
                              particles: positions (M, n); SGD: every seed's weights packed,
                              (n_seeds, P))   attrs: extra0, extra1 — JSON of what is not an
                              array (SGD: the random generators' states), one per slot
    /checkpoint/state         (6,) [t, dt_limit, slot, n_snapshots, n_observables, steps]

Robustness: the file is opened, appended to, flushed and closed at every save point, so
it is closed — and consistent — while the solver computes; a process killed at any
moment leaves a readable file. The checkpoint is written to the inactive slot first
and then activated by one small write of ``state``; resume truncates the series to the
counts recorded there.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import h5py
import numpy as np

from ._version import __version__

#: A checkpoint: the solver state array, its scalars (t, dt_limit, steps, …) and what is not
#: an array (a JSON-able dict, e.g. random generators' states), or None.
Checkpoint = tuple[np.ndarray, dict, dict | None]
STATE_FIELDS = ("t", "dt_limit", "slot", "n_snapshots", "n_observables", "steps")
LOCK_WAIT_SECONDS = 60.0


def open_file(path: str | Path, mode: str = "r") -> h5py.File:
    """``h5py.File(path, mode)``, waiting while another process holds the file's HDF5 lock.

    A run opens its file only for the moment of each save, and so does every reader here;
    a reader that opens the file at that moment (``ddsolver info``, a notebook polling a
    running file) then makes the other wait instead of failing. After
    :data:`LOCK_WAIT_SECONDS` — a reader that keeps the file open — the error says so.
    """
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay = 0.005
    while True:
        try:
            return h5py.File(path, mode)
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise BlockingIOError(
                    f"{path} has been held open by another process for {LOCK_WAIT_SECONDS:g} s "
                    "(an h5py.File left open?); close it and resume"
                ) from None
            time.sleep(delay)
            delay = min(0.2, 2 * delay)


def versions() -> dict[str, str]:
    """Versions of the interpreter and the numerical stack."""
    import numba
    import scipy

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "h5py": h5py.__version__,
        "ddsolver": __version__,
    }


def _series(group: h5py.Group, name: str, shape: tuple[int, ...] = ()) -> None:
    chunk = (max(1, min(1024, 2**20 // max(1, int(np.prod(shape)) * 8))), *shape)
    group.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), chunks=chunk, dtype="f8")


def _root_attrs(f: h5py.File, config_text: str, kind: str) -> None:
    f.attrs["config"] = config_text
    f.attrs["ddsolver_version"] = __version__
    f.attrs["status"] = "running"
    f.attrs["kind"] = kind
    f.attrs["versions"] = json.dumps(versions())
    f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")


def create_run_file(
    path: str | Path,
    config_text: str,
    kind: str,
    grid,
    observable_names,
    snapshot_shapes: dict[str, tuple[int, ...]],
    state_shape: tuple[int, ...],
    force: bool = False,
) -> None:
    """Create the output file of a PDE run (refuses to overwrite unless ``force``)."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; use --force to overwrite or --resume to continue it")
    with open_file(path, "w") as f:
        _root_attrs(f, config_text, kind)
        g = f.create_group("grid")
        for axis in grid.axes:
            a = g.create_group(axis.name)
            a.create_dataset("edges", data=axis.edges)
            a.create_dataset("centres", data=axis.centres)
            a.attrs["units"] = "dimensionless (reduced coordinate)"
        s = f.create_group("snapshots")
        _series(s, "time")
        for name, shape in snapshot_shapes.items():
            _series(s, name, shape)
        s["density"].attrs["description"] = "density p per unit volume of the reduced coordinates"
        if "particles" in s:
            s["particles"].attrs["description"] = "particle positions (M, n), equal masses 1/M"
        o = f.create_group("observables")
        for name in ("time", *observable_names):
            _series(o, name)
        _checkpoint_group(f, state_shape)


def _checkpoint_group(f: h5py.File, state_shape: tuple[int, ...]) -> None:
    c = f.create_group("checkpoint")
    c.create_dataset("density", shape=(2, *state_shape), dtype="f8")
    c.create_dataset("state", data=np.full(len(STATE_FIELDS), np.nan))
    c["state"].attrs["fields"] = ",".join(STATE_FIELDS)


def append(
    path: str | Path,
    observations: list[dict],
    snapshots: list[tuple[float, dict]],
    checkpoint: Checkpoint | None,
) -> None:
    """Append observables and snapshots, then write the checkpoint; flush and close.

    ``snapshots`` is a list of (t, {dataset name: array}) for the datasets of /snapshots;
    ``checkpoint`` is (state array, {t, dt_limit, steps}, extra JSON-able dict or None).
    """
    with open_file(path, "r+") as f:
        obs = f["observables"]
        if observations:
            n = obs["time"].shape[0]
            for name in obs:
                ds = obs[name]
                ds.resize(n + len(observations), axis=0)
                ds[n:] = [o.get(name, np.nan) for o in observations]
        snaps = f["snapshots"]
        if snapshots:
            n = snaps["time"].shape[0]
            for name in snaps:
                snaps[name].resize(n + len(snapshots), axis=0)
            snaps["time"][n:] = [t for t, _ in snapshots]
            for name in snapshots[0][1]:
                snaps[name][n:] = np.stack([fields[name] for _, fields in snapshots])
        if checkpoint is not None:
            density, state, extra = checkpoint
            old = f["checkpoint/state"][:]
            slot = 0 if np.isnan(old[2]) or int(old[2]) == 1 else 1
            f["checkpoint/density"][slot] = density
            f["checkpoint/density"].attrs[f"extra{slot}"] = json.dumps(extra)
            f.flush()
            state = {
                **state,
                "slot": slot,
                "n_snapshots": snaps["time"].shape[0],
                "n_observables": obs["time"].shape[0],
            }
            f["checkpoint/state"][:] = [float(state[k]) for k in STATE_FIELDS]
        f.flush()


def create_sgd_file(
    path: str | Path,
    config_text: str,
    seeds: list[int],
    neurons: int,
    coordinates: tuple[str, ...],
    observable_names,
    state_shape: tuple[int, ...],
    force: bool = False,
) -> None:
    """Create the output file of an SGD run: per-seed series of shape (…, n_seeds[, N])."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; use --force to overwrite")
    n_seeds = len(seeds)
    with open_file(path, "w") as f:
        _root_attrs(f, config_text, "sgd")
        f.create_dataset("seeds", data=np.asarray(seeds, dtype=np.int64))
        s = f.create_group("snapshots")
        _series(s, "time")
        for name in coordinates:
            _series(s, name, (n_seeds, neurons))
            s[name].attrs["description"] = f"reduced coordinate {name} of every neuron, per seed"
        o = f.create_group("observables")
        _series(o, "time")
        for name in observable_names:
            _series(o, name, (n_seeds,))
        o["risk"].attrs["description"] = "exact population risk R_N(θ) per seed"
        _checkpoint_group(f, state_shape)


def set_status(path: str | Path, status: str) -> None:
    """Record the run's status attribute."""
    with open_file(path, "r+") as f:
        f.attrs["status"] = status


def set_attrs(path: str | Path, **attrs) -> None:
    """Set root attributes of an existing file (e.g. ``wall_seconds`` after a run)."""
    with open_file(path, "r+") as f:
        f.attrs.update(attrs)


def read_checkpoint(path: str | Path) -> Checkpoint | None:
    """The last checkpoint (state array, scalars, extra) or None; truncates later series."""
    with open_file(path, "r+") as f:
        if "checkpoint/state" not in f:
            return None
        raw = f["checkpoint/state"][:]
        if np.isnan(raw[0]):
            return None
        state = dict(zip(STATE_FIELDS, raw.tolist(), strict=True))
        for group, count in (("snapshots", "n_snapshots"), ("observables", "n_observables")):
            for ds in f[group].values():
                if ds.shape[0] > state[count]:
                    ds.resize(int(state[count]), axis=0)
        slot = int(state["slot"])
        density = f["checkpoint/density"][slot]
        extra = json.loads(f["checkpoint/density"].attrs.get(f"extra{slot}", "null"))
        f.attrs["status"] = "running"
    return density, state, extra


def read_attrs(path: str | Path) -> dict:
    """Root attributes of a ddsolver file."""
    with open_file(path, "r") as f:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}


def read_series(path: str | Path, group: str) -> dict[str, np.ndarray]:
    """All datasets of a group (``observables`` or ``snapshots``) as arrays."""
    with open_file(path, "r") as f:
        return {name: ds[()] for name, ds in f[group].items()}


def grid_volumes(grid: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
    """Cell volumes of a grid as returned by :func:`read_grid`, shape (n_1, …, n_k)."""
    vol = np.ones(())
    for axis in grid.values():
        vol = np.multiply.outer(vol, np.diff(axis["edges"]))
    return vol


def read_grid(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Edges and centres of each reduced coordinate."""
    with open_file(path, "r") as f:
        return {name: {k: g[k][()] for k in g} for name, g in f["grid"].items()}
