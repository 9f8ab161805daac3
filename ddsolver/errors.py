"""The errors a user sees as one line (exit 2) besides a bad config (:class:`ConfigError`)."""

from __future__ import annotations

from pathlib import Path


class FileFormatError(ValueError):
    """A file that is not a (readable, intact) ddsolver file of the expected kind."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        super().__init__(f"{path}: {reason}")


class OutputBusyError(RuntimeError):
    """Another process is writing the output file."""


class DiskFullError(OSError):
    """Too little free disk to save a run's next snapshot (checked before writing)."""
