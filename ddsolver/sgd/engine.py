r"""The shared parts of online SGD for mean-field networks ŷ(x) = (1/N) Σᵢ aᵢ σ(<wᵢ, x>).

A kind's SGD kernel is one loop written from one template; only its sampler is its own:

    for k in range(k_start, k_stop):
        s = ε ξ(kε)                                   (the schedule)
        draw the batch x (B, d), y (B,)               (the kind's data law)
        forward(w, a, x, y, σ, …)                     (products, σ, σ', residuals)
        update(w, a, train_a, x, …, shrink, coef, noise, rng, …)

with the step of DESIGN.md §1,

    θᵢ ← (1 − 2λs) θᵢ + 2s (1/B) Σ_b (y_b − ŷ(x_b)) ∇_θ σ*(x_b; θᵢ) + √(4sτ/D) gᵢ,

∇_w σ* = aᵢ σ'(<wᵢ, x>) x, ∂_a σ* = σ(<wᵢ, x>), D = d (+1 with a trained second layer).

Why parts and not one loop that takes the sampler: numba types a compiled function passed
as an argument by the identity of its dispatcher, so a loop taking the kind's sampler
misses the on-disk cache in every new process (measured: a cache miss on each of two
successive runs of a 20-line example, numba 0.6x) and a user would wait for the compile at
every SGD run. Calls to these parts are static, and load from the cache
(``tests/test_cache_processes.py``). The anisotropic kind (a bias, ReLU only) and the
committee (1/√d fields, an output scale and a step size per layer) keep loops of their own.

With one sample a step and no noise, the isotropic and teacher–student kernels run the same
arithmetic through :func:`fused_start` and :func:`fused_step` on a transposed copy of W: the
update of step k fused with the products of step k + 1, one pass over W a step with the
neurons in SIMD lanes (N = 800, d = 40: 29 → 10.6 µs a step on this project's machines, the
same numbers bit for bit). Each kind's loop still calls its own sampler between the two.
"""

from __future__ import annotations

import numpy as np

from .._jit import jit
from ..models.activations import RAMP, act_derivative, act_value


@jit
def forward(w, a, x, y, code, params, pre, val, der, resid):
    """Products, activations and residuals of a batch, in place.

    Parameters
    ----------
    w : (N, d) first-layer weights; a : (N,) second-layer weights
    x : (B, d) inputs; y : (B,) labels
    code, params : the activation's kernel encoding
    pre, val, der : (B, N) out: <wᵢ, x_b>, σ(<wᵢ, x_b>), σ'(<wᵢ, x_b>)
    resid : (B,) out: y_b − (1/N) Σᵢ aᵢ σ(<wᵢ, x_b>)
    """
    n, d = w.shape
    for b in range(x.shape[0]):
        # the products <w_i, x_b>, then the activations and the output: one pass with
        # the ramp's branches inside ran 2.5× slower. Each product sums in the order of j
        # (IEEE order, :mod:`ddsolver._jit`), four neurons at a time so that four sums
        # advance together (one at a time: 15.3 µs a step at N = 800, d = 40; four: 11.4)
        quad = n - n % 4
        for i0 in range(0, quad, 4):
            h0 = h1 = h2 = h3 = 0.0
            for j in range(d):
                xj = x[b, j]
                h0 += w[i0, j] * xj
                h1 += w[i0 + 1, j] * xj
                h2 += w[i0 + 2, j] * xj
                h3 += w[i0 + 3, j] * xj
            pre[b, i0] = h0
            pre[b, i0 + 1] = h1
            pre[b, i0 + 2] = h2
            pre[b, i0 + 3] = h3
        for i in range(quad, n):
            h = 0.0
            for j in range(d):
                h += w[i, j] * x[b, j]
            pre[b, i] = h
        outputs(a, y, code, params, b, pre, val, der, resid)


@jit
def outputs(a, y, code, params, b, pre, val, der, resid):
    """σ, σ' and the residual of sample ``b`` from its products ``pre[b]`` (in place)."""
    n = a.shape[0]
    if code == RAMP:  # inline, branch-free selects: the generic dispatch costs ~15 ns a call
        ramp_t1, ramp_t2, ramp_s1, ramp_s2 = params[0], params[1], params[2], params[3]
        ramp_slope = (ramp_s2 - ramp_s1) / (ramp_t2 - ramp_t1)
        for i in range(n):
            h = pre[b, i]
            v = ramp_s1 + ramp_slope * (h - ramp_t1)
            v = ramp_s1 if h <= ramp_t1 else v
            val[b, i] = ramp_s2 if h >= ramp_t2 else v
            der[b, i] = ramp_slope if (h > ramp_t1) and (h < ramp_t2) else 0.0
    else:
        for i in range(n):
            val[b, i] = act_value(code, params, pre[b, i])
            der[b, i] = act_derivative(code, params, pre[b, i])
    yhat = 0.0
    for i in range(n):
        yhat += a[i] * val[b, i]
    resid[b] = y[b] - yhat / n


