"""Run the real ``ddsolver`` command in a subprocess, as a user would (shared by the tests)."""

import subprocess
import sys


def ddsolver(*args, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    """``python -m ddsolver ARGS``; stdout and stderr captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "ddsolver", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,  # the tests assert on the exit code
    )
