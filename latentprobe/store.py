"""The HDF5 store: the only module that knows latentprobe's file layout.

Layout (schema 3; see docs/report-format.md)::

    /                       attrs: latentprobe_format, schema_version, provenance (JSON), ...
    /encoder                attr family: the posterior family (``types.FAMILIES``)
    /encoder/mu, /logvar    (N, D) posterior means and marginal log-variances
    /encoder/scale_tril     (N, D, D) Cholesky factors (multivariate_normal only)
    /labels/<name>          (N,) label sets, optional
    /prior/weights|means|logvars
    /analyses/<name>        (reports) one group per analysis: attrs result_type, field_kinds
    /verdict                (reports) unit_status dataset; model, z_informative, ... attrs

Every result field is stored by its kind (``analyzers.result.field_kinds``), written in
the group's ``field_kinds`` attribute, so reading back never guesses. Schema 1 files (no
field kinds) are read by the result classes' annotations; schema 1 and 2 files (no family)
hold diagonal Gaussians. Schema 3 added the family: a reader of schema 2 would take any
posterior for a diagonal Gaussian, so it must refuse these files.
"""

from __future__ import annotations

import dataclasses
import json
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from . import memory
from .analyzers.result import dimension_names, field_kinds, nested_type
from .atomic import atomic_path, reserve
from .errors import DataError, OptionsError, PosteriorError, PriorError, StatsFileError
from .hdf5 import damage_as, declared_bytes, refuse_crashing, refuse_foreign
from .types import FAMILIES, EncoderStats, Prior
from .verdict import STATUS_COLOURS, Thresholds, Verdict

SCHEMA_VERSION = 3
STATS_FORMAT = "latentprobe-stats"
REPORT_FORMAT = "latentprobe-report"
ENCODER, LABELS, PRIOR = "encoder", "labels", "prior"
MU, LOGVAR, SCALE_TRIL = "encoder/mu", "encoder/logvar", "encoder/scale_tril"
ANALYSES, VERDICT = "analyses", "verdict"
TRAJECTORY_FORMAT = "latentprobe-trajectory"
FORMATS = (STATS_FORMAT, REPORT_FORMAT, TRAJECTORY_FORMAT)
CHUNK_BYTES = 2**20
#: Result fields renamed since schema 1: new name -> name in schema-1 files.
RENAMED_SINCE_1 = {"draws_per_example": "samples_per_example"}
#: Deepest nesting of a JSON attribute (provenance, verdict): latentprobe writes about 4.
MAX_JSON_DEPTH = 32

REEXTRACT = "re-extract it with `latentprobe extract`"

MU_DESCRIPTION = "posterior means E_q[z|x], one row per example"
LOGVAR_DESCRIPTION = (
    "log-variances log sigma^2 (natural log) of each unit's marginal posterior, one row per example"
)
SCALE_TRIL_DESCRIPTION = "Cholesky factors L of the posterior covariances L L^T, one per example"


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
        refuse_crashing(self.path, StatsFileError, "use an intact copy or re-extract it")
        try:
            self.file = h5py.File(self.path, "r")
        except OSError as e:
            raise StatsFileError(
                f"{self.path} is truncated or corrupt, or not HDF5 ({e}); re-extract it with "
                "`latentprobe extract`"
            ) from e
        try:
            with damage_as(StatsFileError, self.path, REEXTRACT):
                self.version = self._check(self.file)
                refuse_foreign(self.file, self.path, StatsFileError)
                refuse_oversized(self.file, self.path)
        except StatsFileError:
            self.file.close()
            raise
        return self.file

    def _check(self, f: h5py.File) -> int:
        if _attr(f, "latentprobe_format", self.path) not in FORMATS:
            raise StatsFileError(
                f"{self.path} was not written by latentprobe (no latentprobe_format "
                "attribute); run `latentprobe extract` first"
            )
        try:
            version = int(_attr(f, "schema_version", self.path))
        except (TypeError, ValueError) as e:
            raise StatsFileError(f"{self.path} has no valid schema_version; re-extract it") from e
        if version < 1:
            raise StatsFileError(f"{self.path} has no valid schema_version; re-extract it")
        if version > SCHEMA_VERSION:
            raise StatsFileError(
                f"{self.path} has schema version {version}, newer than this latentprobe "
                f"reads ({SCHEMA_VERSION}); upgrade latentprobe"
            )
        return version

    def __exit__(self, *exc):
        self.file.close()


