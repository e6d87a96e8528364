"""Run an encoder over a dataset and collect (or stream to a stats file) its posterior
statistics."""

from __future__ import annotations

import platform
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from . import progress, store
from .adapters import PARAMETRISATIONS, make_encoder, posterior_caveat
from .checkpoints import LoadedModel
from .data import DataSource, encoder_input, open_data, sha256_file
from .errors import (
    DataError,
    DeviceError,
    EncoderOutputError,
    LatentprobeError,
    OptionsError,
    PosteriorError,
    PriorError,
)
from .model_priors import model_prior
from .options import Options, option
from .types import EncoderStats, Prior, bad_value, check_scale_tril
from .version import __version__


@dataclass(frozen=True)
class EncodeOptions(Options):
    """How the encoder is run."""

    batch_size: int = option(512, "Examples per batch.", flag="--batch-size", minimum=1)
    device: str = option("cpu", "cpu, cuda, cuda:N or auto.", flag="--device")
    num_workers: int = option(
        0, "DataLoader workers (torch Dataset sources only).", flag="--num-workers", minimum=0
    )
    param: str = option(
        "logvar",
        "What the encoder's second output is.",
        flag="--param",
        choices=tuple(PARAMETRISATIONS),
    )


DEFAULTS = EncodeOptions()


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(
            "--device cuda was asked for but no CUDA device is available; use --device cpu or auto"
        )
    try:
        return torch.device(device)
    except RuntimeError as e:
        raise DeviceError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto") from e


def _check_workers(options: EncodeOptions, source: DataSource) -> None:
    if options.num_workers and not source.supports_workers:
        raise OptionsError(
            f"--num-workers applies to torch Dataset sources only; {source.description} is "
            "read directly: leave --num-workers at 0"
        )


def _check_values(mu: np.ndarray, logvar: np.ndarray, offset: int, scale_tril=None) -> None:
    if (problem := bad_value(mu, logvar, offset)) is not None:
        raise EncoderOutputError(
            f"encoder output: {problem}; check the model and that example's input"
        )
    if scale_tril is not None:
        try:
            check_scale_tril(scale_tril, mu.shape)
        except PosteriorError as e:
            raise EncoderOutputError(
                f"encoder output in the batch from example {offset}: {e}; check the model"
            ) from e


def _encoder_inputs(source: DataSource, start: int, rows: int, device) -> dict:
    """The arrays the encoder takes beside x for these rows, as tensors on ``device``."""
    if source.encoder_inputs is None:
        return {}
    arrays = source.encoder_inputs(start, start + rows)
    return {name: encoder_input(a).to(device) for name, a in arrays.items()}


def _encode_batch(encoder, x: torch.Tensor, offset: int, extras: dict | None = None):
    """Run the encoder; an exception inside the user's model becomes a one-line error."""
    try:
        return encoder(x, extras)
    except LatentprobeError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure inside the model's own code
        message = " ".join(str(e).split())[:300]
        hint = "check --input-shape, --encode and --arch"
        if isinstance(e, TypeError) and "positional argument" in str(e) and not extras:
            hint = "if it takes arrays beside x (lengths, masks), name them with --encoder-inputs"
        if x.dtype == torch.int64:
            hint = (
                "the inputs are 32/64-bit integers, passed as int64 token ids: if the encoder "
                "expects numbers, save the data as floats (or 8/16-bit pixels); else " + hint
            )
        raise EncoderOutputError(
            f"the encoder failed on the batch starting at example {offset} (input shape "
            f"{tuple(x.shape)}): {type(e).__name__}: {message}; {hint}"
        ) from e


class _MemorySink:
    def __init__(self):
        self.mu, self.logvar, self.scale_tril, self.labels = [], [], [], {}
        self.latent_shape: tuple[int, ...] = ()
        self.family = "normal"

    def append(self, mu, logvar, labels, scale_tril=None):
        self.mu.append(mu)
        self.logvar.append(logvar)
        if scale_tril is not None:
            self.scale_tril.append(scale_tril)
        for name, y in labels.items():
            self.labels.setdefault(name, []).append(np.asarray(y))

    @property
    def n_units(self) -> int:
        return self.mu[0].shape[1]

    def stats(self, prior: Prior, provenance: dict) -> EncoderStats:
        labels = {k: np.concatenate(v) for k, v in self.labels.items()}
        mu, logvar = np.concatenate(self.mu), np.concatenate(self.logvar)
        tril = np.concatenate(self.scale_tril) if self.scale_tril else None
        return EncoderStats(mu, logvar, labels, prior, provenance, self.family, tril)


def _progress(source: DataSource, shown: bool):
    return progress.bar(source.n, "encoding", unit="ex", enabled=shown)


