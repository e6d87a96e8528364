"""``latentprobe``: thin click commands over ``latentprobe.workflow``."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from latentprobe import adapters, checkpoints, data, decoders, trajectory, workflow
from latentprobe.atomic import check_output_path
from latentprobe.extraction import EncodeOptions
from latentprobe.outputs.plots import plots_folder, write_figures, write_plots
from latentprobe.outputs.summary import summary
from latentprobe.registry import ANALYSES
from latentprobe.verdict import Thresholds
from latentprobe.version import __version__

from . import reports
from .handling import handle_errors
from .options import (
    ANALYSIS_SETTINGS,
    THRESHOLDS,
    build,
    checkpoint_options,
    decoder_options,
    prior_file_option,
    selection_options,
    settings_options,
)


def _model(path, p: dict) -> workflow.ModelSpec:
    return workflow.ModelSpec(
        Path(path),
        arch=p["arch"],
        arch_kwargs=p["arch_kwargs"],
        trust_checkpoint=p["trust_checkpoint"],
        encode=p["encode_spec"],
        state_dict_key=p["state_dict_key"],
        encode_method=p["encode_method"],
        likelihood=p.get("likelihood"),
        log_likelihood=p.get("log_likelihood_spec"),
    )


def _data(p: dict) -> workflow.DataSpec:
    return workflow.DataSpec(
        p["data_spec"],
        x_key=p["x_key"],
        labels_keys=tuple(p["labels_key"]),
        input_shape=p["input_shape"],
        encoder_inputs=p["encoder_inputs"],
    )


def _prior(p: dict) -> workflow.PriorSpec:
    return workflow.PriorSpec(p["prior_mean"], p["prior_logvar"], p.get("prior_file"))


def _long_name(param: click.Parameter) -> str:
    """The parameter's primary long flag as a name (``--batch-size``: batch_size); aliases
    such as ``--samples`` come after it."""
    flags = [o for o in param.opts if o.startswith("--")]
    return flags[0].lstrip("-").replace("-", "_") if flags else param.name


def _given_options() -> dict:
    """Every option of the running command by its long name."""
    ctx = click.get_current_context()
    return {_long_name(param): ctx.params[param.name] for param in ctx.command.params}


def _run(p: dict) -> dict:
    """Seed, progress bar and the provenance of the command line."""
    command = shlex.join(["latentprobe", *sys.argv[1:]])
    provenance = {"command_line": command, "options": _given_options()}
    return dict(
        seed=p["seed"], progress=not p["quiet"] and sys.stderr.isatty(), provenance=provenance
    )


def _analysis_specs(source, p: dict) -> dict:
    """The typed specifications ``workflow.analyze_source`` takes, built by keyword."""
    return dict(
        model=_model(source, p),
        data_spec=_data(p),
        encoding=build("encoding", EncodeOptions, p),
        prior=_prior(p),
        labels_file=p["labels_file"],
        checkpoint=p["checkpoint_path"],
        only=p["only"],
        skip=p["skip"],
        options={name: build(name, cls, p) for name, cls in ANALYSIS_SETTINGS.items()},
        thresholds=build("thresholds", Thresholds, p),
    )


def analysis_options(command):
    """What analyze and track both take: the selection, every analysis's settings, the
    thresholds, the prior, the decoder and the checkpoint's options."""
    stack = (
        selection_options,
        settings_options(ANALYSIS_SETTINGS),
        settings_options(THRESHOLDS),
        prior_file_option,
        decoder_options,
        checkpoint_options,
    )
    for decorate in reversed(stack):
        command = decorate(command)
    return command


@click.group()
@click.version_option(__version__, prog_name="latentprobe")
def main():
    """Does a trained VAE's latent z carry information about x?"""


