"""Run the analyses of the table on encoder statistics, decide the verdict, and keep it all
together as a ``Report`` (written to and read from HDF5 by ``store``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from . import progress, store, verdict
from .errors import OptionsError
from .registry import ANALYSES, AnalysisInputs, select
from .types import EncoderStats
from .verdict import Thresholds, Verdict, decide
from .version import __version__


@dataclass(frozen=True)
class Report:
    """Statistics, one result per analysis that ran (in table order), the verdict, and the
    analysis provenance."""

    stats: EncoderStats
    results: dict
    verdict: Verdict
    provenance: dict = field(default_factory=dict)

    def write(self, path, *, force: bool = False) -> Path:
        """Write the report atomically (temporary name, renamed when complete)."""
        described = {n: (ANALYSES[n].description, r) for n, r in self.results.items()}
        return store.write_report_file(
            path,
            self.stats,
            described,
            self.verdict,
            self.provenance,
            force=force,
            rule=(verdict.__doc__ or "").strip(),
        )

    @classmethod
    def read(cls, path) -> Report:
        """Read a report; analyses this latentprobe does not know are passed over."""
        types = {name: analysis.result_type for name, analysis in ANALYSES.items()}
        return cls(*store.read_report_file(path, types))

    def to_dict(self) -> dict:
        """The JSON document of ``latentprobe analyze --json`` (all quantities in nats)."""
        from .outputs.document import report_document

        return report_document(self)

    def to_json(self) -> str:
        from .outputs.document import report_json

        return report_json(self)

    def summary(self, source: str = "report") -> str:
        """The summary ``latentprobe analyze`` prints (``source`` names the model in it)."""
        from .outputs.summary import summary

        return summary(self, source)

    @property
    def per_unit(self):
        """One row per unit (index ``unit``): its status and every per-unit column, with
        ``<column>_stderr`` and the 95% interval's ends where the analysis gives an error;
        a pandas DataFrame (``pip install 'latentprobe[pandas]'``)."""
        try:
            import pandas
        except ImportError as e:
            raise ImportError(
                "Report.per_unit needs pandas: pip install 'latentprobe[pandas]'"
            ) from e
        from .outputs import tables

        table = tables.unit_table(self)
        frame = pandas.DataFrame(tables.flat_rows(table), columns=tables.flat_columns(table))
        return frame.set_index("unit")

    def compare(self, *others: Report, names=None):
        """The table of ``latentprobe compare`` (``outputs.tables.Table``; ``.render(format)``)
        with this report first; ``names`` default to model 1, model 2, ..."""
        from .outputs import tables

        reports = [self, *others]
        names = (
            list(names) if names is not None else [f"model {i + 1}" for i in range(len(reports))]
        )
        if len(names) != len(reports):
            raise OptionsError(
                f"{len(names)} names for {len(reports)} reports; give one per report"
            )
        return tables.model_table(list(zip(names, reports, strict=True)))


def _options(given: Mapping | None, names) -> dict:
    given = dict(given or {})
    unknown = sorted(set(given) - set(ANALYSES))
    if unknown:
        raise OptionsError(f"options given for unknown analysis {unknown[0]!r}")
    for name, value in given.items():
        if not isinstance(value, ANALYSES[name].options_type):
            expected = ANALYSES[name].options_type.__name__
            raise OptionsError(f"options for {name!r} must be a {expected}")
    return {n: given.get(n) or ANALYSES[n].options_type() for n in names}


def _provenance(names, options: dict, seed: int, inputs, thresholds: Thresholds) -> dict:
    decoder = inputs.decoder
    return {
        "analyses": list(names),
        "options": {n: dataclasses.asdict(o) for n, o in options.items()},
        "seed": seed,
        "inputs_x_given": inputs.x is not None,
        "decoder": None if decoder is None else decoder.description,
        "thresholds": dataclasses.asdict(thresholds),
        "latentprobe_version": __version__,
        "torch_version": str(torch.__version__),
        "numpy_version": np.__version__,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def analyze(
    stats: EncoderStats,
    *,
    only=(),
    skip=(),
    options: Mapping | None = None,
    thresholds: Thresholds | None = None,
    seed: int = 0,
    x=None,
    decoder=None,
) -> Report:
    """Run the chosen analyses on ``stats`` and decide the verdict.

    ``options`` maps an analysis name to its options object (defaults for the others);
    ``x``, the inputs (N, ...), is optional: analyses that use it (the probes' reference
    probe on x and control task) run without it, with a note. ``decoder``
    (``decoders.Decoder``, with ``x``) lets the decoder's analyses run.
    """
    inputs = AnalysisInputs(stats, x, decoder)
    names = select(only, skip, available=inputs.available())
    chosen = _options(options, names)
    results = {}
    with progress.bar(len(names), "analysing", unit="analysis") as bar:
        for name in names:
            bar.set_postfix_str(name)
            results[name] = ANALYSES[name].run(inputs, chosen[name], seed)
            bar.update()
    thresholds = thresholds or Thresholds()
    if not isinstance(thresholds, Thresholds):
        raise OptionsError(f"thresholds must be a Thresholds, got {type(thresholds).__name__}")
    decided = decide(stats.n_units, results, analyses=ANALYSES, thresholds=thresholds)
    return Report(stats, results, decided, _provenance(names, chosen, seed, inputs, thresholds))
