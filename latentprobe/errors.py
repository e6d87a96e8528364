"""Errors a user can fix, one class per thing to fix.

The command line maps each class to its own exit code (``exit_code``) and prints the
message on one line; the Python API raises them as they are. The class names the cause, not
the module that noticed it: a CUDA device that is missing is a ``DeviceError`` wherever it is
found.
"""


class LatentprobeError(Exception):
    """Base class of every error latentprobe raises on bad input."""

    exit_code = 1


class OptionsError(LatentprobeError):
    """An option's value, or a combination of options, cannot work (same code as click's)."""

    exit_code = 2


class CheckpointError(LatentprobeError):
    """A checkpoint is missing, corrupt, truncated or does not match its architecture."""

    exit_code = 4


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint can only be loaded by running code from it and trust was not given."""

    exit_code = 3


class ArchitectureError(LatentprobeError):
    """The architecture named by ``--arch`` (or ``--encode``) cannot be imported or built."""

    exit_code = 5


class PosteriorError(LatentprobeError):
    """Posterior parameters are not finite diagonal Gaussians of one shape (N, D)."""

    exit_code = 6


class EncoderOutputError(PosteriorError):
    """The encoder returned something that is not a diagonal Gaussian of the right shape."""


class DataError(LatentprobeError):
    """The data or a label file cannot be read, is empty, or does not line up."""

    exit_code = 7


class StatsFileError(LatentprobeError):
    """A stats or report file is not latentprobe's, is from a newer schema, or is damaged."""

    exit_code = 8


class OutputError(LatentprobeError):
    """The output cannot be written: missing folder, or an existing file without --force."""

    exit_code = 9


class AnalysisError(LatentprobeError):
    """An analysis cannot run on the inputs it was given (probes without labels, ...)."""

    exit_code = 10


class PriorError(LatentprobeError):
    """The prior given (options or a prior file) is malformed or does not fit the units."""

    exit_code = 11


class DeviceError(LatentprobeError):
    """The device asked for (``--device cuda``) is not available."""

    exit_code = 12


class DecoderOutputError(LatentprobeError):
    """The decoder's output cannot be scored as log p(x|z): no ``--likelihood`` for a tensor,
    a shape that does not fit x, or a ``--log-likelihood`` function returning the wrong shape."""

    exit_code = 13
