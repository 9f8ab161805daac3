r"""Standard normal primitives: pdf, cdf, the bivariate normal cdf and ReLU moments.

Compiled kernels (numba) and their plain-NumPy twins (suffix ``_ref``):

* :func:`norm_pdf`, :func:`norm_cdf` — φ and Φ.
* :func:`bvn_cdf` — Φ₂(h, k; c) = P(Z₁ < h, Z₂ < k) for standard normals with
  correlation c, by Genz's algorithm (Drezner–Wesolowsky with Gauss–Legendre
  quadrature, 6/12/20 nodes by |c|; accurate to about 1e-15).
  Twin: :func:`bvn_cdf_ref`, Owen's T formula with ``scipy.special.owens_t``.
* :func:`relu_mean` — m(b, S) = E(b + S G)₊ = b Φ(b/S) + S φ(b/S).
* :func:`truncated_moments` — E[(1, Z₁, Z₂, Z₁Z₂) 1{Z₁ > −a₁} 1{Z₂ > −a₂}].
* :func:`biased_relu_product` — M(a₁, a₂, c) = E[(a₁ + Z₁)₊ (a₂ + Z₂)₊].
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import jit
from .._scipy import special

SQRT2 = math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
TWO_PI = 2.0 * math.pi


def _half_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes on [0, 2] (as 1 ∓ x) with weights, for Genz's BVN."""
    x, w = np.polynomial.legendre.leggauss(n)
    pos = x > 0
    xp, wp = x[pos], w[pos]
    return np.concatenate([1.0 - xp, 1.0 + xp]), np.concatenate([wp, wp])


_X6, _W6 = _half_rule(6)
_X12, _W12 = _half_rule(12)
_X20, _W20 = _half_rule(20)


@jit
def norm_pdf(x):
    """Standard normal density φ(x)."""
    return INV_SQRT_2PI * math.exp(-0.5 * x * x)


@jit
def norm_cdf(x):
    """Standard normal distribution function Φ(x), accurate in both tails."""
    return 0.5 * math.erfc(-x / SQRT2)


@jit
def _bvn_upper(h, k, r):
    """P(Z₁ > h, Z₂ > k) for corr(Z₁, Z₂) = r (Genz's BVNU)."""
    if h == math.inf or k == math.inf:  # noqa: PLR1714 (compiled: no tuple membership)
        return 0.0
    if h == -math.inf:
        return 1.0 if k == -math.inf else norm_cdf(-k)
    if k == -math.inf:
        return norm_cdf(-h)
    if r >= 1.0:
        return norm_cdf(-max(h, k))
    if r <= -1.0:
        return max(0.0, norm_cdf(-h) - norm_cdf(k))
    if r == 0.0:
        return norm_cdf(-h) * norm_cdf(-k)
    ar = abs(r)
    if ar < 0.3:
        xs_, ws_ = _X6, _W6
    elif ar < 0.75:
        xs_, ws_ = _X12, _W12
    else:
        xs_, ws_ = _X20, _W20
    hk = h * k
    bvn = 0.0
    if ar < 0.925:
        hs = 0.5 * (h * h + k * k)
        asr = 0.5 * math.asin(r)
        for i in range(xs_.shape[0]):
            sn = math.sin(asr * xs_[i])
            bvn += ws_[i] * math.exp((sn * hk - hs) / (1.0 - sn * sn))
        return bvn * asr / TWO_PI + norm_cdf(-h) * norm_cdf(-k)
    if r < 0.0:
        k = -k
        hk = -hk
    as_ = (1.0 - r) * (1.0 + r)
    a = math.sqrt(as_)
    bs = (h - k) ** 2
    asr = -0.5 * (bs / as_ + hk)
    c = (4.0 - hk) / 8.0
    d = (12.0 - hk) / 80.0
    if asr > -100.0:
        bvn = a * math.exp(asr) * (1.0 - c * (bs - as_) * (1.0 - d * bs) / 3.0 + c * d * as_ * as_)
    if hk > -100.0:
        b = math.sqrt(bs)
        sp = math.sqrt(TWO_PI) * norm_cdf(-b / a)
        bvn -= math.exp(-0.5 * hk) * sp * b * (1.0 - c * bs * (1.0 - d * bs) / 3.0)
    a *= 0.5
    acc = 0.0
    for i in range(xs_.shape[0]):
        xs = (a * xs_[i]) ** 2
        asr_i = -0.5 * (bs / xs + hk)
        if asr_i > -100.0:
            sp = 1.0 + c * xs * (1.0 + 5.0 * d * xs)
            rs = math.sqrt(1.0 - xs)
            ep = math.exp(-0.5 * hk * xs / (1.0 + rs) ** 2) / rs
            acc += ws_[i] * math.exp(asr_i) * (sp - ep)
    bvn = (a * acc - bvn) / TWO_PI
    if r > 0.0:
        bvn += norm_cdf(-max(h, k))
    elif h >= k:
        bvn = -bvn
    else:
        if h < 0.0:
            lower = norm_cdf(k) - norm_cdf(h)
        else:
            lower = norm_cdf(-h) - norm_cdf(-k)
        bvn = lower - bvn
    return bvn


