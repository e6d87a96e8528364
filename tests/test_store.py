"""The HDF5 store: exact round trips of every result type, and files from schema 1."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from decoder_models import decoder_inputs
from linear_gaussian import example

import latentprobe
from latentprobe import store
from latentprobe.analyzers import LogLikelihoodOptions
from latentprobe.analyzers.probes import ProbesOptions
from latentprobe.errors import StatsFileError
from latentprobe.registry import ANALYSES
from latentprobe.report import Report

SCHEMA1 = Path(__file__).resolve().parent.parent / "fixtures" / "schema1"
ADVERSARIAL = ["[S=2] draws", "null", "{not json", "", "true", "1.5", '"quoted"', "ünïcødé"]


@pytest.fixture(scope="module")
def report():
    mu, logvar = example().sample(300, seed=0)
    stats = latentprobe.EncoderStats(mu, logvar, {"parity": np.arange(300) % 2})
    options = {
        "probes": ProbesOptions(permutations=5, mlp=False),
        "log_likelihood": LogLikelihoodOptions(samples=20),
    }
    x, decoder = decoder_inputs(300, mu.shape[1])
    return latentprobe.analyze(stats, options=options, x=x, decoder=decoder)


def _assert_same(a, b):
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
            assert x.dtype == y.dtype
        elif isinstance(x, dict):
            assert x.keys() == y.keys()
            for key in x:
                _assert_same(x[key], y[key])
        else:
            assert x == y or (x != x and y != y), f.name  # NaN == NaN here
            assert type(x) is type(y), f.name


def _with_adversarial_strings(result, text: str):
    changes = {}
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if isinstance(value, str):
            changes[f.name] = text
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            changes[f.name] = [text, text + "]"]
        elif isinstance(value, dict):
            changes[f.name] = {k: _with_adversarial_strings(v, text) for k, v in value.items()}
    return dataclasses.replace(result, **changes)


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_every_result_type_round_trips_exactly(report, tmp_path, text):
    assert set(report.results) == set(ANALYSES)
    for name, result in report.results.items():
        result = _with_adversarial_strings(result, text)
        with h5py.File(tmp_path / f"{name}.h5", "w") as f:
            store.write_result(f.create_group(name), result)
        with h5py.File(tmp_path / f"{name}.h5") as f:
            _assert_same(result, store.read_result(f[name], type(result)))


def test_field_kinds_are_written(report, tmp_path):
    report.write(tmp_path / "r.h5")
    with h5py.File(tmp_path / "r.h5") as f:
        kinds = json.loads(f["analyses/mutual_information"].attrs["field_kinds"])
        assert kinds["nats"] == "float" and kinds["per_unit_mi"] == "array"
        assert kinds["stderr_method"] == "str" and kinds["near_ceiling"] == "bool"
        assert json.loads(f["analyses/probes"].attrs["field_kinds"]) == {"label_sets": "results"}
        assert f.attrs["schema_version"] == store.SCHEMA_VERSION == 3


def test_report_round_trip(report, tmp_path):
    report.write(tmp_path / "r.h5")
    back = Report.read(tmp_path / "r.h5")
    assert back.verdict == report.verdict and back.provenance == report.provenance
    for name in report.results:
        _assert_same(report.results[name], back.results[name])


def test_a_schema_1_report_reads_with_the_numbers_it_was_written_with():
    old = json.loads((SCHEMA1 / "report-v1.json").read_text())
    report = Report.read(SCHEMA1 / "report-v1.h5")
    assert report.verdict.model == old["verdict"] == "partially_collapsed"
    assert list(report.verdict.unit_status) == [u["status"] for u in old["per_unit"]]
    assert list(report.verdict.notes) == old["notes"]
    assert report.verdict.agreement == {"probes": old["probe_evidence"]}
    mi = report.results["mutual_information"]
    assert mi.nats == old["mutual_information"]["nats"]
    assert mi.draws_per_example == old["mutual_information"]["samples_per_example"]
    assert mi.per_unit_mi.tolist() == [u["mi"] for u in old["per_unit"]]
    sign = report.results["probes"].label_sets["sign"]
    assert sign.accuracy == old["probes"]["sign"]["accuracy"]
    assert sign.notes == old["probes"]["sign"]["notes"] and sign.task == "classification"
    kl = report.results["kl_divergence"]
    assert kl.per_unit_rate.tolist() == [u["kl"] for u in old["per_unit"]]
    assert report.stats.n_examples == 120 and set(report.stats.labels) == {"sign"}


def test_a_schema_1_report_writes_again_as_schema_2(tmp_path):
    report = Report.read(SCHEMA1 / "report-v1.h5")
    report.write(tmp_path / "again.h5")
    again = Report.read(tmp_path / "again.h5")
    assert again.verdict == report.verdict
    _assert_same(report.results["probes"], again.results["probes"])


def test_a_schema_1_stats_file_reads():
    stats = latentprobe.read_stats(SCHEMA1 / "stats-v1.h5")
    assert stats.mu.shape == (120, 3) and stats.prior.kind == "standard_normal"
    np.testing.assert_array_equal(stats.mu[:, 2], 0.0)


@pytest.mark.parametrize("version, message", [(4, "newer"), ("abc", "no valid schema_version")])
def test_schema_versions_that_cannot_be_read(tmp_path, version, message):
    latentprobe.write_stats(
        latentprobe.EncoderStats(np.zeros((3, 2)), np.zeros((3, 2))), tmp_path / "s.h5"
    )
    with h5py.File(tmp_path / "s.h5", "a") as f:
        f.attrs["schema_version"] = version
    with pytest.raises(StatsFileError, match=message):
        latentprobe.read_stats(tmp_path / "s.h5")


def test_bad_arrays_in_a_file_name_the_file(tmp_path):
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["encoder/mu"], f["encoder/logvar"] = np.zeros((3, 2)), np.zeros((3, 4))
        f.attrs["latentprobe_format"], f.attrs["schema_version"] = "latentprobe-stats", 2
    with pytest.raises(StatsFileError, match=r"s\.h5: expected mu and logvar of the same shape"):
        latentprobe.read_stats(tmp_path / "s.h5")


def test_only_the_store_names_hdf5_paths():
    """The layout lives in store.py; hdf5.py (refusing files that point elsewhere) knows none
    of it, and data.py opens users' HDF5 data lazily."""
    package = Path(latentprobe.__file__).parent
    for path in package.rglob("*.py"):
        text = path.read_text()
        if path.name != "store.py":
            assert '"encoder/mu"' not in text and '"encoder/logvar"' not in text, path
        if path.name not in ("store.py", "hdf5.py"):
            assert "import h5py" not in text.replace("    import h5py", ""), path


def test_a_field_added_after_a_report_was_written_reads_as_its_default(tmp_path):
    """Reports written before the growth check lack its three fields: they read as their
    defaults (empty, False) instead of as a damaged file."""
    import json

    import h5py
    import numpy as np

    import latentprobe

    rng = np.random.default_rng(0)
    stats = latentprobe.EncoderStats(rng.normal(size=(40, 2)), np.full((40, 2), -1.0))
    latentprobe.analyze(stats, only=["mutual_information"]).write(tmp_path / "r.h5")
    with h5py.File(tmp_path / "r.h5", "a") as f:
        group = f["analyses/mutual_information"]
        kinds = json.loads(group.attrs["field_kinds"])
        for name in ("growth_examples", "growth_nats", "capped_by_data"):
            del group.attrs[name]
            kinds.pop(name)
        group.attrs["field_kinds"] = json.dumps(kinds)
    result = latentprobe.Report.read(tmp_path / "r.h5").results["mutual_information"]
    assert result.growth_nats == [] and result.capped_by_data is False
