r"""Training sets: read from a file or generated reproducibly, checked before any compute.

A training set is n labelled points (x_i, y_i), x_i ∈ R^d, with a test set of the same law:

* a file (``problem.data``): ``.npz`` or HDF5 (``.h5``/``.hdf5``) with arrays ``x (n, d)``,
  ``y (n,)`` and optionally ``x_test``, ``y_test``; or ``.csv`` with a header row, a column
  ``y``, the features in the other columns and optionally a column ``test`` (1 marks a
  test point). A relative path is relative to the working directory.
* ``clusters`` (Chizat & Bach 2020): k × k cluster centres on a regular grid of [−½, ½]²,
  a random ±1 label per cluster, points uniform in a disc of radius ``radius`` around a
  uniformly chosen centre, and d − 2 further coordinates uniform in [−½, ½] that the label
  does not depend on.
* ``teacher``: the labels (``label = "sign"``) or values (``"value"``) of a random ReLU
  network y = (1/m₀) Σ_k c_k (w_k·x̃)₊ with m₀ units (c_k = ±1, w_k uniform on the sphere
  of R^{d+1}), on inputs N(0, I_d) (``inputs = "gaussian"``) or uniform on the unit sphere
  of R^d (``"sphere"``).

Every generated set draws its test set from the same law, after the training set, from the
same seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .schema import ConfigError

#: File types a training set may be read from.
DATA_SUFFIXES = (".npz", ".csv", ".h5", ".hdf5")


@dataclass(frozen=True)
class TrainingSet:
    """Training and test points. x (n, d), y (n,), x_test (n_test, d), y_test (n_test,)."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def dimension(self) -> int:
        """d."""
        return self.x.shape[1]

    def arrays(self) -> dict[str, np.ndarray]:
        """The four arrays by name (as written to a run file's /data group)."""
        return {"x": self.x, "y": self.y, "x_test": self.x_test, "y_test": self.y_test}


def clusters(n: int, n_test: int, d: int, k: int, radius: float, seed: int) -> TrainingSet:
    """Chizat–Bach's clusters (module docstring)."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(-0.5, 0.5, k) if k > 1 else np.zeros(1)
    centres = np.array([(u, v) for u in grid for v in grid])
    labels = rng.choice([-1.0, 1.0], size=centres.shape[0])

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        which = rng.integers(0, centres.shape[0], size=count)
        angle = rng.uniform(0.0, 2 * math.pi, size=count)
        r = radius * np.sqrt(rng.uniform(0.0, 1.0, size=count))  # uniform in the disc
        x = np.empty((count, d))
        x[:, 0] = centres[which, 0] + r * np.cos(angle)
        x[:, 1] = centres[which, 1] + r * np.sin(angle)
        x[:, 2:] = rng.uniform(-0.5, 0.5, size=(count, d - 2))
        return x, labels[which]

    x, y = draw(n)
    x_test, y_test = draw(n_test)
    return TrainingSet(x, y, x_test, y_test)


def relu_teacher(
    n: int, n_test: int, d: int, units: int, inputs: str, label: str, seed: int
) -> TrainingSet:
    """Labels of a random ReLU network with bias (module docstring)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((units, d + 1))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    c = rng.choice([-1.0, 1.0], size=units)

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.standard_normal((count, d))
        if inputs == "sphere":
            x /= np.linalg.norm(x, axis=1, keepdims=True)
        values = np.maximum(x @ w[:, :d].T + w[:, d], 0.0) @ c / units
        if label == "sign":
            return x, np.where(values >= 0.0, 1.0, -1.0)
        return x, values

    x, y = draw(n)
    x_test, y_test = draw(n_test)
    return TrainingSet(x, y, x_test, y_test)


