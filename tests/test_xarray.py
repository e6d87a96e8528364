"""Reports and stats files open in xarray (h5netcdf) with named dimensions and their units
and descriptions: every group, every dataset."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

xarray = pytest.importorskip("xarray")
pytest.importorskip("h5netcdf")

from latentprobe.report import Report  # noqa: E402


def _groups(path) -> list[str]:
    found = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Group) else None)
    return found


def test_every_group_of_a_report_opens_with_named_dimensions(fixture_reports):
    path = fixture_reports["partial"]
    report = Report.read(path)
    n, d = report.stats.n_examples, report.stats.n_units
    for group in ["/", *_groups(path)]:
        with xarray.open_dataset(path, engine="h5netcdf", group=group) as ds:
            for name, variable in ds.variables.items():
                assert not any(dim.startswith("phony") for dim in variable.dims), (group, name)
    with xarray.open_dataset(path, engine="h5netcdf", group="analyses/mutual_information") as ds:
        assert ds["per_unit_mi"].dims == ("unit",) and ds.sizes["unit"] == d
        assert ds["per_unit_mi"].attrs["units"] == "nats"
        assert "I(x;z_i)" in ds["per_unit_mi"].attrs["description"]
        np.testing.assert_array_equal(
            ds["per_unit_mi"].values, report.results["mutual_information"].per_unit_mi
        )
    with xarray.open_dataset(path, engine="h5netcdf", group="analyses/kl_divergence") as ds:
        assert ds["per_example"].dims == ("example", "unit")
        assert ds["histogram_counts"].dims == ("unit", "kl_bin")
        assert ds.sizes["kl_edge"] == ds.sizes["kl_bin"] + 1 and ds.sizes["example"] == n
    with xarray.open_dataset(path, engine="h5netcdf", group="encoder") as ds:
        assert ds["mu"].dims == ("example", "unit")
    with xarray.open_dataset(path, engine="h5netcdf", group="verdict") as ds:
        assert list(ds["unit_status"].values) == list(report.verdict.unit_status)


def test_a_written_stats_file_opens_too(tmp_path):
    from latentprobe.store import read_stats, write_stats
    from latentprobe.types import EncoderStats

    rng = np.random.default_rng(0)
    stats = EncoderStats(rng.normal(size=(7, 3)), rng.normal(size=(7, 3)), {"y": np.arange(7)})
    write_stats(stats, tmp_path / "s.stats.h5")
    with xarray.open_dataset(tmp_path / "s.stats.h5", engine="h5netcdf", group="labels") as ds:
        assert ds["y"].dims == ("example",)
    np.testing.assert_array_equal(read_stats(tmp_path / "s.stats.h5").mu, stats.mu)
