r"""The training-set flow of balanced ReLU units on inputs in R² as a PDE on the sphere S².

With x̃ = (x₁, x₂, 1) every unit's direction u = a/|a| lives on S² ⊂ R³, and the measures
ν₊, ν₋ of :mod:`.directions` follow

    ∂_t ν_s + ∇_S · (ν_s (−s ∇_S G)) = −2(sG + λ) ν_s,
    G(u) = Σ_i w_i (u · x̃_i)₊,   ∇_S G(u) = Σ_i w_i 1{u · x̃_i > 0} (x̃_i − (u · x̃_i) u),

the Wasserstein–Fisher–Rao flow of Chizat & Bach 2018 on the sphere of directions.
:class:`SphereFlow` solves it by finite volumes on the equiangular cubed sphere
(:class:`~ddsolver.cubed_sphere.CubedSphere`): near-uniform geodesic quadrilaterals, so every
edge lies on a great circle and the scheme's geometry is exact.

**Fluxes, exact along each edge.** On an edge with unit normal n (n ⟂ u all along it),
v · n = −s Σ_i w_i 1{u · x̃_i > 0} (x̃_i · n): a sum of step functions of the arc length, which
jumps where the great circle u · x̃_i = 0 of a data point crosses the edge. Each edge is cut
at those crossings once, when the flow is built, into segments on which every indicator is
constant; a step then takes the positive and negative parts of v · n on every segment, so
the upwind flux

    F_e = ρ_left ∫_e (v · n)₊ ds + ρ_right ∫_e (v · n)₋ ds

is exact for the piecewise-constant density whatever the data's circles do inside an edge
(the circle's scheme takes the velocity at the face point). The fluxes telescope: transport
moves mass between cells and never makes or destroys it, so a species' mass changes only by
its growth term, to round-off. Forward Euler keeps ν ≥ 0 for dt ≤ 1 / max_c(out_c/|c| +
max(2(sG_c + λ), 0)), with out_c the outflow integral over the cell's edges; the SSP
Runge–Kutta methods keep it with their CFL factor.

**Growth and predictor, exact cell averages.** Δ_S (u · c) = −2 (u · c) on S², so Green's
identity on the part of a cell where u · c > 0 gives

    ∫_cell (u · c)₊ dA = −½ Σ_edges (c · n_e) |e ∩ {u · c > 0}| + ½ |c| |cell ∩ {u · c = 0}|,

edge lengths and the length of the cut, a great-circle arc between two edge crossings. With
it G's cell averages and the predictor f(x) = Σ_s s Σ_c ν_s(c) ⟨(u · x̃)₊⟩_c are exact for the
piecewise-constant density, as on the circle.

The scheme is first order in space (donor cell): unlike the circle's periodic axis the cubed
sphere has no straight lines of cells across its face seams, and a limited reconstruction
across them is left for later. Its error against particles is measured in
``docs/problems/training_set.md``.
"""

from __future__ import annotations

import numpy as np

from ...cubed_sphere import CubedSphere, angle_between
from .directions import DirectionFlow

#: Data points whose cell tables are built together (bounds the (points, cells, 4, 3) work).
_POINT_CHUNK = 16
#: Edges whose segments are built together (bounds the (edges, n + 1, n) work).
_EDGE_CHUNK = 4096


def lifted(x: np.ndarray) -> np.ndarray:
    """x̃ = (x₁, x₂, 1), (n, 3), from inputs x (n, 2)."""
    x = np.asarray(x, float)
    return np.column_stack([x, np.ones(x.shape[0])])


def _crossing(p: np.ndarray, q: np.ndarray, vp: np.ndarray, vq: np.ndarray) -> np.ndarray:
    """The unit point of the arc p → q where u · c = 0, given vp = p · c and vq = q · c of
    opposite signs: |vq| p + |vp| q, normalised (..., 3)."""
    z = np.abs(vq)[..., None] * p + np.abs(vp)[..., None] * q
    return z / np.linalg.norm(z, axis=-1, keepdims=True)


