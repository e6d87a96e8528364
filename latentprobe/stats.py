"""The encoder statistics and their HDF5 store.

Layout (see docs/report-format.md)::

    /                     attrs: latentprobe_format, schema_version, provenance (JSON), ...
    /encoder/mu           (N, D) posterior means, in the encoder's precision (float32/64)
    /encoder/logvar       (N, D) posterior log-variances log sigma^2, same precision
    /labels/<name>        (N,) label sets, optional
    /prior/weights        (K,)   mixture weights (K = 1 for a Gaussian prior)
    /prior/means          (K, D)
    /prior/logvars        (K, D)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .atomic import atomic_path

try:  # Intel ISA-L's deflate: the same zlib stream as the standard library's, ~15x faster
    from isal import isal_zlib as zlib
except ImportError:  # pragma: no cover - isal is a dependency; stdlib zlib still works
    import zlib
from .errors import AnalysisError, StatsFileError

SCHEMA_VERSION = 1
STATS_FORMAT = "latentprobe-stats"
REPORT_FORMAT = "latentprobe-report"
_CHUNK_ROWS = 4096


@dataclass(frozen=True)
class Prior:
    """A mixture of diagonal Gaussians; K = 1 is a diagonal Gaussian prior.

    ``means`` and ``logvars`` have shape (K, D) or (K, 1) (one value for every unit).
    """

    weights: np.ndarray
    means: np.ndarray
    logvars: np.ndarray

    @classmethod
    def standard_normal(cls) -> Prior:
        return cls.diagonal(0.0, 0.0)

    @classmethod
    def diagonal(cls, mean, logvar) -> Prior:
        mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        logvar = np.atleast_1d(np.asarray(logvar, dtype=np.float64))
        return cls.mixture([1.0], mean[None, :], logvar[None, :])

    @classmethod
    def mixture(cls, weights, means, logvars) -> Prior:
        weights = np.asarray(weights, dtype=np.float64)
        means = np.atleast_2d(np.asarray(means, dtype=np.float64))
        logvars = np.atleast_2d(np.asarray(logvars, dtype=np.float64))
        if weights.ndim != 1 or len(weights) != len(means) or len(means) != len(logvars):
            raise AnalysisError(
                f"prior needs K weights and (K, D) means and logvars, got "
                f"{weights.shape}, {means.shape}, {logvars.shape}"
            )
        if (weights <= 0).any() or not np.isclose(weights.sum(), 1.0):
            raise AnalysisError("prior weights must be positive and sum to 1")
        for name, arr in (("means", means), ("logvars", logvars)):
            if not np.isfinite(arr).all():
                raise AnalysisError(f"prior {name} must be finite")
        return cls(weights, means, logvars)

    @property
    def kind(self) -> str:
        if len(self.weights) > 1:
            return "mixture_of_diagonal_gaussians"
        if not self.means.any() and not self.logvars.any():
            return "standard_normal"
        return "diagonal_gaussian"

    @property
    def is_gaussian(self) -> bool:
        return len(self.weights) == 1

    def check_fits(self, n_units: int) -> None:
        """Raise unless the prior has one value, or one per unit, for ``n_units`` units."""
        if self.means.shape[1] not in (1, n_units) or self.logvars.shape[1] not in (1, n_units):
            raise AnalysisError(
                f"the prior has {self.means.shape[1]} units but the encoder has {n_units}; "
                "give one value, or one per unit, to --prior-mean/--prior-logvar"
            )

    def expanded(self, n_units: int) -> Prior:
        """The prior with (K, n_units) means and logvars."""
        self.check_fits(n_units)
        shape = (len(self.weights), n_units)
        return Prior(
            self.weights,
            np.broadcast_to(self.means, shape).copy(),
            np.broadcast_to(self.logvars, shape).copy(),
        )

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "components": len(self.weights),
            "mean": self.means.tolist() if self.kind != "standard_normal" else 0.0,
            "logvar": self.logvars.tolist() if self.kind != "standard_normal" else 0.0,
        }

    def write(self, group: h5py.Group) -> None:
        group.attrs["kind"] = self.kind
        group.attrs["description"] = "prior p(z): mixture of diagonal Gaussians (K components)"
        group["weights"], group["means"], group["logvars"] = self.weights, self.means, self.logvars

    @classmethod
    def read(cls, group: h5py.Group) -> Prior:
        return cls.mixture(group["weights"][()], group["means"][()], group["logvars"][()])


@dataclass(frozen=True)
class EncoderStats:
    """Posterior parameters of every example, with labels, the prior and provenance.

    ``mu`` and ``logvar`` are float64 arrays of shape (N, D); ``labels`` maps a label-set
    name to an array of shape (N,).
    """

    mu: np.ndarray
    logvar: np.ndarray
    labels: dict = field(default_factory=dict)
    prior: Prior = field(default_factory=Prior.standard_normal)
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        validate_posteriors(self.mu, self.logvar)
        self.prior.check_fits(self.mu.shape[1])
        # analyses work in float64 whatever precision the encoder had
        object.__setattr__(self, "mu", np.asarray(self.mu, dtype=np.float64))
        object.__setattr__(self, "logvar", np.asarray(self.logvar, dtype=np.float64))
        for name, y in self.labels.items():
            if len(y) != len(self.mu):
                raise StatsFileError(
                    f"labels {name!r} have {len(y)} entries for {len(self.mu)} examples"
                )

    @property
    def n_examples(self) -> int:
        return self.mu.shape[0]

    @property
    def n_units(self) -> int:
        return self.mu.shape[1]

    def save(self, path, *, force: bool = False) -> Path:
        """Write a stats file atomically; refuses to overwrite unless ``force``."""
        with atomic_path(path, force=force) as temp, h5py.File(temp, "w") as f:
            write_stats(f, self)
        return Path(path)

    @classmethod
    def load(cls, path) -> EncoderStats:
        """Read a stats file (or the statistics inside a report) written by latentprobe."""
        with open_latentprobe_file(path) as f:
            return read_stats(f, path)


def validate_posteriors(mu, logvar) -> None:
    """Raise unless mu and logvar are finite arrays of the same shape (N, D), N >= 1."""
    mu_shape, lv_shape = np.shape(mu), np.shape(logvar)
    if mu_shape != lv_shape or len(mu_shape) != 2:
        raise StatsFileError(
            f"expected mu and logvar of the same shape (N, D), got {mu_shape} and {lv_shape}"
        )
    if mu_shape[0] == 0 or mu_shape[1] == 0:
        raise StatsFileError(f"no examples or no units: mu has shape {mu_shape}")
    for name, arr in (("mu", mu), ("logvar", logvar)):
        if (where := first_non_finite(arr)) is not None:
            row, col = where
            raise StatsFileError(
                f"{name} is not finite at example {row}, unit {col}: {arr[row, col]}"
            )


def first_non_finite(arr: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first NaN or infinity in a 2-D array, or None."""
    bad = ~np.isfinite(arr)
    if not bad.any():
        return None
    row, col = np.argwhere(bad)[0]
    return int(row), int(col)


