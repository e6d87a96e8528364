"""latentprobe: does a trained VAE's latent z carry information about x?

The public names below are imported on first use (PEP 562), so that importing one part,
e.g. ``from latentprobe.analyzers import mutual_information``, loads only what it needs
(no HDF5 library for the analyzers).
"""

from importlib import import_module

from .version import __version__

_PUBLIC = {
    "ANALYSES": "registry",
    "Analysis": "registry",
    "register": "registry",
    "EncodeOptions": "extraction",
    "extract": "extraction",
    "extract_to_file": "extraction",
    "EncoderStats": "types",
    "Prior": "types",
    "Report": "report",
    "Monitor": "monitor",
    "LatentprobeCallback": "callback",
    "analyze": "report",
    "Thresholds": "verdict",
    "load_model": "checkpoints",
    "open_data": "data",
    "read_stats": "store",
    "write_stats": "store",
    "errors": None,
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'latentprobe' has no attribute {name!r}")
    module = import_module(f".{_PUBLIC[name] or name}", __name__)
    return module if _PUBLIC[name] is None else getattr(module, name)
