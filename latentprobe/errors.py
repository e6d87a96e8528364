"""Errors a user can fix, one class per kind of failure.

The command line maps each class to its own exit code (``exit_code``) and prints the
message on one line; the Python API raises them as they are.
"""


class LatentprobeError(Exception):
    """Base class of every error latentprobe raises on bad input."""

    exit_code = 1


class CheckpointError(LatentprobeError):
    """A checkpoint is missing, corrupt, truncated or does not match its architecture."""

    exit_code = 4


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint can only be loaded by running code from it and trust was not given."""

    exit_code = 3


class ArchitectureError(LatentprobeError):
    """The architecture named by ``--arch`` (or ``--encode``) cannot be imported or built."""

    exit_code = 5


class EncoderOutputError(LatentprobeError):
    """The encoder returned something that is not a diagonal Gaussian of the right shape."""

    exit_code = 6


class DataError(LatentprobeError):
    """The data or labels cannot be read, are empty, or do not line up."""

    exit_code = 7


class StatsFileError(LatentprobeError):
    """A stats or report file is not latentprobe's, is from a newer schema, or is damaged."""

    exit_code = 8


class OutputError(LatentprobeError):
    """The output cannot be written: missing folder, or an existing file without --force."""

    exit_code = 9


class AnalysisError(LatentprobeError):
    """An analysis was asked for with options or inputs it cannot work with."""

    exit_code = 10
