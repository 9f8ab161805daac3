"""The training-set flow on the sphere of directions (inputs in R²): the cubed sphere's
geometry, the exact cell and edge integrals against quadrature, mass against growth,
positivity, a single direction against the particle flow, and the config's keys."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from ddsolver.cubed_sphere import CubedSphere, angle_between, triangle_area
from ddsolver.data import clusters
from ddsolver.kinds.training_set.directions import DirectionIntegrator
from ddsolver.kinds.training_set.sphere import SphereFlow, cell_integrals, edge_segments, lifted


def _points(count: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([lifted(rng.normal(size=(count, 2))), [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


@pytest.mark.parametrize("n", [1, 3, 16])
def test_cubed_sphere_geometry(n):
    mesh = CubedSphere.build(n)
    assert mesh.size == 6 * n * n and mesh.edges.shape == (12 * n * n, 2)
    assert mesh.vertices.shape == (6 * n * n + 2, 3)
    assert abs(mesh.areas.sum() - 4 * math.pi) < 1e-13
    # each normal points out of its left cell and into its right one, tangent to both ends
    left, right = mesh.centres[mesh.edge_cells[:, 0]], mesh.centres[mesh.edge_cells[:, 1]]
    assert np.all(np.sum(mesh.normals * left, axis=1) < 0)
    assert np.all(np.sum(mesh.normals * right, axis=1) > 0)
    for end in (0, 1):
        assert (
            np.abs(np.sum(mesh.normals * mesh.vertices[mesh.edges[:, end]], axis=1)).max() < 1e-14
        )
    # every cell has 4 edges, and the edge lengths add up to its perimeter
    assert np.array_equal(
        np.bincount(mesh.edge_cells.ravel(), minlength=mesh.size), np.full(mesh.size, 4)
    )
    p = mesh.vertices[mesh.cells]
    perimeter = angle_between(p, np.roll(p, -1, axis=1)).sum(axis=1)
    summed = np.bincount(mesh.edge_cells.ravel(), np.repeat(mesh.lengths, 2), mesh.size)
    assert np.abs(perimeter - summed).max() < 1e-13
    assert np.array_equal(mesh.locate(mesh.centres), np.arange(mesh.size))
    assert np.array_equal(mesh.locate(7.5 * mesh.centres), np.arange(mesh.size))


def _cell_quadrature(mesh: CubedSphere, cell: int, c: np.ndarray, k: int = 240) -> np.ndarray:
    """∫_cell (u · c_i)₊ dA by a k × k split of the cell into geodesic sub-quadrilaterals,
    each by its area times the integrand at its centre, (n,)."""
    a, b, cc, d = mesh.vertices[mesh.cells[cell]]
    g1, g2 = np.meshgrid(np.linspace(0, 1, k + 1), np.linspace(0, 1, k + 1), indexing="ij")
    patch = (
        ((1 - g1) * (1 - g2))[..., None] * a
        + (g1 * (1 - g2))[..., None] * b
        + (g1 * g2)[..., None] * cc
        + ((1 - g1) * g2)[..., None] * d
    )
    patch /= np.linalg.norm(patch, axis=-1, keepdims=True)
    p00, p10, p11, p01 = patch[:-1, :-1], patch[1:, :-1], patch[1:, 1:], patch[:-1, 1:]
    area = triangle_area(p00, p10, p11) + triangle_area(p00, p11, p01)
    mid = p00 + p10 + p11 + p01
    mid /= np.linalg.norm(mid, axis=-1, keepdims=True)
    return np.einsum("ij,nij->n", area, np.maximum(np.einsum("ijk,nk->nij", mid, c), 0.0))


def test_cell_integrals_are_exact():
    """Σ_cells = ∫_S² (u · c)₊ dA = π|c|, to round-off; each cell against quadrature (the
    k × k midpoint rule is O(k⁻²) on a cut cell: 2e-6 of the cell's area at k = 240)."""
    c = _points()
    mesh = CubedSphere.build(4)
    table = cell_integrals(mesh, c)
    assert np.abs(table.sum(axis=1) - math.pi * np.linalg.norm(c, axis=1)).max() < 1e-13
    assert table.min() >= -1e-15
    cut = [k for k in range(mesh.size) if np.ptp(np.sign(mesh.vertices[mesh.cells[k]] @ c.T)) > 0]
    assert len(cut) > 10
    for cell in [*cut[:12], 0]:
        quad = _cell_quadrature(mesh, cell, c)
        assert np.abs(quad - table[:, cell]).max() < 2e-6 * mesh.areas[cell]


def test_edge_segments_integrate_the_normal_gradient():
    """Σ_segments of an edge of coefficients[:, i] × length = ∫_e 1{u · c_i > 0}(c_i · n) ds,
    against a 20 000-point midpoint rule along the arc (error ≤ |c| × L / 20 000)."""
    c = _points(4, seed=3)
    mesh = CubedSphere.build(3)
    edge, length, coef = edge_segments(mesh, c)
    exact = np.zeros((mesh.edges.shape[0], c.shape[0]))
    np.add.at(exact, edge, coef * length[:, None])
    k = 20000
    s = (np.arange(k) + 0.5) / k
    for e in range(mesh.edges.shape[0]):
        p, q = mesh.vertices[mesh.edges[e]]
        tangent = q - (p @ q) * p
        tangent /= np.linalg.norm(tangent)
        phi = s * mesh.lengths[e]
        u = np.cos(phi)[:, None] * p + np.sin(phi)[:, None] * tangent
        quad = ((u @ c.T > 0) * (c @ mesh.normals[e])).mean(axis=0) * mesh.lengths[e]
        assert (
            np.abs(quad - exact[e]).max()
            <= 2 * np.linalg.norm(c, axis=1).max() * mesh.lengths[e] / k
        )


def _flow(
    cells: int = 6,
    loss: str = "logistic",
    alpha: float = 1.0,
    lam: float = 0.0,
    order: int = 3,
    cfl: float = 0.5,
) -> SphereFlow:
    return SphereFlow(clusters(18, 30, 2, 3, 0.1, 1), loss, alpha, lam, cells, order, cfl)


@pytest.mark.parametrize("order", [1, 3])
def test_mass_is_the_growth_and_densities_stay_positive(order):
    """Transport only moves mass: ν_s(S²) − ν_s(S²)(0) = the integrated growth to round-off;
    the density never goes negative, at the largest allowed step (cfl = 1) too."""
    flow = _flow(cells=8, lam=0.05, order=order, cfl=1.0)
    start = flow.uniform(0.8)
    start[0] *= np.linspace(0.2, 1.8, flow.cells)  # an uneven start: transport has work
    integrator = DirectionIntegrator(flow, start)
    t = 0.0
    while t < 6.0:
        t = integrator.advance(t, min(t + 1.0, 6.0)).t
        assert integrator.masses.min() >= 0.0
        obs = integrator.observe()
        assert abs(obs["mass_plus"] - start[0].sum() - obs["growth_plus"]) < 1e-14
        assert abs(obs["mass_minus"] - start[1].sum() - obs["growth_minus"]) < 1e-14
    assert obs["loss"] < math.log(2) - 0.01  # it learned something


def test_the_flow_decreases_the_objective_at_the_dissipation_rate():
    """dJ/dt = −∫|v|² dρ for the exact flow: the scheme's J(t) falls, and its rate between
    observations approaches the dissipation's mean as the cells shrink (to 8 % at N = 16)."""
    errors = []
    for cells in (8, 16):
        flow = _flow(cells=cells, loss="square", lam=0.02)
        integrator = DirectionIntegrator(flow, flow.uniform(1.0), dt_max=0.005)
        t, risk, dissipation = 0.0, [], []
        for stop in (0.0, 0.05):
            if stop > t:
                t = integrator.advance(t, stop).t
            obs = integrator.observe()
            risk.append(obs["risk"])
            dissipation.append(obs["dissipation"])
        rate = (risk[1] - risk[0]) / 0.05
        errors.append(abs(rate + np.mean(dissipation)) / np.mean(dissipation))
        assert rate < 0
    assert errors[1] < errors[0] and errors[1] < 0.08


def test_a_single_direction_follows_its_particle(tmp_path):
    """One unit with b > 0 and one with b < 0: the PDE's mass of each sign, and its mean
    direction, follow the two particles of the particle flow — within two cells at N = 32,
    closer at N = 32 than at N = 16 (measured: the b > 0 unit, which runs along a data
    point's circle, 0.126 → 0.085 rad, order ≈ 0.6 of the first-order scheme; the other
    0.026 → 0.016), with the mass |a|² within 10 %."""
    import ddsolver as dd
    from ddsolver.io import read_data

    theta = np.array([[0.6, 0.3, -0.4, 0.35], [-0.5, -0.2, 0.3, 0.3]])
    theta[:, 0] = np.sign(theta[:, 0]) * np.linalg.norm(theta[:, 1:], axis=1)
    np.savez(tmp_path / "two.npz", theta=theta, masses=np.array([0.5, 0.5]))
    base = {
        "problem": {
            "kind": "training_set",
            "dimension": 2,
            "loss": "square",
            "generate": {
                "kind": "clusters",
                "n": 12,
                "n_test": 0,
                "k": 2,
                "radius": 0.1,
                "seed": 3,
            },
        },
        "initial": {"kind": "file", "particles": str(tmp_path / "two.npz")},
        "time": {"t_end": 2.0, "save_every": 1.0, "observe_every": 1.0},
    }
    particles = dd.solve(base, output=tmp_path / "particles.h5")
    theta_t = particles.snapshots["particles"].values[-1]
    direction = theta_t[:, 1:] / np.linalg.norm(theta_t[:, 1:], axis=1, keepdims=True)
    start = theta[:, 1:] / np.linalg.norm(theta[:, 1:], axis=1, keepdims=True)
    errors = []
    for cells in (16, 32):
        pde = dd.solve(
            {**base, "discretisation": {"method": "grid"}, "grid": {"sphere_cells": cells}},
            output=tmp_path / f"pde{cells}.h5",
        )
        arrays = read_data(pde.path)
        masses = pde.snapshots["sphere_density"].values[-1] * arrays["cell_areas"][None, :]
        means = masses @ arrays["cell_centres"]
        errors.append(angle_between(means / np.linalg.norm(means, axis=1)[:, None], direction))
        mass = 0.5 * np.sum(theta_t[:, 1:] ** 2, axis=1)
        assert np.all(np.abs(masses.sum(axis=1) - mass) < 0.1 * mass)
    cell_size = math.sqrt(4 * math.pi / (6 * 32**2))
    assert np.all(errors[1] < 2 * cell_size) and np.all(errors[1] < 0.8 * errors[0])
    assert angle_between(direction, start).min() > 5 * cell_size  # both travelled


def test_config_keys_of_the_sphere(tmp_path):
    from ddsolver.config import validate
    from ddsolver.schema import ConfigError

    base = {
        "problem": {"kind": "training_set", "dimension": 2},
        "discretisation": {"method": "grid"},
        "initial": {"kind": "sphere"},
    }
    cfg = validate({**base, "grid": {"sphere_cells": 6}})
    assert cfg["grid"]["sphere_cells"] == 6
    for extra, key in (
        ({"grid": {"angle_cells": 64}}, "grid.angle_cells"),
        ({"solver": {"limiter": "weno5"}}, "solver.limiter"),
    ):
        with pytest.raises(ConfigError, match=re.escape(key)):
            validate({**base, **extra})
    with pytest.raises(ConfigError, match=r"grid\.sphere_cells"):
        validate(
            {
                "problem": {
                    "kind": "training_set",
                    "dimension": 1,
                    "generate": {"kind": "teacher"},
                },
                "discretisation": {"method": "grid"},
                "initial": {"kind": "sphere"},
                "grid": {"sphere_cells": 6},
            }
        )
    with pytest.raises(ConfigError, match=r"problem\.dimension"):
        validate(
            {
                "problem": {"kind": "training_set", "dimension": 3},
                "discretisation": {"method": "grid"},
                "initial": {"kind": "sphere"},
            }
        )


def test_unset_removes_a_key_the_file_sets(tmp_path):
    from ddsolver.config import load_config
    from ddsolver.schema import ConfigError

    path = tmp_path / "c.toml"
    path.write_text(
        '[problem]\nkind = "training_set"\ndimension = 2\n[discretisation]\n'
        'method = "grid"\n[initial]\nkind = "sphere"\n[grid]\nsphere_cells = 6\n'
    )
    with pytest.raises(ConfigError, match=r"grid\.sphere_cells"):
        load_config(path, ['discretisation.method="particles"'])
    cfg = load_config(path, ['discretisation.method="particles"'], ["grid.sphere_cells"])
    assert cfg["discretisation"]["method"] == "particles"
    with pytest.raises(ConfigError, match="--unset"):
        load_config(path, [], ["grid.angle_cells"])


def test_a_sphere_run_resumes_bitwise(tmp_path, assert_same_rows):
    """Stopped at t = 2 and resumed to 4: the same rows as one run to 4, bit for bit."""
    import ddsolver as dd

    overrides = {"grid.sphere_cells": 6, "time.save_every": 1.0, "time.observe_every": 0.5}
    grid = Path(__file__).resolve().parents[1] / "grids" / "training_set_sphere.toml"
    dd.solve(grid, tmp_path / "whole.h5", quiet=True, overrides={**overrides, "time.t_end": 4.0})
    dd.solve(grid, tmp_path / "parts.h5", quiet=True, overrides={**overrides, "time.t_end": 2.0})
    dd.solve(grid, tmp_path / "parts.h5", quiet=True, resume=True,
             overrides={**overrides, "time.t_end": 4.0})  # fmt: skip
    whole, parts = dd.open(tmp_path / "whole.h5"), dd.open(tmp_path / "parts.h5")
    assert_same_rows(whole, parts, ("loss", "mass_plus", "growth_minus"), "sphere_density")
