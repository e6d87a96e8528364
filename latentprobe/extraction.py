"""Run an encoder over a dataset and collect (or stream) its posterior statistics."""

from __future__ import annotations

import platform
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm import tqdm

from . import __version__
from .adapters import make_encoder
from .atomic import atomic_path
from .checkpoints import LoadedModel
from .data import DataSource, open_data, sha256_file
from .errors import DataError, EncoderOutputError, LatentprobeError
from .stats import SCHEMA_VERSION, EncoderStats, Prior, StatsSink, first_non_finite


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DataError(
            "--device cuda was asked for but no CUDA device is available; use --device cpu or auto"
        )
    return torch.device(device)


def _check_finite(mu: np.ndarray, logvar: np.ndarray, offset: int) -> None:
    for name, arr in (("mu", mu), ("logvar", logvar)):
        if (where := first_non_finite(arr)) is not None:
            row, col = where
            raise EncoderOutputError(
                f"encoder returned non-finite {name} ({arr[row, col]}) for example "
                f"{offset + row}, unit {col}; check the model and that example's input"
            )


def _encode_batch(encoder, x: torch.Tensor, offset: int):
    """Run the encoder; an exception inside the user's model becomes a one-line error."""
    try:
        return encoder(x)
    except LatentprobeError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure inside the model's own code
        message = " ".join(str(e).split())[:300]
        raise EncoderOutputError(
            f"the encoder failed on the batch starting at example {offset} (input shape "
            f"{tuple(x.shape)}): {type(e).__name__}: {message}; check --input-shape, --encode "
            "and --arch"
        ) from e


class _BackgroundSink:
    """Hands batches to ``sink.append`` on a worker thread, so that HDF5 compression overlaps
    the encoder's work; at most ``max_pending`` batches wait, which bounds memory."""

    def __init__(self, sink, max_pending: int = 4):
        self.sink = sink
        self.pending: queue.Queue = queue.Queue(maxsize=max_pending)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def _work(self) -> None:
        while (item := self.pending.get()) is not None:
            if self.error is None:
                try:
                    self.sink.append(*item)
                except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
                    self.error = e

    def append(self, mu, logvar, labels) -> None:
        self._raise_pending_error()
        self.pending.put((mu, logvar, labels))

    def close(self) -> None:
        self.pending.put(None)
        self.thread.join()
        self._raise_pending_error()

    def _raise_pending_error(self) -> None:
        if self.error is not None:
            raise self.error


class _MemorySink:
    def __init__(self):
        self.mu, self.logvar, self.labels = [], [], {}

    def append(self, mu, logvar, labels):
        self.mu.append(mu)
        self.logvar.append(logvar)
        for name, y in labels.items():
            self.labels.setdefault(name, []).append(np.asarray(y))


def run_encoder(
    model,
    source: DataSource,
    sink,
    *,
    batch_size: int = 256,
    device="cpu",
    num_workers: int = 0,
    encode: Callable | None = None,
    param: str = "logvar",
    progress: bool = False,
    seed: int = 0,
    side_task: Future | None = None,
) -> int:
    """Encode every batch of ``source`` and hand (mu, logvar, labels) to ``sink.append``.

    Runs in ``eval()`` mode under ``torch.inference_mode()``; returns the number of examples.
    While ``side_task`` (work on another thread, such as hashing the inputs) is running,
    torch gets one CPU thread fewer, so the two do not fight over cores.
    """
    if batch_size < 1:
        raise DataError(f"--batch-size must be at least 1, got {batch_size}")
    device = resolve_device(str(device))
    torch.manual_seed(seed)
    model = model.to(device).eval()
    encoder = make_encoder(model, encode=encode, param=param)
    n_done = 0
    bar = tqdm(
        total=source.n,
        unit="ex",
        disable=not progress,
        file=sys.stderr,
        desc="encoding",
        leave=False,
    )
    with bar, torch.inference_mode(), _sharing_cores_with(side_task) as yield_core:
        for x, labels in source.iter_batches(batch_size, num_workers):
            yield_core()
            mu, logvar = _encode_batch(encoder, x.to(device, non_blocking=True), n_done)
            mu, logvar = mu.cpu().numpy(), logvar.cpu().numpy()
            _check_finite(mu, logvar, n_done)
            sink.append(mu, logvar, labels)
            n_done += len(x)
            bar.update(len(x))
    if n_done == 0:
        raise DataError(f"{source.description} holds no examples; pass non-empty data")
    return n_done


