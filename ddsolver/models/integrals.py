r"""Gaussian integrals of an activation σ: univariate means and bivariate moments.

For standard normals Z₁, Z₂ with correlation c and scales a, b ≥ 0:

* mean:           q(μ, s) = E σ(μ + s G)
* pair moment:    K(a, b, c) = E[σ(a Z₁) σ(b Z₂)]
* derivatives:    ∂K/∂a = a E[σ''(X)σ(Y)] + b c E[σ'(X)σ'(Y)]    (Price's theorem)
                  ∂K/∂c = a b E[σ'(X)σ'(Y)],          with X = aZ₁, Y = bZ₂

Closed forms (MATH.md §4): the ramp through Φ₂ and the biased-ReLU moment M,
ReLU by the arc-cosine kernel, erf by Williams' arcsine. For the other
activations (tanh, sigmoid) a tensor Gauss–Hermite rule after the rotation
Z₂ = cZ₁ + √(1 − c²) Z₃ with :data:`GH_NODES` nodes per axis (:data:`GH_NODES_1D`
for the mean). Gauss–Hermite converges at a rate set by the distance of the
poles of tanh(a·) from the real axis, π/(2a): the pair moment is accurate to
about 1e-9 for scales up to 1.5 and 1e-5 at scale 2.5 (measured by the tests);
the mean to 1e-10 up to scale 3.

Compiled kernels take the activation's integer ``code`` and ``params`` array
(:class:`~ddsolver.models.activations.Activation`). NumPy twins carry ``_ref``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from .._jit import jit, jit_parallel
from .activations import (
    CUBIC,
    ERF,
    KINKED_KINDS,
    PIECEWISE,
    RAMP,
    RELU,
    SQUARE,
    Activation,
    act_derivative,
    act_value,
)
from .gaussian import (
    TWO_PI,
    biased_relu_product,
    biased_relu_product_ref,
    bvn_cdf,
    bvn_cdf_ref,
    norm_cdf,
    norm_cdf_ref,
    norm_pdf,
    norm_pdf_ref,
    relu_mean,
    relu_mean_ref,
)

#: Gauss–Hermite nodes per axis of the 2-D rule for activations without a closed form.
GH_NODES = 80
#: Gauss–Hermite nodes of the 1-D rule (the mean), where more nodes cost little.
GH_NODES_1D = 240
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(GH_NODES)
_GH_W = _GH_W / _GH_W.sum()
_GH1_X, _GH1_W = np.polynomial.hermite_e.hermegauss(GH_NODES_1D)
_GH1_W = _GH1_W / _GH1_W.sum()
TINY_SCALE = 1e-300


# ============================================================================ compiled kernels


@jit
def _cubic_hermite(c0, c1, c2, c3, a, n):
    """f̂_n(a) = E[p(aG) h_n(G)] of the cubic p(t) = c₀ + c₁t + c₂t² + c₃t³ (0 for n > 3):
    G² = √2 h₂ + 1 and G³ = √6 h₃ + 3h₁ give f̂₀ = c₀ + c₂a², f̂₁ = c₁a + 3c₃a³,
    f̂₂ = √2 c₂a², f̂₃ = √6 c₃a³."""
    if n == 0:
        return c0 + c2 * a * a
    if n == 1:
        return a * (c1 + 3.0 * c3 * a * a)
    if n == 2:
        return 1.4142135623730951 * c2 * a * a
    if n == 3:
        return 2.449489742783178 * c3 * a * a * a
    return 0.0


@jit
def _cubic_hermite_da(c1, c2, c3, a, n):
    """d f̂_n/da of :func:`_cubic_hermite`."""
    if n == 0:
        return 2.0 * c2 * a
    if n == 1:
        return c1 + 9.0 * c3 * a * a
    if n == 2:
        return 2.8284271247461903 * c2 * a
    if n == 3:
        return 7.348469228349534 * c3 * a * a
    return 0.0


@jit
def _cubic_pair(params, a, b, c, da):
    """K(a, b, c) = Σ_n f̂_n(a) f̂_n(b) cⁿ of the cubic σ (Mehler), or ∂K/∂a when ``da``."""
    c0, c1, c2, c3 = params[0], params[1], params[2], params[3]
    acc = 0.0
    power = 1.0
    for n in range(4):
        left = _cubic_hermite_da(c1, c2, c3, a, n) if da else _cubic_hermite(c0, c1, c2, c3, a, n)
        acc += left * _cubic_hermite(c0, c1, c2, c3, b, n) * power
        power *= c
    return acc


@jit
def _cubic_derivative_product(params, a, b, c):
    """E[σ'(aZ₁)σ'(bZ₂)] of the cubic: σ' = c₁ + 2c₂t + 3c₃t² is a cubic with coefficients
    (c₁, 2c₂, 3c₃, 0)."""
    d0, d1, d2 = params[1], 2.0 * params[2], 3.0 * params[3]
    acc = 0.0
    power = 1.0
    for n in range(3):
        acc += _cubic_hermite(d0, d1, d2, 0.0, a, n) * _cubic_hermite(d0, d1, d2, 0.0, b, n) * power
        power *= c
    return acc


@jit
def gaussian_mean(code, params, mu, s):
    """q(μ, s) = E σ(μ + s G), G ~ N(0, 1), s ≥ 0."""
    if code == RAMP:
        t1, t2, s1, s2 = params[0], params[1], params[2], params[3]
        slope = (s2 - s1) / (t2 - t1)
        return s1 + slope * (relu_mean(mu - t1, s) - relu_mean(mu - t2, s))
    if code == RELU:
        return relu_mean(mu, s)
    if code == ERF:
        return math.erf(mu / math.sqrt(1.0 + 2.0 * s * s))
    if code == SQUARE:
        return mu * mu + s * s
    if code == CUBIC:  # E G² = 1, E G³ = 0
        var = s * s
        return (
            params[0]
            + params[1] * mu
            + params[2] * (mu * mu + var)
            + params[3] * mu * (mu * mu + 3.0 * var)
        )
    if code == PIECEWISE:
        count = int(params[0])
        acc = params[1 + count]
        for k in range(count):
            acc += _piecewise_jump(params, k) * relu_mean(mu - params[1 + k], s)
        return acc
    acc = 0.0
    for i in range(_GH1_X.shape[0]):
        acc += _GH1_W[i] * act_value(code, params, mu + s * _GH1_X[i])
    return acc


@jit
def _square_antiderivative(alpha, beta, s, u):
    """F(u) with F' = (α + β s g)² φ(g): α²Φ(u) − 2αβs φ(u) + β²s²(Φ(u) − uφ(u)); u may be ±inf."""
    if math.isinf(u):
        return (alpha * alpha + beta * beta * s * s) if u > 0 else 0.0
    cdf, pdf = norm_cdf(u), norm_pdf(u)
    return (
        alpha * alpha * cdf - 2.0 * alpha * beta * s * pdf + beta * beta * s * s * (cdf - u * pdf)
    )


