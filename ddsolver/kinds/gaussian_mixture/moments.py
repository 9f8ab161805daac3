r"""Gaussian moments of σ with a mean: the kernels of a Gaussian mixture's clusters.

On a cluster x ~ N(μ_c, s² I_d) the pre-activations of two neurons, X = <w, x> and
Y = <w', x>, are jointly Gaussian with means (μ₁, μ₂) = (<w, μ_c>, <w', μ_c>), variances
(A, B) = s²(|w|², |w'|²) and covariance C = s² <w, w'>. The mixture's potential and
interaction need

    P(μ, A)               = E σ(μ + √A G),
    S(μ₁, μ₂, A, B, C)    = E[σ(X) σ(Y)],

and their derivatives. Three identities of Gaussian integration give them all:
∂P/∂μ = E σ'(X), ∂P/∂A = ½ E σ''(X) (the heat equation), and Price's theorem
∂S/∂C = E[σ'(X) σ'(Y)], with ∂S/∂μ₁ = E[σ'(X) σ(Y)], ∂S/∂A = ½ E[σ''(X) σ(Y)].

* ``square``, σ = t²: Isserlis' theorem, S = μ₁²μ₂² + μ₁²B + μ₂²A + 4μ₁μ₂C + AB + 2C².
* ``relu``: S = √(AB) M(μ₁/√A, μ₂/√B, C/√(AB)) with M of
  :func:`~ddsolver.models.gaussian.biased_relu_product`, from the truncated moments of
  :func:`~ddsolver.models.gaussian.truncated_moments`; ∂S/∂C = Φ₂(h, k; r) and
  ∂S/∂μ₁ = √B (k Φ₂ + E[Z₂ 1{Z₁ > −h} 1{Z₂ > −k}]) (Tallis), ∂S/∂A = (φ(h)/(2√A))
  E(Y | X = 0)₊, Y | X = 0 ~ N(μ₂ − Cμ₁/A, B − C²/A).
* ``erf``: P = erf(μ/√(1 + 2A)); E[σ'(X)σ'(Y)] = (4/π) E e^{−X²−Y²} is the closed form

      h(c) = (4/π) D^{−½} exp(−N/D),  D = (1 + 2A)(1 + 2B) − 4c²,
      N = (1 + 2B)μ₁² − 4cμ₁μ₂ + (1 + 2A)μ₂²,

  so by Price S = P(μ₁, A) P(μ₂, B) + ∫₀^C h(c) dc. With c = κ sin φ, κ = √(qa qb)/2
  (qa = 1 + 2A, qb = 1 + 2B), D = qa qb cos²φ and h dc = (2/π) e^{−N/D} dφ: the square
  root's singularity at D = 0 cancels, and S = P₁P₂ + (2/π) ∫₀^{asin(C/κ)} e^{−N/D} dφ is a
  Gauss–Legendre sum of :data:`ERF_NODES` nodes (at μ = 0 it is the arcsine kernel
  (2/π) asin(2C/√(qa qb)) exactly). ∂μ₁ and ∂A are differentiated under the integral over c
  (its limits do not move) and transformed the same way; ∂S/∂C = h(C) exactly.

Each pair kernel fills ``out`` (6,) with (S, ∂μ₁, ∂μ₂, ∂A, ∂B, ∂C).
"""

from __future__ import annotations

import math

import numpy as np

from ..._jit import jit
from ...models.activations import ERF, RELU, SQUARE
from ...models.gaussian import (
    norm_cdf,
    norm_pdf,
    relu_mean,
    truncated_moments,
    truncated_moments_given,
)

#: Gauss–Legendre nodes of the erf kernel's integral over the covariance (as an angle).
ERF_NODES = 24
_x, _w = np.polynomial.legendre.leggauss(ERF_NODES)
#: The nodes t_q ∈ (0, 1) and weights of ∫₀¹ (over [0, φ_C]: φ_q = φ_C t_q, weights φ_C w_q).
ERF_T = 0.5 * (_x + 1.0)
ERF_W = 0.5 * _w
#: The activations with a biased pair kernel here.
MIXTURE_CODES = (ERF, RELU, SQUARE)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
#: Floor of a variance: a neuron w = 0 has A = 0, where the ReLU formulas divide by √A.
TINY = 1e-300


