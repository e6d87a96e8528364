"""``latentprobe``: thin click commands over the library."""

from __future__ import annotations

from pathlib import Path

import click

import latentprobe
from latentprobe import adapters, checkpoints, data
from latentprobe.analysis import ANALYSES, AnalysisOptions
from latentprobe.analyzers.probes import ProbeConfig
from latentprobe.atomic import check_output_path
from latentprobe.extraction import extract_to_file
from latentprobe.plots import write_plots
from latentprobe.report import analyze as run_report
from latentprobe.summary import summary
from latentprobe.verdict import Thresholds

from .options import (
    analysis_options,
    command_line,
    data_options,
    handle_errors,
    model_options,
    probe_options,
    run_options,
    show_progress,
)
from .sources import encode_function, load_source, prior_override, stats_and_inputs


@click.group()
@click.version_option(latentprobe.__version__, prog_name="latentprobe")
def main():
    """Does a trained VAE's latent z carry information about x?"""


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
def extract(checkpoint, output, force, **p):
    """Encode a dataset with CHECKPOINT and stream mu/logvar into an HDF5 stats file."""
    output = Path(output or f"{Path(checkpoint).stem}.stats.h5")
    check_output_path(output, force=force)
    loaded, source = load_source(checkpoint, p)
    extract_to_file(
        loaded,
        source,
        output,
        force=force,
        batch_size=p["batch_size"],
        device=p["device"],
        num_workers=p["num_workers"],
        encode=encode_function(p["encode_spec"]),
        param=p["param"],
        prior=prior_override(p),
        seed=p["seed"],
        progress=show_progress(p["quiet"]),
        options=click.get_current_context().params,
        command_line=command_line(),
    )
    click.echo(f"wrote {output}", err=True)


@main.command()
@click.argument("source", type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Report [default: SOURCE.report.h5].")
@click.option("--force", is_flag=True, help="Overwrite an existing report.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead.")
@click.option("--plots", type=click.Path(file_okay=False), help="Write PNG figures here.")
@analysis_options
@probe_options
@model_options
@data_options
@run_options
@handle_errors
def analyze(source, output, force, as_json, plots, **p):
    """Decide whether z carries information about x (SOURCE: checkpoint or stats file)."""
    output = Path(output or f"{Path(source).name.split('.')[0]}.report.h5")
    check_output_path(output, force=force)
    stats, x = stats_and_inputs(source, p)
    report = run_report(
        stats,
        only=p["only"],
        skip=p["skip"],
        options=analysis_settings(p),
        thresholds=Thresholds(
            p["kl_threshold"], p["collapsed_fraction"], p["mi_threshold"], p["au_threshold"]
        ),
        x=x,
    )
    report.write(output, force=force)
    if plots:
        write_plots(report, plots)
    click.echo(report.to_json() if as_json else summary(report, source))
    click.echo(f"wrote {output}", err=True)


def analysis_settings(p: dict) -> AnalysisOptions:
    probes = ProbeConfig(
        folds=p["folds"],
        permutations=p["permutations"],
        samples=p["probe_samples"],
        seed=p["seed"],
        n_jobs=p["jobs"],
    )
    return AnalysisOptions(
        seed=p["seed"],
        au_threshold=p["au_threshold"],
        mi_samples=p["samples"],
        max_samples=p["max_samples"],
        probes=probes,
    )


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