@jit
def products_t(wt, x, pre):
    """pre[0, i] = <wᵢ, x[0]> from the transposed weights ``wt`` (d, N).

    The loop over neurons is innermost and contiguous, so it runs in SIMD lanes, while each
    product still sums in the order of j: the same numbers as :func:`forward`'s rows.
    """
    d, n = wt.shape
    for i in range(n):
        pre[0, i] = 0.0
    for j in range(d):
        xj = x[0, j]
        for i in range(n):
            pre[0, i] += wt[j, i] * xj


@jit
def update_then_products(wt, a, train_a, x, resid, val, der, shrink, coef, x_next, pre, g):
    """:func:`update` for one sample and no noise, fused with the next step's products.

    On the transposed weights ``wt`` (d, N): wᵢ ← shrink·wᵢ + coef resid_0 aᵢ σ'_0i x_0 (and
    aᵢ when ``train_a``), then pre[0, i] = <wᵢ, x_next[0]> — one pass over W a step instead
    of two, the neurons in SIMD lanes. Every value is the one :func:`update` then
    :func:`forward` compute (the same expressions, each product summed in the order of j),
    so a run is bit for bit the same. ``g`` : (N,) work.
    """
    d, n = wt.shape
    r0 = coef * resid[0]
    for i in range(n):
        g[i] = r0 * a[i] * der[0, i]
        pre[0, i] = 0.0
    for j in range(d):
        xj = x[0, j]
        zj = x_next[0, j]
        for i in range(n):
            v = shrink * wt[j, i] + g[i] * xj
            wt[j, i] = v
            pre[0, i] += v * zj
    if train_a:
        for i in range(n):
            a[i] = shrink * a[i] + coef * (resid[0] * val[0, i])


@jit
def fused_step(wt, a, train_a, x, y, x_next, y_next, code, params, shrink, coef, last, pre, val,
               der, resid, g):  # fmt: skip
    """One step of the fused path: :func:`update_then_products` with the next sample
    (``x_next``, ``y_next``, drawn by the kind's sampler unless ``last``), which then becomes
    the current one with its activations and residual. On the last step of a call nothing is
    drawn ahead (a checkpoint's generator state is the unfused loop's) and the products are
    taken with zeros and dropped."""
    d = x.shape[1]
    if last:  # (loops, not slice assignments: each of those compiles a shape check)
        for j in range(d):
            x_next[0, j] = 0.0
    update_then_products(wt, a, train_a, x, resid, val, der, shrink, coef, x_next, pre, g)
    if not last:
        for j in range(d):
            x[0, j] = x_next[0, j]
        y[0] = y_next[0]
        outputs(a, y, code, params, 0, pre, val, der, resid)


@jit
def fused_start(w, a, x, y, code, params, pre, val, der, resid):
    """The fused path's set-up once the first sample (x, y) is drawn: a C-ordered copy wt of
    Wᵀ (d, N), the sample's products, activations and residual; returns wt and the work
    arrays x_next (1, d), y_next (1,) and g (N,) of :func:`fused_step`."""
    n, d = w.shape
    wt = np.empty((d, n))
    for i in range(n):
        for j in range(d):
            wt[j, i] = w[i, j]
    products_t(wt, x, pre)
    outputs(a, y, code, params, 0, pre, val, der, resid)
    return wt, np.empty((1, d)), np.empty(1), np.empty(n)


@jit
def copy_back(wt, w):
    """w[i, j] = wt[j, i]: the fused path's weights back into the network's (N, d)."""
    n, d = w.shape
    for i in range(n):
        for j in range(d):
            w[i, j] = wt[j, i]


@jit
def update(w, a, train_a, x, resid, val, der, shrink, coef, noise, rng, grad_w):
    """One SGD step of every neuron from :func:`forward`'s batch, in place.

    wᵢ ← shrink·wᵢ + coef Σ_b resid_b aᵢ σ'_bi x_b (+ noise·gᵢ), and the same for aᵢ with
    σ_bi when ``train_a``; shrink = 1 − 2λs, coef = 2s/B, noise = √(4sτ/D) (0: none).
    Per neuron the noise of w (d normals) is drawn before that of a. grad_w : (d,) work.
    """
    n, d = w.shape
    batch = x.shape[0]
    for i in range(n):
        grad_a = 0.0
        if batch == 1:  # one fused, vectorisable pass over the row
            g = coef * resid[0] * a[i] * der[0, i]
            if g != 0.0 or shrink != 1.0:  # (a saturated unit without penalty stays)
                for j in range(d):
                    w[i, j] = shrink * w[i, j] + g * x[0, j]
            if train_a:
                grad_a = resid[0] * val[0, i]
        else:
            for j in range(d):
                grad_w[j] = 0.0
            for b in range(batch):
                g = resid[b] * a[i] * der[b, i]
                for j in range(d):
                    grad_w[j] += g * x[b, j]
                if train_a:
                    grad_a += resid[b] * val[b, i]
            for j in range(d):
                w[i, j] = shrink * w[i, j] + coef * grad_w[j]
        if noise > 0.0:
            for j in range(d):
                w[i, j] += noise * rng.standard_normal()
        if train_a:
            a[i] = shrink * a[i] + coef * grad_a
            if noise > 0.0:
                a[i] += noise * rng.standard_normal()