@jit
def _square_on_piece(alpha, beta, s, t_low, t_high):
    """E[(α + β sG)² ; t_low < sG < t_high] for s > 0 (the edges may be ±inf)."""
    return _square_antiderivative(alpha, beta, s, t_high / s) - _square_antiderivative(
        alpha, beta, s, t_low / s
    )


@jit
def kinked_second_moment(code, params, s):
    """E σ(sG)² for a piecewise-linear σ (ramp, ReLU, piecewise), s ≥ 0: exact, by pieces.

    The same number as ``pair_moment(code, params, s, s, 1.0)``, without compiling the
    bivariate forms (the PDE's self-interaction needs only this).
    """
    if s <= TINY_SCALE:
        value = act_value(code, params, 0.0)
        return value * value
    if code == RELU:
        return 0.5 * s * s
    if code == RAMP:
        t1, t2, s1, s2 = params[0], params[1], params[2], params[3]
        slope = (s2 - s1) / (t2 - t1)
        return (
            _square_on_piece(s1, 0.0, s, -math.inf, t1)
            + _square_on_piece(s1 - slope * t1, slope, s, t1, t2)
            + _square_on_piece(s2, 0.0, s, t2, math.inf)
        )
    count = int(params[0])  # PIECEWISE: (K, knots, values), flat outside the knots
    acc = _square_on_piece(params[1 + count], 0.0, s, -math.inf, params[1])
    acc += _square_on_piece(params[2 * count], 0.0, s, params[count], math.inf)
    for k in range(count - 1):
        t_low, t_high = params[1 + k], params[2 + k]
        low, high = params[1 + count + k], params[2 + count + k]
        slope = (high - low) / (t_high - t_low)
        acc += _square_on_piece(low - slope * t_low, slope, s, t_low, t_high)
    return acc