def _attr(f: h5py.File, name: str, path):
    """A root attribute as a plain value (None when absent); arrays are refused."""
    value = f.attrs.get(name)
    if isinstance(value, np.ndarray):
        raise StatsFileError(f"{path}: attribute {name} is an array; re-extract it")
    return value.item() if isinstance(value, np.generic) else value


def refuse_oversized(f: h5py.File, path) -> None:
    """Refuse a file whose declared arrays would not fit in memory, before reading them."""
    remedy = "re-extract it, or analyse it where it fits"
    memory.refuse_unless_fits(declared_bytes(f), path, "arrays", StatsFileError, remedy)


def _nesting(value) -> int:
    """How deeply lists and dicts are nested in a parsed JSON value (without recursion)."""
    depth, level = 0, [value]
    while level:
        depth += 1
        level = [
            inner
            for item in level
            if isinstance(item, (dict, list))
            for inner in (item.values() if isinstance(item, dict) else item)
        ]
    return depth - 1


def _loads(text, kind: type = object):
    """``json.loads``; a value that is not a ``kind``, or nests deeper than
    ``MAX_JSON_DEPTH``, is a ValueError too."""
    value = json.loads(text)
    if not isinstance(value, kind):
        raise ValueError(f"a JSON {type(value).__name__} where a {kind.__name__} belongs")
    if _nesting(value) > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def read_json(text, path, what: str, kind: type = dict):
    """A JSON attribute parsed and checked to be a ``kind`` of bounded depth."""
    try:
        return _loads(text, kind)
    except (TypeError, ValueError, RecursionError) as e:
        raise StatsFileError(f"{path}: {what} is not usable JSON ({e}); re-extract it") from e


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


def reserved_file(temp: Path, path: Path, nbytes: int) -> h5py.File:
    """The temporary HDF5 file ``temp`` for the output ``path``, open for writing with room
    for about ``nbytes`` checked and allocated ahead (``atomic.reserve``)."""
    h5py.File(temp, "w").close()
    reserve(temp, path, nbytes)
    return h5py.File(temp, "r+")


class StatsWriter:
    """Appends posterior batches and labels to an HDF5 file (plain, uncompressed, resizable
    datasets), then writes the prior and the root attributes. The file is an open one, or
    made by ``create(nbytes)`` at the first batch, once the rows' size is known."""

    def __init__(self, f: h5py.File | None = None, *, create=None, rows: int | None = None):
        self.file, self.create, self.rows = f, create, rows
        self.columns: dict[str, _Column] = {}
        # set by the encoder loop: the encoder's layout and its posterior family
        self.latent_shape: tuple[int, ...] = ()
        self.family = "normal"

    def _open(self, row_bytes: int) -> None:
        if self.file is None:
            self.file = self.create((self.rows or 0) * row_bytes)

    def _append(self, path: str, values: np.ndarray, description: str) -> None:
        if path not in self.columns:
            self.columns[path] = _Column(self.file, path, values, description)
        self.columns[path].append(values)

    def append(self, mu: np.ndarray, logvar: np.ndarray, labels: dict, scale_tril=None) -> None:
        extra = 0 if scale_tril is None else scale_tril[:1].nbytes
        scale = 8  # the example dimension's scale: one int64 per row
        self._open(mu[:1].nbytes + logvar[:1].nbytes + extra + 8 * len(labels) + scale)
        self._append(MU, mu, MU_DESCRIPTION)
        self._append(LOGVAR, logvar, LOGVAR_DESCRIPTION)
        if scale_tril is not None:
            self._append(SCALE_TRIL, scale_tril, SCALE_TRIL_DESCRIPTION)
        for name, y in labels.items():
            y = np.asarray(y)
            y = y.astype(np.float64 if y.dtype.kind == "f" else np.int64)
            self._append(f"{LABELS}/{name}", y, f"label set {name!r}")

    @property
    def n_units(self) -> int:
        return self.columns[MU].ds.shape[1]

    def finish(self, prior: Prior, provenance: dict, kind: str = STATS_FORMAT) -> None:
        self._open(0)
        for column in self.columns.values():
            column.flush()
        self.file.require_group(ENCODER).attrs["family"] = self.family
        write_prior(self.file.require_group(PRIOR), prior)
        _stats_dimensions(self.file)
        write_root_attrs(self.file, provenance, kind)


