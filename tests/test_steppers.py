"""Every declared Runge–Kutta order, measured on the solvers' own time loops."""

import math

import numpy as np
import pytest
from convergence import ORDER_TOL, observed_orders

from ddsolver.controllers import error_step
from ddsolver.data import relu_teacher
from ddsolver.grid import Axis, TensorGrid
from ddsolver.kinds.training_set.circle import CircleFlow
from ddsolver.lagrangian import METHOD, ParticleDD
from ddsolver.models.analytic import GaussianLaw, HarmonicProblem
from ddsolver.pde import GridDD
from ddsolver.status import STATUS_NAN, STATUS_NEGATIVE, STATUS_OK, STATUS_STEP_UNDERFLOW
from ddsolver.steppers import evaluate_rhs, reachable_rate
from ddsolver.tableaux import SSP_BY_ORDER

T_END = 0.25
LEVELS = (16, 32, 64, 128)
REFERENCE_STEPS = 4096


def _grid_system(order: int, steps: int) -> GridDD:
    grid = TensorGrid((Axis.uniform("x", -6.0, 6.0, 40),))
    problem = HarmonicProblem(coupling=0.5)  # V and U smooth; τ > 0: a smooth (SG) flux
    return GridDD(problem, grid, tau=0.1, order=order, cfl=1.0, dt_max=T_END / steps)


def _grid_solution(order: int, steps: int) -> np.ndarray:
    system = _grid_system(order, steps)
    p = system.initial_state(GaussianLaw((0.5,), (0.7,)))
    report = system.advance(p, 0.0, T_END)
    assert report.status == 0 and report.t == T_END
    assert report.steps == pytest.approx(steps, abs=1)
    return p.ravel()


def _particle_solution(steps: int) -> np.ndarray:
    grid = TensorGrid((Axis.uniform("x", -6.0, 6.0, 40),))
    # rtol huge: every step is accepted and the controller keeps dt at dt_max
    system = ParticleDD(
        HarmonicProblem(coupling=0.5), grid, (20,), rtol=1e10, atol=1e10, dt_max=T_END / steps
    )
    z = system.initial_state(GaussianLaw((0.5,), (0.7,)))
    report = system.advance(z, 0.0, T_END, dt_limit=T_END / steps)
    assert report.status == 0 and report.t == T_END and report.steps == steps
    return z.ravel()


def _circle_solution(order: int, steps: int) -> np.ndarray:
    """The training set's flow on the circle (64 cells, first order in space: the limiters
    switch with the state, which the time order does not survive), a perturbed uniform law."""
    cells = 64
    flow = CircleFlow(relu_teacher(10, 0, 1, 2, "gaussian", "value", 0), "square", 1.0, 0.01,
                      cells, order, "none", cfl=1.0)  # fmt: skip
    masses = flow.uniform(0.5) * (1.0 + 0.5 * np.sin(flow.grid.axes[0].centres))[None, :]
    for _ in range(steps):
        masses, _, dt = flow.step(masses, T_END / steps)
        assert dt == T_END / steps  # the positivity bound is not the step's limit
    return masses.ravel()


#: Every solver × every method it offers: (solver, method, solution after T_END in n steps).
CASES = [
    *(("grid", m, lambda n, o=o: _grid_solution(o, n)) for o, m in SSP_BY_ORDER.items()),
    ("particles", METHOD, _particle_solution),
    *(("circle", m, lambda n, o=o: _circle_solution(o, n)) for o, m in SSP_BY_ORDER.items()),
]


@pytest.mark.parametrize(("solver", "method", "solve"), CASES,
                         ids=[f"{c[0]}-{c[1].name}" for c in CASES])  # fmt: skip
def test_every_method_converges_at_its_declared_order(solver, method, solve):
    reference = solve(REFERENCE_STEPS)
    errors = [float(np.abs(solve(n) - reference).max()) for n in LEVELS]
    observed = observed_orders(errors)
    assert abs(observed[-1] - method.order) < ORDER_TOL, (solver, method.name, observed, errors)
    assert errors[-1] < 10.0 * (T_END / LEVELS[-1]) ** method.order, (method.name, errors)


def test_the_grid_methods_conserve_mass_to_round_off():
    for order in SSP_BY_ORDER:
        system = _grid_system(order, 64)
        p = system.initial_state(GaussianLaw((0.5,), (0.7,)))
        before = float(p.ravel() @ system.volumes)
        system.advance(p, 0.0, T_END)
        assert abs(p.ravel() @ system.volumes - before) < 1e-14