class _SharedCores:
    """While ``task`` runs on another thread, torch computes with one thread fewer, so the
    two do not fight over the cores; torch gets the thread back once the task is done.

    Measured with bench/bench_extract.py on 2 cores (N = 100,000 x 784): hashing the data
    file ahead on a second thread this way, 1.01x-1.31x a bare inference loop (medians of
    runs on a loaded and on a quiet machine; 0.93x without the hash); hashing the bytes as
    the batches are read (on a thread, with torch at full width), 1.40x; the hash on an
    idle-priority thread (SCHED_IDLE) with torch at full width, slower than this.

    Torch's thread count is process-wide: extractions that overlap (``track
    --checkpoint-jobs``) share one count of the threads given up, so that each restores
    exactly its own and the count comes back to what it was before the first.
    """

    _lock = threading.Lock()
    _holders = 0
    _full = 1
    _given_up = 0

    def __init__(self, task: Future | None):
        self.task, self.reduced = task, False

    @classmethod
    def _apply(cls) -> None:
        torch.set_num_threads(max(1, cls._full - cls._given_up))

    def update(self) -> None:
        busy = self.task is not None and not self.task.done()
        if busy == self.reduced:
            return
        with _SharedCores._lock:
            if busy and _SharedCores._full - _SharedCores._given_up <= 1:
                return  # one thread left: nothing to give up
            _SharedCores._given_up += 1 if busy else -1
            self.reduced = busy
            _SharedCores._apply()

    def __enter__(self) -> _SharedCores:
        with _SharedCores._lock:
            if _SharedCores._holders == 0:
                _SharedCores._full, _SharedCores._given_up = torch.get_num_threads(), 0
            _SharedCores._holders += 1
        return self

    def __exit__(self, *exc) -> None:
        with _SharedCores._lock:
            _SharedCores._given_up -= self.reduced
            self.reduced = False
            _SharedCores._holders -= 1
            _SharedCores._apply()


def run_encoder(
    model,
    source: DataSource,
    sink,
    *,
    options: EncodeOptions,
    encode=None,
    progress=False,
    side_task: Future | None = None,
) -> int:
    """Encode every batch of ``source`` and hand (mu, logvar, labels, scale_tril) to
    ``sink.append``; ``sink.latent_shape`` gets the encoder's latent layout (before
    flattening), ``sink.family`` its posterior family.

    Runs in ``eval()`` mode under ``torch.inference_mode()``; returns the number of examples.
    ``side_task``: work on another thread (hashing the inputs) that torch leaves a core to.
    """
    _check_workers(options, source)
    device = resolve_device(options.device)
    model = model.to(device).eval()
    encoder = make_encoder(model, encode=encode, param=options.param)
    n_done = 0
    with (
        _progress(source, progress) as bar,
        torch.inference_mode(),
        _SharedCores(side_task) as cores,
    ):
        for x, labels in source.iter_batches(options.batch_size, options.num_workers):
            cores.update()
            extras = _encoder_inputs(source, n_done, len(x), device)
            batch = _encode_batch(encoder, x.to(device, non_blocking=True), n_done, extras)
            mu, logvar = batch.mu.cpu().numpy(), batch.logvar.cpu().numpy()
            tril = None if batch.scale_tril is None else batch.scale_tril.cpu().numpy()
            _check_values(mu, logvar, n_done, tril)
            sink.append(mu, logvar, labels, tril)
            sink.family = batch.family
            n_done += len(x)
            bar.update(len(x))
    if n_done == 0:
        raise DataError(f"{source.description} holds no examples; pass non-empty data")
    sink.latent_shape = encoder.latent_shape
    return n_done


@dataclass(frozen=True)
class _Job:
    """One extraction: the module, where it came from, its data and settings."""

    module: torch.nn.Module
    loaded: LoadedModel | None
    source: DataSource
    options: EncodeOptions
    encode: Callable | None
    prior: Prior
    seed: int
    progress: bool
    prior_source: str = "given"
    posterior_caveat: str = ""

    @classmethod
    def of(cls, model, data, options, encode, prior, seed, progress) -> _Job:
        module, loaded = (model.model, model) if isinstance(model, LoadedModel) else (model, None)
        source = open_data(data)
        caveat = posterior_caveat(module) or ""
        if caveat:
            warnings.warn(caveat, stacklevel=3)
        prior, prior_source = (prior, "given") if prior else _own_prior(module, encode, options)
        settings = (options, encode, prior, seed, progress, prior_source, caveat)
        return cls(module, loaded, source, *settings)

    def run(self, sink, provenance: dict | None) -> dict:
        """Encode into ``sink`` while the input files are hashed on a second thread; the
        provenance to record (``provenance`` on top). The encoder's random numbers come
        from ``seed`` in a fork of torch's generators: the caller's (a training loop's)
        are left as they were."""
        cuda = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(self.seed)
            return self._run(sink, provenance)

    def _run(self, sink, provenance: dict | None) -> dict:
        with ThreadPoolExecutor(max_workers=1) as hasher:
            digests = hasher.submit(hash_inputs, self.loaded, self.source)
            self._encode(sink, digests)
            self.prior.check_fits(sink.n_units)
            record = make_provenance(
                self.loaded, self.source, self.options, self.seed, self.prior, digests.result()
            )
        record["latent_shape"] = list(sink.latent_shape)
        record["prior_source"] = self.prior_source
        record["posterior_caveat"] = self.posterior_caveat
        return {**record, **(provenance or {})}

    def _encode(self, sink, side_task: Future) -> None:
        """``run_encoder``; an error in the encoder's output names the checkpoint."""
        try:
            run_encoder(
                self.module,
                self.source,
                sink,
                options=self.options,
                encode=self.encode,
                progress=self.progress,
                side_task=side_task,
            )
        except EncoderOutputError as e:
            if self.loaded is None:
                raise
            raise EncoderOutputError(f"{self.loaded.files[0]}: {e}") from e


