"""Analyzers: pure functions over (N, D) arrays returning frozen, HDF5-writable results."""

from .active_units import ActiveUnitsResult, active_units
from .kl_divergence import KLDivergenceResult, kl_divergence
from .mutual_information import MutualInformationResult, mutual_information
from .probes import ProbeConfig, ProbeSetResult, ProbesResult, probes

__all__ = [
    "ActiveUnitsResult",
    "KLDivergenceResult",
    "MutualInformationResult",
    "ProbeConfig",
    "ProbeSetResult",
    "ProbesResult",
    "active_units",
    "kl_divergence",
    "mutual_information",
    "probes",
]
