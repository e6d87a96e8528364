"""Option fields: ``option(...)`` is a dataclass field with its default and CLI metadata;
``cli_fields`` lists exactly the flagged ones, with what click needs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from latentprobe.analyzers.mutual_information import MutualInformationOptions
from latentprobe.options import CliField, cli_fields, option


@dataclass(frozen=True)
class Settings:
    count: int = option(3, "How many.", flag="--count", minimum=1)
    limit: int | None = option(
        None, "At most.", flag="--limit", aliases=("--old-limit", "--cap"), minimum=2, maximum=9
    )
    hidden: float = option(0.5, "No flag: not on the command line.")
    mode: str = option("fast", "Which mode.", flag="--mode", choices=("fast", "slow"))
    scale: float | None = option(None, "Optional scale.", flag="--scale", maximum=1.0)
    verbose: bool = option(False, "Talk more.", flag="--verbose")
    also_hidden: int = option(7, "Another field without a flag.", flag=None)


def by_name() -> dict[str, CliField]:
    return {f.name: f for f in cli_fields(Settings)}


def test_option_is_a_dataclass_field_with_its_default():
    s = Settings()
    assert (s.count, s.limit, s.hidden, s.mode, s.scale, s.verbose, s.also_hidden) == (
        3,
        None,
        0.5,
        "fast",
        None,
        False,
        7,
    )
    assert Settings(count=5).count == 5
    meta = {f.name: f.metadata for f in dataclasses.fields(Settings)}
    assert meta["hidden"]["help"] == "No flag: not on the command line."
    assert meta["hidden"]["flag"] is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.count = 4


def test_cli_fields_lists_exactly_the_flagged_fields_in_order():
    assert [f.name for f in cli_fields(Settings)] == ["count", "limit", "mode", "scale", "verbose"]
    assert [f.flag for f in cli_fields(Settings)] == [
        "--count",
        "--limit",
        "--mode",
        "--scale",
        "--verbose",
    ]


def test_base_types_drop_none():
    fields = by_name()
    assert fields["count"].type is int
    assert fields["limit"].type is int  # int | None
    assert fields["mode"].type is str
    assert fields["scale"].type is float  # float | None
    assert fields["verbose"].type is bool


def test_defaults_help_aliases_ranges_and_choices():
    fields = by_name()
    assert fields["count"] == CliField("count", "--count", (), int, 3, "How many.", 1, None, None)
    assert fields["limit"] == CliField(
        "limit", "--limit", ("--old-limit", "--cap"), int, None, "At most.", 2, 9, None
    )
    assert fields["mode"].choices == ("fast", "slow") and fields["mode"].default == "fast"
    assert fields["mode"].minimum is None and fields["mode"].maximum is None
    assert fields["scale"].minimum is None and fields["scale"].maximum == 1.0
    assert fields["verbose"].default is False and fields["verbose"].aliases == ()


def test_a_class_without_flags_has_no_cli_fields():
    @dataclass(frozen=True)
    class Quiet:
        a: int = option(1, "A.")

    assert cli_fields(Quiet) == []


def test_a_real_options_class():
    """``max_points`` is ``int | None`` with an old alias: it is offered as an int."""
    fields = {f.name: f for f in cli_fields(MutualInformationOptions)}
    assert {"draws_per_example", "max_points"} <= set(fields)
    assert fields["max_points"].type is int and fields["max_points"].default is None
    assert fields["max_points"].flag == "--max-points"
    assert fields["max_points"].aliases == ("--max-samples",)
    assert fields["max_points"].minimum == 2
    assert fields["draws_per_example"].default == MutualInformationOptions().draws_per_example


def test_options_are_checked_when_built():
    from latentprobe.errors import OptionsError
    from latentprobe.extraction import EncodeOptions
    from latentprobe.verdict import Thresholds

    with pytest.raises(OptionsError, match="--collapsed-fraction must be at most 1.0, got 5"):
        Thresholds(collapsed_fraction=5)
    with pytest.raises(OptionsError, match="--batch-size must be at least 1, got 0"):
        EncodeOptions(batch_size=0)
    with pytest.raises(OptionsError, match="--param must be one of logvar"):
        EncodeOptions(param="sigma")
    with pytest.raises(OptionsError, match="--batch-size must be of type int, got 2.5"):
        EncodeOptions(batch_size=2.5)
    assert Thresholds(kl_threshold=1).kl_threshold == 1  # an int is a fine float


def test_analyze_refuses_thresholds_of_the_wrong_type():
    import numpy as np

    import latentprobe
    from latentprobe.errors import OptionsError

    stats = latentprobe.EncoderStats(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(OptionsError, match="thresholds must be a Thresholds, got dict"):
        latentprobe.analyze(stats, thresholds={"kl_threshold": 0.1})