@main.command("extract")
@click.argument("checkpoint", type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Stats file [default: NAME.stats.h5].")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@checkpoint_options
@handle_errors
def extract_command(checkpoint, output, force, **p):
    """Encode a dataset with CHECKPOINT and stream mu/logvar into an HDF5 stats file."""
    output = Path(output or f"{Path(checkpoint).stem}.stats.h5")
    check_output_path(output, force=force)
    encoding = build("encoding", EncodeOptions, p)
    workflow.extract_file(
        _model(checkpoint, p),
        _data(p),
        output,
        encoding=encoding,
        prior=_prior(p),
        force=force,
        **_run(p),
    )
    click.echo(f"wrote {output}", err=True)


@main.command("analyze")
@click.argument("source", type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Report [default: NAME.report.h5].")
@click.option("--force", is_flag=True, help="Overwrite an existing report.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead.")
@click.option("--plots", type=click.Path(), help="Write PNG figures here (a folder).")
@analysis_options
@handle_errors
def analyze_command(source, output, force, as_json, plots, **p):
    """Decide whether z carries information about x (SOURCE: checkpoint or stats file)."""
    output = Path(output or f"{Path(source).name.split('.')[0]}.report.h5")
    check_output_path(output, force=force)
    if plots:
        plots_folder(plots)  # a bad --plots fails before any work
    report = workflow.analyze_source(source, **_analysis_specs(source, p), **_run(p))
    if plots:
        write_plots(report, plots)
    report.write(output, force=force)
    click.echo(report.to_json() if as_json else summary(report, source))
    click.echo(f"wrote {output}", err=True)


@main.command("track")
@click.argument("checkpoints", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(), required=True, help="Trajectory file (.h5).")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option(
    "--order",
    type=click.Choice(trajectory.ORDERS),
    default="step",
    show_default=True,
    help="step: the checkpoint's global_step, else numbers in the file names.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the series as JSON instead.")
@click.option("--plots", type=click.Path(), help="Write the trajectory's figures here (PNG).")
@click.option(
    "--checkpoint-jobs",
    "checkpoint_jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Checkpoints analysed at once.",
)
@analysis_options
@handle_errors
def track_command(checkpoints, output, force, order, as_json, plots, checkpoint_jobs, **p):
    """Analyse a series of training CHECKPOINTS (files, folders or globs) and write one
    trajectory: every figure per step, when each unit collapsed, where I(x;z) peaked.
    Restarted with the same arguments after an interruption, it skips what is done."""
    check_output_path(Path(output), force=force)  # before the data is opened and hashed
    if plots:
        plots_folder(plots)  # a bad --plots fails before any work
    # what changes one checkpoint's analysis: not which checkpoints, where, or in what order
    ignored = ("quiet", "json", "force", "plots", "checkpoint_jobs", "checkpoints", "output")
    ignored += ("order",)
    given = {k: v for k, v in _given_options().items() if k not in ignored}
    arguments = json.dumps(given, sort_keys=True, default=str)
    run = _run(p)
    data_once = _data(p).opened()

    def analyze_one(path):
        specs = {**_analysis_specs(path, p), "data_spec": data_once}
        return workflow.analyze_source(path, **specs, **run)

    series = workflow.track(
        checkpoints,
        Path(output),
        analyze_one,
        arguments=arguments,
        order=order,
        jobs=checkpoint_jobs,
        force=force,
        progress=run["progress"],
        provenance=run["provenance"],
    )
    if plots:
        from latentprobe.outputs import trajectory_figures

        write_figures(trajectory_figures.drawers(series), plots, "png")
    if as_json:
        click.echo(json.dumps(trajectory.document(series), indent=2))
    else:
        click.echo("\n".join(trajectory.summary_lines(series)))
    click.echo(f"wrote {output}", err=True)


@main.command()
def formats():
    """List the checkpoint formats, encoder conventions, analyses and data sources."""
    click.echo("Checkpoint formats:")
    for fmt in checkpoints.FORMATS:
        flags = " [needs --arch]" * fmt.needs_arch + " [needs --trust-checkpoint]" * fmt.needs_trust
        click.echo(f"  {fmt.name:18} {fmt.description}{flags}")
    click.echo("Encoder outputs (from --encode, model.encode or model.encoder):")
    for name, _, _ in adapters.OUTPUT_CONVENTIONS:
        click.echo(f"  {name}")
    click.echo(f"  --param: {', '.join(adapters.PARAMETRISATIONS)}")
    click.echo("Decoder likelihoods (--likelihood):")
    for name, family in decoders.LIKELIHOODS.items():
        click.echo(f"  {name:18} {family.description}")
    click.echo("Analyses (--only/--skip):")
    for name, analysis in ANALYSES.items():
        click.echo(f"  {name:18} {analysis.description}")
    click.echo("Data sources (--data):")
    for name, description in data.SOURCES.items():
        click.echo(f"  {name:18} {description}")


for _command in reports.COMMANDS:
    main.add_command(_command)
