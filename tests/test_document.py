"""The JSON document: built from the results' dataclass fields, per-example arrays left out,
every value JSON-ready (no NaN, no numpy types)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from decoder_models import decoder_inputs
from linear_gaussian import example

import latentprobe
from latentprobe import EncoderStats
from latentprobe.analyzers import LogLikelihoodOptions
from latentprobe.analyzers.probes import ProbesOptions
from latentprobe.analyzers.result import Result, quantity
from latentprobe.outputs.document import plain, report_document, result_document, unit_rows
from latentprobe.registry import ANALYSES
from latentprobe.report import Report

CHEAP_PROBES = ProbesOptions(
    folds=2, permutations=1, mlp=False, control=False, mdl=False, per_unit=False, n_jobs=1
)


@pytest.fixture(scope="module")
def report() -> Report:
    """Every analysis, the probes included (so nested results and NaN fields appear)."""
    mu, logvar = example().sample(400, seed=0)
    labels = {"sign": (mu[:, 0] > 0.3).astype(int)}
    x, decoder = decoder_inputs(400, mu.shape[1])
    options = {"probes": CHEAP_PROBES, "log_likelihood": LogLikelihoodOptions(samples=20)}
    stats = EncoderStats(mu, logvar, labels)
    return latentprobe.analyze(stats, options=options, seed=1, x=x, decoder=decoder)


def kept_fields(result_type) -> set[str]:
    return {f.name for f in dataclasses.fields(result_type) if f.metadata.get("per") != "example"}


# ----------------------------------------------------------------------------- plain


def test_plain_turns_non_finite_numbers_into_none():
    assert plain(math.nan) is None
    assert plain(math.inf) is None
    assert plain(-math.inf) is None
    assert plain(np.float64("nan")) is None
    assert plain(np.float32("inf")) is None
    assert plain(np.array([1.5, np.nan, -np.inf])) == [1.5, None, None]
    assert plain(0.25) == 0.25 and plain(-0.0) == 0.0


def test_plain_turns_numpy_scalars_into_python():
    for value, expected, kind in (
        (np.int64(3), 3, int),
        (np.int8(-2), -2, int),
        (np.float32(0.5), 0.5, float),
        (np.float64(2.25), 2.25, float),
        (np.bool_(True), True, bool),
        (np.str_("a"), "a", str),
    ):
        out = plain(value)
        assert out == expected and type(out) is kind


def test_plain_walks_nested_containers():
    value = {
        "a": (np.int64(1), [np.float32(np.nan), {"b": np.arange(3)}]),
        2: np.array([[1.0, np.inf], [True, 0]]),
        "s": "text",
        "n": None,
    }
    assert plain(value) == {
        "a": [1, [None, {"b": [0, 1, 2]}]],
        "2": [[1.0, None], [1.0, 0.0]],
        "s": "text",
        "n": None,
    }
    json.dumps(plain(value), allow_nan=False)


def test_plain_of_a_result_is_its_document():
    @dataclasses.dataclass(frozen=True)
    class Small(Result):
        value: float = quantity("a number")
        rows: np.ndarray = quantity("per example", per="example")
        units: np.ndarray = quantity("per unit", per="unit")

    small = Small(math.nan, np.ones((4, 2)), np.array([np.float32(1.0), np.inf]))
    assert plain(small) == {"value": None, "units": [1.0, None]}
    assert plain({"nested": [small]}) == {"nested": [{"value": None, "units": [1.0, None]}]}


# ------------------------------------------------------------------------- documents


def test_result_document_keeps_every_field_but_the_per_example_ones(report):
    assert set(report.results) == set(ANALYSES)
    for name, result in report.results.items():
        doc = result_document(result)
        assert set(doc) == kept_fields(type(result)), name
    assert "per_example" not in result_document(report.results["kl_divergence"])
    assert "per_example" in {f.name for f in dataclasses.fields(report.results["kl_divergence"])}


def test_result_document_values(report):
    kl = report.results["kl_divergence"]
    doc = result_document(kl)
    assert doc["per_unit_rate"] == kl.per_unit_rate.tolist()
    assert doc["total_rate"] == kl.total_rate and doc["exact"] is True
    mi = result_document(report.results["mutual_information"])
    assert type(mi["n_examples"]) is int and mi["n_examples"] == 400


def test_nested_results_nest(report):
    probes = report.results["probes"]
    doc = result_document(probes)
    (name,) = probes.label_sets
    nested = doc["label_sets"][name]
    assert set(nested) == kept_fields(type(probes.label_sets[name]))
    # the MLP probe is switched off: NaN becomes null
    assert math.isnan(probes.label_sets[name].mlp_accuracy)
    assert nested["mlp_accuracy"] is None


def test_unit_rows_have_index_status_and_the_declared_columns(report):
    rows = unit_rows(report)
    keys = {c.key for name in report.results for c in ANALYSES[name].columns}
    assert keys == {"var_of_means", "kl", "mi", "reliance"}
    assert len(rows) == report.stats.n_units == 6
    for i, row in enumerate(rows):
        assert set(row) == {"index", "status"} | keys
        assert row["index"] == i and row["status"] == report.verdict.unit_status[i]
    kl = report.results["kl_divergence"].per_unit_rate
    assert [row["kl"] for row in rows] == pytest.approx(kl.tolist())
    # unit 4 of the linear-Gaussian encoder is exactly the prior: its KL is 0
    assert rows[4]["kl"] == 0.0 and rows[4]["status"] == "collapsed"


def test_unit_rows_follow_the_analyses_that_ran():
    mu, logvar = example().sample(300, seed=2)
    only = latentprobe.analyze(EncoderStats(mu, logvar), only=["active_units"])
    assert all(set(row) == {"index", "status", "var_of_means"} for row in unit_rows(only))


def test_unit_rows_non_finite_values_are_null(report):
    mi = report.results["mutual_information"]
    broken = dataclasses.replace(mi, per_unit_mi=np.r_[np.nan, mi.per_unit_mi[1:]])
    changed = Report(report.stats, {**report.results, "mutual_information": broken}, report.verdict)
    assert unit_rows(changed)[0]["mi"] is None


def test_document_is_strict_json(report):
    doc = report_document(report)
    text = json.dumps(doc, allow_nan=False)
    assert json.loads(text) == doc
    assert doc["units"] == "nats"
    assert doc["n_examples"] == 400 and doc["n_units"] == 6
    assert set(doc["analyses"]) == set(report.results)
    assert doc["thresholds"] == dataclasses.asdict(report.verdict.thresholds)


def test_verdict_lists_partition_the_units(report):
    doc = report_document(report)
    lists = [doc["active_units"], doc["inactive_units"], doc["collapsed_units"]]
    assert sorted(i for units in lists for i in units) == list(range(doc["n_units"]))
    for status, units in zip(("active", "inactive", "collapsed"), lists, strict=True):
        assert all(doc["per_unit"][i]["status"] == status for i in units)
    # the linear-Gaussian example: units 0-3 informative, 4 the prior, 5 constant
    assert lists == [[0, 1, 2, 3], [5], [4]]
