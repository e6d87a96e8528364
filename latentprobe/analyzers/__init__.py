"""Analyzers: pure functions over (N, D) arrays returning frozen, self-describing results.

No module here opens a file or imports a file library; ``latentprobe.store`` writes the
results and ``latentprobe.registry`` lists them.
"""

from .active_units import ActiveUnitsOptions, ActiveUnitsResult, active_units
from .distortion import DistortionOptions, DistortionResult, distortion
from .kl_divergence import KLDivergenceOptions, KLDivergenceResult, kl_divergence
from .log_likelihood import LogLikelihoodOptions, LogLikelihoodResult, log_likelihood
from .mutual_information import (
    MutualInformationOptions,
    MutualInformationResult,
    mutual_information,
)
from .probes import ProbeSetResult, ProbesOptions, ProbesResult, probes
from .result import Result, quantity

__all__ = [
    "ActiveUnitsOptions",
    "ActiveUnitsResult",
    "DistortionOptions",
    "DistortionResult",
    "KLDivergenceOptions",
    "KLDivergenceResult",
    "LogLikelihoodOptions",
    "LogLikelihoodResult",
    "MutualInformationOptions",
    "MutualInformationResult",
    "ProbeSetResult",
    "ProbesOptions",
    "ProbesResult",
    "Result",
    "active_units",
    "distortion",
    "kl_divergence",
    "log_likelihood",
    "mutual_information",
    "probes",
    "quantity",
]
