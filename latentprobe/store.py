"""The HDF5 store: the only module that knows latentprobe's file layout.

Layout (schema 2; see docs/report-format.md)::

    /                       attrs: latentprobe_format, schema_version, provenance (JSON), ...
    /encoder/mu, /logvar    (N, D) posterior means and log-variances, encoder precision
    /labels/<name>          (N,) label sets, optional
    /prior/weights|means|logvars
    /analyses/<name>        (reports) one group per analysis: attrs result_type, field_kinds
    /verdict                (reports) unit_status dataset; model, z_informative, ... attrs

Every result field is stored by its kind (``analyzers.result.field_kinds``), written in
the group's ``field_kinds`` attribute, so reading back never guesses. Schema 1 files (no
field kinds) are read by the result classes' annotations.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from .analyzers.result import field_kinds, nested_type
from .atomic import atomic_path
from .errors import DataError, PosteriorError, PriorError, StatsFileError
from .hdf5 import refuse_foreign
from .types import EncoderStats, Prior
from .verdict import Thresholds, Verdict

SCHEMA_VERSION = 2
STATS_FORMAT = "latentprobe-stats"
REPORT_FORMAT = "latentprobe-report"
MU, LOGVAR, LABELS, PRIOR = "encoder/mu", "encoder/logvar", "labels", "prior"
ANALYSES, VERDICT = "analyses", "verdict"
CHUNK_BYTES = 2**20
#: Result fields renamed since schema 1: new name -> name in schema-1 files.
RENAMED_SINCE_1 = {"draws_per_example": "samples_per_example"}

MU_DESCRIPTION = "posterior means E_q[z|x], one row per example"
LOGVAR_DESCRIPTION = "posterior log-variances log sigma^2 (natural log), one row per example"


# --------------------------------------------------------------------------- opening


class open_latentprobe_file:
    """Open a latentprobe HDF5 file for reading, with one-line errors for foreign files.
    The file object gets ``schema_version`` as an attribute of this context."""

    def __init__(self, path):
        self.path = Path(path)
        self.version = SCHEMA_VERSION

    def __enter__(self) -> h5py.File:
        if not self.path.is_file():
            raise StatsFileError(f"stats file not found: {self.path}")
        try:
            self.file = h5py.File(self.path, "r")
        except OSError as e:
            raise StatsFileError(
                f"{self.path} is not a readable HDF5 file (truncated or corrupt?): {e}"
            ) from e
        try:
            self.version = self._check(self.file)
            refuse_foreign(self.file, self.path, StatsFileError)
        except StatsFileError:
            self.file.close()
            raise
        return self.file

    def _check(self, f: h5py.File) -> int:
        if f.attrs.get("latentprobe_format") not in (STATS_FORMAT, REPORT_FORMAT):
            raise StatsFileError(
                f"{self.path} was not written by latentprobe (no latentprobe_format "
                "attribute); run `latentprobe extract` first"
            )
        try:
            version = int(f.attrs["schema_version"])
        except (KeyError, TypeError, ValueError) as e:
            raise StatsFileError(f"{self.path} has no valid schema_version; re-extract it") from e
        if version > SCHEMA_VERSION:
            raise StatsFileError(
                f"{self.path} has schema version {version}, newer than this latentprobe "
                f"reads ({SCHEMA_VERSION}); upgrade latentprobe"
            )
        return version

    def __exit__(self, *exc):
        self.file.close()


# --------------------------------------------------------------------------- statistics


def _chunk_rows(row_shape: tuple, dtype) -> int:
    row_bytes = int(np.prod(row_shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    return max(1, CHUNK_BYTES // max(1, row_bytes))


class _Column:
    """A resizable dataset filled in whole chunks: rows wait in memory until a chunk is full
    (one HDF5 write per chunk instead of one per batch)."""

    def __init__(self, f: h5py.File, path: str, values: np.ndarray, description: str):
        tail = values.shape[1:]
        rows = _chunk_rows(tail, values.dtype)
        self.ds = f.create_dataset(
            path, (0, *tail), maxshape=(None, *tail), dtype=values.dtype, chunks=(rows, *tail)
        )
        self.ds.attrs["description"] = description
        self.pending, self.waiting = [], 0

    def append(self, values: np.ndarray) -> None:
        self.pending.append(values)
        self.waiting += len(values)
        if self.waiting >= self.ds.chunks[0]:
            self.flush()

    def flush(self) -> None:
        if not self.waiting:
            return
        start = self.ds.shape[0]
        self.ds.resize(start + self.waiting, axis=0)
        self.ds[start:] = np.concatenate(self.pending)
        self.pending, self.waiting = [], 0


class StatsWriter:
    """Appends posterior batches and labels to an open HDF5 file (plain, uncompressed,
    resizable datasets), then writes the prior and the root attributes."""

    def __init__(self, f: h5py.File):
        self.file = f
        self.columns: dict[str, _Column] = {}

    def _append(self, path: str, values: np.ndarray, description: str) -> None:
        if path not in self.columns:
            self.columns[path] = _Column(self.file, path, values, description)
        self.columns[path].append(values)

    def append(self, mu: np.ndarray, logvar: np.ndarray, labels: dict) -> None:
        self._append(MU, mu, MU_DESCRIPTION)
        self._append(LOGVAR, logvar, LOGVAR_DESCRIPTION)
        for name, y in labels.items():
            y = np.asarray(y)
            y = y.astype(np.float64 if y.dtype.kind == "f" else np.int64)
            self._append(f"{LABELS}/{name}", y, f"label set {name!r}")

    @property
    def n_units(self) -> int:
        return self.columns[MU].ds.shape[1]

    def finish(self, prior: Prior, provenance: dict, kind: str = STATS_FORMAT) -> None:
        for column in self.columns.values():
            column.flush()
        write_prior(self.file.require_group(PRIOR), prior)
        write_root_attrs(self.file, provenance, kind)


def write_prior(group: h5py.Group, prior: Prior) -> None:
    group.attrs["kind"] = prior.kind
    group.attrs["description"] = "prior p(z): mixture of diagonal Gaussians (K components)"
    group["weights"], group["means"], group["logvars"] = prior.weights, prior.means, prior.logvars


def read_prior(group: h5py.Group) -> Prior:
    return Prior.mixture(group["weights"][()], group["means"][()], group["logvars"][()])


def write_root_attrs(f: h5py.File, provenance: dict, kind: str) -> None:
    f.attrs["latentprobe_format"] = kind
    f.attrs["schema_version"] = SCHEMA_VERSION
    f.attrs["provenance"] = json.dumps(provenance, sort_keys=True, default=str)
    for key, value in provenance.items():
        if isinstance(value, str):
            value = str(value)  # torch.__version__ is a str subclass h5py cannot store
        elif not isinstance(value, (int, float, bool)):
            value = json.dumps(value, sort_keys=True, default=str)
        f.attrs[f"provenance.{key}"] = value


def _write_stats(f: h5py.File, stats: EncoderStats, kind: str = STATS_FORMAT) -> None:
    writer = StatsWriter(f)
    writer.append(stats.mu, stats.logvar, stats.labels)
    writer.finish(stats.prior, stats.provenance, kind)


def write_stats(stats: EncoderStats, path, *, force: bool = False) -> Path:
    """Write a stats file atomically; refuses to overwrite unless ``force``."""
    with atomic_path(path, force=force) as temp, h5py.File(temp, "w") as f:
        _write_stats(f, stats)
    return Path(path)


def _read_stats(f: h5py.File, path) -> EncoderStats:
    try:
        mu, logvar = f[MU][()], f[LOGVAR][()]
        labels = {name: ds[()] for name, ds in f.get(LABELS, {}).items()}
        prior = read_prior(f[PRIOR]) if PRIOR in f else Prior.standard_normal()
        provenance = json.loads(f.attrs.get("provenance", "{}"))
    except (KeyError, OSError, ValueError, TypeError) as e:
        raise StatsFileError(f"{path} is damaged or incomplete: {e}") from e
    try:
        return EncoderStats(mu, logvar, labels, prior, provenance)
    except (PosteriorError, PriorError, DataError) as e:
        raise StatsFileError(f"{path}: {e}; re-extract it with `latentprobe extract`") from e


def read_stats(path) -> EncoderStats:
    """Read a stats file (or the statistics inside a report) written by latentprobe."""
    with open_latentprobe_file(path) as f:
        return _read_stats(f, path)


# --------------------------------------------------------------------------- results


def _describe(attrs, prefix: str, metadata) -> None:
    for key in ("description", "units"):
        if metadata.get(key):
            attrs[f"{prefix}{key}"] = metadata[key]


def _write_field(group: h5py.Group, f: dataclasses.Field, value, kind: str) -> None:
    if kind == "array":
        group.create_dataset(f.name, data=value)
        _describe(group[f.name].attrs, "", f.metadata)
        return
    if kind == "results":
        sub = group.create_group(f.name)
        for key, item in value.items():
            write_result(sub.create_group(key), item)
    elif kind == "json":
        group.attrs[f.name] = json.dumps(value)
    else:
        group.attrs[f.name] = value
    _describe(group.attrs, f"{f.name}.", f.metadata)


def write_result(group: h5py.Group, result) -> None:
    """Write a frozen result: arrays as datasets, the rest as attributes, nested results
    as subgroups; ``field_kinds`` records how each field was stored."""
    kinds = field_kinds(type(result))
    group.attrs["result_type"] = type(result).__name__
    group.attrs["field_kinds"] = json.dumps(kinds)
    for f in dataclasses.fields(result):
        _write_field(group, f, getattr(result, f.name), kinds[f.name])


_SCALARS = {"float": float, "int": int, "bool": bool, "str": str}


def _read_field(group: h5py.Group, name: str, kind: str, cls: type, version: int):
    stored = RENAMED_SINCE_1.get(name, name) if version == 1 else name
    if kind == "array":
        return group[stored][()]
    if kind == "results":
        holder = group if version == 1 else group[stored]
        inner = nested_type(cls, name)
        return {key: read_result(sub, inner, version) for key, sub in holder.items()}
    value = group.attrs[stored]
    if kind == "json":
        return json.loads(value)
    return _SCALARS[kind](value.item() if isinstance(value, np.generic) else value)


def read_result(group: h5py.Group, cls: type, version: int = SCHEMA_VERSION):
    """Read a result written by ``write_result`` (or by schema 1, by annotation)."""
    kinds = field_kinds(cls)
    if version >= 2:
        kinds = {**kinds, **json.loads(group.attrs["field_kinds"])}
    values = {
        f.name: _read_field(group, f.name, kinds[f.name], cls, version)
        for f in dataclasses.fields(cls)
    }
    return cls(**values)


# --------------------------------------------------------------------------- verdict


def write_verdict(group: h5py.Group, verdict: Verdict, rule: str) -> None:
    group.attrs["model"] = verdict.model
    group.attrs["z_informative"] = json.dumps(verdict.z_informative)
    group.attrs["notes"] = json.dumps(list(verdict.notes))
    group.attrs["thresholds"] = json.dumps(dataclasses.asdict(verdict.thresholds))
    group.attrs["agreement"] = json.dumps(verdict.agreement)
    group.attrs["basis"] = json.dumps(verdict.basis)
    group.attrs["rule"] = rule
    group["unit_status"] = np.array(verdict.unit_status, dtype=h5py.string_dtype())


def _agreement(group: h5py.Group, version: int) -> dict:
    if version >= 2:
        return json.loads(group.attrs["agreement"])
    probes = json.loads(group.attrs.get("probe_evidence", "null"))
    return {} if probes is None else {"probes": probes}


def read_verdict(group: h5py.Group, version: int = SCHEMA_VERSION) -> Verdict:
    thresholds = json.loads(group.attrs["thresholds"])
    known = {f.name for f in dataclasses.fields(Thresholds)}
    return Verdict(
        str(group.attrs["model"]),
        json.loads(group.attrs["z_informative"]),
        tuple(group["unit_status"].asstr()[()]),
        Thresholds(**{k: v for k, v in thresholds.items() if k in known}),
        tuple(json.loads(group.attrs["notes"])),
        _agreement(group, version),
        json.loads(group.attrs.get("basis", "{}")),  # schema 1 did not record it
    )


# --------------------------------------------------------------------------- reports


def write_report_file(path, stats, results: dict, verdict, provenance, *, force=False, **info):
    """Write a report atomically. ``results`` maps a name to (description, result);
    ``info`` holds the verdict's ``rule`` text."""
    with atomic_path(path, force=force) as temp, h5py.File(temp, "w") as f:
        _write_stats(f, stats, kind=REPORT_FORMAT)
        for name, (description, result) in results.items():
            group = f.create_group(f"{ANALYSES}/{name}")
            group.attrs["description"] = description
            write_result(group, result)
        write_verdict(f.create_group(VERDICT), verdict, info.get("rule", ""))
        f.attrs["analysis_provenance"] = json.dumps(provenance, sort_keys=True, default=str)
    return Path(path)


