"""``latentprobe``: thin click commands over the library."""

from __future__ import annotations

from pathlib import Path

import click

import latentprobe
from latentprobe import adapters, checkpoints, data
from latentprobe.atomic import check_output_path
from latentprobe.errors import ArchitectureError
from latentprobe.extraction import extract_to_file

from .options import (
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
    click.echo("Data sources (--data):")
    for name, description in data.SOURCES.items():
        click.echo(f"  {name:18} {description}")
