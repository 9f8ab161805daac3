r"""The risk functional, written once for every discretisation.

For a measure ρ = Σ_i w_i δ_{z_i} (grid cells, particles, quadrature nodes, or the N neurons of
a network with w_i = 1/N):

    R(ρ) = E y² + 2 Σ_i w_i V(z_i) + Σ_ij w_i w_j U(z_i, z_j),

and the mean risk of N i.i.d. neurons drawn from ρ adds (1/N)(Σ_i w_i U(z_i, z_i) − Σ_ij w_i w_j U).
E y² is the problem's ``label_second_moment``.
"""

from __future__ import annotations


def mean_field_risk(label_second_moment: float, mean_potential: float, double_sum: float) -> float:
    """R = E y² + 2 Σ w V + Σ Σ w w U from the two sums."""
    return float(label_second_moment + 2.0 * mean_potential + double_sum)


def finite_width_correction(mean_self: float, double_sum: float, neurons: int) -> float:
    """(1/N)(Σ w U(z, z) − Σ Σ w w U): what N i.i.d. neurons add to R on average."""
    return float((mean_self - double_sum) / neurons)