@jit
def biased_mean(code, mu, var, out):
    """out[:] = (P, ∂P/∂μ, ∂P/∂A) at (μ, A = var) for σ of ``code``."""
    if code == SQUARE:
        out[0] = mu * mu + var
        out[1] = 2.0 * mu
        out[2] = 1.0
    elif code == RELU:
        s = math.sqrt(max(var, TINY))
        z = mu / s
        out[0] = relu_mean(mu, s)
        out[1] = norm_cdf(z)
        out[2] = 0.5 * norm_pdf(z) / s
    else:  # ERF
        q = 1.0 + 2.0 * var
        e = TWO_OVER_SQRT_PI * math.exp(-mu * mu / q)
        out[0] = math.erf(mu / math.sqrt(q))
        out[1] = e / math.sqrt(q)
        out[2] = -e * mu / (q * math.sqrt(q))


@jit
def _erf_h(mu1, mu2, a, b, c):
    """h(c) = (4/π) D^{−½} exp(−N/D), the erf kernel's E[σ'(X)σ'(Y)] at covariance c."""
    qa, qb = 1.0 + 2.0 * a, 1.0 + 2.0 * b
    d = qa * qb - 4.0 * c * c
    n = qb * mu1 * mu1 - 4.0 * c * mu1 * mu2 + qa * mu2 * mu2
    return (4.0 / math.pi) * math.exp(-n / d) / math.sqrt(d)


@jit
def _erf_pair(mu1, mu2, a, b, c, t_nodes, t_weights, out):
    qa, qb = 1.0 + 2.0 * a, 1.0 + 2.0 * b
    ea = TWO_OVER_SQRT_PI * math.exp(-mu1 * mu1 / qa)
    eb = TWO_OVER_SQRT_PI * math.exp(-mu2 * mu2 / qb)
    p1, p2 = math.erf(mu1 / math.sqrt(qa)), math.erf(mu2 / math.sqrt(qb))
    s = p1 * p2
    s_mu1 = ea / math.sqrt(qa) * p2
    s_mu2 = eb / math.sqrt(qb) * p1
    s_a = -ea * mu1 / (qa * math.sqrt(qa)) * p2
    s_b = -eb * mu2 / (qb * math.sqrt(qb)) * p1
    # c = κ sin φ, κ = √(qa qb)/2: h dc = (2/π) e^{−N/D} dφ with D = qa qb cos²φ
    kappa = 0.5 * math.sqrt(qa * qb)
    top = math.asin(min(1.0, max(-1.0, c / kappa)))
    for q in range(t_nodes.shape[0]):
        phi = top * t_nodes[q]
        cq = kappa * math.sin(phi)
        d = qa * qb - 4.0 * cq * cq
        n = qb * mu1 * mu1 - 4.0 * cq * mu1 * mu2 + qa * mu2 * mu2
        g = (2.0 / math.pi) * top * t_weights[q] * math.exp(-n / d)
        s += g
        s_mu1 -= g * (2.0 * qb * mu1 - 4.0 * cq * mu2) / d
        s_mu2 -= g * (2.0 * qa * mu2 - 4.0 * cq * mu1) / d
        # ∂h/∂A = h (−∂D/(2D) − ∂N/D + N ∂D/D²), ∂D/∂A = 2qb, ∂N/∂A = 2μ₂²
        s_a += g * (-qb / d - 2.0 * mu2 * mu2 / d + 2.0 * n * qb / (d * d))
        s_b += g * (-qa / d - 2.0 * mu1 * mu1 / d + 2.0 * n * qa / (d * d))
    out[0], out[1], out[2], out[3], out[4] = s, s_mu1, s_mu2, s_a, s_b
    out[5] = _erf_h(mu1, mu2, a, b, c)


@jit
def _relu_pair(mu1, mu2, a, b, c, out):
    sa, sb = math.sqrt(max(a, TINY)), math.sqrt(max(b, TINY))
    _relu_pair_moments(
        mu1, mu2, a, b, c, sa, sb, truncated_moments(mu1 / sa, mu2 / sb, c / (sa * sb)), out
    )