def write_prior(group: h5py.Group, prior: Prior) -> None:
    group.attrs["kind"] = prior.kind
    group.attrs["description"] = "prior p(z): mixture of diagonal Gaussians (K components)"
    group["weights"], group["means"], group["logvars"] = prior.weights, prior.means, prior.logvars


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


def _write_stats(writer: StatsWriter, stats: EncoderStats, kind: str = STATS_FORMAT) -> None:
    writer.family = stats.family
    writer.append(stats.mu, stats.logvar, stats.labels, stats.scale_tril)
    writer.finish(stats.prior, stats.provenance, kind)


def write_stats(stats: EncoderStats, path, *, force: bool = False) -> Path:
    """Write a stats file atomically; refuses to overwrite unless ``force``, and refuses
    before writing when it cannot fit."""
    with stats_file_writer(path, force=force, rows=stats.n_examples) as writer:
        _write_stats(writer, stats)
    return Path(path)


def _dataset(f: h5py.File, key: str, path) -> h5py.Dataset:
    if not isinstance(f.get(key), h5py.Dataset):
        raise StatsFileError(f"{path} has no dataset /{key}; re-extract it")
    return f[key]


def _read_labels(f: h5py.File, path) -> dict[str, np.ndarray]:
    if LABELS in f and not isinstance(f[LABELS], h5py.Group):
        raise StatsFileError(f"{path}: /{LABELS} is not a group of label sets; re-extract it")
    sets = {name: _dataset(f, f"{LABELS}/{name}", path) for name in f.get(LABELS, {})}
    for name, ds in sets.items():
        if ds.ndim != 1:
            raise StatsFileError(f"{path}: label set {name!r} has shape {ds.shape}, not (N,)")
    return {name: ds[()] for name, ds in sets.items()}


def _read_prior(f: h5py.File, path) -> Prior:
    if PRIOR not in f:
        return Prior.standard_normal()
    parts = ("weights", "means", "logvars")
    return Prior.mixture(*(_dataset(f, f"{PRIOR}/{part}", path)[()] for part in parts))


def _read_posterior(f: h5py.File, path) -> dict:
    """The family (a name from ``FAMILIES``; a diagonal Gaussian in files without one)
    and, for a full covariance, its Cholesky factors."""
    family = f[ENCODER].attrs.get("family", "normal")
    if isinstance(family, bytes):
        family = family.decode("utf-8", "replace")
    if not isinstance(family, str) or family not in FAMILIES:
        raise StatsFileError(
            f"{path}: unknown posterior family {family!r} (this latentprobe reads "
            f"{', '.join(FAMILIES)}); {REEXTRACT}"
        )
    full = family == "multivariate_normal"
    return {"family": family, "scale_tril": _dataset(f, SCALE_TRIL, path)[()] if full else None}


def _read_stats(f: h5py.File, path) -> EncoderStats:
    try:
        with damage_as(StatsFileError, path, REEXTRACT):
            mu, logvar = _dataset(f, MU, path)[()], _dataset(f, LOGVAR, path)[()]
            labels, prior = _read_labels(f, path), _read_prior(f, path)
            provenance = read_json(_attr(f, "provenance", path) or "{}", path, "provenance")
            posterior = _read_posterior(f, path)
            return EncoderStats(mu, logvar, labels, prior, provenance, **posterior)
    except (PosteriorError, PriorError, DataError) as e:
        raise StatsFileError(f"{path}: {e}; {REEXTRACT}") from e


def file_kind(path) -> str:
    """The ``latentprobe_format`` of a latentprobe file (checked as on reading)."""
    with open_latentprobe_file(path) as f:
        return str(_attr(f, "latentprobe_format", path))


