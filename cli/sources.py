"""What the verbs read: a checkpoint and its data, or a stats file; priors and labels files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
import numpy as np

from latentprobe import checkpoints, data
from latentprobe.analysis import select
from latentprobe.data import DataSource
from latentprobe.errors import ArchitectureError, DataError, StatsFileError
from latentprobe.extraction import extract as extract_in_memory
from latentprobe.stats import EncoderStats, Prior

from .options import command_line, prior_from_options, show_progress

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def load_source(checkpoint, p: dict) -> tuple[checkpoints.LoadedModel, DataSource]:
    """Load the model and open its data (a zoo checkpoint may name its own dataset)."""
    loaded = checkpoints.load_model(
        checkpoint,
        arch=p["arch"],
        arch_kwargs=p["arch_kwargs"],
        trust_checkpoint=p["trust_checkpoint"],
    )
    spec = p["data_spec"] or loaded.dataset
    if spec is None:
        raise click.UsageError("no --data given and the checkpoint names no dataset")
    return loaded, open_data(spec, p)


def open_data(spec, p: dict) -> DataSource:
    return data.open_data(
        spec, x_key=p["x_key"], labels_keys=p["labels_key"], input_shape=p["input_shape"]
    )


def encode_function(spec):
    return data.import_from_spec(spec, "--encode", error=ArchitectureError) if spec else None


def is_hdf5(path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == HDF5_SIGNATURE
    except OSError:
        return False


def collect_inputs(source: DataSource) -> np.ndarray:
    """All inputs x as one (N, features) array (for the probes' references)."""
    rows = [x.reshape(len(x), -1).numpy() for x, _ in source.iter_batches(4096, 0)]
    return np.concatenate(rows)


def stats_and_inputs(source, p: dict) -> tuple[EncoderStats, np.ndarray | None]:
    """Statistics (read from a stats/report file, or extracted in memory from a checkpoint)
    and the inputs x when the probes will use them and the data is at hand."""
    if is_hdf5(source):
        stats, data_source = EncoderStats.load(source), None
        if p["data_spec"]:
            data_source = open_data(p["data_spec"], p)
    else:
        loaded, data_source = load_source(source, p)
        stats = extract_in_memory(
            loaded,
            data_source,
            batch_size=p["batch_size"],
            device=p["device"],
            num_workers=p["num_workers"],
            encode=encode_function(p["encode_spec"]),
            param=p["param"],
            seed=p["seed"],
            progress=show_progress(p["quiet"]),
        )
        stats.provenance.update(command_line=command_line(), options=p)
    stats = _with_overrides(stats, p)
    if data_source is None or not _probes_will_run(stats, p):
        return stats, None
    x = collect_inputs(data_source)
    if len(x) != stats.n_examples:
        raise DataError(
            f"--data has {len(x)} examples but the statistics have "
            f"{stats.n_examples}; pass the data they were extracted from"
        )
    return stats, x


def _probes_will_run(stats: EncoderStats, p: dict) -> bool:
    return "probes" in select(p["only"], p["skip"], has_labels=bool(stats.labels))


def _with_overrides(stats: EncoderStats, p: dict) -> EncoderStats:
    changes = {}
    prior = prior_override(p)
    if prior is not None:
        changes["prior"] = prior
    if p["labels"]:
        changes["labels"] = {**stats.labels, **read_labels_file(p["labels"])}
    return dataclasses.replace(stats, **changes) if changes else stats


def read_labels_file(path) -> dict[str, np.ndarray]:
    """Label sets from an .npz (one per array) or an .npy (named after the file)."""
    path = Path(path)
    try:
        if path.suffix == ".npy":
            return {path.stem: data.encode_labels(np.load(path, allow_pickle=False), path.stem)}
        with np.load(path, allow_pickle=False) as f:
            return {name: data.encode_labels(f[name], name) for name in f.files}
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read labels from {path} ({e}); pass an .npz or .npy") from e


def read_prior_file(path) -> Prior:
    """A mixture prior from an .npz with weights (K,), means (K, D) and logvars (K, D)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return Prior.mixture(f["weights"], f["means"], f["logvars"])
    except (OSError, KeyError, ValueError) as e:
        raise StatsFileError(
            f"cannot read prior file {path} ({e}); expected an .npz with weights, means and logvars"
        ) from e


def prior_override(p: dict) -> Prior | None:
    if p.get("prior_file"):
        return read_prior_file(p["prior_file"])
    if p["prior_mean"] is None and p["prior_logvar"] is None:
        return None
    return prior_from_options(p["prior_mean"], p["prior_logvar"])
