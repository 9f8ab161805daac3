r"""HDF5 files written by ddsolver (the one home of h5py).

Layout (CONTRACT.md, extended)::

    /                         attrs: config (resolved TOML), ddsolver_version, status
                              ("running", "finished" or "failed: <reason>"), kind ("pde"|"sgd"),
                              versions (JSON: python, numpy, scipy, numba, h5py), created,
                              checksums (JSON: CRC-32 of @config, @status, /grid, /data, /seeds)
    /grid/<name>/edges        (n+1,) cell edges of each reduced coordinate   attrs: units, radial,
                                                                               periodic
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
    /checkpoint/state         (7,) [t, dt_limit, slot, n_snapshots, n_observables, steps, crc]
                              (files before the crc: (6,))
    /checksums/observables    (n_o,) uint32 CRC-32 of each row (datasets in name order, float64)
    /checksums/snapshots      (n_s,) uint32 likewise

Robustness: the file is opened, appended to, flushed and closed at every save point, so
it is closed — and consistent — while the solver computes; a process killed at any
moment leaves a readable file. The checkpoint is written to the inactive slot first
and then activated by one small write of ``state``; resume truncates the series to the
counts recorded there.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import stat
import time
import zlib
from pathlib import Path

import h5py
import numpy as np

from ._version import __version__
from .errors import DiskFullError, FileFormatError, OutputBusyError
from .fields import DIMENSIONLESS, Field

#: A checkpoint: the solver state array, its scalars (t, dt_limit, steps, …) and what is not
#: an array (a JSON-able dict, e.g. random generators' states), or None.
Checkpoint = tuple[np.ndarray, dict, dict | None]
STATE_FIELDS = ("t", "dt_limit", "slot", "n_snapshots", "n_observables", "steps")
#: /checkpoint/state of a file from this release: the fields, then the CRC-32 of the fields,
#: the active slot's state and its extra JSON (one small write activates all of it).
STATE_LENGTH = len(STATE_FIELDS) + 1
#: What a ddsolver file of each kind holds besides its root attributes.
REQUIRED_GROUPS = {"pde": ("observables", "snapshots", "grid"), "sgd": ("observables", "snapshots")}


def open_file(path: str | Path, mode: str = "r") -> h5py.File:
    """``h5py.File(path, mode)`` without HDF5's own file lock.

    A writer holds :func:`exclusive_writer` for its whole run instead, so two writers never
    meet, and opens the file only for the moment of each save. Without HDF5's lock a reader
    (``ddsolver info``, a notebook polling a running file with
    ``h5py.File(path, "r", locking=False)``) never blocks the writer and is never refused.
    A file that cannot be opened for reading raises :class:`FileFormatError`.
    """
    try:
        return h5py.File(path, mode, locking=False)
    except OSError as exc:
        if mode == "w":
            raise
        reason = "a directory" if Path(path).is_dir() else "not a readable HDF5 file"
        detail = str(exc).split("(")[0].strip().rstrip(",")
        raise FileFormatError(path, f"{reason} ({detail})" if detail else reason) from None


@contextlib.contextmanager
def exclusive_writer(path: str | Path):
    """Hold the exclusive right to write ``path`` (a lock file beside it) for a whole run.

    A second writer — another run, a second ``--resume``, a sweep resuming the same point —
    raises :class:`OutputBusyError` at once. The lock is ``flock`` on ``PATH.lock``, released by
    the kernel when the holder dies (``kill -9`` included) and removed by a holder that ends.
    """
    import fcntl

    path = Path(path)
    lock = path.with_name(path.name + ".lock")
    while True:
        fd = _open_lock(path, lock)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise OutputBusyError(
                f"{path}: another ddsolver process (pid {holder}) is writing it; "
                "wait for it to end, or write to another file"
            ) from None
        try:  # a holder that ended may have removed the lock file after we opened it
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


def _open_lock(path: Path, lock: Path) -> int:
    """Open (or create) the lock file; never through a symbolic link, whose target the PID
    written into the lock would overwrite, and never anything but a regular file."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(lock, flags, 0o644)
    except OSError as exc:
        what = "a symbolic link" if lock.is_symlink() else exc.strerror
        raise OutputBusyError(
            f"{path}: its lock file {lock} cannot be used ({what}); remove it"
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OutputBusyError(f"{path}: its lock file {lock} is not a regular file; remove it")
    return fd


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


def _series(group: h5py.Group, name: str, shape: tuple[int, ...] = (), dtype: str = "f8") -> None:
    chunk = (max(1, min(1024, 2**20 // max(1, int(np.prod(shape)) * 8))), *shape)
    group.create_dataset(
        name, shape=(0, *shape), maxshape=(None, *shape), chunks=chunk, dtype=dtype
    )


def _checksum_group(f: h5py.File) -> None:
    """/checksums/<group>: a CRC-32 of every row of /observables and /snapshots.

    Per row, not per HDF5 chunk: a save rewrites the chunk that holds earlier rows, and a
    kill during that write may leave the chunk's own checksum (Fletcher-32) wrong while the
    earlier rows are intact — a resume must be able to read them.
    """
    c = f.create_group("checksums")
    for group in SERIES_GROUPS:
        _series(c, group, dtype="u4")
    c.attrs["description"] = "CRC-32 of each row's values, datasets in name order (float64)"


#: The groups whose rows the checksums cover.
SERIES_GROUPS = ("observables", "snapshots")


def _row_crc(values: list[np.ndarray]) -> int:
    crc = 0
    for v in values:
        crc = zlib.crc32(np.ascontiguousarray(v, dtype="f8").tobytes(), crc)
    return crc


def _root_attrs(
    f: h5py.File, config_text: str, kind: str, limit: str, attrs: dict[str, str] | None
) -> None:
    f.attrs.update(attrs or {})  # a kind's own (create_run_file), before the standard ones
    f.attrs["config"] = config_text
    f.attrs["limit"] = limit  # what the run solved: "PDE", "ODE", "particle flow", "SGD", "GD"
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
    data: dict[str, np.ndarray] | None = None,
    limit: str = "PDE",
    fields: dict[str, Field] | None = None,
    attrs: dict[str, str] | None = None,
) -> None:
    """Create the output file of a ``ddsolver run`` (refuses to overwrite unless ``force``).

    ``grid`` is None for a limit without one (an ODE): /grid is then empty. ``data``: arrays
    kept under /data (a training set's points). ``limit``: the root attribute naming what was
    solved (the kind's :attr:`~ddsolver.kinds.spec.Labels.limit`); ``kind`` stays "pde" for
    every ``ddsolver run`` file, as files of earlier releases have it. ``fields``: what each
    series is, by dataset path (:mod:`ddsolver.fields`), written as its attributes. ``attrs``:
    further root attributes the kind computed once for the run (:meth:`~ddsolver.kinds.base.
    ProblemKind.file_attrs`: a training set's ``max_margin``), sealed with the config.
    """
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; use --force to overwrite or --resume to continue it")
    with open_file(path, "w") as f:
        _root_attrs(f, config_text, kind, limit, attrs)
        g = f.create_group("grid")
        for axis in grid.axes if grid is not None else ():  # an ODE limit has no grid
            a = g.create_group(axis.name)
            a.create_dataset("edges", data=axis.edges)
            a.create_dataset("centres", data=axis.centres)
            a.attrs["units"] = "dimensionless (reduced coordinate)"
            a.attrs["radial"] = axis.radial  # a norm: 0 is its natural lower edge
            a.attrs["periodic"] = axis.periodic  # an angle: the cells wrap around
        s = f.create_group("snapshots")
        _series(s, "time")
        for name, shape in snapshot_shapes.items():
            _series(s, name, shape)
        o = f.create_group("observables")
        for name in ("time", *observable_names):
            _series(o, name)
        _checkpoint_group(f, state_shape)
        _checksum_group(f)
        _data_group(f, data)
        describe(f, fields or {}, seeds=False)
        _seal(f)


#: The datasets this module writes itself, by path (a grid axis's by its own name).
FIXED = {
    "seeds": Field("seed", "the seed of each SGD run (numpy's default_rng)", ("seed",)),
    "data/x": Field("training inputs x", "the training points, one a row", ("point", "input")),
    "data/y": Field("training labels y", "the label of each training point", ("point",)),
    "data/x_test": Field("test inputs", "the test points, one a row", ("test_point", "input")),
    "data/y_test": Field("test labels", "the label of each test point", ("test_point",)),
    "data/cell_centres": Field(
        "cell centres",
        "the unit direction at the centre of each cell of the sphere's grid",
        ("cell", "component"),
    ),
    "data/cell_areas": Field(
        "cell areas", "the area of each cell of the sphere's grid (they sum to 4π)", ("cell",)
    ),
    "checkpoint/state": Field(
        "checkpoint scalars", "t, dt_limit, slot, n_snapshots, n_observables, steps", ("field",)
    ),
    "checksums/observables": Field(
        "row checksums", "CRC-32 of each row of /observables (float64, names sorted)", ("row",)
    ),
    "checksums/snapshots": Field(
        "row checksums", "CRC-32 of each row of /snapshots (float64, names sorted)", ("row",)
    ),
}


def describe(f: h5py.File, fields: dict[str, Field], seeds: bool) -> None:
    """Write ``dims``, ``long_name``, ``units`` and ``description`` on every dataset of ``f``.

    ``fields`` describes the series of /observables and /snapshots by path, their dimensions
    after ``time`` (and ``seed`` where ``seeds``); the fixed datasets are this module's. A
    dataset nobody described gets its name and an empty description (the tests refuse one).
    """

    def one(name: str, ds) -> None:
        if not isinstance(ds, h5py.Dataset):
            return
        group, _, leaf = name.rpartition("/")
        field = fields.get(name) or FIXED.get(name)
        if group.startswith("grid/"):
            axis = group.removeprefix("grid/")
            what = "edges" if leaf == "edges" else "centres"
            field = Field(f"{axis} ({what})", f"cell {what} of the reduced coordinate {axis}",
                          (f"{axis}_edge",) if leaf == "edges" else (axis,))  # fmt: skip
        elif name == "checkpoint/density":
            dims = ("slot", *(f"state_{k}" for k in range(ds.ndim - 1)))
            field = Field("checkpoint", "double-buffered solver state (two slots)", dims)
        lead: tuple[str, ...] = ()
        if group in ("observables", "snapshots"):
            lead = ("time",) if leaf == "time" or not seeds else ("time", "seed")
        if field is None:
            field = Field(leaf, "", tuple(f"{leaf}_{k}" for k in range(ds.ndim - len(lead))))
        dims = (*lead, *field.dims) if leaf != "time" or not lead else lead
        ds.attrs["dims"] = ",".join(dims)
        ds.attrs["long_name"] = field.long_name
        ds.attrs["units"] = field.units or DIMENSIONLESS
        ds.attrs["description"] = field.description
        if field.coordinates:
            ds.attrs["coordinate_labels"] = ",".join(field.coordinates)
        if field.group:
            ds.attrs["group"] = field.group

    f.visititems(one)


def _data_group(f: h5py.File, data: dict[str, np.ndarray] | None) -> None:
    """/data: the arrays a run was computed from (a training set), written once."""
    if data:
        g = f.create_group("data")
        for name, values in data.items():
            g.create_dataset(name, data=values)


def check_same_data(path: str | Path, data: dict[str, np.ndarray] | None) -> None:
    """FileFormatError unless the file's /data holds exactly ``data`` (a resume must train on
    the arrays the run began with: a data file replaced since then is refused)."""
    stored = read_data(path)
    given = data or {}
    same = set(stored) == set(given) and all(
        np.shape(stored[n]) == np.shape(given[n]) and np.array_equal(stored[n], given[n])
        for n in stored
    )
    if not same:
        raise FileFormatError(
            path,
            "the data the config names now (problem.data) differ from the run's own /data: "
            "the data changed since the run began; resume with the original data, or start "
            "afresh with --force",
        )


def read_data(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of /data ({} when the file has none)."""
    return read_with(
        path, lambda f: {n: d[()] for n, d in f["data"].items()} if "data" in f else {}
    )


def _checkpoint_group(f: h5py.File, state_shape: tuple[int, ...]) -> None:
    c = f.create_group("checkpoint")
    c.create_dataset(
        "density", shape=(2, *state_shape), chunks=(1, *state_shape), dtype="f8", fletcher32=True
    )
    c.create_dataset("state", data=np.full(STATE_LENGTH, np.nan))
    c["state"].attrs["fields"] = ",".join((*STATE_FIELDS, "crc"))


def _checkpoint_crc(values: list[float], density: np.ndarray, extra_json: str) -> int:
    """CRC-32 of a checkpoint: its state fields, its solver state and its extra JSON."""
    crc = zlib.crc32(np.asarray(values, dtype="f8").tobytes())
    crc = zlib.crc32(np.ascontiguousarray(density, dtype="f8").tobytes(), crc)
    return zlib.crc32(extra_json.encode(), crc)


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
        need = _append_bytes(f, len(observations), len(snapshots), checkpoint is not None)
        free = free_bytes(path)
        if free < need:
            raise DiskFullError(f"{free} bytes free, {need} needed to save")
        obs = f["observables"]
        _refuse_repeated_time(path, obs["time"], [o["time"] for o in observations])
        _refuse_repeated_time(path, f["snapshots/time"], [t for t, _ in snapshots])
        if observations:
            rows = {name: [o.get(name, np.nan) for o in observations] for name in sorted(obs)}
            _append_rows(f, "observables", rows)
        snaps = f["snapshots"]
        if snapshots:
            rows = {"time": [t for t, _ in snapshots]}
            rows.update(
                {name: [fields[name] for _, fields in snapshots] for name in snapshots[0][1]}
            )
            _append_rows(f, "snapshots", {name: rows[name] for name in sorted(rows)})
        if checkpoint is not None:
            density, state, extra = checkpoint
            old = f["checkpoint/state"][:]
            slot = 0 if np.isnan(old[2]) or int(old[2]) == 1 else 1
            extra_json = json.dumps(extra)
            f["checkpoint/density"][slot] = density
            attrs = f["checkpoint/density"].attrs
            if attrs.get(f"extra{slot}") != extra_json:  # rewritten only when it changes: an
                attrs[f"extra{slot}"] = extra_json  # attribute write a kill interrupts can
                # leave the attribute index unusable ("attribute already exists" on resume)
            f.flush()
            state = {
                **state,
                "slot": slot,
                "n_snapshots": snaps["time"].shape[0],
                "n_observables": obs["time"].shape[0],
            }
            values = [float(state[k]) for k in STATE_FIELDS]
            if f["checkpoint/state"].shape[0] == STATE_LENGTH:
                values.append(float(_checkpoint_crc(values, density, extra_json)))
            f["checkpoint/state"][:] = values
        f.flush()


#: Free disk a save leaves at least, besides its new chunks (HDF5's metadata, attributes).
DISK_MARGIN = 256 * 1024


def free_bytes(path: str | Path) -> int:
    """Free bytes on the file system of ``path``."""
    return shutil.disk_usage(Path(path).resolve().parent).free


def _append_bytes(f: h5py.File, n_obs: int, n_snap: int, checkpoint: bool) -> int:
    """The most an append can add to the file: the new chunks it starts, and a margin."""
    total = DISK_MARGIN
    for group, count in (("observables", n_obs), ("snapshots", n_snap)):
        for ds in f[group].values():
            rows = ds.chunks[0]
            n = ds.shape[0]
            new = -(-(n + count) // rows) - -(-n // rows)
            total += new * int(np.prod(ds.chunks)) * ds.dtype.itemsize
    if checkpoint:  # a slot written for the first time allocates its chunk
        ds = f["checkpoint/density"]
        total += int(np.prod(ds.chunks)) * ds.dtype.itemsize
    return total


def _append_rows(f: h5py.File, group: str, rows: dict[str, list]) -> None:
    """Append rows (every dataset of ``group``, by name) and, where the file has them, their
    checksums."""
    g = f[group]
    n = g["time"].shape[0]
    count = len(rows["time"])
    for name, values in rows.items():
        g[name].resize(n + count, axis=0)
        g[name][n:] = np.stack([np.asarray(v, dtype="f8") for v in values])
    if "checksums" in f:
        sums = f["checksums"][group]
        sums.resize(n + count, axis=0)
        sums[n:] = [_row_crc([rows[name][i] for name in rows]) for i in range(count)]


def _refuse_repeated_time(path, stored: h5py.Dataset, new: list[float]) -> None:
    """A series only grows forwards in time: appending a time it already has is a bug."""
    if new and stored.shape[0] and not new[0] > stored[stored.shape[0] - 1]:
        raise RuntimeError(
            f"{path}: refusing to append t = {new[0]:g} after t = {stored[-1]:g} "
            "(another writer, or a resume past the file's own end)"
        )


def create_sgd_file(
    path: str | Path,
    config_text: str,
    seeds: list[int],
    snapshot_shapes: dict[str, tuple[int, ...]],
    observable_names,
    state_shape: tuple[int, ...],
    force: bool = False,
    data: dict[str, np.ndarray] | None = None,
    trainer: str = "SGD",
    fields: dict[str, Field] | None = None,
    attrs: dict[str, str] | None = None,
) -> None:
    """Create the output file of an SGD run: per-seed series of shape (…, n_seeds[, *shape]).

    ``trainer``: "SGD", or "GD" for full batches (the root attribute ``limit``); ``fields``:
    what each series is, by dataset path (its dimensions after ``time`` and ``seed``);
    ``attrs``: further root attributes, as for :func:`create_run_file`.

    ``snapshot_shapes`` : one seed's shape of each snapshot array (the neurons' reduced
    coordinates, (N,) each; committee machines also their overlap matrices).
    """
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; use --force to overwrite")
    n_seeds = len(seeds)
    with open_file(path, "w") as f:
        _root_attrs(f, config_text, "sgd", trainer, attrs)
        f.create_dataset("seeds", data=np.asarray(seeds, dtype=np.int64))
        s = f.create_group("snapshots")
        _series(s, "time")
        for name, shape in snapshot_shapes.items():
            _series(s, name, (n_seeds, *shape))
        o = f.create_group("observables")
        _series(o, "time")
        for name in observable_names:
            _series(o, name, (n_seeds,))
        _checkpoint_group(f, state_shape)
        _checksum_group(f)
        _data_group(f, data)
        describe(f, fields or {}, seeds=True)
        _seal(f)


def set_status(path: str | Path, status: str) -> None:
    """Record the run's status attribute."""
    set_attrs(path, status=status)


def set_attrs(path: str | Path, **attrs) -> None:
    """Set root attributes of an existing file (e.g. ``wall_seconds`` after a run)."""
    with open_file(path, "r+") as f:
        _set_checked_attrs(f, **attrs)


#: What the root attribute ``checksums`` covers (a CRC-32 each): the datasets written once
#: when the file is made, and the root attributes a reader acts on.
SEALED_GROUPS, SEALED_ATTRS = ("grid", "data", "seeds"), ("config", "status", "max_margin")


def _array_crc(values: np.ndarray) -> int:
    values = np.ascontiguousarray(values)
    return zlib.crc32(values.tobytes(), zlib.crc32(f"{values.dtype.str}{values.shape}".encode()))


def _attr_crc(value) -> int:
    return zlib.crc32((value.decode() if isinstance(value, bytes) else str(value)).encode())


def _sealed(f: h5py.File, read: dict[str, np.ndarray] | None = None) -> dict[str, int]:
    """CRC-32 of the sealed attributes (``@name``) and datasets; ``read``: datasets the
    caller has read already, by path (not read again)."""
    out = {f"@{a}": _attr_crc(f.attrs[a]) for a in SEALED_ATTRS if a in f.attrs}
    names: list[str] = []
    for group in SEALED_GROUPS:
        if isinstance(f.get(group), h5py.Dataset):
            names.append(group)
        elif group in f:
            f[group].visititems(lambda n, obj, g=group: _collect(names, f"{g}/{n}", obj))
    read = read or {}
    out.update({n: _array_crc(read[n] if n in read else f[n][()]) for n in names})
    return out


def _seal(f: h5py.File) -> None:
    """Record the checksums of the sealed datasets and attributes (a file being made)."""
    f.attrs["checksums"] = json.dumps(_sealed(f), sort_keys=True)


def _set_checked_attrs(f: h5py.File, **attrs) -> None:
    """Set root attributes and renew the checksums of the sealed ones among them."""
    f.attrs.update(attrs)
    if "checksums" in f.attrs and any(a in SEALED_ATTRS for a in attrs):
        sums = json.loads(f.attrs["checksums"])
        sums.update({f"@{a}": _attr_crc(f.attrs[a]) for a in SEALED_ATTRS if a in attrs})
        f.attrs["checksums"] = json.dumps(sums, sort_keys=True)


def _check_sealed(
    path: str | Path,
    f: h5py.File,
    attrs: tuple[str, ...] = SEALED_ATTRS,
    read: dict[str, np.ndarray] | None = None,
) -> None:
    """FileFormatError naming the first sealed dataset or attribute (of ``attrs``) that does
    not match its checksum (nothing to check in a file from before the checksums); ``read``:
    datasets already read, as :func:`_sealed` takes them."""
    if "checksums" not in f.attrs:
        return
    try:
        stored = json.loads(f.attrs["checksums"])
    except ValueError:
        raise FileFormatError(path, "damaged: its root checksums are not JSON") from None
    found = _sealed(f, read)
    names = {n for n in set(stored) | set(found) if not n.startswith("@") or n[1:] in attrs}
    for name in sorted(names):
        if stored.get(name) != found.get(name):
            what = f"the {name[1:]} attribute" if name.startswith("@") else f"/{name}"
            raise FileFormatError(path, f"{what} does not match its checksum (damaged)")


def has_checkpoint(path: str | Path) -> bool:
    """Whether the file holds a checkpoint to resume from (its state has been written)."""

    def read(f: h5py.File) -> bool:
        return "checkpoint/state" in f and not np.isnan(f["checkpoint/state"][0])

    return read_with(path, read)


def read_checkpoint(path: str | Path) -> Checkpoint | None:
    """The last checkpoint (state array, scalars, extra) or None; truncates later series."""
    with open_file(path, "r+") as f:
        _check_sealed(path, f, attrs=("config",))  # the status is about to be "running"
        found = _checkpoint(path, f)
        if found is None:
            return None
        density, state, extra = found
        for group, count in (("snapshots", "n_snapshots"), ("observables", "n_observables")):
            datasets = list(f[group].values())
            if "checksums" in f:
                datasets.append(f["checksums"][group])
            for ds in datasets:
                if ds.shape[0] > state[count]:
                    ds.resize(int(state[count]), axis=0)
        _set_checked_attrs(f, status="running")
    return density, state, extra


def _checkpoint(path: str | Path, f: h5py.File) -> Checkpoint | None:
    """The active checkpoint of an open file, checked; None when it has none.

    Raises FileFormatError when the checkpoint does not match its CRC-32 (a file from this
    release) or its fields cannot be a checkpoint of this file (any file): a slot that is not
    0 or 1, a time that is not finite and ≥ 0, counts beyond the stored rows.
    """
    if "checkpoint/state" not in f or "checkpoint/density" not in f:
        return None
    raw = f["checkpoint/state"][:]
    if raw.shape not in ((len(STATE_FIELDS),), (STATE_LENGTH,)):
        raise FileFormatError(path, "damaged checkpoint: /checkpoint/state has the wrong shape")
    if np.isnan(raw[0]):
        return None
    values = raw[: len(STATE_FIELDS)]
    state = dict(zip(STATE_FIELDS, values.tolist(), strict=True))
    rows = {"n_snapshots": "snapshots/time", "n_observables": "observables/time"}
    bad = (
        state["slot"] not in (0.0, 1.0)
        or not (np.isfinite(state["t"]) and state["t"] >= 0)
        or not (np.isnan(state["dt_limit"]) or state["dt_limit"] > 0)  # SGD: NaN
        or not (np.isfinite(state["steps"]) and state["steps"] >= 0)
        or any(
            not (state[k] == int(state[k]) and 1 <= state[k] <= f[name].shape[0])
            for k, name in rows.items()
            if name in f and np.isfinite(state[k])
        )
        or not all(np.isfinite(state[k]) for k in rows)
    )
    if bad:
        raise FileFormatError(path, "damaged checkpoint: /checkpoint/state is not a checkpoint")
    slot = int(state["slot"])
    try:
        density = f["checkpoint/density"][slot]
    except OSError as exc:
        raise FileFormatError(path, f"damaged checkpoint: cannot be read ({exc})") from None
    extra_json = f["checkpoint/density"].attrs.get(f"extra{slot}", "null")
    extra_json = extra_json.decode() if isinstance(extra_json, bytes) else str(extra_json)
    if raw.shape[0] == STATE_LENGTH and _checkpoint_crc(values, density, extra_json) != raw[-1]:
        raise FileFormatError(path, "damaged checkpoint: it does not match its checksum")
    try:
        extra = json.loads(extra_json)
    except ValueError:
        raise FileFormatError(path, "damaged checkpoint: its extra state is not JSON") from None
    return density, state, extra


def _attrs(f: h5py.File) -> dict:
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}


def read_attrs(path: str | Path) -> dict:
    """Root attributes of a ddsolver file."""
    return read_with(path, _attrs)


def max_margin_of(attrs: dict) -> dict | None:
    """The stored limit of a training set's normalised margin (root attribute ``max_margin``,
    JSON: ``kind`` "F1" or "SVM of the fixed features", ``value`` γ* or None with a
    ``reason``; for F1 the refinement's ``sizes``, ``values``, ``converged``, ``tol``), or
    None for a file without one. ``attrs``: the file's root attributes (:func:`read_attrs`)."""
    text = attrs.get("max_margin")
    return json.loads(text) if text else None


def check_run_file(
    path: str | Path, kinds: tuple[str, ...] = ("pde", "sgd"), complete: bool = True
) -> dict:
    """The root attributes of a ddsolver run file of one of ``kinds``, else FileFormatError.

    ``complete``: the file must also hold its groups (not so for a resume, which starts a file
    that died while being created afresh); for a resume (``complete`` False) its checkpoint,
    where it has one, must be sound — checked here, before any compute.
    """
    path = Path(path)
    if not path.exists():
        raise FileFormatError(path, "no such file")
    if not path.is_file():  # a FIFO would block the open; a directory is no file
        raise FileFormatError(path, "a directory" if path.is_dir() else "not a regular file")
    attrs, groups = read_with(path, lambda f: (_attrs(f), set(f)))
    kind = attrs.get("kind")
    if kind not in kinds or (kind in REQUIRED_GROUPS and "config" not in attrs):
        what = f"a {kind!r} file" if kind else "not a ddsolver file"
        raise FileFormatError(path, f"{what}; expected a {' or '.join(kinds)} run file")
    missing = [g for g in REQUIRED_GROUPS.get(kind, ()) if complete and g not in groups]
    if missing:
        raise FileFormatError(path, f"damaged: no /{missing[0]}")
    if not complete:  # a resume: a damaged checkpoint is refused before the kernels compile
        read_with(path, lambda f: _checkpoint(path, f))
    return attrs


def _collect(names: list[str], name: str, obj) -> None:
    if isinstance(obj, h5py.Dataset):
        names.append(name)


def verify(path: str | Path) -> int:
    """Read every dataset in full and check it against its checksum.

    Checked: every row of the series, the datasets written once (/grid, /data, /seeds), the
    config and status attributes, and the active checkpoint. Returns the number of datasets
    read; raises FileFormatError naming the first dataset that cannot be read, or the first
    row, dataset, attribute or checkpoint that does not match its CRC-32.
    """
    names: list[str] = []
    with open_file(path, "r") as f:
        f.visititems(lambda name, obj: _collect(names, name, obj))
        data = {}
        for name in names:
            try:
                data[name] = f[name][()]
            except OSError as exc:
                raise FileFormatError(path, f"/{name} cannot be read ({exc})") from None
        _check_sealed(path, f, read=data)  # the datasets just read, not read again
        _checkpoint(path, f)
        if "checksums" in f:
            for group in SERIES_GROUPS:
                stored = data[f"checksums/{group}"]
                columns = sorted(n for n in f[group])
                for i, crc in enumerate(stored):
                    if _row_crc([data[f"{group}/{n}"][i] for n in columns]) != crc:
                        raise FileFormatError(
                            path, f"/{group} row {i} does not match its checksum (damaged)"
                        )
    return len(names)


#: A read that meets a save half-way is tried again this many times, this far apart.
READ_ATTEMPTS, READ_RETRY_SECONDS = 8, 0.02


def read_with(path: str | Path, read):
    """``read(f)`` on the file open for reading (``read`` must only read), tried again when it
    meets a running writer's save.

    Without HDF5's file lock a reader never waits, but one that opens the file in the few
    milliseconds of a save may see it half-written (an HDF5 error); the save is over by the
    next attempt. A file that still fails after :data:`READ_ATTEMPTS` is damaged.
    """
    for attempt in range(READ_ATTEMPTS):
        try:
            with open_file(path, "r") as f:
                return read(f)
        except (OSError, KeyError, RuntimeError, FileFormatError) as exc:
            # h5py raises RuntimeError too for a torn read (``visititems``: "addr overflow")
            if attempt == READ_ATTEMPTS - 1:
                if isinstance(exc, FileFormatError):
                    raise
                raise FileFormatError(path, f"cannot be read ({exc})") from None
            time.sleep(READ_RETRY_SECONDS)
    raise AssertionError("unreachable")


def complete_rows(f: h5py.File, group: str) -> int:
    """The rows of a series every dataset holds in full, a writer's save included: a save
    grows the datasets one after another and the row checksums last, so a reader of a live
    file sees the rows all of them (and their checksums, where the file has them) hold."""
    lengths = [ds.shape[0] for ds in f[group].values()]
    if "checksums" in f and group in f["checksums"]:
        lengths.append(f["checksums"][group].shape[0])
    return min(lengths, default=0)


def read_series(path: str | Path, group: str) -> dict[str, np.ndarray]:
    """All datasets of a group (``observables`` or ``snapshots``) as arrays, the rows every
    dataset holds (:func:`complete_rows`: a consistent prefix of a running file)."""

    def read(f: h5py.File) -> dict[str, np.ndarray]:
        n = complete_rows(f, group)
        return {name: ds[:n] for name, ds in f[group].items()}

    return read_with(path, read)


def read_field_attrs(path: str | Path, group: str) -> dict[str, dict[str, str]]:
    """The attributes :func:`describe` wrote on each dataset of a group ({} for a dataset of a
    file from before they were written)."""
    keys = ("dims", "long_name", "units", "description", "coordinate_labels", "group")
    return read_with(
        path,
        lambda f: {
            name: {k: str(ds.attrs[k]) for k in keys if k in ds.attrs}
            for name, ds in f[group].items()
        },
    )


def grid_volumes(grid: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
    """Cell volumes of a grid as returned by :func:`read_grid`, shape (n_1, …, n_k)."""
    vol = np.ones(())
    for axis in grid.values():
        vol = np.multiply.outer(vol, np.diff(axis["edges"]))
    return vol


def read_series_item(path: str | Path, name: str) -> np.ndarray:
    """One dataset at the root of the file (e.g. an SGD file's ``seeds``)."""
    return read_with(path, lambda f: f[name][()])


def read_grid(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Edges and centres of each reduced coordinate."""
    return read_with(path, lambda f: {n: {k: g[k][()] for k in g} for n, g in f["grid"].items()})