@jit
def bvn_cdf(h, k, c):
    """Bivariate normal cdf Φ₂(h, k; c) = P(Z₁ < h, Z₂ < k), corr(Z₁, Z₂) = c.

    Parameters
    ----------
    h, k : float
        Upper limits (may be ±inf).
    c : float
        Correlation in [-1, 1].
    """
    p = _bvn_upper(-h, -k, c)
    return min(1.0, max(0.0, p))


@jit
def relu_mean(b, s):
    """m(b, S) = E(b + S G)₊ = b Φ(b/S) + S φ(b/S) for S ≥ 0."""
    if s <= 0.0:
        return max(b, 0.0)
    z = b / s
    return b * norm_cdf(z) + s * norm_pdf(z)


@jit
def truncated_moments(a1, a2, c):
    r"""(P, E₁, E₂, E₁₂) = E[(1, Z₁, Z₂, Z₁Z₂) 1{Z₁ > −a₁} 1{Z₂ > −a₂}], corr(Z₁, Z₂) = c
    (Tallis): P = Φ₂(a₁, a₂; c), E₁ = φ(a₁)A₁ + cφ(a₂)A₂, E₂ = φ(a₂)A₂ + cφ(a₁)A₁,
    E₁₂ = cP − c a₁φ(a₁)A₁ − c a₂φ(a₂)A₂ + s²φ₂(a₁, a₂; c), with A₁ = Φ((a₂ − c a₁)/s),
    A₂ = Φ((a₁ − c a₂)/s), s = √(1 − c²) (c is clipped to [−1, 1])."""
    c = min(1.0, max(-1.0, c))
    return truncated_moments_given(a1, a2, c, bvn_cdf(a1, a2, c))


@jit
def truncated_moments_given(a1, a2, c, p):
    """:func:`truncated_moments` with P = Φ₂(a₁, a₂; c) given (e.g. from the mirrored
    arguments, Φ₂(a₁, a₂; c) = Φ(a₁) + Φ(a₂) − 1 + Φ₂(−a₁, −a₂; c)): the one bivariate CDF is
    most of the cost."""
    c = min(1.0, max(-1.0, c))
    s2 = (1.0 - c) * (1.0 + c)
    s = math.sqrt(s2)
    if s > 0.0:
        cond1 = norm_cdf((a2 - c * a1) / s)
        cond2 = norm_cdf((a1 - c * a2) / s)
        q = (a1 * a1 - 2.0 * c * a1 * a2 + a2 * a2) / (2.0 * s2)
        s2phi2 = s * math.exp(-q) / TWO_PI
    else:
        # degenerate limit: Z₂ = ±Z₁
        d1 = a2 - c * a1
        d2 = a1 - c * a2
        cond1 = 1.0 if d1 > 0.0 else (0.5 if d1 == 0.0 else 0.0)
        cond2 = 1.0 if d2 > 0.0 else (0.5 if d2 == 0.0 else 0.0)
        s2phi2 = 0.0
    phi1 = norm_pdf(a1)
    phi2_ = norm_pdf(a2)
    e1 = phi1 * cond1 + c * phi2_ * cond2
    e2 = phi2_ * cond2 + c * phi1 * cond1
    e12 = c * p - c * a1 * phi1 * cond1 - c * a2 * phi2_ * cond2 + s2phi2
    return p, e1, e2, e12


