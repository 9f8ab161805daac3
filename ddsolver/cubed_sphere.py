r"""The equiangular cubed sphere: a quadrilateral finite-volume mesh of S² ⊂ R³.

Each face of the cube [−1, 1]³ is cut into N × N cells by the equiangular coordinates
(ξ, η) ∈ [−π/4, π/4]² (the point (1, tan ξ, tan η) on the face x = 1, and its images on the
other five faces), and every vertex is projected onto the sphere. The gnomonic projection maps
straight lines of a face onto great circles, so every cell is a **geodesic quadrilateral**:
its four edges are arcs of great circles. That gives the finite-volume scheme exact
geometry —

* an edge from p to q has length atan2(|p × q|, p · q) and, all along it, the same unit
  normal n = ±(p × q)/|p × q| within the sphere's tangent planes (n ⟂ u for every u on the
  arc), so the flux of a velocity field through it is the arc integral of v · n;
* a cell's area is the spherical excess of its two geodesic triangles
  (Van Oosterom–Strackee: tan(E/2) = |a·(b × c)| / (1 + a·b + b·c + c·a));
* the cells are near-uniform: the largest is 1.28 times the smallest at N = 8, 1.38 at N = 32
  (a latitude–longitude grid's cells shrink to slivers at the poles, and its stable time
  step with them).

The whole mesh is turned by a fixed rotation (:data:`ORIENTATION`) away from the coordinate
axes, so that great circles a user is likely to meet (the equator z = 0 of data at x = 0,
the planes x_k = 0) do not run along the cube's grid lines: the scheme's exact edge integrals
treat a circle crossing an edge, and a circle lying on an edge would be a tie.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def _rotation(alpha: float, beta: float, gamma: float) -> np.ndarray:
    """The rotation R_z(γ) R_y(β) R_z(α) (3, 3)."""

    def rz(a: float) -> np.ndarray:
        c, s = math.cos(a), math.sin(a)
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])

    c, s = math.cos(beta), math.sin(beta)
    ry = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return rz(gamma) @ ry @ rz(alpha)


#: The mesh's orientation: the cube's axes turned by Euler angles (0.3, 0.7, 0.4) rad.
ORIENTATION = _rotation(0.3, 0.7, 0.4)

#: The six faces as (normal axis, sign): the face's points are sign·e_axis + ξ-, η-offsets.
_FACES = ((0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0), (2, 1.0), (2, -1.0))


def _face_point(axis: int, sign: float, t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
    """Points sign·e_axis + t1·e_{axis+1} + t2·e_{axis+2} (right-handed for sign = +1, the
    second tangent flipped for −1 so every face's (t1, t2) is counter-clockwise seen from
    outside), shape (*t1.shape, 3)."""
    out = np.empty((*np.shape(t1), 3))
    out[..., axis] = sign
    out[..., (axis + 1) % 3] = t1
    out[..., (axis + 2) % 3] = sign * t2
    return out


def angle_between(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The great-circle distance between unit vectors, (...,), accurate at small angles."""
    return np.arctan2(np.linalg.norm(np.cross(p, q), axis=-1), np.sum(p * q, axis=-1))


