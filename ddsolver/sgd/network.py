r"""One seed's network for ``ddsolver sgd``: what every problem kind's SGD network provides.

A problem kind (:mod:`ddsolver.kinds`) names a :class:`Network` subclass that draws the N
neurons from the config's initial law in the full dimension, advances them with its compiled
online-SGD kernel, and evaluates the exact population risk R_N(θ) and each neuron's reduced
coordinates. The run loop (:mod:`ddsolver.runloop`) checkpoints a network as its trained
arrays, packed into one vector, and the state of its random generator, so a resumed run
draws the same samples as an uninterrupted one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..schedules import Schedule


class Network(ABC):
    """N neurons of one seed, trained by online SGD in the full dimension.

    Subclasses set ``coords`` (the reduced coordinates they report, in the PDE's order) and
    ``arrays`` (the trained arrays, updated in place by :meth:`advance`).
    """

    coords: tuple[str, ...]
    arrays: tuple[np.ndarray, ...]

    def __init__(self, cfg: dict, problem, rng: np.random.Generator):
        self.cfg, self.problem, self.rng = cfg, problem, rng

    @abstractmethod
    def advance(self, schedule: Schedule, k0: int, k1: int) -> None:
        """Steps k0 ≤ k < k1 (time t = kε), in place."""

    @abstractmethod
    def risk(self) -> float:
        """The exact population risk R_N(θ) of the network as it is."""

    @abstractmethod
    def coordinates(self) -> dict[str, np.ndarray]:
        """Each neuron's reduced coordinates, {name: (N,)}."""

    def observables(self) -> dict[str, float]:
        """Scalar observables of the network besides the risk (default: none)."""
        return {}

    def snapshot_fields(self) -> dict[str, np.ndarray]:
        """The arrays of one snapshot row of this seed (default: :meth:`coordinates`)."""
        return self.coordinates()

    def finite(self) -> bool:
        """Whether every weight is finite."""
        return all(bool(np.all(np.isfinite(x))) for x in self.arrays)

    @property
    def size(self) -> int:
        """Number of trained numbers (the length of :meth:`pack`)."""
        return sum(x.size for x in self.arrays)

    def pack(self) -> np.ndarray:
        """All trained arrays as one vector (a copy)."""
        return np.concatenate([x.ravel() for x in self.arrays])

    def unpack(self, vector: np.ndarray) -> None:
        """Overwrite the trained arrays, in place, from a :meth:`pack` vector."""
        start = 0
        for x in self.arrays:
            x[...] = vector[start : start + x.size].reshape(x.shape)
            start += x.size
