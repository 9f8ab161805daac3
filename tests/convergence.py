"""The one rate helper of the convergence tests: observed orders from errors on levels that
halve the step (or the cell) each time, and the tolerance the tests hold them to (STYLE.md:
the order measured on the finest levels, within ±0.15 of the declared one)."""

from __future__ import annotations

import numpy as np

#: The observed order on the finest levels lies within this of the declared one.
ORDER_TOL = 0.15


def observed_orders(errors) -> np.ndarray:
    """log₂(eₖ / eₖ₊₁) of successive errors, each level halving the step of the last."""
    errors = np.asarray(errors, dtype=float)
    return np.log2(errors[:-1] / errors[1:])