# --------------------------------------------------------------------------- HDF5


_GZIP_LEVEL = 1


def _resizable(group: h5py.Group, name: str, shape_tail: tuple, dtype, description: str):
    chunk = (_CHUNK_ROWS, *shape_tail)
    ds = group.create_dataset(
        name,
        shape=(0, *shape_tail),
        maxshape=(None, *shape_tail),
        dtype=dtype,
        chunks=chunk,
        shuffle=True,
        compression="gzip",
        compression_opts=_GZIP_LEVEL,
    )
    ds.attrs["description"] = description
    return ds


class ChunkAppender:
    """Appends rows to a resizable (shuffle + gzip) dataset one whole chunk at a time.

    Each chunk is byte-shuffled and deflated here, the way HDF5's own shuffle and gzip
    filters would, and stored with ``write_direct_chunk``: deflating outside HDF5 lets us use
    ISA-L (and release the GIL, so a writer thread does not stall the encoder). The file is
    an ordinary shuffle + gzip HDF5 file to every reader.
    """

    def __init__(self, ds: h5py.Dataset):
        self.ds = ds
        self.buffer = np.empty(ds.chunks, dtype=ds.dtype)
        self.filled = 0
        self.rows = 0

    def append(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=self.ds.dtype)
        while len(values):
            take = min(len(values), len(self.buffer) - self.filled)
            self.buffer[self.filled : self.filled + take] = values[:take]
            self.filled += take
            values = values[take:]
            if self.filled == len(self.buffer):
                self._flush()

    def close(self) -> None:
        if self.filled:
            self.buffer[self.filled :] = 0  # an edge chunk is stored whole, padded
            self._flush()

    def _flush(self) -> None:
        start = self.rows
        self.rows += self.filled
        self.ds.resize(self.rows, axis=0)
        shuffled = self.buffer.view(np.uint8).reshape(-1, self.buffer.itemsize).T
        payload = zlib.compress(np.ascontiguousarray(shuffled), _GZIP_LEVEL)
        self.ds.id.write_direct_chunk((start,) + (0,) * (self.buffer.ndim - 1), payload)
        self.filled = 0


