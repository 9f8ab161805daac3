"""Run files describe themselves: every dataset has dims, long_name, units, description.

Files of every kind, limit and verb are written coarsened; each dataset must carry the four
attributes with one dimension name per axis, and ``ddsolver.open`` builds its xarray
dimensions from them. Files written by release 0.1.0 before the attributes existed
(``tests/fixtures/*_v0.h5.gz``: the quickstart's PDE and SGD, a committee ODE, a training
set's flow) still open, plot and show their config.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import h5py
import pytest
from cli_runner import ddsolver

import ddsolver as dd
from ddsolver import io

GRIDS = Path(__file__).resolve().parents[1] / "grids"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHORT = {"time.t_end": 0.2, "time.save_every": 0.1, "time.observe_every": 0.05}

#: (config, extra keys, verb) of every limit and trainer.
RUNS = {
    "isotropic grid": ("quickstart.toml", {"grid.r_cells": 60}, "run"),
    "isotropic particles": ("isotropic_d40_particles.toml", {"particles.r_count": 50}, "run"),
    "isotropic sgd": ("quickstart.toml", {"sgd.neurons": 20, "sgd.eps": 0.01}, "sgd"),
    "second layer": ("second_layer.toml", {"grid.r_cells": 40, "grid.a_cells": 12}, "run"),
    "anisotropic": ("anisotropic.toml", {"particles.r_count": 3, "grid.r_cells": 6}, "run"),
    "teacher_student": ("teacher_student.toml", {"grid.r_cells": 24, "grid.u_cells": 30}, "run"),
    "committee ode": ("committee.toml", {}, "run"),
    "committee sgd": ("committee.toml", {"sgd.seeds": [0, 1]}, "sgd"),
    "training set flow": ("training_set.toml", {"particles.count": 20}, "run"),
    "training set gd": ("training_set.toml", {"sgd.neurons": 20, "sgd.eps": 0.05}, "sgd"),
    "circle": ("training_set_circle.toml", {"grid.angle_cells": 32}, "run"),
    "sphere": ("training_set_sphere.toml", {"grid.sphere_cells": 4}, "run"),
    "multi-index flow": ("multi_index.toml", {"particles.count": 20}, "run"),
    "multi-index sgd": ("multi_index.toml", {"sgd.neurons": 20, "sgd.seeds": [0, 1]}, "sgd"),
    "mixture flow": (
        "gaussian_mixture_xor.toml",
        {"particles.count": 20, "sgd.observe_every": 0.05},
        "run",
    ),
    "mixture sgd": (
        "gaussian_mixture_xor.toml",
        {"sgd.neurons": 20, "sgd.seeds": [0, 1], "sgd.observe_every": 0.05},
        "sgd",
    ),
}


@pytest.mark.parametrize("label", list(RUNS))
def test_every_dataset_says_what_it_is(label, tmp_path):
    config, extra, verb = RUNS[label]
    call = dd.solve if verb == "run" else dd.train
    run = call(GRIDS / config, tmp_path / "out.h5", overrides={**SHORT, **extra})
    assert run.ok, run.status
    missing = []
    with h5py.File(run.path) as f:

        def check(name, obj):
            if not isinstance(obj, h5py.Dataset):
                return
            attrs = obj.attrs
            dims = str(attrs.get("dims", "")).split(",")
            if not (attrs.get("description") and attrs.get("long_name") and attrs.get("units")):
                missing.append((name, dict(attrs)))
            elif len(dims) != obj.ndim or len(set(dims)) != len(dims):
                missing.append((name, obj.shape, dims))

        f.visititems(check)
    assert not missing, missing
    # xarray's dimensions are the file's own, and the variables keep their words
    for group, xarray_group in (("observables", run.observables), ("snapshots", run.snapshots)):
        attrs = io.read_field_attrs(run.path, group)
        for name, variable in xarray_group.data_vars.items():
            assert variable.dims == tuple(attrs[name]["dims"].split(",")), name
            assert variable.attrs["long_name"] and variable.attrs["description"]


def test_a_training_sets_particles_and_masses_share_a_dimension_with_labelled_columns(tmp_path):
    run = dd.solve(GRIDS / "training_set.toml", tmp_path / "ts.h5",
                   overrides={**SHORT, "particles.count": 20})  # fmt: skip
    snaps = run.snapshots
    assert snaps["particles"].dims == ("time", "particle", "coordinate")
    assert snaps["masses"].dims == ("time", "particle")
    assert list(snaps["coordinate"].values) == ["b", "a_1", "a_2", "bias"]


def _fixture(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name.removesuffix(".gz")
    with gzip.open(FIXTURES / name) as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*_v0.h5.gz")))
def test_files_of_the_previous_release_still_open(name, tmp_path):
    path = _fixture(name, tmp_path)
    run = dd.open(path)
    assert run.status == "finished"
    obs, snaps = run.observables, run.snapshots
    assert obs["risk"].dims[0] == "time" and obs.sizes["time"] > 1
    assert snaps.sizes["time"] > 1
    assert run.plot()  # figures from the file alone
    done = ddsolver("info", path, "--verify")
    assert done.returncode == 0, done.stderr
    assert "every checksum matches" in done.stdout and "config" in done.stdout


def test_the_fixtures_cover_each_limit():
    names = {p.name for p in FIXTURES.glob("*_v0.h5.gz")}
    assert {"quickstart_v0.h5.gz", "quickstart_sgd_v0.h5.gz", "committee_v0.h5.gz",
            "training_set_v0.h5.gz"} <= names  # fmt: skip