def cell_integrals(mesh: CubedSphere, c: np.ndarray) -> np.ndarray:
    r"""∫_cell (u · c_i)₊ dA for every point c_i (n, 3) and cell, (n, C), exactly (module
    docstring: Green's identity with the edge parts and the cut)."""
    c = np.asarray(c, float)
    p = mesh.vertices[mesh.cells]  # (C, 4, 3), counter-clockwise
    q = np.roll(p, -1, axis=1)
    normals = -np.cross(p, q)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)  # out of the cell
    lengths = angle_between(p, q)  # (C, 4)
    out = np.empty((c.shape[0], mesh.size))
    for start in range(0, c.shape[0], _POINT_CHUNK):
        block = c[start : start + _POINT_CHUNK]  # (b, 3)
        vp = np.einsum("cki,bi->bck", p, block)  # (b, C, 4)
        vq = np.roll(vp, -1, axis=2)
        mixed = (vp > 0) != (vq > 0)
        z = _crossing(p[None], q[None], np.where(mixed, vp, 1.0), np.where(mixed, vq, -1.0))
        partial = np.where(vp > 0, angle_between(p[None], z), angle_between(z, q[None]))
        positive = np.where(mixed, partial, np.where(vp > 0, lengths[None], 0.0))
        edge_part = -0.5 * np.einsum("bck,cki,bi->bc", positive, normals, block)
        crossings = mixed.sum(axis=2)
        if np.any((crossings != 0) & (crossings != 2)):
            raise AssertionError("a great circle crosses a convex cell in 0 or 2 edges")
        first = np.argmax(mixed, axis=2)
        second = 3 - np.argmax(mixed[..., ::-1], axis=2)
        z1 = np.take_along_axis(z, first[..., None, None], axis=2)[:, :, 0]
        z2 = np.take_along_axis(z, second[..., None, None], axis=2)[:, :, 0]
        cut = np.where(crossings == 2, angle_between(z1, z2), 0.0)
        out[start : start + _POINT_CHUNK] = (
            edge_part + 0.5 * np.linalg.norm(block, axis=1)[:, None] * cut
        )
    return out


