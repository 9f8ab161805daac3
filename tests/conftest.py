"""Test-time safety nets: floating-point errors raise; numba checks bounds (set in .ci/run)."""

import os

import numpy as np
import pytest

np.seterr(all="raise", under="ignore")


def pytest_configure(config: pytest.Config) -> None:
    """Bounds checks for the default suite, which reaches every kernel; the long checks alone
    (``-m slow``) run the kernels as a user does — the variable unset, so they also share a
    user's kernel cache — as bounds-checked kernels run up to 10× slower. An explicit
    NUMBA_BOUNDSCHECK wins. (Before any test module imports numba.)"""
    marks = config.getoption("markexpr") or ""
    slow_only = "slow" in marks and "not slow" not in marks
    if not slow_only:
        os.environ.setdefault("NUMBA_BOUNDSCHECK", "1")


@pytest.fixture
def rng() -> np.random.Generator:
    """A reproducible generator for Monte-Carlo checks."""
    return np.random.default_rng(20181)


@pytest.fixture
def assert_same_rows():
    """``check(a, b, observables, snapshot)``: two runs (:func:`ddsolver.open`) hold the same
    rows of the named observables and of one snapshot field, bit for bit (a resumed run
    against one run to the same end)."""

    def check(a, b, names, snapshot: str) -> None:
        for name in names:
            np.testing.assert_array_equal(a.observables[name].values, b.observables[name].values)
        np.testing.assert_array_equal(a.snapshots[snapshot].values, b.snapshots[snapshot].values)

    return check