def triangle_area(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Areas of geodesic triangles with unit vertices a, b, c (..., 3): the spherical excess."""
    numerator = np.abs(np.sum(a * np.cross(b, c), axis=-1))
    denominator = 1.0 + np.sum(a * b, axis=-1) + np.sum(b * c, axis=-1) + np.sum(c * a, axis=-1)
    return 2.0 * np.arctan2(numerator, denominator)


@dataclass(frozen=True)
class CubedSphere:
    """The mesh (module docstring): 6N² cells, 12N² edges, 6N² + 2 vertices.

    Attributes
    ----------
    n : N, cells along each edge of a face
    vertices : (V, 3) unit vectors
    cells : (C, 4) vertex indices of each cell, counter-clockwise seen from outside
    areas : (C,) cell areas (they sum to 4π)
    centres : (C, 3) unit vectors: each cell's normalised vertex mean
    edges : (E, 2) vertex indices (p, q) of each edge
    edge_cells : (E, 2) the cells on either side: [left, right], n pointing from left to right
    normals : (E, 3) unit normal of each edge, pointing out of its left cell
    lengths : (E,) arc lengths
    """

    n: int
    vertices: np.ndarray
    cells: np.ndarray
    areas: np.ndarray
    centres: np.ndarray
    edges: np.ndarray
    edge_cells: np.ndarray
    normals: np.ndarray
    lengths: np.ndarray

    @classmethod
    def build(cls, n: int) -> CubedSphere:
        """The mesh with N = ``n`` cells along each face edge, rotated by :data:`ORIENTATION`."""
        if n < 1:
            raise ValueError(f"the cubed sphere needs N ≥ 1 cells per face edge, not {n}")
        t = np.tan(np.linspace(-0.25 * math.pi, 0.25 * math.pi, n + 1))
        t1, t2 = np.meshgrid(t, t, indexing="ij")
        points, quads = [], []
        for face, (axis, sign) in enumerate(_FACES):
            points.append(_face_point(axis, sign, t1, t2).reshape(-1, 3))
            i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
            base = face * (n + 1) ** 2 + i * (n + 1) + j
            quads.append(np.stack([base, base + n + 1, base + n + 2, base + 1], axis=-1))
        raw = np.concatenate(points)
        raw /= np.linalg.norm(raw, axis=1, keepdims=True)
        # vertices on the cube's edges appear on two or three faces: merge them
        _, first, index = np.unique(np.round(raw * 1e12), axis=0, return_index=True,
                                    return_inverse=True)  # fmt: skip
        vertices = raw[first] @ ORIENTATION.T
        cells = index.ravel()[np.concatenate(quads).reshape(-1, 4)]
        a, b, c, d = (vertices[cells[:, k]] for k in range(4))
        if np.any(np.sum(np.cross(b - a, c - a) * a, axis=1) <= 0):  # orientation check
            raise AssertionError("cubed sphere: a cell is not counter-clockwise")
        areas = triangle_area(a, b, c) + triangle_area(a, c, d)
        centres = a + b + c + d
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        edges, edge_cells = cls._edges(cells)
        p, q = vertices[edges[:, 0]], vertices[edges[:, 1]]
        normals = np.cross(p, q)
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        # (p, q) runs counter-clockwise around the left cell, so p × q points into it
        normals = -normals
        return cls(n, vertices, cells, areas, centres, edges, edge_cells, normals,
                   angle_between(p, q))  # fmt: skip

    @staticmethod
    def _edges(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each undirected edge once, as the directed edge (p, q) of the cell that runs it
        counter-clockwise (its left cell) and the cell that runs (q, p) (its right cell)."""
        count = cells.shape[0]
        p = cells.ravel()
        q = np.roll(cells, -1, axis=1).ravel()
        owner = np.repeat(np.arange(count), 4)
        key = p.astype(np.int64) * (cells.max() + 1) + q
        reverse = q.astype(np.int64) * (cells.max() + 1) + p
        order = np.argsort(key)
        twin = order[np.searchsorted(key[order], reverse)]
        if not np.array_equal(key[twin], reverse):
            raise AssertionError("cubed sphere: an edge without its twin")
        keep = p < q
        edges = np.stack([p[keep], q[keep]], axis=1)
        return edges, np.stack([owner[keep], owner[twin[keep]]], axis=1)

    @property
    def size(self) -> int:
        return int(self.cells.shape[0])

    def locate(self, u: np.ndarray) -> np.ndarray:
        """The cell holding each direction u (M, 3) (any non-zero length), (M,)."""
        u = np.asarray(u, float) @ ORIENTATION  # back to the cube's own axes
        axis = np.argmax(np.abs(u), axis=1)
        rows = np.arange(u.shape[0])
        sign = np.sign(u[rows, axis])
        face = 2 * axis + (sign < 0)
        t1 = u[rows, (axis + 1) % 3] / np.abs(u[rows, axis])
        t2 = sign * u[rows, (axis + 2) % 3] / np.abs(u[rows, axis])
        scale = self.n / (0.5 * math.pi)
        i = np.clip(np.floor((np.arctan(t1) + 0.25 * math.pi) * scale), 0, self.n - 1)
        j = np.clip(np.floor((np.arctan(t2) + 0.25 * math.pi) * scale), 0, self.n - 1)
        return (face * self.n * self.n + i * self.n + j).astype(np.int64)
