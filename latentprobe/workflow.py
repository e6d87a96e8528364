"""One library function per command-line verb, on typed specifications.

``extract_file`` is ``latentprobe extract``; ``analyze_source`` is ``latentprobe analyze``
(a checkpoint or a stats/report file in, a ``Report`` out). They decide what to read (the
zoo checkpoint's dataset, whether the analyses will use the inputs x), read it once, and
hand over to ``extraction`` and ``report``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import checkpoints, data, decoders, memory, registry, store, trajectory
from .atomic import check_output_path
from .checkpoints import LoadedModel
from .data import DataSource
from .errors import (
    ArchitectureError,
    CheckpointError,
    DataError,
    DecoderOutputError,
    OptionsError,
)
from .extraction import DEFAULTS as ENCODE_DEFAULTS
from .extraction import EncodeOptions, extract, extract_to_file, resolve_device
from .progress import bar, shown
from .report import Report, analyze
from .types import EncoderStats, Prior
from .verdict import Thresholds
from .version import __version__

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
HDF5_SUFFIXES = (".h5", ".hdf5")


@dataclass(frozen=True)
class ModelSpec:
    """A checkpoint and how to build and call its encoder."""

    path: Path
    arch: str | None = None
    arch_kwargs: dict = field(default_factory=dict)
    trust_checkpoint: bool = False
    encode: str | None = None  # module:function called as function(model, x)
    state_dict_key: str | None = None  # where in a checkpoint dict the weights are
    encode_method: str | None = None  # a method of the model called as method(x)
    likelihood: str | None = None  # how to score x given decode(z): decoders.LIKELIHOODS
    log_likelihood: str | None = None  # module:function called as function(model, x, z)


@dataclass(frozen=True)
class DataSpec:
    """A ``--data`` spec and how to read it (None: the checkpoint's own dataset; a
    DataSource: data already opened, see ``opened``)."""

    spec: str | DataSource | None = None
    x_key: str | None = None
    labels_keys: tuple[str, ...] = ()
    input_shape: tuple[int, ...] | None = None
    encoder_inputs: tuple[str, ...] = ()

    def open(self, fallback: str | None = None) -> DataSource:
        spec = self.spec or fallback
        if spec is None:
            raise OptionsError("no --data given and the checkpoint names no dataset")
        return data.open_data(
            spec,
            x_key=self.x_key,
            labels_keys=self.labels_keys,
            input_shape=self.input_shape,
            encoder_inputs=self.encoder_inputs,
        )

    def opened(self) -> DataSpec:
        """The data opened and hashed now, for a series of checkpoints that all read it
        (an .npz or .pt is read into memory once; .npy and HDF5 files stream from disk
        for each checkpoint, their hash computed once). Without --data, unchanged: each
        zoo checkpoint names its own dataset."""
        if self.spec is None or isinstance(self.spec, DataSource):
            return self
        return DataSpec(self.open().hashed())


@dataclass(frozen=True)
class PriorSpec:
    """A prior from options: a file (mixture), or a diagonal mean/log-variance (one number
    or one per unit); None everywhere keeps the prior already recorded (standard normal)."""

    mean: float | tuple[float, ...] | None = None
    logvar: float | tuple[float, ...] | None = None
    file: Path | None = None

    def resolve(self) -> Prior | None:
        if self.file is not None:
            return data.read_prior_file(self.file)
        if self.mean is None and self.logvar is None:
            return None
        return Prior.diagonal(
            0.0 if self.mean is None else self.mean, 0.0 if self.logvar is None else self.logvar
        )


def zoo_dataset(loaded: LoadedModel) -> str | None:
    """The dataset a zoo checkpoint names, only from the built-in table: a name read from a
    file never becomes an import."""
    if loaded.dataset is None or loaded.dataset in data.BUILTIN:
        return loaded.dataset
    raise CheckpointError(
        f"{loaded.files[0]} names dataset {loaded.dataset!r}, which is not a built-in "
        f"({', '.join(data.BUILTIN)}); pass --data"
    )


def load_checkpoint(model: ModelSpec, path=None) -> LoadedModel:
    """The checkpoint at ``path`` (default ``model.path``), built as ``model`` says."""
    return checkpoints.load_model(
        model.path if path is None else path,
        arch=model.arch,
        arch_kwargs=model.arch_kwargs,
        trust_checkpoint=model.trust_checkpoint,
        state_dict_key=model.state_dict_key,
    )


def load(model: ModelSpec, data_spec: DataSpec) -> tuple[LoadedModel, DataSource]:
    """Load the checkpoint and open its data."""
    loaded = load_checkpoint(model)
    if data_spec.spec is not None:  # the user's --data wins; the file's name is not read
        return loaded, data_spec.open()
    return loaded, data_spec.open(fallback=zoo_dataset(loaded))


def encode_function(spec: str | None, method: str | None = None):
    """The --encode function, or a call of the model's --encode-method, or None."""
    if spec is not None and method is not None:
        raise OptionsError("give --encode or --encode-method, not both")
    if method is not None:
        return _method_caller(method)
    if spec is None:
        return None
    return data.import_from_spec(spec, "--encode", error=ArchitectureError)


