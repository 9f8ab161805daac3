"""The example configs ship with the package; a wheel installs and runs them anywhere."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ddsolver import cli, examples

ROOT = Path(__file__).resolve().parents[1]


def test_every_grids_file_is_an_example_with_the_same_text():
    expected = sorted(
        [p.stem for p in (ROOT / "grids").glob("*.toml")]
        + [f"sweeps/{p.stem}" for p in (ROOT / "grids" / "sweeps").glob("*.toml")]
    )
    assert examples.names() == expected
    for name in expected:
        assert examples.path(name).read_text() == (ROOT / "grids" / f"{name}.toml").read_text()
    with pytest.raises(ValueError, match="quickstart"):
        examples.path("nope")


def test_the_examples_verb_copies_them_out_and_keeps_edits(tmp_path, capsys):
    assert cli.main(["examples", str(tmp_path / "mine")]) == 0
    copied = tmp_path / "mine" / "quickstart.toml"
    assert copied.read_text() == (ROOT / "grids" / "quickstart.toml").read_text()
    assert (tmp_path / "mine" / "sweeps" / "quickstart_delta.toml").is_file()
    copied.write_text("# edited\n")
    assert cli.main(["examples", str(tmp_path / "mine")]) == 0  # does not overwrite
    assert copied.read_text() == "# edited\n"
    assert "0 example configs copied" in capsys.readouterr().out


def test_the_package_list_names_every_package():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "ddsolver").rglob("__init__.py")
    }
    assert found <= listed, found - listed


@pytest.mark.slow
def test_a_wheel_in_a_fresh_environment_runs_the_quickstart_from_elsewhere(tmp_path):
    """pip wheel, a new virtual environment, then the quickstart from an unrelated directory."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, ROOT],
        check=True,
    )
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", env_dir], check=True)
    python = env_dir / "bin" / "python"
    wheel = next(wheels.glob("ddsolver-*.whl"))
    subprocess.run([python, "-m", "pip", "install", "-q", f"{wheel}[api]"], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    script = (
        "import ddsolver as dd, ddsolver.examples as ex\n"
        "run = dd.solve(ex.path('quickstart'), 'q.h5', time__t_end=0.2)\n"
        "print(run.status, run.observables.risk.values[-1])\n"
    )
    done = subprocess.run(
        [python, "-c", script], cwd=elsewhere, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("finished")
    cli_run = subprocess.run(
        [env_dir / "bin" / "ddsolver", "examples", "configs"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert cli_run.returncode == 0 and (elsewhere / "configs" / "quickstart.toml").is_file()
