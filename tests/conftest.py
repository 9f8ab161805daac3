"""Test-time safety nets: floating-point errors raise; numba checks bounds (set in .ci/run)."""

import os

import numpy as np
import pytest

np.seterr(all="raise", under="ignore")
os.environ.setdefault("NUMBA_BOUNDSCHECK", "1")


@pytest.fixture
def rng() -> np.random.Generator:
    """A reproducible generator for Monte-Carlo checks."""
    return np.random.default_rng(20181)
