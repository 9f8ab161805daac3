r"""Runge–Kutta methods as data: the SSP methods of the grid and Bogacki–Shampine of particles.

**SSP methods in Shu–Osher form** (:class:`ShuOsher`). Every stage is a convex combination
of the step's start uₙ and one forward-Euler step of the previous stage,

    u⁽⁰⁾ = uₙ,   u⁽ⁱ⁾ = aᵢ uₙ + (1 − aᵢ) (u⁽ⁱ⁻¹⁾ + Δt L(u⁽ⁱ⁻¹⁾, t + cᵢ₋₁Δt)),   uₙ₊₁ = u⁽ˢ⁾,

so each keeps p ≥ 0 under the forward-Euler bound (SSP coefficient 1) and conserves mass.
The compiled loop (:mod:`ddsolver.steppers`) writes a stage as uₙ + (1 − aᵢ)(x − uₙ): the two
rounded weights aᵢ and 1 − aᵢ need not sum to 1 in binary, which biased the mass by an ulp
per step. An embedded solution of lower order (for error control) is the same combination
taken with weight ``embedded_a`` at stage ``embedded_stage``.

**Bogacki–Shampine 3(2)** (:class:`Butcher`), with first-same-as-last, for the particles.

Every method declares its ``order``; the convergence test runs each one and measures it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class ShuOsher:
    """An SSP Runge–Kutta method whose stages combine uₙ with an Euler step of the last stage.

    Attributes
    ----------
    name : str
    order : int, the declared order of accuracy
    a : (s,) weight of uₙ in each stage
    c : (s,) time of each stage's input, in units of Δt (c₀ = 0)
    embedded_stage : stage index whose combination, taken with weight ``embedded_a``, is the
        embedded solution (−1: none)
    embedded_a : float
    embedded_order : int, order of the embedded solution (0: none)
    """

    name: str
    order: int
    a: tuple[float, ...]
    c: tuple[float, ...]
    embedded_stage: int = -1
    embedded_a: float = 0.0
    embedded_order: int = 0

    @property
    def stages(self) -> int:
        """Number of stages s."""
        return len(self.a)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(a, c) as float64 arrays for the compiled loop."""
        return np.array(self.a, dtype=float), np.array(self.c, dtype=float)

    @cached_property
    def weights(self) -> tuple[float, ...]:
        r"""The Butcher weights b of the same method: uₙ₊₁ = uₙ + Δt Σᵢ bᵢ kᵢ, kᵢ the
        right-hand side at stage i's input.

        Stage i is uₙ + βᵢ·(Δt k) with β₋₁ = 0 and βᵢ = (1 − aᵢ)(βᵢ₋₁ + eᵢ), so b = β_{s−1}
        (SSPRK(3,3): 1/6, 1/6, 2/3). A quantity that grows at rate gᵢ at each stage's input —
        the circle flow's mass growth — advances by Δt Σᵢ bᵢ gᵢ over the step.
        """
        beta = [Fraction(0)] * self.stages  # exact: the entries are small rationals
        for i, a in enumerate(self.a):
            beta[i] += 1
            keep = 1 - Fraction(a).limit_denominator(1000)
            beta = [keep * b for b in beta]
        return tuple(float(b) for b in beta)


@dataclass(frozen=True)
class Butcher:
    """An explicit Runge–Kutta pair in Butcher form with an embedded lower-order solution.

    Attributes
    ----------
    name : str
    order, embedded_order : int
    A : (s, s) strictly lower triangular stage matrix
    b, b_low : (s,) weights of the solution and of the embedded one
    c : (s,) stage times
    fsal : bool, the last stage is the next step's first (b = A's last row)
    """

    name: str
    order: int
    embedded_order: int
    A: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    b_low: tuple[float, ...]
    c: tuple[float, ...]
    fsal: bool = False


FORWARD_EULER = ShuOsher("forward Euler", 1, (0.0,), (0.0,))
SSPRK22 = ShuOsher("SSPRK(2,2) (Heun)", 2, (0.0, 0.5), (0.0, 1.0))
#: Shu & Osher's SSPRK(3,3); the embedded Heun solution shares its first two stages.
SSPRK33 = ShuOsher(
    "SSPRK(3,3) (Shu–Osher)",
    3,
    (0.0, 0.75, 1.0 / 3.0),
    (0.0, 1.0, 0.5),
    embedded_stage=1,
    embedded_a=0.5,
    embedded_order=2,
)
#: The grid's methods by their ``solver.order``.
SSP_BY_ORDER = {m.order: m for m in (FORWARD_EULER, SSPRK22, SSPRK33)}

BOGACKI_SHAMPINE = Butcher(
    "Bogacki–Shampine 3(2)",
    3,
    2,
    A=(
        (0.0, 0.0, 0.0, 0.0),
        (0.5, 0.0, 0.0, 0.0),
        (0.0, 0.75, 0.0, 0.0),
        (2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0.0),
    ),
    b=(2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0.0),
    b_low=(7.0 / 24.0, 0.25, 1.0 / 3.0, 0.125),
    c=(0.0, 0.5, 0.75, 1.0),
    fsal=True,
)