@jit
def biased_relu_product(a1, a2, c):
    r"""M(a₁, a₂, c) = E[(a₁ + Z₁)₊ (a₂ + Z₂)₊], corr(Z₁, Z₂) = c (MATH.md §4.2).

    .. math::
        M = a_1 a_2 P + a_1 E_2 + a_2 E_1 + E_{12}

    with the truncated moments P, E₁, E₂, E₁₂ of :func:`truncated_moments`.
    """
    p, e1, e2, e12 = truncated_moments(a1, a2, c)
    return a1 * a2 * p + a1 * e2 + a2 * e1 + e12


# ----------------------------------------------------------------------------- NumPy twins


def norm_cdf_ref(x):
    """NumPy twin of :func:`norm_cdf`."""
    return special.ndtr(x)


def norm_pdf_ref(x):
    """NumPy twin of :func:`norm_pdf`."""
    return INV_SQRT_2PI * np.exp(-0.5 * np.asarray(x, dtype=float) ** 2)


def bvn_cdf_ref(h, k, c):
    r"""NumPy twin of :func:`bvn_cdf` by Owen's T function (MATH.md §4.1).

    Φ₂(h, k; c) = ½[Φ(h) + Φ(k)] − T(h, (k − ch)/(hs)) − T(k, (h − ck)/(ks)) − β,
    β = ½ unless hk > 0 or (hk = 0 and h + k ≥ 0). Zero limits are shifted by
    1e-300·(k − ch)-signed offsets, i.e. the limit is taken from the side that
    keeps the arguments of T finite.
    """
    h, k, c = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (h, k, c)))
    h = h.copy()
    k = k.copy()
    out = np.empty(h.shape)
    one = c >= 1.0
    minus_one = c <= -1.0
    out[one] = special.ndtr(np.minimum(h[one], k[one]))
    out[minus_one] = np.maximum(special.ndtr(h[minus_one]) + special.ndtr(k[minus_one]) - 1.0, 0.0)
    gen = ~(one | minus_one)
    hg, kg, cg = h[gen], k[gen], c[gen]
    both_zero = (hg == 0.0) & (kg == 0.0)
    hg = np.where(hg == 0.0, 1e-200, hg)
    kg = np.where(kg == 0.0, 1e-200, kg)
    s = np.sqrt((1.0 - cg) * (1.0 + cg))
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        th = special.owens_t(hg, (kg - cg * hg) / (hg * s))
        tk = special.owens_t(kg, (hg - cg * kg) / (kg * s))
    beta = np.where(hg * kg > 0.0, 0.0, 0.5)
    val = 0.5 * (special.ndtr(hg) + special.ndtr(kg)) - th - tk - beta
    val = np.where(both_zero, 0.25 + np.arcsin(cg) / TWO_PI, val)
    out[gen] = val
    return np.clip(out, 0.0, 1.0)


def relu_mean_ref(b, s):
    """NumPy twin of :func:`relu_mean`."""
    b = np.asarray(b, dtype=float)
    s = np.asarray(s, dtype=float)
    safe = np.where(s > 0, s, 1.0)
    z = b / safe
    val = b * special.ndtr(z) + s * norm_pdf_ref(z)
    return np.where(s > 0, val, np.maximum(b, 0.0))


def biased_relu_product_ref(a1, a2, c):
    """NumPy twin of :func:`biased_relu_product` (requires |c| < 1)."""
    a1, a2, c = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a1, a2, c)))
    s2 = (1.0 - c) * (1.0 + c)
    s = np.sqrt(s2)
    p = bvn_cdf_ref(a1, a2, c)
    cond1 = special.ndtr((a2 - c * a1) / s)
    cond2 = special.ndtr((a1 - c * a2) / s)
    s2phi2 = s * np.exp(-(a1**2 - 2 * c * a1 * a2 + a2**2) / (2 * s2)) / TWO_PI
    phi1, phi2_ = norm_pdf_ref(a1), norm_pdf_ref(a2)
    e1 = phi1 * cond1 + c * phi2_ * cond2
    e2 = phi2_ * cond2 + c * phi1 * cond1
    e12 = c * p - c * a1 * phi1 * cond1 - c * a2 * phi2_ * cond2 + s2phi2
    return a1 * a2 * p + a1 * e2 + a2 * e1 + e12