@jit
def kinked_second_moment_da(kinks, signs, slope, kink_values, s):
    r"""d/ds E σ(sG)² for a piecewise-linear σ, s > 0, exactly (Stein's identity).

    With σ'(x) = slope Σ_q e_q 1{x > t_q} and σ'' = slope Σ_q e_q δ(x − t_q),

        d/ds E σ(sG)² = 2s E[σ'(sG)² + σ(sG) σ''(sG)]
                      = 2s slope² Σ_{q,q'} e_q e_q' Φ(−max(t_q, t_q')/s)
                        + 2 slope Σ_q e_q σ(t_q) φ(t_q/s).

    Parameters
    ----------
    kinks, signs : (n_k,) the kinks t_q and their signs e_q; slope : float
    kink_values : (n_k,) σ(t_q)
    s : float, > 0
    """
    acc = 0.0
    for q in range(kinks.shape[0]):
        u = kinks[q] / s
        acc += 2.0 * slope * signs[q] * kink_values[q] * norm_pdf(u)
        for p in range(kinks.shape[0]):
            top = max(kinks[q], kinks[p]) / s
            acc += 2.0 * s * slope * slope * signs[q] * signs[p] * norm_cdf(-top)
    return acc


@jit
def _ramp_pair_moment(params, a, b, c):
    t1, t2, s1, s2 = params[0], params[1], params[2], params[3]
    slope = (s2 - s1) / (t2 - t1)
    if a <= TINY_SCALE:
        return act_value(RAMP, params, 0.0) * gaussian_mean(RAMP, params, 0.0, b)
    if b <= TINY_SCALE:
        return act_value(RAMP, params, 0.0) * gaussian_mean(RAMP, params, 0.0, a)
    px = relu_mean(-t1, a) - relu_mean(-t2, a)
    py = relu_mean(-t1, b) - relu_mean(-t2, b)
    cross = (
        biased_relu_product(-t1 / a, -t1 / b, c)
        - biased_relu_product(-t1 / a, -t2 / b, c)
        - biased_relu_product(-t2 / a, -t1 / b, c)
        + biased_relu_product(-t2 / a, -t2 / b, c)
    )
    return s1 * s1 + s1 * slope * (px + py) + slope * slope * a * b * cross


@jit
def _ramp_derivative_product(params, a, b, c):
    """E[σ'(aZ₁) σ'(bZ₂)] for the ramp: slope² P(t1 < X < t2, t1 < Y < t2)."""
    t1, t2, s1, s2 = params[0], params[1], params[2], params[3]
    slope = (s2 - s1) / (t2 - t1)
    a = max(a, TINY_SCALE)
    b = max(b, TINY_SCALE)
    u1, u2, v1, v2 = t1 / a, t2 / a, t1 / b, t2 / b
    prob = bvn_cdf(u2, v2, c) - bvn_cdf(u1, v2, c) - bvn_cdf(u2, v1, c) + bvn_cdf(u1, v1, c)
    return slope * slope * max(prob, 0.0)


@jit
def _piecewise_slope(params, i):
    """Slope of the piecewise σ on [t_i, t_{i+1}] (0 outside the knots)."""
    count = int(params[0])
    if i < 0 or i >= count - 1:
        return 0.0
    return (params[count + 2 + i] - params[count + 1 + i]) / (params[2 + i] - params[1 + i])


@jit
def _piecewise_jump(params, k):
    """β_k: the jump of σ' at the knot t_k (σ = s_1 + Σ_k β_k (t − t_k)₊)."""
    return _piecewise_slope(params, k) - _piecewise_slope(params, k - 1)