def _method_caller(name: str):
    def call(model, x):
        method = getattr(model, name, None)
        if not callable(method) or name.startswith("_"):
            raise ArchitectureError(
                f"{type(model).__name__} has no public method {name!r}; check --encode-method"
            )
        if isinstance(x, dict):  # with --encoder-inputs: method(x, lengths, ...)
            return method(x["x"], *(v for k, v in x.items() if k != "x"))
        return method(x)

    return call


def _encoding(model: ModelSpec, encoding: EncodeOptions, prior, seed, progress, provenance):
    return dict(
        **dataclasses.asdict(encoding),
        encode=encode_function(model.encode, model.encode_method),
        prior=prior,
        seed=seed,
        progress=progress,
        provenance=provenance,
    )


def extract_file(
    model: ModelSpec,
    data_spec: DataSpec,
    output,
    *,
    encoding: EncodeOptions = ENCODE_DEFAULTS,
    prior: PriorSpec = PriorSpec(),
    seed: int = 0,
    force: bool = False,
    progress: bool = False,
    provenance: dict | None = None,
) -> Path:
    """``latentprobe extract``: stream a checkpoint's statistics over its data to a file."""
    loaded, source = load(model, data_spec)
    settings = _encoding(model, encoding, prior.resolve(), seed, progress, provenance)
    return extract_to_file(loaded, source, output, force=force, **settings)


def is_hdf5(path) -> bool:
    """Whether the file ``path`` is meant as a stats or report file: it has an HDF5 suffix
    (even when empty or truncated, so that it is reported as a broken stats file rather than
    a checkpoint), or starts with the HDF5 signature."""
    if Path(path).is_file() and Path(path).suffix.lower() in HDF5_SUFFIXES:
        return True
    try:
        with open(path, "rb") as f:
            return f.read(8) == HDF5_SIGNATURE
    except OSError:
        return False


def collect_inputs(source: DataSource, n_examples: int) -> np.ndarray:
    """All inputs x as one (N, ...) array in the encoder's layout (token ids int64, the rest
    float32), checked against the statistics' N and, from the first batch, against memory."""
    rows, seen = [], 0
    remedy = "skip the analyses that use them (--skip probes) or pass fewer examples"
    for x, _ in source.iter_batches(4096, 0):
        seen += len(x)
        needed = memory.in_memory_bytes(max(source.n or 0, seen) * x[0].numel(), x.element_size())
        memory.refuse_unless_fits(needed, source.description, "inputs x", DataError, remedy)
        rows.append(x.numpy())
    x = np.concatenate(rows)
    if len(x) != n_examples:
        raise DataError(
            f"--data has {len(x)} examples but the statistics have {n_examples}; "
            "pass the data they were extracted from"
        )
    return x


def with_prior(stats: EncoderStats, prior: Prior) -> EncoderStats:
    """The statistics analysed against another prior, recorded in their provenance (the
    extraction's prior is kept under ``extraction_prior``)."""
    provenance = {
        **stats.provenance,
        "prior": prior.describe(),
        "prior_source": "given",
        "extraction_prior": stats.provenance.get("prior"),
        "extraction_prior_source": stats.provenance.get("prior_source"),
    }
    return dataclasses.replace(stats, prior=prior, provenance=provenance)


def _inputs_used(stats: EncoderStats, decoder, only, skip) -> bool:
    """Whether the analyses that will run use the inputs x, were they at hand."""
    at_hand = registry.AnalysisInputs(stats, x=np.empty((stats.n_examples, 0)), decoder=decoder)
    return registry.uses(registry.select(only, skip, available=at_hand.available()), "x")


@dataclass(frozen=True)
class _Sources:
    """What ``analyze`` reads: the statistics, the data (None without --data for a stats
    file) and the model (None for a stats file without --checkpoint)."""

    stats: EncoderStats
    data: DataSource | None
    loaded: LoadedModel | None


def _stats(source, model, data_spec, encoding, prior, seed, progress, provenance, checkpoint):
    """The statistics from a stats/report file or a checkpoint, the data and the model."""
    if is_hdf5(source):
        stats = store.read_stats(source)
        if prior is not None:
            stats = with_prior(stats, prior)
        data_source = data_spec.open() if data_spec.spec is not None else None
        if checkpoint is None:
            return _Sources(stats, data_source, None)
        loaded = load_checkpoint(model, checkpoint)
        loaded.model.to(resolve_device(encoding.device))
        return _Sources(stats, data_source, loaded)
    model = dataclasses.replace(model, path=Path(source))
    loaded, data_source = load(model, data_spec)
    settings = _encoding(model, encoding, prior, seed, progress, provenance)
    return _Sources(extract(loaded, data_source, **settings), data_source, loaded)