def _own_prior(module, encode, options: EncodeOptions) -> tuple[Prior, str]:
    """The prior the model defines (``model_priors``), else the standard normal; with where
    it came from, for the provenance and the summary."""
    module = module.to(resolve_device(options.device)).eval()
    encoder = make_encoder(module, encode=encode, param=options.param)
    try:
        with torch.inference_mode():
            found = model_prior(module, encoder)
    except PriorError as e:
        warnings.warn(f"{e}; analysed against N(0, I) instead", stacklevel=4)
        return Prior.standard_normal(), f"standard normal: {e}"
    if found is None:
        return Prior.standard_normal(), "standard normal (default)"
    prior, description = found
    return prior, f"the model's own: {description}"


def extract(
    model,
    data,
    *,
    batch_size: int = DEFAULTS.batch_size,
    device: str = DEFAULTS.device,
    num_workers: int = DEFAULTS.num_workers,
    param: str = DEFAULTS.param,
    encode: Callable | None = None,
    prior: Prior | None = None,
    seed: int = 0,
    progress: bool = False,
    provenance: dict | None = None,
) -> EncoderStats:
    """Encode ``data`` with ``model`` and return the statistics in memory.

    ``model`` is an ``nn.Module`` or the result of ``load_model``; ``data`` is anything
    ``open_data`` accepts (arrays, a Dataset, a path, ``sklearn:digits``); ``prior`` is
    recorded with the statistics (by default the prior the model defines, see
    ``model_priors``, else the standard normal); ``provenance`` adds entries
    (the command line, its options) to the recorded provenance.
    """
    options = EncodeOptions(
        batch_size=batch_size, device=device, num_workers=num_workers, param=param
    )
    job = _Job.of(model, data, options, encode, prior, seed, progress)
    sink = _MemorySink()
    record = job.run(sink, provenance)
    return sink.stats(job.prior, record)


def extract_to_file(
    model,
    data,
    path,
    *,
    force: bool = False,
    batch_size: int = DEFAULTS.batch_size,
    device: str = DEFAULTS.device,
    num_workers: int = DEFAULTS.num_workers,
    param: str = DEFAULTS.param,
    encode: Callable | None = None,
    prior: Prior | None = None,
    seed: int = 0,
    progress: bool = False,
    provenance: dict | None = None,
) -> Path:
    """Stream the statistics into an HDF5 stats file, written atomically (see ``extract``)."""
    options = EncodeOptions(
        batch_size=batch_size, device=device, num_workers=num_workers, param=param
    )
    job = _Job.of(model, data, options, encode, prior, seed, progress)
    with store.stats_file_writer(path, force=force, rows=job.source.n) as writer:
        writer.finish(job.prior, job.run(writer, provenance))
    return Path(path)


def hash_inputs(loaded: LoadedModel | None, source: DataSource) -> dict:
    """SHA-256 of the checkpoint files and the data files (hashlib releases the GIL)."""
    checkpoint_files = [p for p in (loaded.files if loaded else ()) if p.is_file()]
    return {
        "checkpoint_sha256": {str(p): sha256_file(p) for p in checkpoint_files},
        "data_sha256": source.file_digests(),
    }


def make_provenance(
    loaded: LoadedModel | None,
    source: DataSource,
    options: EncodeOptions,
    seed: int,
    prior: Prior,
    digests: dict,
) -> dict:
    """Everything a reader needs to tell where a stats file came from."""
    return {
        "schema_version": store.SCHEMA_VERSION,
        "latentprobe_version": __version__,
        "torch_version": str(torch.__version__),
        "numpy_version": np.__version__,
        **store.library_versions(),
        "python_version": platform.python_version(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command_line": "python API: latentprobe.extract",
        "options": {},
        "encode_options": vars(options).copy(),
        "checkpoint_format": loaded.format if loaded else "in-memory module",
        "checkpoint_training": loaded.training if loaded else {},
        "checkpoint_weights_key": loaded.weights_key if loaded else None,
        "checkpoint_sha256": digests["checkpoint_sha256"],
        "trust_checkpoint": bool(loaded and loaded.trusted),
        "data": source.description,
        "data_sha256": digests["data_sha256"],
        "device": str(resolve_device(options.device)),
        "seed": seed,
        "prior": prior.describe(),
    }
