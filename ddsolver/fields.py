r"""What every dataset of a run file is: its dimensions, name, units and meaning.

After the netCDF Climate and Forecast conventions, which xarray reads: each dataset of a
run file carries the attributes ``dims`` (comma-separated dimension names, one per axis),
``long_name``, ``units`` ("1" for a dimensionless number) and ``description``.
:func:`ddsolver.results.Run` builds its xarray dimensions from ``dims``; plotting and the
comparison read ``long_name`` instead of guessing from a dataset's name.

A :class:`Field` describes one series: its dimensions *after* the leading ones the file adds
(``time`` for every series, then ``seed`` in an SGD file). The fields shared by every run are
built here (:func:`run_fields`, :func:`sgd_fields`); a kind adds its own
(:meth:`~ddsolver.kinds.spec.KindSpec.fields`). The fixed datasets (grid, data, checkpoint,
checksums, seeds) are described by :mod:`ddsolver.io`, which writes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

#: The unit of a dimensionless number (CF).
DIMENSIONLESS = "1"
#: The ``finite_width`` switches of SGD's first-order step-noise terms and the observable
#: each writes and adds to ``risk_predicted`` (docs/finite_width.md), in the budget's order.
NOISE_SWITCHES = {
    "own_noise": "noise_own",
    "shared_noise": "noise_shared",
    "euler_error": "euler_error",
}
#: With ``finite_width.law_of_a``: the law of a's term of each switch, stored as
#: /snapshots/law_of_a_<name>, and beside them their error estimate (docs/finite_width.md).
LAW_OF_A_TERMS = {"own_noise": "own", "shared_noise": "shared", "euler_error": "euler"}
LAW_OF_A_NAMES = (*LAW_OF_A_TERMS.values(), "error")
#: With ``finite_width.dynamical`` too: the law's dynamical 1/N term and its error estimate.
LAW_OF_A_DYNAMICAL = ("dynamical", "dynamical_error")

#: The largest error estimate (``noise_error``), as a fraction of |shared| + |own|, at which
#: the step-noise terms count as resolved; beyond it (near a separatrix) ``risk_predicted``
#: is NaN and ``ddsolver compare`` leaves the budget's noise predictions out.
RESOLVED_FRACTION = 0.1


def resolved_terms(shared, own, error) -> np.ndarray:
    """Where the step-noise terms are a prediction: error ≤ :data:`RESOLVED_FRACTION`
    (|shared| + |own|), elementwise (at t = 0, where all three vanish, resolved)."""
    shared, own, error = (np.asarray(x, dtype=float) for x in (shared, own, error))
    return error <= RESOLVED_FRACTION * (np.abs(shared) + np.abs(own))


@dataclass(frozen=True)
class Field:
    """One series of a run file.

    Attributes
    ----------
    long_name : a label for an axis or a legend
    units : CF units; "1" for a dimensionless number
    description : what the number is, with its equation where it has one
    dims : the dimensions after ``time`` (and ``seed``), one per remaining axis
    coordinates : labels along the last dimension, where its entries have names (a particle's
        columns b, a₁…a_d, bias), written as the ``coordinate_labels`` attribute
    group : the family a figure draws it with (the committee's "Q", "R", "v"), written as
        the ``group`` attribute; "" for none
    """

    long_name: str
    description: str
    dims: tuple[str, ...] = ()
    units: str = DIMENSIONLESS
    coordinates: tuple[str, ...] = ()
    group: str = ""


#: Fields of every file and limit.
TIME = Field("time t", "time of the dynamics; SGD step k is at t = kε")
STEP = Field("time step", "the step the time integrator took to reach this observation")


def statistics_fields(coordinates: Iterable[str], of: str) -> dict[str, Field]:
    """``mean_<z>`` and the quantiles ``q10_<z>``, ``q50_<z>``, ``q90_<z>`` of every reduced
    coordinate z (:func:`ddsolver.observables.coordinate_statistics`) of ``of`` (the density,
    the particles, the neurons)."""
    from .observables import QUANTILES, quantile_name

    out = {}
    for name in coordinates:
        out[f"mean_{name}"] = Field(f"mean of {name}", f"∫ {name} dρ_t: the mean of {of}")
        for q in QUANTILES:
            out[quantile_name(q, name)] = Field(
                f"{round(100 * q)}% quantile of {name}",
                f"the {q:g} quantile of the marginal of {of} along {name}",
            )
    return out


def run_fields(symbol: str, objective: str, coordinates: tuple[str, ...]) -> dict[str, Field]:
    """The observables and snapshots every reduced-DD run can write, by dataset path.

    ``symbol`` and ``objective``: the kind's words for ``risk``; ``coordinates``: the reduced
    coordinates (the grid's axes, the particles' columns).
    """
    obs = {
        "time": TIME,
        "dt": STEP,
        "risk": Field(symbol, f"{objective}: R(ρ) = E y² + 2∫V dρ + ∫∫U dρ dρ"),
        "risk_finite_n": Field(
            f"{symbol} + 1/N",
            "the risk of N i.i.d. neurons from ρ_t on average: R(ρ_t) + (1/N)(∫U(θ, θ) dρ_t − "
            "∫∫U dρ_t dρ_t), N = sgd.neurons",
        ),
        "free_energy": Field(
            "free energy F(ρ_t)", "½ R(ρ) + (λ/2)∫|θ|² dρ + (τ/D)∫ρ log ρ (non-increasing)"
        ),
        "mass": Field("mass ∫ dρ_t", "total mass of the discretised density (conserved: 1)"),
        "boundary_mass": Field(
            "mass at the outer edge", "mass in the outermost cells (the run fails above the bound)"
        ),
        **statistics_fields(coordinates, "ρ_t"),
    }
    snaps = {
        "time": TIME,
        "density": Field(
            "density p",
            "density per unit volume of the reduced coordinates (cell mass = p × cell volume)",
            coordinates,
        ),
        "particles": Field(
            "particle positions",
            "the particles' reduced coordinates, equal masses 1/M",
            ("particle", "coordinate"),
            coordinates=coordinates,
        ),
    }
    return {**observables(obs), **snapshots(snaps)}


def sgd_fields(
    symbol: str, objective: str, coordinates: tuple[str, ...], trainer: str
) -> dict[str, Field]:
    """The observables and snapshots every SGD file can write, by dataset path (per seed)."""
    obs = {
        "time": TIME,
        "risk": Field(symbol, f"{objective} of the finite network, exact (no Monte Carlo)"),
        **statistics_fields(coordinates, f"the {trainer} neurons"),
    }
    snaps = {"time": TIME}
    snaps.update(
        {
            name: Field(name, f"{name} of every neuron (its reduced coordinate)", ("neuron",))
            for name in coordinates
        }
    )
    return {**observables(obs), **snapshots(snaps)}


def observables(fields: dict[str, Field]) -> dict[str, Field]:
    """``fields`` of the observables group, by dataset path."""
    return {f"observables/{name}": field for name, field in fields.items()}


def snapshots(fields: dict[str, Field]) -> dict[str, Field]:
    """``fields`` of the snapshots group, by dataset path."""
    return {f"snapshots/{name}": field for name, field in fields.items()}
