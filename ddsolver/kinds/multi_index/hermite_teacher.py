r"""A polynomial teacher in Hermite form, y = Σ_α c_α Π_l h_{α_l}(z_l) + ς g, z = (e_l·x)_l.

h_n = He_n/√n! are the normalised (probabilists') Hermite polynomials, orthonormal under
N(0, 1), and e_1 … e_k orthonormal directions, so the monomials are orthonormal and
E y² = Σ_α c_α² + ς². The Gaussian staircase of Abbe, Boix-Adserà & Misiakiewicz is
``"z1 + z1*z2 + z1*z2*z3"`` (z_l = h_1(z_l)).

The potential. A student σ(<w, x>) with w = Σ m_l e_l + r⊥ e⊥ has <w, x> = ρ ξ, ρ = |w|,
ξ ~ N(0, 1), and with the unit vector a = w/ρ the multinomial identity of Hermite
polynomials, h_n(a·z) = Σ_{|α| = n} √(n!/α!) a^α Π_l h_{α_l}(z_l) (|a| = 1), gives

    E[σ(ρξ) Π_l h_{α_l}(z_l)] = f̂_n(ρ) √(n!/α!) Π_l (m_l/ρ)^{α_l},      n = |α|,

with f̂_n(ρ) = E[σ(ρG) h_n(G)] (:func:`~ddsolver.models.hermite.hermite_coefficients`:
exact for the kinked σ, quadrature otherwise). So

    V(w) = −E[y σ(<w, x>)] = −Σ_α c_α √(|α|!/α!) f̂_{|α|}(ρ) Π_l (m_l/ρ)^{α_l}.

The config string is read by :mod:`.polynomial`; nothing in it is evaluated as code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...models.activations import Activation
from ...models.hermite import hermite_coefficients, normalised_hermite
from .polynomial import parse_polynomial


@dataclass(frozen=True)
class HermitePolynomial:
    """y = Σ_t c_t Π_l h_{α_tl}(z_l): exponents (T, k) int, coefficients (T,)."""

    exponents: np.ndarray
    coefficients: np.ndarray

    @classmethod
    def parse(cls, text: str, units: int) -> HermitePolynomial:
        """From a config string (:func:`parse_polynomial`)."""
        return cls(*parse_polynomial(text, units))

    @property
    def units(self) -> int:
        """k, the number of variables z_l."""
        return self.exponents.shape[1]

    @property
    def degrees(self) -> np.ndarray:
        """|α| of each term, (T,)."""
        return self.exponents.sum(axis=1)

    @property
    def second_moment(self) -> float:
        """E y² without label noise: Σ_t c_t² (the monomials are orthonormal)."""
        return float(np.sum(self.coefficients**2))

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """y(z) of inputs' projections z (n, k), (n,)."""
        h = normalised_hermite(z, int(self.exponents.max(initial=0)))  # (n, k, degree + 1)
        out = np.zeros(z.shape[0])
        for alpha, c in zip(self.exponents, self.coefficients, strict=True):
            out += c * np.prod(h[:, np.arange(self.units), alpha], axis=1)
        return out

    def potential(self, activation: Activation, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""V(θ_i) (M,) and ∇V (M, k + 1) of students θ = (m, r⊥).

        With a = m/ρ, P_α(a) = Π a_l^{α_l} and w_α = √(|α|!/α!): V = −Σ c_α w_α f̂_n(ρ) P_α(a)
        and, since ∂ρ/∂θ = θ/ρ and ∂a_l/∂θ_j = (δ_lj − a_l θ_j/ρ)/ρ (δ_lj = 0 for θ_j = r⊥),

            ∇V = −Σ c_α w_α [f̂_n'(ρ) P_α θ/ρ + f̂_n(ρ) (∇_a P_α ⊕ 0 − (a·∇_a P_α) θ/ρ)/ρ].

        Students at the origin are not covered (the initial laws put none there).
        """
        m, r = theta[:, :-1], theta[:, -1]
        rho = np.sqrt(np.sum(m * m, axis=1) + r * r)
        safe = np.where(rho > 0, rho, 1.0)
        a = m / safe[:, None]
        f, df = hermite_coefficients(activation, rho, int(self.degrees.max(initial=0)))
        value = np.zeros(rho.size)
        grad = np.zeros(theta.shape)
        unit = theta / safe[:, None]
        for alpha, c in zip(self.exponents, self.coefficients, strict=True):
            n = int(alpha.sum())
            weight = c * math.sqrt(math.factorial(n) / np.prod([math.factorial(x) for x in alpha]))
            powers = a ** alpha[None, :]
            p = np.prod(powers, axis=1)
            dp = np.zeros(m.shape)  # ∂P/∂a_l
            for j in np.nonzero(alpha)[0]:
                others = np.prod(np.delete(powers, j, axis=1), axis=1)
                dp[:, j] = alpha[j] * a[:, j] ** (alpha[j] - 1) * others
            value -= weight * f[:, n] * p
            # ∂P/∂θ_j = Σ_l ∂P/∂a_l (δ_lj − a_l θ_j/ρ)/ρ
            radial = np.sum(dp * a, axis=1)
            dtheta = -(radial[:, None] * unit) / safe[:, None]
            dtheta[:, :-1] += dp / safe[:, None]
            grad -= weight * (df[:, n, None] * p[:, None] * unit + f[:, n, None] * dtheta)
        return value, grad
