"""Click options: hand-written for the model and data, generated for every options
dataclass (the analyses' in the table, the encoder's, the verdict's thresholds), so that each
default has one source."""

from __future__ import annotations

import json
from pathlib import Path

import click

from latentprobe.data import first_line
from latentprobe.extraction import EncodeOptions
from latentprobe.options import CliField, cli_fields
from latentprobe.registry import ANALYSES
from latentprobe.verdict import Thresholds


def _floats(ctx, param, text):
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError as e:
        raise click.BadParameter(
            f"expected a number or comma-separated numbers, got {text!r}"
        ) from e
    return values[0] if len(values) == 1 else values


def _json_dict(ctx, param, text):
    """A JSON object, or ``@file`` naming a JSON or YAML (.yaml, .yml) file of one."""
    if text is None:
        return {}
    if text.startswith("@"):
        return _config_file(Path(text[1:]))
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise click.BadParameter(f"not valid JSON ({e.msg}): {text}") from e
    if not isinstance(value, dict):
        raise click.BadParameter("expected a JSON object such as '{\"latent_dim\": 16}'")
    return value


def _config_file(path: Path) -> dict:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise click.BadParameter(f"cannot read {path} as text: {first_line(e)}") from e
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as e:
            raise click.BadParameter(
                f"{path} is YAML: pip install 'latentprobe[yaml]', or give a JSON file"
            ) from e
        try:
            value = yaml.safe_load(text)  # plain data only: no tags that build objects
        except (yaml.YAMLError, RecursionError) as e:
            raise click.BadParameter(f"{path} is not valid YAML: {first_line(e)}") from e
    else:
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as e:
            raise click.BadParameter(f"{path} is not valid JSON ({first_line(e)})") from e
    if not isinstance(value, dict):
        raise click.BadParameter(f"{path} must hold a mapping of argument names to values")
    return value


def _names(ctx, param, text):
    if text is None:
        return ()
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names or len(set(names)) != len(names) or "x" in names:
        raise click.BadParameter(
            f"expected distinct comma-separated array names other than x, got {text!r}"
        )
    return names


def _shape(ctx, param, text):
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError as e:
        raise click.BadParameter(
            f"expected comma-separated integers such as 1,8,8, got {text!r}"
        ) from e


def compose(*decorators):
    def apply(f):
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return apply


model_options = compose(
    click.option(
        "--arch",
        help="Model class for weights-only checkpoints: module:Class or "
        "path/to/file.py:Class (the current folder is on the import path).",
    ),
    click.option(
        "--arch-kwargs",
        callback=_json_dict,
        help="Keyword arguments for the class or factory, as JSON ('{\"latent_dim\": 16}') "
        "or @file.json / @file.yaml (YAML needs latentprobe[yaml]).",
    ),
    click.option(
        "--state-dict-key",
        help="The key of a checkpoint dict that holds the weights, e.g. 'model' in "
        "{'epoch', 'model', 'optimizer'} (found alone when only one value is a state dict).",
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
        "--encode-method",
        help="Name of the model's method to call as method(x) instead of encode(), e.g. "
        "encode_stats (its output is read by the same conventions).",
    ),
)

decoder_options = compose(
    click.option(
        "--likelihood",
        help="How to score x given decode(z) for the decoder's analyses: bernoulli (logits), "
        "bernoulli-probs, gaussian[:sigma], gaussian-learned ((mean, logvar) returned), "
        "laplace[:b] or categorical (logits over token ids). Not needed for a decoder "
        "returning a torch.distributions object or a model that declares it.",
    ),
    click.option(
        "--log-likelihood",
        "log_likelihood_spec",
        help="module:function called as function(model, x, z) -> log p(x|z) of shape "
        "(batch, draws), z of shape (batch, draws, D), for decoders no convention fits.",
    ),
    click.option(
        "--checkpoint",
        "checkpoint_path",
        type=click.Path(),
        help="With a stats file: the checkpoint it was extracted from, for the decoder's "
        "analyses (give --data too).",
    ),
)

prior_options = compose(
    click.option("--prior-mean", callback=_floats, help="Prior mean: one number or one per unit."),
    click.option(
        "--prior-logvar", callback=_floats, help="Prior log-variance: one number or one per unit."
    ),
)

prior_file_option = click.option(
    "--prior-file",
    type=click.Path(),
    help="Mixture prior: .npz with weights (K,), means (K, D), logvars (K, D).",
)

data_options = compose(
    click.option(
        "--data",
        "data_spec",
        help="Data: file (.npz .npy .pt .h5[:/path]), "
        "sklearn:digits or module:function. Zoo checkpoints name their own.",
    ),
    click.option("--x-key", help="Name of the data array in .npz/.pt/.h5 files."),
    click.option("--labels-key", multiple=True, help="Label array name (repeatable)."),
    click.option("--input-shape", callback=_shape, help="Reshape each example, e.g. 1,8,8."),
    click.option(
        "--encoder-inputs",
        callback=_names,
        help="Arrays of the .npz the encoder takes beside x, comma-separated (lengths, masks, "
        "conditions): encode(x, lengths, ...) in this order; an --encode function gets the "
        "batch as a mapping {'x': ..., 'lengths': ...}.",
    ),
)

run_options = compose(
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of every draw."),
    click.option("--quiet", is_flag=True, help="No progress bar."),
    click.option("--debug", is_flag=True, help="Show tracebacks."),
)

selection_options = compose(
    click.option("--only", multiple=True, help="Run only these analyses (comma-separated)."),
    click.option("--skip", multiple=True, help="Skip these analyses (comma-separated)."),
    click.option(
        "--labels",
        "labels_file",
        type=click.Path(exists=True),
        help="Extra label sets: .npz (one per array) or .npy.",
    ),
)


def _click_type(f: CliField):
    if f.choices:
        return click.Choice(f.choices)
    if f.minimum is not None or f.maximum is not None:
        ranged = click.IntRange if f.type is int else click.FloatRange
        return ranged(min=f.minimum, max=f.maximum)
    return f.type


def _click_option(f: CliField, dest: str):
    if f.type is bool:
        names = (f"{f.flag}/--no-{f.flag[2:]}",)
        return click.option(*names, dest, default=f.default, show_default=True, help=f.help)
    return click.option(
        f.flag,
        *f.aliases,
        dest,
        type=_click_type(f),
        default=f.default,
        show_default=f.default is not None,
        help=f.help,
    )


def dest(group: str, name: str) -> str:
    """The click parameter name of field ``name`` of options group ``group``."""
    return f"{group}__{name}"


def settings_options(groups: dict[str, type]):
    """Click options for every flagged field of each options dataclass in ``groups``."""
    return compose(
        *(
            _click_option(f, dest(group, f.name))
            for group, settings_type in groups.items()
            for f in cli_fields(settings_type)
        )
    )


def build(group: str, settings_type: type, params: dict):
    """``settings_type(**values)`` by keyword from the parsed click parameters."""
    values = {f.name: params[dest(group, f.name)] for f in cli_fields(settings_type)}
    return settings_type(**values)


ENCODING = {"encoding": EncodeOptions}
checkpoint_options = compose(
    model_options, prior_options, data_options, settings_options(ENCODING), run_options
)
ANALYSIS_SETTINGS = {name: a.options_type for name, a in ANALYSES.items()}
THRESHOLDS = {"thresholds": Thresholds}
