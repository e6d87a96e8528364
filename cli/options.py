"""Options shared by the verbs, and the error handling every verb gets."""

from __future__ import annotations

import functools
import json
import shlex
import sys
import warnings

import click

from latentprobe.errors import LatentprobeError
from latentprobe.stats import Prior


def _floats(text: str | None):
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError as e:
        raise click.BadParameter(
            f"expected a number or comma-separated numbers, got {text!r}"
        ) from e
    return values[0] if len(values) == 1 else values


def _json_dict(ctx, param, text):
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise click.BadParameter(f"not valid JSON ({e.msg}): {text}") from e
    if not isinstance(value, dict):
        raise click.BadParameter("expected a JSON object such as '{\"latent_dim\": 16}'")
    return value


def _shape(ctx, param, text):
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError as e:
        raise click.BadParameter(
            f"expected comma-separated integers such as 1,8,8, got {text!r}"
        ) from e


def _compose(*decorators):
    def apply(f):
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return apply


model_options = _compose(
    click.option(
        "--arch",
        help="Model class for weights-only checkpoints: module:Class or "
        "path/to/file.py:Class (the current folder is on the import path).",
    ),
    click.option(
        "--arch-kwargs",
        callback=_json_dict,
        help="JSON keyword arguments for the class, e.g. '{\"latent_dim\": 16}'.",
    ),
    click.option(
        "--trust-checkpoint",
        is_flag=True,
        help="Allow pickled modules and TorchScript, which run code from the file.",
    ),
    click.option(
        "--encode",
        "encode_spec",
        help="module:function called as function(model, x) "
        "-> (mu, logvar), for encoders no built-in convention fits.",
    ),
    click.option(
        "--param",
        type=click.Choice(["logvar", "logstd", "std", "var"]),
        default="logvar",
        show_default=True,
        help="What the encoder's second output is.",
    ),
    click.option("--prior-mean", help="Prior mean: one number or one per unit (comma-separated)."),
    click.option("--prior-logvar", help="Prior log-variance: one number or one per unit."),
)

data_options = _compose(
    click.option(
        "--data",
        "data_spec",
        help="Data: file (.npz .npy .pt .h5[:/path]), "
        "sklearn:digits or module:function. Zoo checkpoints name their own.",
    ),
    click.option("--x-key", help="Name of the data array in .npz/.pt/.h5 files."),
    click.option("--labels-key", multiple=True, help="Label array name (repeatable)."),
    click.option("--input-shape", callback=_shape, help="Reshape each example, e.g. 1,8,8."),
)

run_options = _compose(
    click.option("--batch-size", type=click.IntRange(min=1), default=512, show_default=True),
    click.option("--device", default="cpu", show_default=True, help="cpu, cuda or auto."),
    click.option(
        "--num-workers",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="DataLoader workers (for torch Dataset sources).",
    ),
    click.option("--seed", type=int, default=0, show_default=True),
    click.option("--quiet", is_flag=True, help="No progress bar."),
    click.option("--debug", is_flag=True, help="Show tracebacks."),
)


analysis_options = _compose(
    click.option("--only", multiple=True, help="Run only these analyses (comma-separated)."),
    click.option("--skip", multiple=True, help="Skip these analyses (comma-separated)."),
    click.option(
        "--samples",
        type=click.IntRange(min=1),
        default=2,
        show_default=True,
        help="Draws of z per example for I(x;z).",
    ),
    click.option(
        "--max-samples",
        type=click.IntRange(min=2),
        help="Evaluate I(x;z) at most at this many points z (all N components kept).",
    ),
    click.option(
        "--prior-file",
        type=click.Path(),
        help="Mixture prior: .npz with weights (K,), means (K, D), logvars (K, D).",
    ),
    click.option(
        "--au-threshold",
        type=float,
        default=0.01,
        show_default=True,
        help="Active-unit threshold on the variance of the means.",
    ),
    click.option(
        "--kl-threshold",
        type=float,
        default=0.01,
        show_default=True,
        help="Per-example KL (nats) below which a unit matches the prior.",
    ),
    click.option(
        "--collapsed-fraction",
        type=click.FloatRange(0, 1),
        default=0.99,
        show_default=True,
        help="Share of examples under --kl-threshold to call a unit collapsed.",
    ),
    click.option(
        "--mi-threshold",
        type=float,
        default=0.01,
        show_default=True,
        help="Information (nats) a unit, or z, must exceed to count.",
    ),
)


probe_options = _compose(
    click.option(
        "--labels",
        type=click.Path(exists=True),
        help="Extra label sets: .npz (one per array) or .npy.",
    ),
    click.option(
        "--folds",
        type=click.IntRange(min=2),
        default=5,
        show_default=True,
        help="Stratified folds for the probes.",
    ),
    click.option(
        "--permutations",
        type=click.IntRange(min=1),
        default=100,
        show_default=True,
        help="Permutations for the probes' p-values.",
    ),
    click.option(
        "--probe-samples",
        type=click.IntRange(min=1),
        default=2,
        show_default=True,
        help="Draws of z per example for the probes on samples.",
    ),
    click.option(
        "--jobs",
        type=click.IntRange(min=1),
        default=2,
        show_default=True,
        help="Parallel workers for the probes' folds.",
    ),
)


def prior_from_options(prior_mean, prior_logvar) -> Prior:
    if prior_mean is None and prior_logvar is None:
        return Prior.standard_normal()
    return Prior.diagonal(_floats(prior_mean) or 0.0, _floats(prior_logvar) or 0.0)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {' '.join(str(message).split())}", err=True)


def handle_errors(command):
    """Turn a LatentprobeError into one line on stderr and its exit code (unless --debug)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _one_line_warning
                return command(*args, **kwargs)
        except LatentprobeError as e:
            if kwargs.get("debug"):
                raise
            click.echo(f"error: {' '.join(str(e).split())}", err=True)
            sys.exit(e.exit_code)

    return wrapper


def command_line() -> str:
    return shlex.join(["latentprobe", *sys.argv[1:]])


def show_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()
