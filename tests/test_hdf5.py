"""HDF5 files that point outside themselves are refused, as stats files, reports and data."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from latentprobe.cli.main import main

import latentprobe
from latentprobe.errors import DataError, StatsFileError
from latentprobe.hdf5 import foreign_reference

SECRET = b"root:x:0:0:secret\n" * 64  # 1,152 bytes, a multiple of 8


def _secret(tmp: Path) -> Path:
    path = tmp / "secret.txt"
    path.write_bytes(SECRET)
    return path


def _stats_with(path: Path, make_mu) -> Path:
    with h5py.File(path, "w") as f:
        make_mu(f)
        f["encoder/logvar"] = np.zeros((144, 1))
        f.attrs["latentprobe_format"], f.attrs["schema_version"] = "latentprobe-stats", 2
    return path


def external_storage(tmp: Path):
    secret = _secret(tmp)
    return lambda f: f.create_dataset(
        "encoder/mu", (144, 1), "<f8", external=[(str(secret), 0, len(SECRET))]
    )


def external_link(tmp: Path):
    other = tmp / "other.h5"
    with h5py.File(other, "w") as g:
        g["mu"] = np.ones((144, 1))
    return lambda f: f.__setitem__("encoder/mu", h5py.ExternalLink(str(other), "/mu"))


def virtual(tmp: Path):
    other = tmp / "other.h5"
    with h5py.File(other, "w") as g:
        g["mu"] = np.ones((144, 1))
    layout = h5py.VirtualLayout((144, 1), "<f8")
    layout[:] = h5py.VirtualSource(str(other), "mu", (144, 1))
    return lambda f: f.create_virtual_dataset("encoder/mu", layout)


CASES = {"external storage": external_storage, "external link": external_link, "virtual": virtual}


@pytest.mark.parametrize("kind", CASES)
def test_stats_files_pointing_elsewhere_are_refused(tmp_path, kind):
    path = _stats_with(tmp_path / "s.h5", CASES[kind](tmp_path))
    with h5py.File(path) as f:
        assert foreign_reference(f) is not None
    with pytest.raises(StatsFileError, match="reads only bytes inside the file named"):
        latentprobe.read_stats(path)
    result = CliRunner().invoke(main, ["analyze", str(path), "-o", str(tmp_path / "r.h5")])
    assert result.exit_code == StatsFileError.exit_code
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.h5").exists()


@pytest.mark.parametrize("kind", CASES)
def test_data_files_pointing_elsewhere_are_refused(tmp_path, kind):
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        CASES[kind](tmp_path)(f)
    with pytest.raises(DataError, match="reads only bytes inside the file named"):
        latentprobe.open_data(f"{path}:/encoder/mu")


def test_a_self_contained_file_with_an_internal_soft_link_is_fine(tmp_path):
    path = tmp_path / "s.h5"
    latentprobe.write_stats(latentprobe.EncoderStats(np.zeros((3, 2)), np.zeros((3, 2))), path)
    with h5py.File(path, "a") as f:
        f["alias"] = h5py.SoftLink("/encoder/mu")
    with h5py.File(path) as f:
        assert foreign_reference(f) is None
    assert latentprobe.read_stats(path).n_examples == 3
