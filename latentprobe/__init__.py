"""latentprobe: does a trained VAE's latent z carry information about x?"""

__version__ = "0.1.0"

from . import errors  # noqa: E402
from .checkpoints import load_model  # noqa: E402
from .data import open_data  # noqa: E402
from .extraction import extract, extract_to_file  # noqa: E402
from .report import Report, analyze  # noqa: E402
from .stats import EncoderStats, Prior  # noqa: E402

__all__ = [
    "EncoderStats",
    "Prior",
    "Report",
    "analyze",
    "__version__",
    "errors",
    "extract",
    "extract_to_file",
    "load_model",
    "open_data",
]