def _refuse_trajectory(f: h5py.File, path) -> None:
    if _attr(f, "latentprobe_format", path) == TRAJECTORY_FORMAT:
        raise StatsFileError(
            f"{path} is a trajectory (latentprobe track), not a stats file or report; "
            "read it with `latentprobe show`"
        )


def read_stats(path) -> EncoderStats:
    """Read a stats file (or the statistics inside a report) written by latentprobe."""
    with open_latentprobe_file(path) as f:
        _refuse_trajectory(f, path)
        return _read_stats(f, path)


# --------------------------------------------------------------------------- dimensions

#: What each dimension of the files indexes (its scale, a root dataset 0..size-1, says so).
DIMENSIONS = {
    "example": "example (row of the data), 0..N-1",
    "unit": "latent unit, 0..D-1 (flattened in C order for a (C, H, W) latent)",
    "unit_column": "column of a Cholesky factor (a latent unit)",
    "prior_component": "component of the prior mixture",
    "prior_unit": "unit of a prior component (1 when shared by every unit)",
    "kl_bin": "bin of the per-example KL histogram",
    "kl_edge": "edge of the KL histogram's bins",
    "iwae_checkpoint": "number of importance samples of the convergence table",
}


def _scale(f: h5py.File, name: str, size: int) -> h5py.Dataset:
    """The root dimension scale ``name`` of ``size`` entries (made when missing; a name
    taken at another size gets the size appended)."""
    if name in f and f[name].shape != (size,):
        name = f"{name}_{size}"
    if name not in f:
        f[name] = np.arange(size, dtype=np.int64)
        f[name].make_scale(name)
        base = name.rsplit("_", 1)[0] if name not in DIMENSIONS else name
        f[name].attrs["long_name"] = DIMENSIONS.get(base, f"axis {name}")
    return f[name]


def attach_dimensions(ds: h5py.Dataset, names: tuple[str, ...]) -> None:
    """Name each axis of ``ds`` by a root dimension scale (netCDF-4 readers and xarray see
    named dimensions)."""
    for axis, (name, size) in enumerate(zip(names, ds.shape, strict=True)):
        ds.dims[axis].attach_scale(_scale(ds.file, name, size))


def _stats_dimensions(f: h5py.File) -> None:
    layout = {
        MU: ("example", "unit"),
        LOGVAR: ("example", "unit"),
        SCALE_TRIL: ("example", "unit", "unit_column"),
        f"{PRIOR}/weights": ("prior_component",),
        f"{PRIOR}/means": ("prior_component", "prior_unit"),
        f"{PRIOR}/logvars": ("prior_component", "prior_unit"),
    }
    for path, names in layout.items():
        if path in f:
            attach_dimensions(f[path], names)
    for name, ds in f.get(LABELS, {}).items():
        attach_dimensions(ds, ("example", *(f"label_{name}_axis{i}" for i in range(1, ds.ndim))))


# --------------------------------------------------------------------------- results


def _describe(attrs, prefix: str, metadata) -> None:
    for key in ("description", "units"):
        if metadata.get(key):
            attrs[f"{prefix}{key}"] = metadata[key]


def _write_field(group: h5py.Group, f: dataclasses.Field, value, kind: str) -> None:
    if kind == "array":
        group.create_dataset(f.name, data=value)
        _describe(group[f.name].attrs, "", f.metadata)
        attach_dimensions(group[f.name], dimension_names(f, np.ndim(value)))
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
        return _loads(value)
    return _SCALARS[kind](value.item() if isinstance(value, np.generic) else value)


def _check_kinds(declared: dict, stored: dict) -> None:
    """Raise ValueError unless every field is stored as its class declares it."""
    for name, kind in declared.items():
        if stored.get(name, kind) != kind:
            raise ValueError(f"field {name!r} stored as {stored[name]!r}, not {kind!r}")


def read_result(group: h5py.Group, cls: type, version: int = SCHEMA_VERSION):
    """Read a result written by ``write_result`` (or by schema 1, by annotation)."""
    kinds = field_kinds(cls)
    if version >= 2:
        _check_kinds(kinds, _loads(group.attrs["field_kinds"], dict))
    values = {
        f.name: _read_field(group, f.name, kinds[f.name], cls, version)
        for f in dataclasses.fields(cls)
        if _stored(group, f, kinds[f.name], version)
    }
    return cls(**values)