def read_report_file(path, result_types: dict) -> tuple:
    """(stats, results, verdict, provenance) of a report; analyses whose name is not in
    ``result_types`` (written by a newer or extended latentprobe) are passed over."""
    with open_latentprobe_file(path) as opened:
        f = opened
        version = int(f.attrs["schema_version"])
        if VERDICT not in f:
            raise StatsFileError(
                f"{path} is a stats file, not a report; run `latentprobe analyze` on it"
            )
        stats = _read_stats(f, path)
        try:
            results = {
                name: read_result(group, result_types[name], version)
                for name, group in f.get(ANALYSES, {}).items()
                if name in result_types
            }
            verdict = read_verdict(f[VERDICT], version)
            provenance = json.loads(f.attrs.get("analysis_provenance", "{}"))
        except (KeyError, OSError, ValueError, TypeError) as e:
            raise StatsFileError(f"{path} is a damaged report: {e}") from e
    return stats, results, verdict, provenance


@contextmanager
def stats_file_writer(path, *, force: bool = False) -> Iterator[StatsWriter]:
    """A ``StatsWriter`` on a temporary file that becomes ``path`` when the block completes
    (and vanishes if it fails)."""
    with atomic_path(path, force=force) as temp, h5py.File(temp, "w") as f:
        yield StatsWriter(f)


def library_versions() -> dict:
    return {"h5py_version": h5py.__version__, "hdf5_version": h5py.version.hdf5_version}
