"""``latentprobe``: thin click commands over the library."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
import numpy as np

import latentprobe
from latentprobe import adapters, checkpoints, data
from latentprobe.analysis import ANALYSES, AnalysisOptions
from latentprobe.atomic import check_output_path
from latentprobe.errors import ArchitectureError, StatsFileError
from latentprobe.extraction import extract as extract_in_memory
from latentprobe.extraction import extract_to_file
from latentprobe.plots import write_plots
from latentprobe.report import analyze as run_report
from latentprobe.stats import EncoderStats, Prior
from latentprobe.summary import summary
from latentprobe.verdict import Thresholds

from .options import (
    analysis_options,
    command_line,
    data_options,
    handle_errors,
    model_options,
    prior_from_options,
    run_options,
    show_progress,
)


@click.group()
@click.version_option(latentprobe.__version__, prog_name="latentprobe")
def main():
    """Does a trained VAE's latent z carry information about x?"""


def load_source(
    checkpoint, arch, arch_kwargs, trust_checkpoint, data_spec, x_key, labels_key, input_shape
):
    """Load the model and open its data (a zoo checkpoint may name its own dataset)."""
    loaded = checkpoints.load_model(
        checkpoint, arch=arch, arch_kwargs=arch_kwargs, trust_checkpoint=trust_checkpoint
    )
    spec = data_spec or loaded.dataset
    if spec is None:
        raise click.UsageError("no --data given and the checkpoint names no dataset")
    source = data.open_data(spec, x_key=x_key, labels_keys=labels_key, input_shape=input_shape)
    return loaded, source


def encode_function(spec):
    return data._import_attr(spec, "--encode", error=ArchitectureError) if spec else None


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option(
    "-o", "--output", type=click.Path(), help="Stats file [default: CHECKPOINT.stats.h5]."
)
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@model_options
@data_options
@run_options
@handle_errors
def extract(
    checkpoint,
    output,
    force,
    arch,
    arch_kwargs,
    trust_checkpoint,
    encode_spec,
    param,
    prior_mean,
    prior_logvar,
    data_spec,
    x_key,
    labels_key,
    input_shape,
    batch_size,
    device,
    num_workers,
    seed,
    quiet,
    debug,
):
    """Encode a dataset with CHECKPOINT and stream mu/logvar into an HDF5 stats file."""
    output = Path(output or f"{Path(checkpoint).stem}.stats.h5")
    check_output_path(output, force=force)
    loaded, source = load_source(
        checkpoint, arch, arch_kwargs, trust_checkpoint, data_spec, x_key, labels_key, input_shape
    )
    options = click.get_current_context().params
    extract_to_file(
        loaded,
        source,
        output,
        force=force,
        batch_size=batch_size,
        device=device,
        num_workers=num_workers,
        encode=encode_function(encode_spec),
        param=param,
        prior=prior_from_options(prior_mean, prior_logvar),
        seed=seed,
        progress=show_progress(quiet),
        options=options,
        command_line=command_line(),
    )
    click.echo(f"wrote {output}", err=True)


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == HDF5_SIGNATURE
    except OSError:
        return False


def read_prior_file(path) -> Prior:
    """A mixture prior from an .npz with weights (K,), means (K, D) and logvars (K, D)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return Prior.mixture(f["weights"], f["means"], f["logvars"])
    except (OSError, KeyError, ValueError) as e:
        raise StatsFileError(
            f"cannot read prior file {path} ({e}); expected an .npz with weights, means and logvars"
        ) from e


def stats_for(source, p: dict) -> EncoderStats:
    """Read a stats/report file, or extract from a checkpoint in memory."""
    if is_hdf5(source):
        stats = EncoderStats.load(source)
    else:
        loaded, data_source = load_source(
            source,
            p["arch"],
            p["arch_kwargs"],
            p["trust_checkpoint"],
            p["data_spec"],
            p["x_key"],
            p["labels_key"],
            p["input_shape"],
        )
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
    prior = prior_override(p)
    return stats if prior is None else dataclasses.replace(stats, prior=prior)


def prior_override(p: dict) -> Prior | None:
    if p["prior_file"]:
        return read_prior_file(p["prior_file"])
    if p["prior_mean"] is None and p["prior_logvar"] is None:
        return None
    return prior_from_options(p["prior_mean"], p["prior_logvar"])


@main.command()
@click.argument("source", type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Report [default: SOURCE.report.h5].")
@click.option("--force", is_flag=True, help="Overwrite an existing report.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead.")
@click.option("--plots", type=click.Path(file_okay=False), help="Write PNG figures here.")
@analysis_options
@model_options
@data_options
@run_options
@handle_errors
def analyze(source, output, force, as_json, plots, **p):
    """Decide whether z carries information about x (SOURCE: checkpoint or stats file)."""
    output = Path(output or f"{Path(source).name.split('.')[0]}.report.h5")
    check_output_path(output, force=force)
    options = AnalysisOptions(
        seed=p["seed"],
        au_threshold=p["au_threshold"],
        mi_samples=p["samples"],
        max_samples=p["max_samples"],
    )
    thresholds = Thresholds(
        p["kl_threshold"], p["collapsed_fraction"], p["mi_threshold"], p["au_threshold"]
    )
    report = run_report(
        stats_for(source, p), only=p["only"], skip=p["skip"], options=options, thresholds=thresholds
    )
    report.write(output, force=force)
    if plots:
        write_plots(report, plots)
    click.echo(report.to_json() if as_json else summary(report, source))
    click.echo(f"wrote {output}", err=True)


@main.command()
def formats():
    """List the checkpoint formats, encoder conventions and data sources recognised."""
    click.echo("Checkpoint formats:")
    for fmt in checkpoints.FORMATS:
        flag = " [needs --trust-checkpoint]" if fmt.needs_trust else ""
        click.echo(f"  {fmt.name:18} {fmt.description}{flag}")
    click.echo("Encoder outputs (from --encode, model.encode or model.encoder):")
    for name, _, _ in adapters.OUTPUT_CONVENTIONS:
        click.echo(f"  {name}")
    click.echo(f"  --param: {', '.join(adapters.PARAMETRISATIONS)}")
    click.echo("Analyses (--only/--skip):")
    for name, analysis in ANALYSES.items():
        click.echo(f"  {name:18} {analysis.description}")
    click.echo("Data sources (--data):")
    for name, description in data.SOURCES.items():
        click.echo(f"  {name:18} {description}")