def make_decoder(model: ModelSpec, loaded: LoadedModel | None, stats: EncoderStats, only=()):
    """The model's decoder (``decoders.make_decoder``) from --likelihood and
    --log-likelihood, or None without a model or a decoder latentprobe can call. A decoder
    that cannot be scored is an error when its analyses are asked for by name (``only``),
    else a warning and they are left out."""
    if loaded is None:
        if model.likelihood or model.log_likelihood:
            raise OptionsError(
                "--likelihood and --log-likelihood need the model: analyse a checkpoint, or "
                "pass --checkpoint with a stats file"
            )
        return None
    function = None
    if model.log_likelihood is not None:
        function = data.import_from_spec(
            model.log_likelihood, "--log-likelihood", error=ArchitectureError
        )
    likelihood = decoders.Likelihood.parse(model.likelihood) if model.likelihood else None
    try:
        return decoders.make_decoder(
            loaded.model,
            latent_shape=stats.latent_shape,
            likelihood=likelihood,
            log_likelihood=function,
        )
    except DecoderOutputError as e:
        asked = only and registry.select(only, available=registry.INPUTS)
        if asked and registry.uses(asked, "decoder"):
            raise
        warnings.warn(f"the decoder's analyses are left out: {e}", stacklevel=2)
        return None


def analyze_source(
    source,
    *,
    model: ModelSpec | None = None,
    data_spec: DataSpec = DataSpec(),
    encoding: EncodeOptions = ENCODE_DEFAULTS,
    prior: PriorSpec = PriorSpec(),
    labels_file=None,
    checkpoint=None,
    only=(),
    skip=(),
    options: dict | None = None,
    thresholds: Thresholds | None = None,
    seed: int = 0,
    progress: bool = False,
    provenance: dict | None = None,
) -> Report:
    """``latentprobe analyze``: statistics from SOURCE (checkpoint or stats/report file),
    extra labels, the inputs x when an analysis will use them, the model's decoder when
    there is a model (SOURCE, or ``checkpoint`` beside a stats file); then the report."""
    model = model or ModelSpec(Path(source))
    read = _stats(
        source, model, data_spec, encoding, prior.resolve(), seed, progress, provenance, checkpoint
    )
    stats = read.stats
    if labels_file is not None:
        labels = {**stats.labels, **data.read_labels_file(labels_file)}
        stats = dataclasses.replace(stats, labels=labels)
    decoder = make_decoder(model, read.loaded, stats, only)
    x = None
    if read.data is not None and _inputs_used(stats, decoder, only, skip):
        x = collect_inputs(read.data, stats.n_examples)
    with shown(progress):
        report = analyze(
            stats,
            only=only,
            skip=skip,
            options=options,
            thresholds=thresholds,
            seed=seed,
            x=x,
            decoder=decoder,
        )
    command = (provenance or {}).get("command_line")
    if command is None:
        return report
    return dataclasses.replace(report, provenance={**report.provenance, "command_line": command})


def partial_folder(output) -> Path:
    """Where ``track`` keeps each checkpoint's report until the series is complete."""
    output = Path(output)
    return output.with_name(f".{output.name}.partial")


def track(
    sources,
    output,
    analyze_one,
    *,
    arguments: str = "",
    order: str = "step",
    jobs: int = 1,
    force: bool = False,
    progress: bool = False,
    provenance: dict | None = None,
):
    """``latentprobe track``: ``analyze_one(path) -> Report`` for each checkpoint of
    ``sources`` (``jobs`` at a time, in threads: torch and numpy release the GIL), then the
    ordered series written to ``output``. Each checkpoint's report is kept under
    ``partial_folder(output)`` (by the checkpoint's SHA-256 and a digest of ``arguments``)
    as soon as it is done: a run killed midway and started again with the same arguments
    skips those, and the folder goes once ``output`` is written."""

    if jobs < 1:
        raise OptionsError(f"--checkpoint-jobs must be at least 1, got {jobs}")
    check_output_path(output, force=force)
    paths = trajectory.checkpoint_paths(sources)
    work = partial_folder(output)
    work.mkdir(exist_ok=True)
    digest = hashlib.sha256(arguments.encode()).hexdigest()[:12]

    paths = _distinct(paths)

    def point(item):
        path, sha = item
        kept = work / f"{sha[:20]}-{digest}.report.h5"
        if kept.exists():
            return trajectory.Point.of(path, Report.read(kept))
        report = analyze_one(path)
        report.write(kept, force=True)
        return trajectory.Point.of(path, report)

    with shown(progress), bar(len(paths), "checkpoints", unit="checkpoint") as counted:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            points = []
            for done in pool.map(point, paths.items()):
                points.append(done)
                counted.update()
    stamp = {"latentprobe_version": __version__}
    stamp["created_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    series = trajectory.build(trajectory.ordered(points, order), {**(provenance or {}), **stamp})
    store.write_trajectory_file(output, series, force=force)
    shutil.rmtree(work, ignore_errors=True)
    return series


def _distinct(paths) -> dict:
    """Path -> SHA-256, one path per content: a copy (Lightning's last.ckpt beside the last
    epoch's) is left out with a warning instead of counting one checkpoint twice."""
    found: dict[str, Path] = {}
    for path in paths:
        sha = data.sha256_file(path)
        if sha in found:
            warnings.warn(
                f"{path} has the same bytes as {found[sha]}; it is left out", stacklevel=3
            )
            continue
        found[sha] = path
    return {path: sha for sha, path in found.items()}
