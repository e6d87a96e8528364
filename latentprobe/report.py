"""The report: statistics, analysis results and verdict; to HDF5, JSON and text.

HDF5 layout (documented in docs/report-format.md): the stats file's /encoder, /labels and
/prior, plus /analyses/<name>/ (one group per analysis) and /verdict.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import torch

from . import __version__
from .analysis import ANALYSES, AnalysisOptions, run_analyses, select
from .analyzers.result import finite_or_none
from .atomic import atomic_path
from .errors import StatsFileError
from .stats import REPORT_FORMAT, EncoderStats, open_latentprobe_file, read_stats, write_stats
from .verdict import Thresholds, Verdict, decide


@dataclass(frozen=True)
class Report:
    stats: EncoderStats
    results: dict
    verdict: Verdict
    provenance: dict = field(default_factory=dict)

    def write(self, path, *, force: bool = False) -> Path:
        """Write the report atomically (temporary name, renamed when complete)."""
        with atomic_path(path, force=force) as temp, h5py.File(temp, "w") as f:
            write_stats(f, self.stats, kind=REPORT_FORMAT)
            for name, result in self.results.items():
                group = f.create_group(f"analyses/{name}")
                group.attrs["description"] = ANALYSES[name].description
                result.write(group)
            self.verdict.write(f.create_group("verdict"))
            f.attrs["analysis_provenance"] = json.dumps(self.provenance, sort_keys=True)
        return Path(path)

    @classmethod
    def read(cls, path) -> Report:
        with open_latentprobe_file(path) as f:
            if "verdict" not in f:
                raise StatsFileError(
                    f"{path} is a stats file, not a report; run `latentprobe analyze` on it"
                )
            stats = read_stats(f, path)
            try:
                results = {
                    name: ANALYSES[name].result_type.read(group)
                    for name, group in f["analyses"].items()
                    if name in ANALYSES
                }
                verdict = Verdict.read(f["verdict"])
                provenance = json.loads(f.attrs.get("analysis_provenance", "{}"))
            except (KeyError, OSError, ValueError) as e:
                raise StatsFileError(f"{path} is a damaged report: {e}") from e
        return cls(stats, results, verdict, provenance)

    def to_dict(self) -> dict:
        """The JSON document of ``latentprobe analyze --json`` (all quantities in nats)."""
        au = self.results.get("active_units")
        kl = self.results.get("kl_divergence")
        mi = self.results.get("mutual_information")
        return {
            "verdict": self.verdict.model,
            "z_informative": self.verdict.z_informative,
            "n_examples": self.stats.n_examples,
            "n_units": self.stats.n_units,
            "units": "nats",
            "active_units": self.verdict.units_with("active"),
            "collapsed_units": self.verdict.units_with("collapsed"),
            "inactive_units": self.verdict.units_with("inactive"),
            "variance_active_units": au.indices if au else None,
            "mutual_information": _mi_dict(mi),
            "rate": _float(kl.total_rate if kl else mi.rate if mi else None),
            "marginal_kl": _float(mi.marginal_kl if mi else None),
            "total_correlation": _float(mi.total_correlation if mi else None),
            "per_unit": [self._unit(i, au, kl, mi) for i in range(self.stats.n_units)],
            "probes": _probes_dict(self.results.get("probes")),
            "probe_evidence": self.verdict.probe_evidence,
            "notes": list(self.verdict.notes),
            "thresholds": self.verdict.thresholds.__dict__,
        }

    def _unit(self, i: int, au, kl, mi) -> dict:
        return {
            "index": i,
            "var_of_means": _float(au.var_of_means[i] if au else None),
            "kl": _float(kl.per_unit_rate[i] if kl else None),
            "mi": _float(mi.per_unit_mi[i] if mi else None),
            "mi_stderr": _float(mi.per_unit_mi_stderr[i] if mi else None),
            "marginal_kl": _float(mi.per_unit_marginal_kl[i] if mi else None),
            "status": self.verdict.unit_status[i],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _float(value):
    return None if value is None else finite_or_none(float(value))


def _mi_dict(mi) -> dict | None:
    if mi is None:
        return None
    return {
        "nats": _float(mi.nats),
        "stderr": _float(mi.stderr),
        "ci95": [_float(mi.ci95_low), _float(mi.ci95_high)],
        "log_n": _float(mi.log_n),
        "near_ceiling": mi.near_ceiling,
        "rate": _float(mi.rate),
        "marginal_kl": _float(mi.marginal_kl),
        "samples_per_example": mi.samples_per_example,
        "n_points": mi.n_points,
        "stderr_method": mi.stderr_method,
    }


def _probe_set_dict(r) -> dict:
    return {
        "task": r.task,
        "skipped": r.skipped or None,
        "n_used": r.n_used,
        "n_missing": r.n_missing,
        "n_classes": r.n_classes,
        "folds": r.folds,
        "accuracy": _float(r.accuracy),
        "mean_accuracy": _float(r.mean_accuracy),
        "mlp_accuracy": _float(r.mlp_accuracy),
        "mlp_mean_accuracy": _float(r.mlp_mean_accuracy),
        "x_accuracy": _float(r.x_accuracy),
        "prior_accuracy": _float(r.prior_accuracy),
        "chance": _float(r.chance),
        "p_value": _float(r.p_value),
        "p_value_min": _float(r.p_value_min),
        "ci95": [_float(v) for v in r.accuracy_ci95],
        "cross_entropy_nats": _float(r.cross_entropy_nats),
        "class_entropy_nats": _float(r.class_entropy_nats),
        "mi_lower_bound_nats": _float(r.mi_lower_bound_nats),
        "mi_lower_bound_ci95": [_float(v) for v in r.mi_lower_bound_ci95],
        "control_accuracy": _float(r.control_accuracy),
        "selectivity": _float(r.selectivity),
        "mdl_bits": _float(r.mdl_bits),
        "uniform_bits": _float(r.uniform_bits),
        "compression": _float(r.compression),
        "per_unit": [
            {"index": i, "accuracy": _float(a), "p_value": _float(p), "corrected_p": _float(h)}
            for i, (a, p, h) in enumerate(
                zip(r.per_unit_accuracy, r.per_unit_p_value, r.per_unit_p_holm, strict=True)
            )
        ],
        "notes": list(r.notes),
    }


def _probes_dict(probes) -> dict | None:
    if probes is None:
        return None
    return {name: _probe_set_dict(r) for name, r in probes.label_sets.items()}


def per_unit_table(report: Report) -> np.ndarray:
    """(D, 3) array: variance of means, KL rate, I(x;z_i) (NaN where not computed)."""
    rows = report.to_dict()["per_unit"]
    return np.array(
        [[np.nan if r[k] is None else r[k] for k in ("var_of_means", "kl", "mi")] for r in rows]
    )


def analyze(
    stats: EncoderStats,
    *,
    only=(),
    skip=(),
    options: AnalysisOptions | None = None,
    thresholds: Thresholds | None = None,
    x=None,
) -> Report:
    """Run the chosen analyses on ``stats`` and decide the verdict.

    ``x``, the inputs (N, ...), is optional: the probes use it for their reference probe on
    x and for the control task.
    """
    names = select(only, skip, has_labels=bool(stats.labels))
    options = options or AnalysisOptions()
    results = run_analyses(stats, names, options, x)
    verdict = decide(stats.n_units, **results, thresholds=thresholds)
    provenance = {
        "analyses": names,
        "options": dataclasses.asdict(options),
        "inputs_x_given": x is not None,
        "thresholds": dataclasses.asdict(verdict.thresholds),
        "latentprobe_version": __version__,
        "torch_version": str(torch.__version__),
        "numpy_version": np.__version__,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return Report(stats, results, verdict, provenance)