MU_DESCRIPTION = "posterior means E_q[z|x], one row per example"
LOGVAR_DESCRIPTION = "posterior log-variances log sigma^2 (natural log), one row per example"


class StatsSink:
    """Streams posterior batches and labels into an open HDF5 file."""

    def __init__(self, f: h5py.File):
        self.file = f
        self.encoder = f.require_group("encoder")
        self.labels = f.require_group("labels")
        self.appenders: dict[str, ChunkAppender] = {}

    def _appender(self, group, name, values: np.ndarray, dtype, description) -> ChunkAppender:
        key = f"{group.name}/{name}"
        if key not in self.appenders:
            ds = _resizable(group, name, values.shape[1:], dtype, description)
            self.appenders[key] = ChunkAppender(ds)
        return self.appenders[key]

    def append(self, mu: np.ndarray, logvar: np.ndarray, labels: dict) -> None:
        self._appender(self.encoder, "mu", mu, mu.dtype, MU_DESCRIPTION).append(mu)
        self._appender(self.encoder, "logvar", logvar, logvar.dtype, LOGVAR_DESCRIPTION).append(
            logvar
        )
        for name, y in labels.items():
            y = np.asarray(y)
            dtype = np.float64 if y.dtype.kind == "f" else np.int64
            self._appender(self.labels, name, y, dtype, f"label set {name!r}").append(y)

    def finish(self, prior: Prior, provenance: dict, kind: str = STATS_FORMAT) -> None:
        for appender in self.appenders.values():
            appender.close()
        prior.write(self.file.require_group("prior"))
        write_root_attrs(self.file, provenance, kind)


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


def write_stats(f: h5py.File, stats: EncoderStats, kind: str = STATS_FORMAT) -> None:
    sink = StatsSink(f)
    sink.append(stats.mu, stats.logvar, stats.labels)
    sink.finish(stats.prior, stats.provenance, kind)


class open_latentprobe_file:
    """Open a latentprobe HDF5 file for reading, with one-line errors for foreign files."""

    def __init__(self, path):
        self.path = Path(path)

    def __enter__(self) -> h5py.File:
        if not self.path.is_file():
            raise StatsFileError(f"stats file not found: {self.path}")
        try:
            self.file = h5py.File(self.path, "r")
        except Exception as e:  # noqa: BLE001
            raise StatsFileError(
                f"{self.path} is not a readable HDF5 file (truncated or corrupt?): {e}"
            ) from e
        kind = self.file.attrs.get("latentprobe_format")
        version = self.file.attrs.get("schema_version")
        if kind not in (STATS_FORMAT, REPORT_FORMAT):
            self.file.close()
            raise StatsFileError(
                f"{self.path} was not written by latentprobe (no "
                "latentprobe_format attribute); run `latentprobe extract` first"
            )
        if int(version) > SCHEMA_VERSION:
            self.file.close()
            raise StatsFileError(
                f"{self.path} has schema version {version}, newer than this "
                f"latentprobe reads ({SCHEMA_VERSION}); upgrade latentprobe"
            )
        return self.file

    def __exit__(self, *exc):
        self.file.close()


def read_stats(f: h5py.File, path) -> EncoderStats:
    try:
        mu, logvar = f["encoder/mu"][()], f["encoder/logvar"][()]
        labels = {name: ds[()] for name, ds in f.get("labels", {}).items()}
        prior = Prior.read(f["prior"]) if "prior" in f else Prior.standard_normal()
        provenance = json.loads(f.attrs.get("provenance", "{}"))
    except (KeyError, OSError, ValueError) as e:
        raise StatsFileError(f"{path} is damaged or incomplete: {e}") from e
    return EncoderStats(mu, logvar, labels, prior, provenance)