def _stored(group: h5py.Group, f: dataclasses.Field, kind: str, version: int) -> bool:
    """Whether the file holds the field; a field added after the file was written, with a
    default, is absent and reads as its default (one without a default must be there)."""
    has_default = (
        f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    )
    if not has_default:
        return True
    name = RENAMED_SINCE_1.get(f.name, f.name) if version == 1 else f.name
    return name in (group if kind in ("array", "results") else group.attrs)


# --------------------------------------------------------------------------- verdict


def write_verdict(group: h5py.Group, verdict: Verdict, rule: str) -> None:
    group.attrs["model"] = verdict.model
    group.attrs["z_informative"] = json.dumps(verdict.z_informative)
    group.attrs["notes"] = json.dumps(list(verdict.notes))
    group.attrs["thresholds"] = json.dumps(dataclasses.asdict(verdict.thresholds))
    group.attrs["agreement"] = json.dumps(verdict.agreement)
    group.attrs["basis"] = json.dumps(verdict.basis)
    group.attrs["decoder_uses_z"] = json.dumps(verdict.decoder_uses_z)
    group.attrs["rule"] = rule
    group["unit_status"] = np.array(verdict.unit_status, dtype=h5py.string_dtype())
    attach_dimensions(group["unit_status"], ("unit",))


def _agreement(group: h5py.Group, version: int) -> dict:
    if version >= 2:
        return _loads(group.attrs["agreement"], dict)
    probes = _loads(group.attrs.get("probe_evidence", "null"))
    return {} if probes is None else {"probes": probes}


def _read_thresholds(group: h5py.Group) -> Thresholds:
    thresholds = _loads(group.attrs["thresholds"], dict)
    known = {f.name for f in dataclasses.fields(Thresholds)}
    try:
        return Thresholds(**{k: v for k, v in thresholds.items() if k in known})
    except OptionsError as e:
        raise ValueError(f"thresholds: {e}") from e


def read_verdict(group: h5py.Group, version: int = SCHEMA_VERSION) -> Verdict:
    return Verdict(
        str(group.attrs["model"]),
        _loads(group.attrs["z_informative"]),
        tuple(group["unit_status"].asstr()[()]),
        _read_thresholds(group),
        tuple(_loads(group.attrs["notes"], list)),
        _agreement(group, version),
        _loads(group.attrs.get("basis", "{}"), dict),  # schema 1 did not record it
        _loads(group.attrs.get("decoder_uses_z", "null")),  # older reports: no decoder analysis
    )


# --------------------------------------------------------------------------- reports


def _nbytes(result) -> int:
    """Bytes of the arrays a result holds (nested results included)."""
    total = 0
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if isinstance(value, np.ndarray):
            total += value.nbytes
        elif isinstance(value, dict):
            total += sum(_nbytes(v) for v in value.values() if dataclasses.is_dataclass(v))
    return total


def write_report_file(path, stats, results: dict, verdict, provenance, *, force=False, **info):
    """Write a report atomically. ``results`` maps a name to (description, result);
    ``info`` holds the verdict's ``rule`` text."""
    arrays = [stats.mu, stats.logvar, *stats.labels.values()]
    arrays += [] if stats.scale_tril is None else [stats.scale_tril]
    nbytes = sum(a.nbytes for a in arrays) + sum(_nbytes(r) for _, r in results.values())
    nbytes += 8 * (stats.n_examples + stats.n_units)  # the dimension scales
    with atomic_path(path, force=force) as temp, reserved_file(temp, Path(path), nbytes) as f:
        _write_stats(StatsWriter(f), stats, kind=REPORT_FORMAT)
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
    opened = open_latentprobe_file(path)
    with opened as f:
        _refuse_trajectory(f, path)
        if VERDICT not in f:
            raise StatsFileError(
                f"{path} is a stats file, not a report; run `latentprobe analyze` on it"
            )
        stats = _read_stats(f, path)
        with damage_as(StatsFileError, path, "re-run `latentprobe analyze`"):
            results = {
                name: read_result(group, result_types[name], opened.version)
                for name, group in f.get(ANALYSES, {}).items()
                if name in result_types
            }
            verdict = read_verdict(f[VERDICT], opened.version)
            provenance = _loads(f.attrs.get("analysis_provenance", "{}"), dict)
            _check_report(stats, results, verdict)
    return stats, results, verdict, provenance