@jit
def _piecewise_pair_moment(params, a, b, c):
    """K = s₁² + s₁ Σ β_k [E(aG − t_k)₊ + E(bG − t_k)₊] + a b Σ β_k β_l M(−t_k/a, −t_l/b, c)."""
    count = int(params[0])
    if a <= TINY_SCALE:
        return act_value(PIECEWISE, params, 0.0) * gaussian_mean(PIECEWISE, params, 0.0, b)
    if b <= TINY_SCALE:
        return act_value(PIECEWISE, params, 0.0) * gaussian_mean(PIECEWISE, params, 0.0, a)
    level = params[1 + count]
    single = 0.0
    cross = 0.0
    for k in range(count):
        bk = _piecewise_jump(params, k)
        tk = params[1 + k]
        single += bk * (relu_mean(-tk, a) + relu_mean(-tk, b))
        for m in range(count):
            cross += (
                bk
                * _piecewise_jump(params, m)
                * biased_relu_product(-tk / a, -params[1 + m] / b, c)
            )
    return level * level + level * single + a * b * cross


@jit
def _piecewise_derivative_product(params, a, b, c):
    """E[σ'(aZ₁) σ'(bZ₂)] = Σ β_k β_l P(aZ₁ > t_k, bZ₂ > t_l) = Σ β_k β_l Φ₂(−t_k/a, −t_l/b; c)."""
    count = int(params[0])
    a = max(a, TINY_SCALE)
    b = max(b, TINY_SCALE)
    acc = 0.0
    for k in range(count):
        for m in range(count):
            prob = bvn_cdf(-params[1 + k] / a, -params[1 + m] / b, c)
            acc += _piecewise_jump(params, k) * _piecewise_jump(params, m) * prob
    return acc


@jit
def _gh_pair_moment(code, params, a, b, c):
    c = min(1.0, max(-1.0, c))
    s = math.sqrt((1.0 - c) * (1.0 + c))
    acc = 0.0
    n = _GH_X.shape[0]
    for i in range(n):
        fa = act_value(code, params, a * _GH_X[i])
        inner = 0.0
        for j in range(n):
            inner += _GH_W[j] * act_value(code, params, b * (c * _GH_X[i] + s * _GH_X[j]))
        acc += _GH_W[i] * fa * inner
    return acc


@jit
def pair_moment(code, params, a, b, c):
    """K(a, b, c) = E[σ(aZ₁) σ(bZ₂)], corr(Z₁, Z₂) = c, a, b ≥ 0."""
    c = min(1.0, max(-1.0, c))
    if code == RAMP:
        return _ramp_pair_moment(params, a, b, c)
    if code == RELU:
        return a * b / TWO_PI * (math.sqrt((1.0 - c) * (1.0 + c)) + (math.pi - math.acos(c)) * c)
    if code == ERF:
        z = 2.0 * a * b * c / math.sqrt((1.0 + 2.0 * a * a) * (1.0 + 2.0 * b * b))
        return 2.0 / math.pi * math.asin(min(1.0, max(-1.0, z)))
    if code == SQUARE:  # Isserlis: E[X²Y²] = E X² E Y² + 2 (E XY)²
        return a * a * b * b * (1.0 + 2.0 * c * c)
    if code == CUBIC:
        return _cubic_pair(params, a, b, c, False)
    if code == PIECEWISE:
        return _piecewise_pair_moment(params, a, b, c)
    return _gh_pair_moment(code, params, a, b, c)


@jit
def derivative_product(code, params, a, b, c):
    """E[σ'(aZ₁) σ'(bZ₂)], so that ∂K/∂c = a b · derivative_product."""
    c = min(1.0, max(-1.0, c))
    if code == RAMP:
        return _ramp_derivative_product(params, a, b, c)
    if code == RELU:
        return 0.25 + math.asin(c) / TWO_PI
    if code == ERF:
        det = 1.0 + 2.0 * a * a + 2.0 * b * b + 4.0 * a * a * b * b * (1.0 - c * c)
        return 4.0 / math.pi / math.sqrt(det)
    if code == SQUARE:  # E[2aZ₁ · 2bZ₂]
        return 4.0 * a * b * c
    if code == CUBIC:
        return _cubic_derivative_product(params, a, b, c)
    if code == PIECEWISE:
        return _piecewise_derivative_product(params, a, b, c)
    s = math.sqrt((1.0 - c) * (1.0 + c))
    acc = 0.0
    n = _GH_X.shape[0]
    for i in range(n):
        fa = act_derivative(code, params, a * _GH_X[i])
        inner = 0.0
        for j in range(n):
            inner += _GH_W[j] * act_derivative(code, params, b * (c * _GH_X[i] + s * _GH_X[j]))
        acc += _GH_W[i] * fa * inner
    return acc


