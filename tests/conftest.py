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
