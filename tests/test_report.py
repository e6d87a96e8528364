"""The report: HDF5 round trip readable with plain h5py, JSON document, text summary."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from linear_gaussian import example

import latentprobe
from latentprobe.errors import StatsFileError
from latentprobe.outputs.summary import summary
from latentprobe.report import Report


@pytest.fixture(scope="module")
def report():
    mu, logvar = example().sample(1500, seed=0)
    stats = latentprobe.EncoderStats(mu, logvar, {"parity": np.arange(1500) % 2})
    return latentprobe.analyze(stats)


def test_round_trip(report, tmp_path):
    report.write(tmp_path / "r.h5")
    back = Report.read(tmp_path / "r.h5")
    assert back.verdict == report.verdict
    mi, mi_back = report.results["mutual_information"], back.results["mutual_information"]
    assert mi_back.nats == mi.nats and np.array_equal(mi_back.per_unit_mi, mi.per_unit_mi)
    kl = back.results["kl_divergence"]
    np.testing.assert_array_equal(kl.per_example, report.results["kl_divergence"].per_example)
    assert back.to_dict() == report.to_dict()


def test_plain_h5py_can_read_it(report, tmp_path):
    report.write(tmp_path / "r.h5")
    with h5py.File(tmp_path / "r.h5") as f:
        assert f.attrs["latentprobe_format"] == "latentprobe-report"
        assert f["analyses/mutual_information"].attrs["nats.units"] == "nats"
        assert f["analyses/kl_divergence/per_unit_rate"].attrs["units"] == "nats"
        assert f["verdict"].attrs["model"] == report.verdict.model
        assert list(f["verdict/unit_status"].asstr()[()]) == list(report.verdict.unit_status)
        assert f["encoder/mu"].shape == (1500, 6) and "parity" in f["labels"]
    assert latentprobe.read_stats(tmp_path / "r.h5").n_examples == 1500


def test_json_has_the_documented_keys(report):
    doc = json.loads(report.to_json())
    for key in (
        "verdict",
        "z_informative",
        "n_examples",
        "n_units",
        "active_units",
        "collapsed_units",
        "agreement",
        "per_unit",
        "analyses",
    ):
        assert key in doc
    mi = doc["analyses"]["mutual_information"]
    assert set(mi) >= {"nats", "stderr", "ci95_low", "ci95_high", "log_n", "total_correlation"}
    assert set(doc["per_unit"][0]) == {"index", "var_of_means", "kl", "mi", "status"}
    assert doc["collapsed_units"] == [4] and doc["inactive_units"] == [5]
    assert mi["rate"] == pytest.approx(mi["nats"] + mi["marginal_kl"])
    assert "per_example" not in doc["analyses"]["kl_divergence"]  # (N, D): in the HDF5 only


def test_summary_mentions_the_verdict_and_units(report):
    text = summary(report, "model.pt")
    assert "verdict: partially_collapsed" in text and "nats" in text
    assert text.count("collapsed") >= 2 and "inactive" in text


def test_only_and_skip(tmp_path):
    mu, logvar = example().sample(200, seed=1)
    stats = latentprobe.EncoderStats(mu, logvar)
    only = latentprobe.analyze(stats, only=["active_units,kl_divergence"])
    assert set(only.results) == {"active_units", "kl_divergence"}
    assert set(only.to_dict()["analyses"]) == {"active_units", "kl_divergence"}
    skip = latentprobe.analyze(stats, skip=["mutual_information"])
    assert set(skip.results) == set(only.results)
    only.write(tmp_path / "r.h5")
    assert set(Report.read(tmp_path / "r.h5").results) == set(only.results)


def test_reading_a_stats_file_as_a_report_fails_clearly(tmp_path):
    mu, logvar = example().sample(50, seed=1)
    latentprobe.write_stats(latentprobe.EncoderStats(mu, logvar), tmp_path / "s.h5")
    with pytest.raises(StatsFileError, match="not a report"):
        Report.read(tmp_path / "s.h5")


def test_analysis_provenance(report, tmp_path):
    report.write(tmp_path / "r.h5")
    provenance = Report.read(tmp_path / "r.h5").provenance
    assert provenance["analyses"] == [
        "active_units",
        "kl_divergence",
        "mutual_information",
        "probes",  # the stats carry a label set
    ]
    assert provenance["seed"] == 0 and "created_utc" in provenance
    assert provenance["options"]["mutual_information"]["draws_per_example"] == 2
    assert provenance["thresholds"]["kl_threshold"] == 0.01