@jit
def pair_moment_da(code, params, a, b, c):
    """∂K/∂a (a, b, c) = E[Z₁ σ'(aZ₁) σ(bZ₂)]."""
    c = min(1.0, max(-1.0, c))
    if code == RAMP:
        t1, t2, s1, s2 = params[0], params[1], params[2], params[3]
        slope = (s2 - s1) / (t2 - t1)
        a_ = max(a, TINY_SCALE)
        u1, u2 = t1 / a_, t2 / a_
        s = math.sqrt((1.0 - c) * (1.0 + c))
        # a E[σ''(X) σ(Y)]: σ'' = slope (δ_{t1} − δ_{t2}); Y | X = t ~ N(c b t / a, b² s²)
        second = slope * (
            norm_pdf(u1) * gaussian_mean(RAMP, params, c * b * u1, b * s)
            - norm_pdf(u2) * gaussian_mean(RAMP, params, c * b * u2, b * s)
        )
        return second + b * c * _ramp_derivative_product(params, a, b, c)
    if code == PIECEWISE:
        count = int(params[0])
        a_ = max(a, TINY_SCALE)
        s = math.sqrt((1.0 - c) * (1.0 + c))
        # a E[σ''(X) σ(Y)] with σ'' = Σ β_k δ_{t_k}; Y | X = t ~ N(c b t / a, b² s²)
        second = 0.0
        for k in range(count):
            u = params[1 + k] / a_
            mean_y = gaussian_mean(PIECEWISE, params, c * b * u, b * s)
            second += _piecewise_jump(params, k) * norm_pdf(u) * mean_y
        return second + b * c * _piecewise_derivative_product(params, a, b, c)
    if code == RELU:
        return b / TWO_PI * (math.sqrt((1.0 - c) * (1.0 + c)) + (math.pi - math.acos(c)) * c)
    if code == ERF:
        ra = 1.0 + 2.0 * a * a
        root = math.sqrt(ra * (1.0 + 2.0 * b * b))
        z = 2.0 * a * b * c / root
        dz = 2.0 * b * c / (root * ra)
        return 2.0 / math.pi * dz / math.sqrt(max(1.0 - z * z, 1e-300))
    if code == SQUARE:
        return 2.0 * a * b * b * (1.0 + 2.0 * c * c)
    if code == CUBIC:
        return _cubic_pair(params, a, b, c, True)
    s = math.sqrt((1.0 - c) * (1.0 + c))
    acc = 0.0
    n = _GH_X.shape[0]
    for i in range(n):
        fa = _GH_X[i] * act_derivative(code, params, a * _GH_X[i])
        inner = 0.0
        for j in range(n):
            inner += _GH_W[j] * act_value(code, params, b * (c * _GH_X[i] + s * _GH_X[j]))
        acc += _GH_W[i] * fa * inner
    return acc


@jit_parallel
def pair_moment_matrix(code, params, a, b, c, out):
    """out[i, j] = K(a[i], b[j], c[i, j]) (parallel over rows).

    Parameters
    ----------
    a : (n,) float64
    b : (m,) float64
    c : (n, m) float64 correlations
    out : (n, m) float64, written in place
    """
    for i in prange(a.shape[0]):
        for j in range(b.shape[0]):
            out[i, j] = pair_moment(code, params, a[i], b[j], c[i, j])


# ============================================================ convenience (NumPy API)


@jit
def _mean_loop(code, params, mu, s, out):
    for i in range(out.shape[0]):  # serial: ~40 ns per call, never more than ~10⁴ calls
        out[i] = gaussian_mean(code, params, mu[i], s[i])


@jit
def _second_moment_loop(code, params, s, out):
    for i in range(out.shape[0]):
        out[i] = kinked_second_moment(code, params, s[i])


