"""The law of one coordinate smoothed by N(0, b²) (ddsolver.fluctuations.smoothed_law)."""

import numpy as np
import pytest
from scipy import integrate, special, stats

from ddsolver.fluctuations.smoothed_law import (
    cdf_of_a,
    cdf_of_cells,
    cdf_of_samples,
    w1_between,
)


def test_the_cells_cdf_is_the_smoothed_uniform_law_of_each_cell():
    edges, masses, b = np.array([-0.5, 0.0, 0.2, 1.0]), np.array([1.0, 3.0, 2.0]), 0.07
    x = np.array([-0.6, -0.1, 0.1, 0.5, 1.2])
    expected = sum(
        m / masses.sum()
        * np.array([integrate.quad(lambda u, xi=xi: special.ndtr((xi - u) / b), lo, hi)[0]
                    for xi in x]) / (hi - lo)
        for lo, hi, m in zip(edges[:-1], edges[1:], masses, strict=True)
    )  # fmt: skip
    np.testing.assert_allclose(cdf_of_cells(x, b, edges, masses), expected, rtol=0, atol=1e-12)


def test_samples_rings_and_cells_agree_on_one_law():
    """One law three ways: N(0.3, 0.2²) sampled, as rings (a functional of (3, B, M)), and as a
    histogram on fine cells; their smoothed CDFs agree to the sampling and cell errors."""
    rng = np.random.default_rng(1)
    b, x = 0.05, np.linspace(-0.7, 1.3, 201)
    exact = special.ndtr((x - 0.3) / np.hypot(0.2, b))
    draws = rng.normal(0.3, 0.2, 200_000)
    assert np.abs(cdf_of_samples(x, b, draws) - exact).max() < 5e-3
    state = np.stack([np.ones((1, draws.size)), np.zeros((1, draws.size)), draws[None]])
    # the same sum of 2e5 terms in two orders (a weighted einsum, a mean): 2e5 ulp at most
    np.testing.assert_allclose(cdf_of_a(x, b)(state, np.ones((1, draws.size)))[0],
                               cdf_of_samples(x, b, draws), rtol=0, atol=5e-11)  # fmt: skip
    edges = np.linspace(-1.0, 1.6, 2601)
    masses = np.diff(special.ndtr((edges - 0.3) / 0.2))
    assert np.abs(cdf_of_cells(x, b, edges, masses) - exact).max() < 1e-6


def test_w1_of_smoothed_laws_is_the_shift_and_at_most_the_unsmoothed_w1():
    x, b = np.linspace(-8.0, 8.0, 4001), 0.1
    s = np.hypot(1.0, b)
    assert w1_between(x, special.ndtr(x / s), special.ndtr((x - 0.3) / s)) == pytest.approx(
        0.3, abs=1e-6
    )
    rng = np.random.default_rng(2)
    first, second = rng.normal(0, 1, 500), rng.exponential(1.0, 500)
    smoothed = w1_between(x, cdf_of_samples(x, b, first), cdf_of_samples(x, b, second))
    assert smoothed <= stats.wasserstein_distance(first, second) + 1e-9


def test_a_bandwidth_must_be_positive():
    with pytest.raises(ValueError, match="bandwidth"):
        cdf_of_a([0.0], 0.0)