def _check_report(stats: EncoderStats, results: dict, verdict: Verdict) -> None:
    """Raise ValueError unless the results and the verdict fit the statistics."""
    for result in results.values():
        _check_result(result, {"unit": stats.n_units, "example": stats.n_examples})
    if (
        len(verdict.unit_status) != stats.n_units
        or set(verdict.unit_status) - STATUS_COLOURS.keys()
    ):
        raise ValueError(f"the verdict's unit statuses do not fit {stats.n_units} units")
    if verdict.z_informative not in (True, False, None):
        raise ValueError("the verdict's z_informative is not true, false or null")
    if verdict.decoder_uses_z not in (True, False, None):
        raise ValueError("the verdict's decoder_uses_z is not true, false or null")


def _check_result(result, rows: dict) -> None:
    """Raise ValueError unless every array field holds numbers, one value per unit or one
    row per example where its ``per`` says so, and the result's own ``check`` passes (nested
    results too)."""
    for f in dataclasses.fields(result):
        value, kind = getattr(result, f.name), field_kinds(type(result))[f.name]
        if kind == "results":
            for inner in value.values():
                _check_result(inner, rows)
        elif kind == "array" and not _fits(value, f.metadata["per"], rows):
            raise ValueError(f"{f.name} has shape {value.shape} and type {value.dtype}")
    result.check()


def _fits(value: np.ndarray, per: str, rows: dict) -> bool:
    if value.dtype.kind not in "biuf":
        return False
    if per == "unit":
        return value.shape == (rows["unit"],)
    return per != "example" or value.shape[:1] == (rows["example"],)


@contextmanager
def stats_file_writer(path, *, force: bool = False, rows: int | None = None):
    """A ``StatsWriter`` on a temporary file that becomes ``path`` when the block completes
    (and vanishes if it fails). With ``rows`` (N, when known) the room for the file is
    checked and allocated at the first batch, before anything is written."""
    with atomic_path(path, force=force) as temp:
        writer = StatsWriter(
            create=lambda nbytes: reserved_file(temp, Path(path), nbytes), rows=rows
        )
        try:
            yield writer
        finally:
            if writer.file is not None:
                writer.file.close()


def library_versions() -> dict:
    return {"h5py_version": h5py.__version__, "hdf5_version": h5py.version.hdf5_version}


# --------------------------------------------------------------------------- trajectories


def _strings(group: h5py.Group, name: str, values, dims: tuple[str, ...]) -> None:
    group[name] = np.array(values, dtype=h5py.string_dtype())
    attach_dimensions(group[name], dims)


def _series(group: h5py.Group, name: str, values, dims: tuple[str, ...], **attrs) -> None:
    group[name] = values
    attach_dimensions(group[name], dims)
    group[name].attrs.update({k: v for k, v in attrs.items() if v is not None})