def second_moment(activation: Activation, s) -> np.ndarray:
    """E σ(sG)², broadcast over ``s``: exact by pieces for ramp/ReLU/piecewise, else
    :func:`pair` at c = 1."""
    if activation.kind not in KINKED_KINDS:
        return pair(activation, s, s, 1.0)
    shape, (s,) = _flat(s)
    out = np.empty(s.size)
    _second_moment_loop(activation.code, activation.param_array, s, out)
    return out.reshape(shape)


# one loop per family, so that a run compiles only the families it uses (each compiles every
# activation's branch: ~1.5 s of a cold start)
@jit_parallel
def _pair_loop(code, params, a, b, c, out):
    for i in prange(out.shape[0]):
        out[i] = pair_moment(code, params, a[i], b[i], c[i])


@jit_parallel
def _pair_da_loop(code, params, a, b, c, out):
    for i in prange(out.shape[0]):
        out[i] = pair_moment_da(code, params, a[i], b[i], c[i])


@jit_parallel
def _derivative_product_loop(code, params, a, b, c, out):
    for i in prange(out.shape[0]):
        out[i] = derivative_product(code, params, a[i], b[i], c[i])


def _flat(*args) -> tuple[tuple[int, ...], list[np.ndarray]]:
    arrays = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in args))
    # copies: a broadcast view handed to a kernel is flagged for future read-only semantics
    return arrays[0].shape, [np.array(x, order="C").reshape(-1) for x in arrays]


def mean(activation: Activation, mu, s) -> np.ndarray:
    """E σ(μ + sG), broadcast over ``mu`` and ``s`` (compiled loop)."""
    shape, (mu, s) = _flat(mu, s)
    out = np.empty(mu.size)
    _mean_loop(activation.code, activation.param_array, mu, s, out)
    return out.reshape(shape)


def _pair_family(loop, activation: Activation, a, b, c) -> np.ndarray:
    shape, (a, b, c) = _flat(a, b, c)
    out = np.empty(a.size)
    loop(activation.code, activation.param_array, a, b, c, out)
    return out.reshape(shape)


def pair(activation: Activation, a, b, c) -> np.ndarray:
    """K(a, b, c) = E[σ(aZ₁)σ(bZ₂)], broadcast over the arguments."""
    return _pair_family(_pair_loop, activation, a, b, c)


def pair_da(activation: Activation, a, b, c) -> np.ndarray:
    """∂K/∂a, broadcast over the arguments."""
    return _pair_family(_pair_da_loop, activation, a, b, c)


