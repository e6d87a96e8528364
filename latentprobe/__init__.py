"""latentprobe: does a trained VAE's latent z carry information about x?"""

from . import errors
from .checkpoints import load_model
from .data import open_data
from .extraction import EncodeOptions, extract, extract_to_file
from .registry import ANALYSES, Analysis, register
from .report import Report, analyze
from .types import EncoderStats, Prior
from .verdict import Thresholds
from .version import __version__

__all__ = [
    "ANALYSES",
    "Analysis",
    "EncodeOptions",
    "EncoderStats",
    "Prior",
    "Report",
    "Thresholds",
    "__version__",
    "analyze",
    "errors",
    "extract",
    "extract_to_file",
    "load_model",
    "open_data",
    "register",
]