@contextmanager
def _sharing_cores_with(task: Future | None):
    """Yields a function to call before each batch: it keeps torch at one thread fewer while
    ``task`` runs and gives the thread back once it is done; the setting is restored after."""
    threads = torch.get_num_threads()
    state = {"reduced": False}

    def update() -> None:
        busy = task is not None and not task.done() and threads > 1
        if busy != state["reduced"]:
            torch.set_num_threads(threads - 1 if busy else threads)
            state["reduced"] = busy

    try:
        yield update
    finally:
        torch.set_num_threads(threads)


def _model_of(model) -> tuple[torch.nn.Module, LoadedModel | None]:
    return (model.model, model) if isinstance(model, LoadedModel) else (model, None)


def extract(
    model,
    data,
    *,
    batch_size: int = 256,
    device="cpu",
    num_workers: int = 0,
    encode: Callable | None = None,
    param: str = "logvar",
    prior: Prior | None = None,
    seed: int = 0,
    progress: bool = False,
) -> EncoderStats:
    """Encode ``data`` with ``model`` and return the statistics in memory.

    ``model`` is an ``nn.Module`` or the result of ``load_model``; ``data`` is anything
    ``open_data`` accepts (arrays, a Dataset, a path, ``sklearn:digits``).
    """
    module, loaded = _model_of(model)
    source = open_data(data)
    sink = _MemorySink()
    run_encoder(
        module,
        source,
        sink,
        batch_size=batch_size,
        device=device,
        num_workers=num_workers,
        encode=encode,
        param=param,
        progress=progress,
        seed=seed,
    )
    prior = prior or Prior.standard_normal()
    labels = {k: np.concatenate(v) for k, v in sink.labels.items()}
    provenance = make_provenance(loaded, source, device=device, seed=seed, prior=prior)
    return EncoderStats(
        np.concatenate(sink.mu), np.concatenate(sink.logvar), labels, prior, provenance
    )


def extract_to_file(
    model,
    data,
    path,
    *,
    force: bool = False,
    batch_size: int = 256,
    device="cpu",
    num_workers: int = 0,
    encode: Callable | None = None,
    param: str = "logvar",
    prior: Prior | None = None,
    seed: int = 0,
    progress: bool = False,
    options: dict | None = None,
    command_line: str | None = None,
) -> Path:
    """Stream the statistics into an HDF5 stats file, written atomically."""
    module, loaded = _model_of(model)
    source = open_data(data)
    prior = prior or Prior.standard_normal()
    with (
        ThreadPoolExecutor(max_workers=1) as hasher,
        atomic_path(path, force=force) as temp,
        h5py.File(temp, "w") as f,
    ):
        # hashlib releases the GIL: the input files are hashed while the encoder runs
        digests = hasher.submit(_hash_inputs, loaded, source)
        sink = StatsSink(f)
        background = _BackgroundSink(sink)
        try:
            run_encoder(
                module,
                source,
                background,
                batch_size=batch_size,
                device=device,
                num_workers=num_workers,
                encode=encode,
                param=param,
                progress=progress,
                seed=seed,
                side_task=digests,
            )
        finally:
            background.close()
        prior.check_fits(f["encoder/mu"].shape[1])
        provenance = make_provenance(
            loaded,
            source,
            device=device,
            seed=seed,
            prior=prior,
            options=options,
            command_line=command_line,
            digests=digests.result(),
        )
        sink.finish(prior, provenance)
    return Path(path)


def _hash_inputs(loaded: LoadedModel | None, source: DataSource) -> dict:
    checkpoint_files = loaded.files if loaded else ()
    return {
        "checkpoint_sha256": {str(p): sha256_file(p) for p in checkpoint_files if p.is_file()},
        "data_sha256": {str(p): sha256_file(p) for p in source.files},
    }


def make_provenance(
    loaded: LoadedModel | None,
    source: DataSource,
    *,
    device,
    seed: int,
    prior: Prior,
    options: dict | None = None,
    command_line: str | None = None,
    digests: dict | None = None,
) -> dict:
    """Everything a reader needs to tell where a stats file came from."""
    digests = digests or _hash_inputs(loaded, source)
    return {
        "schema_version": SCHEMA_VERSION,
        "latentprobe_version": __version__,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "h5py_version": h5py.__version__,
        "hdf5_version": h5py.version.hdf5_version,
        "python_version": platform.python_version(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command_line": command_line or "python API: latentprobe.extract",
        "options": options or {},
        "checkpoint_format": loaded.format if loaded else "in-memory module",
        "checkpoint_sha256": digests["checkpoint_sha256"],
        "trust_checkpoint": bool(loaded and loaded.trusted),
        "data": source.description,
        "data_sha256": digests["data_sha256"],
        "device": str(resolve_device(str(device))),
        "seed": seed,
        "prior": prior.describe(),
    }