def pair_dc(activation: Activation, a, b, c) -> np.ndarray:
    """∂K/∂c = a b E[σ'(aZ₁)σ'(bZ₂)], broadcast over the arguments."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a * b * _pair_family(_derivative_product_loop, activation, a, b, c)


# ============================================================================ NumPy twins


def gaussian_mean_ref(activation: Activation, mu, s):
    """NumPy twin of :func:`gaussian_mean`."""
    mu, s = np.broadcast_arrays(np.asarray(mu, float), np.asarray(s, float))
    if activation.kind == "ramp":
        t1, t2, s1, s2 = activation.params
        slope = (s2 - s1) / (t2 - t1)
        return s1 + slope * (relu_mean_ref(mu - t1, s) - relu_mean_ref(mu - t2, s))
    if activation.kind == "relu":
        return relu_mean_ref(mu, s)
    if activation.kind == "erf":
        from scipy.special import erf

        return erf(mu / np.sqrt(1 + 2 * s * s))
    if activation.kind == "square":
        return mu * mu + s * s
    if activation.kind == "piecewise":
        kinks, jumps, _ = activation.kink_structure()
        out = np.full(mu.shape, activation.values[0])
        for t, beta in zip(kinks, jumps, strict=True):
            out = out + beta * relu_mean_ref(mu - t, s)
        return out
    return activation(mu[..., None] + s[..., None] * _GH1_X) @ _GH1_W


def pair_moment_ref(activation: Activation, a, b, c):
    """NumPy twin of :func:`pair_moment` (scales > 0)."""
    a, b, c = np.broadcast_arrays(*(np.asarray(x, float) for x in (a, b, c)))
    c = np.clip(c, -1.0, 1.0)
    if activation.kind == "ramp":
        t1, t2, s1, s2 = activation.params
        slope = (s2 - s1) / (t2 - t1)
        px = relu_mean_ref(-t1, a) - relu_mean_ref(-t2, a)
        py = relu_mean_ref(-t1, b) - relu_mean_ref(-t2, b)
        m = biased_relu_product_ref
        cross = (
            m(-t1 / a, -t1 / b, c)
            - m(-t1 / a, -t2 / b, c)
            - m(-t2 / a, -t1 / b, c)
            + m(-t2 / a, -t2 / b, c)
        )
        return s1 * s1 + s1 * slope * (px + py) + slope**2 * a * b * cross
    if activation.kind == "relu":
        return a * b / TWO_PI * (np.sqrt(1 - c * c) + (np.pi - np.arccos(c)) * c)
    if activation.kind == "erf":
        return 2 / np.pi * np.arcsin(2 * a * b * c / np.sqrt((1 + 2 * a * a) * (1 + 2 * b * b)))
    if activation.kind == "square":
        return a * a * b * b * (1 + 2 * c * c)
    if activation.kind == "piecewise":
        kinks, jumps, _ = activation.kink_structure()
        level = activation.values[0]
        out = np.full(a.shape, level * level)
        for t, beta in zip(kinks, jumps, strict=True):
            out = out + level * beta * (relu_mean_ref(-t, a) + relu_mean_ref(-t, b))
            for t2, beta2 in zip(kinks, jumps, strict=True):
                cross = biased_relu_product_ref(-t / a, -t2 / b, c)
                out = out + beta * beta2 * a * b * cross
        return out
    s = np.sqrt(1 - c * c)
    x1 = _GH_X[:, None]
    x3 = _GH_X[None, :]
    w = _GH_W[:, None] * _GH_W[None, :]
    out = np.empty(a.shape)
    for idx in np.ndindex(a.shape):
        vals = activation(a[idx] * x1) * activation(b[idx] * (c[idx] * x1 + s[idx] * x3))
        out[idx] = np.sum(w * vals)
    return out


def pair_moment_da_ref(activation: Activation, a, b, c):
    """NumPy twin of :func:`pair_moment_da` for the ramp and the piecewise-linear σ."""
    if activation.kind == "piecewise":
        return _piecewise_da_ref(activation, a, b, c)
    if activation.kind != "ramp":
        raise NotImplementedError(
            "the twin covers the kinked kinds; others are checked by quadrature"
        )
    a, b, c = np.broadcast_arrays(*(np.asarray(x, float) for x in (a, b, c)))
    t1, t2, s1, s2 = activation.params
    slope = (s2 - s1) / (t2 - t1)
    s = np.sqrt(1 - c * c)
    u1, u2, v1, v2 = t1 / a, t2 / a, t1 / b, t2 / b
    second = slope * (
        norm_pdf_ref(u1) * gaussian_mean_ref(activation, c * b * u1, b * s)
        - norm_pdf_ref(u2) * gaussian_mean_ref(activation, c * b * u2, b * s)
    )
    prob = (
        bvn_cdf_ref(u2, v2, c)
        - bvn_cdf_ref(u1, v2, c)
        - bvn_cdf_ref(u2, v1, c)
        + bvn_cdf_ref(u1, v1, c)
    )
    return second + b * c * slope**2 * prob


def _piecewise_da_ref(activation: Activation, a, b, c):
    a, b, c = np.broadcast_arrays(*(np.asarray(x, float) for x in (a, b, c)))
    kinks, jumps, _ = activation.kink_structure()
    s = np.sqrt(1 - c * c)
    second = np.zeros(a.shape)
    prob = np.zeros(a.shape)
    for t, beta in zip(kinks, jumps, strict=True):
        u = t / a
        second = second + beta * norm_pdf_ref(u) * gaussian_mean_ref(activation, c * b * u, b * s)
        for t2, beta2 in zip(kinks, jumps, strict=True):
            prob = prob + beta * beta2 * bvn_cdf_ref(-u, -t2 / b, c)
    return second + b * c * prob


__all__ = [
    "GH_NODES",
    "derivative_product",
    "gaussian_mean",
    "gaussian_mean_ref",
    "mean",
    "norm_cdf_ref",
    "pair",
    "pair_da",
    "pair_dc",
    "pair_moment",
    "pair_moment_da",
    "pair_moment_da_ref",
    "pair_moment_matrix",
    "pair_moment_ref",
]
