"""Parameter sweeps: a sweep file's points run as tasks on ``dask.distributed``."""

from .spec import Point, SweepSpec, config_hash, read_sweep

__all__ = ["Point", "SweepSpec", "config_hash", "read_sweep"]
