r"""Cell-centred tensor-product grids over the reduced coordinates.

A :class:`TensorGrid` is immutable: a tuple of 1 to 4 :class:`Axis` objects (the grid solver
takes up to 3; a fourth serves the particle solver's density output), each with its
cell edges (uniform or stretched). Densities on the grid are arrays of shape
``grid.shape`` holding p at the cell centres (with respect to Lebesgue measure in the
reduced coordinates); cell masses are ``p * grid.volumes``.

Internally the solvers see every grid as three-dimensional, ``grid.shape3``, with
trailing axes of length one, so one compiled kernel serves 1, 2 and 3 coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Axis:
    """One coordinate axis: a name and increasing cell edges.

    Parameters
    ----------
    name : str
    edges : (n + 1,) float64, strictly increasing
    radial : bool, the coordinate is a norm (≥ 0; the origin is a natural edge, not a
        boundary: no mass leaves through it, and density estimates reflect at it)
    key : str, the prefix of its config keys (``grid.<key>_min`` …); default: ``name``
    periodic : bool, the last edge is the first (an angle): the cells wrap around
    """

    name: str
    edges: np.ndarray
    radial: bool = False
    key: str = ""
    periodic: bool = False

    def __post_init__(self) -> None:
        edges = np.asarray(self.edges, dtype=float)
        if edges.ndim != 1 or edges.size < 3 or not np.all(np.diff(edges) > 0):
            raise ValueError(f"axis {self.name!r}: edges must be ≥ 3 strictly increasing values")
        edges.setflags(write=False)
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "key", self.key or self.name)

    @classmethod
    def uniform(cls, name: str, lower: float, upper: float, cells: int, **kw) -> Axis:
        """``cells`` equal cells on [lower, upper] (``kw``: ``radial``, ``key``, ``periodic``)."""
        return cls(name, np.linspace(lower, upper, cells + 1), **kw)

    @classmethod
    def stretched(
        cls, name: str, lower: float, upper: float, cells: int, stretch: float, **kw
    ) -> Axis:
        r"""Cells refined towards ``lower``: x = lower + (upper − lower)·sinh(βs)/sinh(β).

        ``stretch`` β > 0 sets the ratio of the last to the first width (≈ cosh β);
        β = 0 is uniform. ``kw``: ``radial``, ``key``.
        """
        if stretch == 0.0:
            return cls.uniform(name, lower, upper, cells, **kw)
        s = np.linspace(0.0, 1.0, cells + 1)
        return cls(name, lower + (upper - lower) * np.sinh(stretch * s) / np.sinh(stretch), **kw)

    @property
    def cells(self) -> int:
        """Number of cells n."""
        return self.edges.size - 1

    @property
    def centres(self) -> np.ndarray:
        """Cell centres, shape (n,)."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    @property
    def widths(self) -> np.ndarray:
        """Cell widths, shape (n,)."""
        return np.diff(self.edges)

    def point_mass(self, location: float) -> np.ndarray:
        r"""Cell masses (n,) that represent a unit point mass at ``location`` with its mean exact.

        The mass is split between the two cells whose centres c_j ≤ x < c_{j+1} bracket it, in
        proportions (c_{j+1} − x, x − c_j)/(c_{j+1} − c_j), so that Σ m_k c_k = x (linear
        interpolation, "cloud in cell"). A smooth f then has Σ m_k f(c_k) − f(x) =
        ½ f''(ξ)(x − c_j)(c_{j+1} − x), at most f''·h²/8 for cells of width h. Inside the first
        or last half cell the whole mass goes to that cell (the mean is then off by < h/2); a
        location outside the axis gives no mass at all.
        """
        out = np.zeros(self.cells)
        c = self.centres
        if not self.edges[0] <= location <= self.edges[-1]:
            return out
        if location <= c[0] or location >= c[-1]:
            out[0 if location <= c[0] else -1] = 1.0
            return out
        j = int(np.searchsorted(c, location, side="right")) - 1
        upper = (location - c[j]) / (c[j + 1] - c[j])
        out[j], out[j + 1] = 1.0 - upper, upper
        return out

    @property
    def centre_distances(self) -> np.ndarray:
        """Distances between neighbouring centres (interior faces), shape (n − 1,)."""
        return np.diff(self.centres)


@dataclass(frozen=True)
class TensorGrid:
    """A tensor product of 1 to 3 axes."""

    axes: tuple[Axis, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.axes) <= 4:
            raise ValueError(f"a grid has 1 to 4 axes, got {len(self.axes)}")
        object.__setattr__(self, "axes", tuple(self.axes))

    @property
    def ndim(self) -> int:
        """Number of coordinates."""
        return len(self.axes)

    @property
    def names(self) -> tuple[str, ...]:
        """Coordinate names."""
        return tuple(a.name for a in self.axes)

    def require_names(self, names) -> None:
        """Refuse a problem whose reduced coordinates are not this grid's axes, in order."""
        if self.names != tuple(names):
            raise ValueError(
                f"grid axes {self.names} do not match the problem's coordinates {tuple(names)}"
            )

    @property
    def shape(self) -> tuple[int, ...]:
        """Cells per axis."""
        return tuple(a.cells for a in self.axes)

    @property
    def shape3(self) -> tuple[int, int, int]:
        """Shape padded to three axes with trailing ones (what the grid kernels see)."""
        if self.ndim > 3:
            raise ValueError("the finite-volume kernels take at most 3 axes")
        return (*self.shape, *(1,) * (3 - self.ndim))

    @property
    def size(self) -> int:
        """Total number of cells M."""
        return int(np.prod(self.shape))

    @property
    def volumes(self) -> np.ndarray:
        """Cell volumes (Lebesgue in the reduced coordinates), shape ``grid.shape``."""
        vol = np.ones(self.shape)
        for k, axis in enumerate(self.axes):
            vol = vol * axis.widths.reshape([-1 if i == k else 1 for i in range(self.ndim)])
        return vol

    def points(self) -> np.ndarray:
        """Cell centres as an (M, ndim) array in C order of ``grid.shape``."""
        mesh = np.meshgrid(*(a.centres for a in self.axes), indexing="ij")
        return np.column_stack([m.ravel() for m in mesh])

    def padded(self, values_per_axis: str) -> list[np.ndarray]:
        """``widths`` or ``centre_distances`` per axis, padded to three axes (length-1 dummies)."""
        out = [getattr(a, values_per_axis) for a in self.axes]
        dummy = np.ones(1) if values_per_axis == "widths" else np.ones(0)
        return out + [dummy] * (3 - self.ndim)