def test_the_controller_rule():
    assert error_step(1.0, 0.0, 1 / 3, 2.0, 0.2) == 2.0  # no error: grow by the cap
    assert error_step(1.0, 8.0, 1 / 3, 2.0, 0.2) == pytest.approx(0.45)  # 0.9 · 8^(−1/3)
    assert error_step(1.0, 1e6, 1 / 3, 2.0, 0.2) == 0.2  # rejected: shrink at most 5×
    assert error_step(1.0, 0.5, 1 / 3, 5.0, 0.2) == pytest.approx(0.9 * 0.5 ** (-1 / 3))
    assert math.isclose(error_step(2.0, 1e-9, 1 / 3, 5.0, 0.2), 10.0)


def test_the_step_bound_sees_only_the_cells_mass_can_reach(rng):
    rate = rng.random((9, 7, 1))
    p = np.zeros((9, 7, 1))
    p[4, 3, 0] = 1.0
    for reach in (0, 1, 2, 3):
        near = [
            rate[i, j, 0] for i in range(9) for j in range(7) if abs(i - 4) + abs(j - 3) <= reach
        ]
        assert reachable_rate(p, rate, reach) == max(near)
    assert reachable_rate(p + 1e-300, rate, 1) == rate.max()  # mass everywhere: every cell


@pytest.mark.parametrize("shape", [(30, 1, 1), (9, 7, 1), (5, 6, 7)])
def test_the_reachable_step_bound_against_brute_force(shape, rng):
    """The distance-transform sweeps give the max over the L1 ball around every held cell,
    on 1-, 2- and 3-axis grids with scattered mass; and max(rate) when it sits in a held cell."""
    index = np.indices(shape).reshape(3, -1).T
    for _ in range(20):
        rate = rng.random(shape)
        p = np.where(rng.random(shape) < 0.08, rng.random(shape), 0.0)
        held = index[p.ravel() != 0]
        for reach in (0, 1, 2, 3):
            if held.size == 0:
                continue
            near = np.abs(index[:, None, :] - held[None, :, :]).sum(axis=2).min(axis=1) <= reach
            assert reachable_rate(p, rate, reach) == rate.ravel()[near].max()
    p[np.unravel_index(np.argmax(rate), shape)] = 1.0
    assert reachable_rate(p, rate, 0) == rate.max()


def test_an_empty_region_does_not_set_the_step_and_positivity_holds():
    """Pure transport (τ = 0) towards x = 0 on a wide grid: the outer cells never hold mass, and
    the fast transport there no longer shrinks the step; the density matches a run at the
    global bound to the time error, stays ≥ 0 and keeps its mass."""
    grid = TensorGrid((Axis.uniform("x", -40.0, 40.0, 800),))
    problem = HarmonicProblem(stiffness=1.0)
    law = GaussianLaw((1.0,), (0.3,))
    fast = GridDD(problem, grid, cfl=0.9)
    p = fast.initial_state(law)
    assert np.count_nonzero(p) < 400  # the outer cells are exactly empty
    rate = np.empty_like(p)
    evaluate_rhs(p, 0.0, *fast.kernel_arguments(), np.empty_like(p), rate)
    reference = GridDD(problem, grid, cfl=0.9, dt_max=0.9 / rate.max())  # the old, global bound
    q = reference.initial_state(law)
    report, reference_report = fast.advance(p, 0.0, 1.0), reference.advance(q, 0.0, 1.0)
    assert report.status == reference_report.status == 0
    assert report.steps < 0.3 * reference_report.steps  # 472 against 1773
    assert p.min() >= 0.0 and abs(p.ravel() @ fast.volumes - 1.0) < 1e-12
    assert np.abs(p - q).max() < 1e-3 * q.max()


@pytest.mark.parametrize(
    ("value", "status", "steps"),
    [(math.nan, STATUS_NAN, 1), (-1.0, STATUS_NEGATIVE, 1), (math.inf, STATUS_STEP_UNDERFLOW, 0)],
    ids=["nan", "negative", "inf"],
)
@pytest.mark.parametrize("shape", [(30,), (12, 10)])
def test_the_grid_stepper_stops_on_a_bad_density(shape, value, status, steps):
    """The acceptance pass copies the stage into p and checks it in the same loop: a NaN or a
    negative density stops the run after the step that carries it; an infinite one makes the
    outflow rate infinite, and the run stops before a step (the step bound is 0)."""
    problem = HarmonicProblem(len(shape), coupling=0.5)
    axes = zip(problem.coordinate_names, shape, strict=True)
    grid = TensorGrid(tuple(Axis.uniform(name, -6.0, 6.0, cells) for name, cells in axes))
    system = GridDD(problem, grid, tau=0.0)
    p = system.initial_state(GaussianLaw((0.0,) * len(shape), (0.7,) * len(shape)))
    good = p.copy()
    assert system.advance(good, 0.0, 0.05).status == STATUS_OK
    p.reshape(-1)[p.size // 2] = value  # a cell in the bulk of the mass
    report = system.advance(p, 0.0, 0.05)
    taken, got = report.steps, report.status
    assert (got, taken) == (status, steps)