@jit
def _relu_pair_moments(mu1, mu2, a, b, c, sa, sb, moments, out):
    """The ReLU pair kernel from the truncated moments (P, E₁, E₂, E₁₂) at (μ₁/√A, μ₂/√B)."""
    h, k = mu1 / sa, mu2 / sb
    p, e1, e2, e12 = moments
    out[0] = sa * sb * (h * k * p + h * e2 + k * e1 + e12)
    out[1] = sb * (k * p + e2)
    out[2] = sa * (h * p + e1)
    # Y | X = 0 ~ N(μ₂ − Cμ₁/A, B − C²/A), and X | Y = 0 the same way
    a_, b_ = max(a, TINY), max(b, TINY)
    phi_h, phi_k = norm_pdf(h), norm_pdf(k)
    out[3] = 0.5 * phi_h / sa * relu_mean(mu2 - c * mu1 / a_, math.sqrt(max(b - c * c / a_, 0.0)))
    out[4] = 0.5 * phi_k / sb * relu_mean(mu1 - c * mu2 / b_, math.sqrt(max(a - c * c / b_, 0.0)))
    out[5] = p


@jit
def mirrored_pair(code, mu1, mu2, a, b, c, source, out):
    """out[:] as :func:`biased_pair` at (μ₁, μ₂, A, B, C), from ``source`` (6,), its values at
    the mirrored means (−μ₁, −μ₂) and the same (A, B, C) — a cluster −μ beside a cluster μ, as
    XOR's come.

    erf is odd and the square even, so S(−μ₁, −μ₂) = S(μ₁, μ₂) and only ∂μ₁, ∂μ₂ change
    sign. ReLU's one bivariate CDF follows by inclusion–exclusion,
    Φ₂(h, k; r) = Φ(h) + Φ(k) − 1 + Φ₂(−h, −k; r) (its absolute error stays at rounding
    level; the mirrored value is source[5] = ∂S/∂C = Φ₂), and the rest is one-dimensional.
    """
    if code == RELU:
        sa, sb = math.sqrt(max(a, TINY)), math.sqrt(max(b, TINY))
        h, k, r = mu1 / sa, mu2 / sb, c / (sa * sb)
        p = min(1.0, max(0.0, norm_cdf(h) + norm_cdf(k) - 1.0 + source[5]))
        _relu_pair_moments(mu1, mu2, a, b, c, sa, sb, truncated_moments_given(h, k, r, p), out)
        return
    for j in range(6):
        out[j] = source[j]
    out[1] = -source[1]
    out[2] = -source[2]


@jit
def biased_pair(code, mu1, mu2, a, b, c, t_nodes, t_weights, out):
    """out[:] = (S, ∂S/∂μ₁, ∂S/∂μ₂, ∂S/∂A, ∂S/∂B, ∂S/∂C) of S = E[σ(X)σ(Y)],
    X ~ N(μ₁, A), Y ~ N(μ₂, B), Cov(X, Y) = C; ``t_nodes``, ``t_weights`` the rule of
    :data:`ERF_T`, :data:`ERF_W` (erf only)."""
    if code == SQUARE:
        out[0] = (mu1 * mu1 * mu2 * mu2 + mu1 * mu1 * b + mu2 * mu2 * a + 4.0 * mu1 * mu2 * c
                  + a * b + 2.0 * c * c)  # fmt: skip
        out[1] = 2.0 * mu1 * mu2 * mu2 + 2.0 * mu1 * b + 4.0 * mu2 * c
        out[2] = 2.0 * mu2 * mu1 * mu1 + 2.0 * mu2 * a + 4.0 * mu1 * c
        out[3] = mu2 * mu2 + b
        out[4] = mu1 * mu1 + a
        out[5] = 4.0 * mu1 * mu2 + 4.0 * c
    elif code == RELU:
        _relu_pair(mu1, mu2, a, b, c, out)
    else:  # ERF
        _erf_pair(mu1, mu2, a, b, c, t_nodes, t_weights, out)