def write_trajectory_file(path, trajectory, *, force: bool = False) -> Path:
    """Write a trajectory atomically: one row per checkpoint on the ``step`` dimension
    (its scale holds the training steps), per-unit series on (step, unit)."""
    t = trajectory
    arrays = [c["values"] for c in t.per_unit.values()]
    arrays += [c["stderr"] for c in t.per_unit.values() if c["stderr"] is not None]
    nbytes = sum(a.nbytes for a in arrays) + 64 * t.status.size + 2**16 * len(t.steps)
    with atomic_path(path, force=force) as temp, reserved_file(temp, Path(path), nbytes) as f:
        f["step"] = np.asarray(t.steps, dtype=np.int64)
        f["step"].make_scale("step")
        f["step"].attrs["long_name"] = f"{t.axis_label} of each checkpoint"
        f["step"].attrs["axis"] = t.axis
        checkpoints = f.create_group("checkpoints")
        _strings(checkpoints, "path", t.paths, ("step",))
        _strings(checkpoints, "sha256", t.sha256, ("step",))
        _strings(checkpoints, "verdict", t.verdicts, ("step",))
        _series(checkpoints, "epoch", t.epochs, ("step",), description="-1 where unknown")
        _series(checkpoints, "n_examples", t.n_examples, ("step",), description="examples")
        counts = f.create_group("counts")
        for status, values in t.counts.items():
            _series(counts, status, values, ("step",), description=f"units {status}")
        for key, e in t.estimates.items():
            group = f.create_group(f"estimates/{key}")
            group.attrs.update(title=e["title"], units=e["units"])
            for name, stored in (("value", "value"), ("stderr", "stderr"), ("low", "ci95_low")):
                _series(group, stored, e[name], ("step",), units=e["units"])
            _series(group, "ci95_high", e["high"], ("step",), units=e["units"])
        per_unit = f.create_group("per_unit")
        for key, column in t.per_unit.items():
            _series(
                per_unit,
                key,
                column["values"],
                ("step", "unit"),
                description=column["label"],
                title=column["title"],
            )
            if column["stderr"] is not None:
                _series(per_unit, f"{key}_stderr", column["stderr"], ("step", "unit"))
        _strings(per_unit, "status", t.status.tolist(), ("step", "unit"))
        collapse = [-1 if s is None else s for s in t.collapse_step]
        _series(
            f.create_group("derived"),
            "collapse_step",
            np.array(collapse, dtype=np.int64),
            ("unit",),
            description="first step from which on the unit stays collapsed; -1: never",
        )
        f["derived"].attrs["peak_mi_step"] = -1 if t.peak_step is None else t.peak_step
        write_root_attrs(f, t.provenance, TRAJECTORY_FORMAT)
    return Path(path)


def _strings_of(ds: h5py.Dataset) -> list[str]:
    return [str(v) for v in ds.asstr()[()]]


def _trajectory_axis(f: h5py.File, path) -> str:
    from .trajectory import AXES

    axis = str(f["step"].attrs.get("axis", "step"))
    if axis not in AXES:
        raise StatsFileError(
            f"{path}: the step axis says it counts {axis!r}, not one of {', '.join(AXES)}; "
            "re-run `latentprobe track`"
        )
    return axis


def read_trajectory_file(path):
    """Read a trajectory written by ``write_trajectory_file``."""
    from .trajectory import Trajectory

    with open_latentprobe_file(path) as f:
        if _attr(f, "latentprobe_format", path) != TRAJECTORY_FORMAT:
            raise StatsFileError(f"{path} is not a trajectory; make one with `latentprobe track`")
        with damage_as(StatsFileError, path, "re-run `latentprobe track`"):
            estimates = {}
            for key, group in f["estimates"].items():
                estimates[key] = dict(
                    title=str(group.attrs["title"]), units=str(group.attrs["units"])
                )
                for name, stored in (
                    ("value", "value"),
                    ("stderr", "stderr"),
                    ("low", "ci95_low"),
                    ("high", "ci95_high"),
                ):
                    estimates[key][name] = group[stored][()]
            per_unit = {}
            columns = f["per_unit"]
            for key, ds in columns.items():
                if key == "status" or key.endswith("_stderr"):
                    continue
                stderr = columns[f"{key}_stderr"][()] if f"{key}_stderr" in columns else None
                per_unit[key] = dict(
                    title=str(ds.attrs.get("title", key)),
                    label=str(ds.attrs.get("description", key)),
                    values=ds[()],
                    stderr=stderr,
                )
            status = np.array(columns["status"].asstr()[()], dtype=object)
            return Trajectory(
                steps=f["step"][()],
                axis=_trajectory_axis(f, path),
                epochs=f["checkpoints/epoch"][()],
                paths=_strings_of(f["checkpoints/path"]),
                sha256=_strings_of(f["checkpoints/sha256"]),
                verdicts=_strings_of(f["checkpoints/verdict"]),
                counts={k: v[()] for k, v in f["counts"].items()},
                estimates=estimates,
                per_unit=per_unit,
                status=status,
                n_examples=f["checkpoints/n_examples"][()],
                provenance=_loads(f.attrs.get("provenance", "{}"), dict),
            )