def edge_segments(mesh: CubedSphere, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The edges cut where the data's great circles cross them.

    Returns
    -------
    edge : (S,) the edge of each segment
    length : (S,) its arc length
    coefficients : (S, n) 1{u · c_i > 0 on the segment} (c_i · n_e): v · n on the segment is
        −s Σ_i w_i coefficients[:, i]
    """
    c = np.asarray(c, float)
    edges, out_edge, out_length, out_coef = mesh.edges, [], [], []
    for start in range(0, edges.shape[0], _EDGE_CHUNK):
        index = np.arange(start, min(start + _EDGE_CHUNK, edges.shape[0]))
        p, q = mesh.vertices[edges[index, 0]], mesh.vertices[edges[index, 1]]
        vp, vq = p @ c.T, q @ c.T  # (b, n)
        mixed = (vp > 0) != (vq > 0)
        z = _crossing(p[:, None], q[:, None], np.where(mixed, vp, 1.0), np.where(mixed, vq, -1.0))
        at = np.where(mixed, angle_between(p[:, None], z), np.inf)  # arc length of the crossing
        length = mesh.lengths[index]
        bounds = np.concatenate(
            [np.zeros((index.size, 1)), np.sort(np.minimum(at, length[:, None]), axis=1),
             length[:, None]], axis=1,
        )  # fmt: skip
        pieces = np.diff(bounds, axis=1)  # (b, n + 1)
        middle = 0.5 * (bounds[:, 1:] + bounds[:, :-1])
        active = (vp[:, None, :] > 0) != (middle[:, :, None] > at[:, None, :])  # (b, n + 1, n)
        normal_parts = mesh.normals[index] @ c.T  # (b, n)
        keep = pieces > 0
        out_edge.append(np.broadcast_to(index[:, None], pieces.shape)[keep])
        out_length.append(pieces[keep])
        out_coef.append((active * normal_parts[:, None, :])[keep])
    return np.concatenate(out_edge), np.concatenate(out_length), np.concatenate(out_coef)


class SphereFlow(DirectionFlow):
    r"""The flow of balanced ReLU units on inputs in R² as a PDE on S² (module docstring).

    Parameters
    ----------
    data : :class:`~ddsolver.data.TrainingSet` with d = 2
    loss : "square" or "logistic"
    alpha, lam : the output scale α and the weight decay λ
    cells : N, cells along each edge of the cubed sphere's faces (6N² cells)
    order : SSP Runge–Kutta order (1, 2, 3)
    cfl : the fraction of the positivity bound each step takes
    """

    snapshot_name = "sphere_density"

    def __init__(self, data, loss: str, alpha: float, lam: float, cells: int, order: int = 3,
                 cfl: float = 0.5):  # fmt: skip
        if data.dimension != 2:
            raise ValueError(f"the sphere flow takes inputs in R² (d = 2), not {data.dimension}")
        super().__init__(data, loss, alpha, lam, order, cfl)
        self.mesh = mesh = CubedSphere.build(cells)
        self.volumes = mesh.areas
        points = lifted(data.x)
        self.points = points
        self.averages = cell_integrals(mesh, points) / mesh.areas[None, :]
        self.test_averages = cell_integrals(mesh, lifted(data.x_test)) / mesh.areas[None, :]
        self.segment_edge, self.segment_length, self.segment_coefficients = edge_segments(
            mesh, points
        )
        self._left, self._right = mesh.edge_cells[:, 0], mesh.edge_cells[:, 1]
        self._centre_dots = points @ mesh.centres.T  # (n, C)

    def _edge_parts(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """∫_e (v·n)₊ ds and ∫_e (v·n)₋ ds of the s = +1 species, (E,) each (v·n = −g)."""
        g = self.segment_coefficients @ w
        edges = self.mesh.edges.shape[0]
        pos = np.bincount(self.segment_edge, self.segment_length * np.maximum(-g, 0.0), edges)
        neg = np.bincount(self.segment_edge, self.segment_length * np.minimum(-g, 0.0), edges)
        return pos, neg

    def rhs(self, masses: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """dν/dt (2, C), the growth Σ_c rate ν per species (2,), and the largest outflow rate
        of a cell (the positivity bound is dt ≤ 1/rate)."""
        w = self.weights(masses)
        rates = self.growth_rates(w)
        pos, neg = self._edge_parts(w)
        left, right, cells = self._left, self._right, self.cells
        density = masses / self.volumes[None, :]
        growth = rates * masses
        dmass = growth.copy()
        outflow = 0.0
        # the s = −1 species moves with −v: its positive part is −neg, its negative part −pos
        for k, (out_part, in_part) in enumerate(((pos, neg), (-neg, -pos))):
            flux = out_part * density[k, left] + in_part * density[k, right]
            dmass[k] += np.bincount(right, flux, cells) - np.bincount(left, flux, cells)
            leaving = np.bincount(left, out_part, cells) - np.bincount(right, in_part, cells)
            outflow = max(outflow, float(np.max(leaving / self.volumes)))
        decay = float(np.max(np.maximum(-rates, 0.0)))
        return dmass, growth.sum(axis=1), outflow + decay

    def tangent_speed2(self, w: np.ndarray) -> np.ndarray:
        """|∇_S G|² at the cell centres, (C,)."""
        on = (self._centre_dots > 0) * w[:, None]  # (n, C)
        gradient = on.T @ self.points - (on * self._centre_dots).sum(axis=0)[:, None] * (
            self.mesh.centres
        )
        return np.sum(gradient * gradient, axis=1)

    # ------------------------------------------------------------------ laws

    def from_particles(self, theta: np.ndarray, masses: np.ndarray) -> np.ndarray:
        """Cell masses (2, C) of balanced particles θ = (b, a₁, a₂, bias) (M, 4): each
        particle's m|a|² in the cell holding its direction a/|a| (particles with a = 0 carry
        no mass)."""
        a = theta[:, 1:4]
        weight = masses * np.sum(a * a, axis=1)
        moving = weight > 0
        out = np.zeros((2, self.cells))
        species = (theta[moving, 0] < 0).astype(int)
        np.add.at(out, (species, self.mesh.locate(a[moving])), weight[moving])
        return out

    def mean_direction(self, masses: np.ndarray) -> np.ndarray:
        """Σ_c ν_s(c) u_c / |Σ_c ν_s(c) u_c| per species, (2, 3) (the cell centres' mean)."""
        total = masses @ self.mesh.centres
        norm = np.linalg.norm(total, axis=1, keepdims=True)
        return total / np.where(norm > 0, norm, 1.0)