def read_training_set(path: str | Path, key: str = "problem.data") -> TrainingSet:
    """Read a training set from ``.npz``, ``.csv`` or HDF5 (module docstring); a file that
    is missing, unreadable or malformed is a :class:`ConfigError` naming ``key``."""
    path = Path(path)
    if path.suffix.lower() not in DATA_SUFFIXES:
        raise ConfigError(key, str(path), f"a file ending in {', '.join(DATA_SUFFIXES)}")
    if not path.is_file():
        raise ConfigError(key, str(path), "no such file")
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as f:  # never unpickle a user's file
                arrays = {name: numeric(f[name], name, key, path) for name in DATA_ARRAYS
                          if name in f.files}  # fmt: skip
        elif path.suffix.lower() == ".csv":
            arrays = _read_csv(path, key)
        else:
            import h5py

            with h5py.File(path, "r", locking=False) as f:
                arrays = {
                    name: numeric(f[name], name, key, path)
                    for name in DATA_ARRAYS
                    if isinstance(f.get(name), h5py.Dataset)
                }
    except ConfigError:
        raise
    except (OSError, ValueError, KeyError, TypeError, Warning) as exc:
        reason = str(exc)
        if "max_header_size" in reason:  # numpy's own advice (trust the file) is not ours
            reason = "an .npy header larger than numpy reads safely"
        raise ConfigError(key, str(path), f"cannot be read ({reason})") from None
    return check_arrays(arrays, key)


#: The arrays of a training-set file; others in the file are not read.
DATA_ARRAYS = ("x", "y", "x_test", "y_test")


def numeric(source, name: str, key: str, path: str | Path) -> np.ndarray:
    """The array ``source`` (an ``.npz`` member or an HDF5 dataset) when it holds real numbers
    (bool, integer or float), else a ConfigError naming ``key``: text, complex, compound,
    object and empty (shapeless) arrays are refused, never cast."""
    dtype = getattr(source, "dtype", None)
    if dtype is None or dtype.kind not in "biuf" or getattr(source, "shape", None) is None:
        what = "no values" if dtype is None or source.shape is None else f"dtype {dtype}"
        raise ConfigError(key, str(path), f"array '{name}' holds {what}; real numbers only")
    return np.asarray(source[()], dtype=float)


def _read_csv(path: Path, key: str) -> dict[str, np.ndarray]:
    with path.open(encoding="utf-8") as fh:
        header = next((line for line in fh if line.strip()), "")
    columns = [c.strip() for c in header.split(",")]
    if "y" not in columns:
        raise ConfigError(key, str(path), "a CSV training set needs a header with a column 'y'")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise ConfigError(key, str(path), f"the header repeats the column {repeated[0]!r}")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a line with missing fields is an error, not a NaN
        table = np.genfromtxt(path, delimiter=",", names=True, dtype=float, encoding="utf-8")
    names = table.dtype.names or ()
    features = [n for n in names if n not in ("y", "test")]
    values = np.atleast_1d(table)
    x = np.column_stack([values[n] for n in features]) if features else np.empty((values.size, 0))
    y = np.asarray(values["y"], float)
    test = np.asarray(values["test"], float) == 1 if "test" in names else np.zeros(y.size, bool)
    out = {"x": x[~test], "y": y[~test]}
    if test.any():
        out.update(x_test=x[test], y_test=y[test])
    return out


def check_arrays(arrays: dict[str, np.ndarray], key: str) -> TrainingSet:
    """The arrays of a training set, checked: shapes, finite values, n ≥ 1."""
    for name in ("x", "y"):
        if name not in arrays:
            raise ConfigError(key, name, f"the training set has no array '{name}'")
    x, y = np.asarray(arrays["x"], float), np.asarray(arrays["y"], float)
    x_test = np.asarray(arrays.get("x_test", np.empty((0, x.shape[1] if x.ndim == 2 else 0))))
    y_test = np.asarray(arrays.get("y_test", np.empty(0)), float)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ConfigError(
            key, f"x {x.shape}, y {y.shape}", "x must be (n, d) and y (n,) with the same n"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ConfigError(key, f"x {x.shape}", "at least one point and one coordinate (n, d ≥ 1)")
    if x_test.size and (x_test.ndim != 2 or x_test.shape[1] != x.shape[1]):
        raise ConfigError(key, f"x_test {x_test.shape}", f"x_test must be (n_test, {x.shape[1]})")
    if x_test.shape[0] != y_test.shape[0]:
        raise ConfigError(key, f"x_test {x_test.shape}, y_test {y_test.shape}", "same n_test")
    for name, a in (("x", x), ("y", y), ("x_test", x_test), ("y_test", y_test)):
        if not np.all(np.isfinite(a)):
            raise ConfigError(key, name, f"'{name}' holds NaN or infinite values")
    return TrainingSet(x, y, x_test.reshape(-1, x.shape[1]), y_test)
