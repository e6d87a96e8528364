"""Recognise a checkpoint file or folder and load it into an ``nn.Module``, step by step.

Nothing read from a checkpoint is imported, evaluated or called: architectures come from
``--arch`` (the user's own code) or, for zoo checkpoints, from the table in
``latentprobe.zoo``. Every load that can be made safe calls ``torch.load`` with
``weights_only=True``. Pickled modules and TorchScript archives run code from the file, so
they load only with ``trust_checkpoint=True``.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import pathlib
import pickle
import pickletools
import re
import reprlib
import sys
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

try:  # numpy 2 moved it; the pickles name the module of the numpy that wrote them
    from numpy._core.multiarray import scalar as numpy_scalar
except ImportError:  # numpy 1
    from numpy.core.multiarray import scalar as numpy_scalar

from . import zoo
from .data import first_line, import_from_spec, importable_from_cwd
from .errors import ArchitectureError, CheckpointError, UnsafeCheckpointError


@dataclass(frozen=True)
class CheckpointFormat:
    name: str
    description: str
    needs_arch: bool = False
    needs_trust: bool = False


FORMATS = [
    CheckpointFormat("state-dict", "torch.save(model.state_dict())", needs_arch=True),
    CheckpointFormat(
        "lightning",
        "Lightning checkpoint {'state_dict', 'hyper_parameters'}; prefix like 'model.' stripped",
        needs_arch=True,
    ),
    CheckpointFormat(
        "state-dict-under-key",
        "a dict whose only state dict is under some key ({'epoch', 'model', 'optimizer'}), "
        "or under --state-dict-key",
        needs_arch=True,
    ),
    CheckpointFormat(
        "model-state-dict",
        "{'model_state_dict': ...} (pythae model.pt, training scripts)",
        needs_arch=True,
    ),
    CheckpointFormat(
        "safetensors", ".safetensors weights (the safetensors extra)", needs_arch=True
    ),
    CheckpointFormat(
        "pythae-folder",
        "pythae folder (model_config.json + model.pt), rebuilt through pythae, or with --arch",
    ),
    CheckpointFormat(
        "specs-folder",
        "disentangling-vae folder (specs.json + model.pt): specs fill the constructor",
        needs_arch=True,
    ),
    CheckpointFormat(
        "diffusers-folder",
        "diffusers save_pretrained folder (config.json + safetensors), AutoencoderKL built "
        "through diffusers (the diffusers extra), or with --arch",
    ),
    CheckpointFormat("zoo", "latentprobe's own zoo checkpoint (architecture named from a table)"),
    CheckpointFormat(
        "pickled-module", "torch.save(model): runs code from the file", needs_trust=True
    ),
    CheckpointFormat(
        "torchscript", "torch.jit.save archive: runs code from the file", needs_trust=True
    ),
]


@dataclass
class LoadedModel:
    """A model ready for encoding, with what provenance needs to know about its source."""

    model: nn.Module
    format: str
    files: tuple[Path, ...]
    trusted: bool = False
    dataset: str | None = None
    #: Where in training the checkpoint was saved: Lightning's ``epoch`` and
    #: ``global_step`` (plain integers only), empty when the file does not say.
    training: dict = field(default_factory=dict)
    #: The key of the checkpoint dict the weights were read from, for state-dict-under-key.
    weights_key: str | None = None


# --------------------------------------------------------------------------- architecture


def resolve_arch(spec: str) -> Callable:
    """The class, or factory function, named by ``module:name`` or ``path/to/file.py:name``."""
    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name:
        raise ArchitectureError(f"--arch {spec!r} must look like module:Class or file.py:Class")
    if target.endswith(".py"):
        cls = _attr_from_file(Path(target), name, spec)
    else:
        cls = import_from_spec(spec, "--arch", error=ArchitectureError)
    if not callable(cls):
        raise ArchitectureError(
            f"--arch {spec!r} is a {type(cls).__name__}, not a class or a factory function"
        )
    return cls


def _attr_from_file(path: Path, name: str, spec: str):
    if not path.is_file():
        raise ArchitectureError(f"--arch file not found: {path}")
    module_name = f"latentprobe_arch_{path.stem}"
    try:
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        module_spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - running the user's --arch file
        raise ArchitectureError(f"cannot import {path} for --arch {spec!r}: {e}") from e
    if not hasattr(module, name):
        raise ArchitectureError(f"{path} has no class {name!r} (from --arch {spec!r})")
    return getattr(module, name)


def build_model(cls: Callable, kwargs: dict, hyper_parameters: dict | None = None) -> nn.Module:
    """Call ``cls`` (a class or a factory function); saved hyperparameters (Lightning's, a
    Namespace's, a specs file's) fill the arguments it accepts that kwargs do not give."""
    kwargs = dict(kwargs)
    if hyper_parameters:
        accepted = _accepted_arguments(cls)
        for key, value in hyper_parameters.items():
            if key not in kwargs and (accepted is None or key in accepted):
                kwargs[key] = value
    try:
        model = cls(**kwargs)
    except Exception as e:  # noqa: BLE001 - the constructor is the user's code
        hint = "check --arch-kwargs"
        if isinstance(e, TypeError) and "required" in str(e):
            hint += (
                "; a constructor that takes sub-modules (encoder, decoder) needs a small class "
                "of yours that builds them from plain arguments, named with --arch (README: "
                "Models from other codebases)"
            )
        name = getattr(cls, "__name__", repr(cls))
        raise ArchitectureError(
            f"cannot build {name}(**{reprlib.repr(kwargs)}): {e}; {hint}"
        ) from e
    if not isinstance(model, nn.Module):
        raise ArchitectureError(
            f"{getattr(cls, '__name__', cls)} gave a {type(model).__name__}, not a torch.nn.Module"
        )
    return model


def _accepted_arguments(cls: type) -> set[str] | None:
    params = inspect.signature(cls).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


# --------------------------------------------------------------------------- state dicts


def _describe_mismatch(model_sd: dict, sd: dict) -> str:
    missing = [k for k in model_sd if k not in sd]
    unexpected = [k for k in sd if k not in model_sd]
    shapes = [
        f"{k} {tuple(sd[k].shape)} vs {tuple(model_sd[k].shape)}"
        for k in model_sd
        if k in sd and tuple(sd[k].shape) != tuple(model_sd[k].shape)
    ]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
        if items:
            more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
            parts.append(f"{label}: {', '.join(items[:3])}{more}")
    return "; ".join(parts)


#: Leading key segments stripped when the keys need it: up to this many (Lightning's
#: ``model.`` around torch.compile's ``_orig_mod.``, DDP's ``module.``).
PREFIX_DEPTH = 3


def _candidates(sd: dict):
    """("", ``sd``), then (prefix, ``sd`` restricted to that prefix, stripped) for each
    shared prefix of 1 to PREFIX_DEPTH leading segments."""
    yield "", sd
    for depth in range(1, PREFIX_DEPTH + 1):
        heads = sorted({".".join(k.split(".")[:depth]) for k in sd if k.count(".") >= depth})
        for head in heads:
            start = head + "."
            yield head, {k[len(start) :]: v for k, v in sd.items() if k.startswith(start)}


def checked_state_dict(sd, source: Path, key: str | None = None) -> dict:
    """``sd`` (found under ``key`` of the checkpoint) checked to map names to tensors."""
    where = f" under {key!r}" if key else ""
    if not isinstance(sd, dict):
        raise CheckpointError(
            f"{source} holds no state dict{where} (found {type(sd).__name__}); "
            "save model.state_dict() with torch.save"
        )
    for name, value in sd.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"{source}: state dict{where} maps {reprlib.repr(name)} to a "
                f"{type(value).__name__}, where names map to tensors; "
                "save model.state_dict() with torch.save"
            )
    return sd


def load_weights(model: nn.Module, sd, source: Path, key: str | None = None) -> None:
    """Load ``sd`` exactly, stripping leading prefixes (``model.``, ``module.``,
    ``model._orig_mod.``) when the keys need it."""
    sd = checked_state_dict(sd, source, key)
    model_sd = model.state_dict()
    fits = [(prefix, c) for prefix, c in _candidates(sd) if _fits(c, model_sd)]
    if len(fits) > 1 and fits[0][0]:  # several sub-models fit (encoder. and decoder., EMA)
        prefixes = ", ".join(repr(prefix) for prefix, _ in fits)
        raise CheckpointError(
            f"{source}: the weights under {prefixes} all fit {type(model).__name__}; name "
            "the model's with --state-dict-key"
        )
    if fits:
        model.load_state_dict(fits[0][1], strict=True)
        return
    raise CheckpointError(
        f"{source}: weights do not match {type(model).__name__}: {_describe_mismatch(model_sd, sd)}"
    )


def _fits(candidate: dict, model_sd: dict) -> bool:
    return candidate.keys() == model_sd.keys() and all(
        tuple(candidate[k].shape) == tuple(model_sd[k].shape) for k in model_sd
    )


def _tensor_dict(obj) -> bool:
    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


# --------------------------------------------------------------------------- file kinds


def _zip_names(path: Path) -> list[str]:
    """The members of a zip archive (torch.save's format, and TorchScript's); [] for a file
    that is not a zip archive."""
    try:
        if not zipfile.is_zipfile(path):
            return []
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except Exception as e:  # noqa: BLE001 - zipfile raises many kinds of error on damaged bytes
        raise CheckpointError(
            f"{path} is a damaged zip archive ({first_line(e)}); re-save it with torch.save"
        ) from e


def _is_torchscript(path: Path) -> bool:
    return any("/code/" in n or n.endswith("/constants.pkl") for n in _zip_names(path))


# torch names the global in "Unsupported global: GLOBAL x.y" or "unsupported GLOBAL x.y"
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_OPCODE = re.compile(r"Unsupported operand (\d+)")


def _full_unpickler_reason(path: Path, message: str) -> str | None:
    """Why a checkpoint the weights-only unpickler refused needs the full one (which runs
    code): the global torch named, or an opcode only the full unpickler reads in a
    well-formed pickle (protocol 4, STACK_GLOBAL). None: the file is damaged."""
    if found := _GLOBAL.search(message):
        return found.group(1)
    if (found := _OPCODE.search(message)) and _well_formed_pickle(path):
        return f"pickle opcode {int(found.group(1)):#x}, read only by the full unpickler"
    return None


def _well_formed_pickle(path: Path) -> bool:
    """Whether the pickle of ``path`` (``*/data.pkl`` of a torch zip) parses to its end."""
    try:
        for _ in pickletools.genops(_pickle_bytes(path)):
            pass
    except Exception:  # noqa: BLE001 - zipfile and pickletools raise anything on damaged bytes
        return False
    return True


def _pickle_bytes(path: Path) -> bytes:
    members = [n for n in _zip_names(path) if n.endswith("/data.pkl")]
    if not members:
        return path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        return archive.read(members[0])


def _harmless_globals() -> list:
    """Types that codebases leave in checkpoint dicts and that the weights-only unpickler may
    build without running code from the file: ``argparse.Namespace`` (beta-TCVAE saves its
    arguments so), ``pathlib`` paths (Lightning hyperparameters), numpy scalars and dtypes
    (epochs, losses). Each only stores values; none calls anything named in the file."""
    dtypes = "f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 ? c8 c16".split()
    return [
        argparse.Namespace,
        pathlib.PosixPath,
        pathlib.PurePosixPath,
        pathlib.WindowsPath,
        pathlib.PureWindowsPath,
        np.dtype,
        numpy_scalar,
        *(type(np.dtype(code)) for code in dtypes),
    ]


def _check_numpy_values(obj, path: Path, depth: int = 0) -> None:
    """Refuse numpy dtypes (alone or of scalars) that a plain dtype would not equal: the
    unpickler sets a dtype's state from the file, and a forged one (a subarray or fields
    behind a float64 name) would make numpy read past a buffer wherever it is used."""
    if depth > 50:
        return
    if isinstance(obj, argparse.Namespace):
        obj = vars(obj)
    if isinstance(obj, dict):
        values = obj.values()
    elif isinstance(obj, (list, tuple)):
        values = obj
    else:
        dtype = obj if isinstance(obj, np.dtype) else getattr(obj, "dtype", None)
        if isinstance(obj, (np.dtype, np.generic)) and not _plain_dtype(dtype):
            raise CheckpointError(
                f"{path} holds a malformed numpy dtype ({dtype!r}); re-save the checkpoint"
            )
        return
    for value in values:
        _check_numpy_values(value, path, depth + 1)


def _plain_dtype(dtype: np.dtype) -> bool:
    try:
        return dtype.fields is None and dtype.subdtype is None and dtype == np.dtype(dtype.str)
    except Exception:  # noqa: BLE001 - a forged dtype may fail in any comparison
        return False


def _torch_load(path: Path, map_location, trusted: bool):
    """(object, whether the full unpickler was used): weights-only first; the full
    unpickler only when the file needs it and trust was given."""
    try:
        with warnings.catch_warnings():  # the error says it better than torch's warning
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            with torch.serialization.safe_globals(_harmless_globals()):
                obj = torch.load(path, weights_only=True, map_location=map_location)
            _check_numpy_values(obj, path)
            return obj, False
    except pickle.UnpicklingError as e:
        reason = _full_unpickler_reason(path, str(e))
        if reason is None:
            raise CheckpointError(
                f"{path} is corrupt or truncated; re-save it with torch.save"
            ) from e
        if not trusted:
            raise UnsafeCheckpointError(
                f"{path} holds pickled Python objects ({reason}) that can run arbitrary "
                "code when loaded; re-run with --trust-checkpoint only if you trust its source, "
                "or save model.state_dict() and pass --arch"
            ) from e
    except Exception as e:  # noqa: BLE001 - the unpickler raises anything on garbage bytes
        raise CheckpointError(
            f"{path} is corrupt or truncated ({first_line(e)}); re-save it with torch.save"
        ) from e
    importable_from_cwd()
    try:
        return torch.load(path, weights_only=False, map_location=map_location), True
    except Exception as e:  # noqa: BLE001 - a trusted pickle runs its own code
        raise CheckpointError(f"cannot unpickle {path}: {first_line(e)}") from e


def _need_arch(arch, path: Path, kind: str) -> type:
    if arch is None:
        raise ArchitectureError(
            f"{path} is a {kind} (weights only); name its class with --arch module:Class"
        )
    return resolve_arch(arch) if isinstance(arch, str) else arch


def _weights_under(obj: dict, path: Path, arch, arch_kwargs, key: str) -> nn.Module:
    """The model built by --arch (arguments saved beside the weights fill it) with the
    weights under ``key`` of the checkpoint dict."""
    model = build_model(_need_arch(arch, path, "state dict"), arch_kwargs, _saved_arguments(obj))
    load_weights(model, obj[key], path, key)
    return model


def _from_state_dict(obj, path, arch, arch_kwargs) -> tuple[nn.Module, str, str | None, str | None]:
    """Build the model for a dict read by torch.load; returns (model, format, dataset, the
    key the weights were under when the format is state-dict-under-key)."""
    if isinstance(obj, dict) and zoo.ZOO_KEY in obj:
        return (*_from_zoo(obj, path, arch_kwargs), None)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        model = build_model(
            _need_arch(arch, path, "Lightning checkpoint"), arch_kwargs, _saved_arguments(obj)
        )
        load_weights(model, obj["state_dict"], path, "state_dict")
        return model, "lightning", None, None
    if isinstance(obj, dict) and isinstance(obj.get("model_state_dict"), dict):
        model = build_model(_need_arch(arch, path, "model_state_dict checkpoint"), arch_kwargs)
        load_weights(model, obj["model_state_dict"], path, "model_state_dict")
        return model, "model-state-dict", None, None
    if _tensor_dict(obj):
        model = build_model(_need_arch(arch, path, "state dict"), arch_kwargs)
        load_weights(model, obj, path)
        return model, "state-dict", None, None
    under = [k for k, v in obj.items() if _tensor_dict(v)] if isinstance(obj, dict) else []
    if len(under) == 1:  # {'epoch', 'model', 'optimizer'}: the optimizer's is no tensor dict
        model = _weights_under(obj, path, arch, arch_kwargs, under[0])
        return model, "state-dict-under-key", None, under[0]
    if len(under) > 1:
        raise CheckpointError(
            f"{path} holds several state dicts (under {', '.join(map(repr, under))}); "
            "name the model's with --state-dict-key"
        )
    keys = ", ".join(reprlib.repr(k) for k in list(obj)[:5]) if isinstance(obj, dict) else ""
    raise CheckpointError(
        f"{path} holds no state dict ({f'keys {keys}' if keys else type(obj).__name__}); "
        "expected a state dict, {'state_dict': ...} or {'model_state_dict': ...}"
    )


def _saved_arguments(obj: dict) -> dict | None:
    """Constructor arguments saved beside the weights: Lightning's ``hyper_parameters``, or
    an ``argparse.Namespace`` under ``args`` (beta-TCVAE's checkpoints)."""
    hparams = obj.get("hyper_parameters")
    if isinstance(hparams, dict):
        return hparams
    args = obj.get("args")
    return vars(args) if isinstance(args, argparse.Namespace) else None


_PLAIN = (str, int, float, bool, type(None))


def _zoo_meta(obj: dict, path: Path) -> tuple[str, dict, str | None]:
    """(architecture, constructor arguments, dataset) of a zoo checkpoint, checked to be a
    name from the table, plain values and a string."""
    meta = obj[zoo.ZOO_KEY]
    meta = meta if isinstance(meta, dict) else {}
    name, kwargs, dataset = meta.get("arch"), meta.get("kwargs", {}), meta.get("dataset")
    if not isinstance(name, str) or name not in zoo.ARCHITECTURES:
        raise CheckpointError(
            f"{path} names zoo architecture {reprlib.repr(name)}, which latentprobe does "
            f"not have (known: {sorted(zoo.ARCHITECTURES)})"
        )
    if not isinstance(kwargs, dict) or not all(
        isinstance(k, str) and isinstance(v, _PLAIN) for k, v in kwargs.items()
    ):
        raise CheckpointError(
            f"{path}: zoo kwargs must map names to numbers, strings or booleans, got "
            f"{reprlib.repr(kwargs)}; re-save it with latentprobe.zoo.zoo_checkpoint"
        )
    if not isinstance(dataset, (str, type(None))):
        raise CheckpointError(
            f"{path}: zoo dataset must be a name, got a {type(dataset).__name__}; pass --data"
        )
    return name, kwargs, dataset


def _from_zoo(obj: dict, path: Path, arch_kwargs: dict):
    name, kwargs, dataset = _zoo_meta(obj, path)
    model = build_model(zoo.ARCHITECTURES[name], {**kwargs, **arch_kwargs})
    load_weights(model, obj.get("state_dict"), path, "state_dict")
    return model, "zoo", dataset


def _load_file(path: Path, arch, arch_kwargs, trusted, map_location, key=None) -> LoadedModel:
    if path.suffix == ".safetensors":
        return LoadedModel(_from_safetensors(path, arch, arch_kwargs), "safetensors", (path,))
    if _is_torchscript(path):
        return _from_torchscript(path, trusted, map_location)
    obj, used_pickle = _torch_load(path, map_location, trusted)
    if isinstance(obj, nn.Module):
        return LoadedModel(obj, "pickled-module", (path,), trusted=True)
    if key is not None:
        return _from_key(obj, path, arch, arch_kwargs, key, used_pickle)
    model, fmt, dataset, key = _from_state_dict(obj, path, arch, arch_kwargs)
    return LoadedModel(
        model,
        fmt,
        (path,),
        trusted=used_pickle,
        dataset=dataset,
        training=_training_position(obj),
        weights_key=key,
    )


def _from_key(obj, path: Path, arch, arch_kwargs, key: str, used_pickle: bool) -> LoadedModel:
    """The weights under ``--state-dict-key``: a key of the checkpoint dict, or a key
    prefix of a flat state dict (``ema_model`` for ``ema_model.*``)."""
    if _tensor_dict(obj) and key not in obj:
        start = key + "."
        obj = {key: {k[len(start) :]: v for k, v in obj.items() if k.startswith(start)}}
        obj = obj if obj[key] else {}
    if not isinstance(obj, dict) or key not in obj:
        keys = ", ".join(map(repr, list(obj)[:8])) if isinstance(obj, dict) else ""
        raise CheckpointError(
            f"{path} has no key {key!r} (keys: {keys or type(obj).__name__}); "
            "check --state-dict-key"
        )
    model = _weights_under(obj, path, arch, arch_kwargs, key)
    return LoadedModel(
        model,
        "state-dict-under-key",
        (path,),
        trusted=used_pickle,
        training=_training_position(obj),
        weights_key=key,
    )


def _training_position(obj) -> dict:
    """``epoch`` and ``global_step`` of a checkpoint dict (Lightning saves both), when they
    are plain integers (numpy ones included)."""
    if not isinstance(obj, dict):
        return {}
    found = {}
    for key in ("epoch", "global_step"):
        value = obj.get(key)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            found[key] = int(value)
    return found


def _read_safetensors(path: Path) -> dict:
    try:
        from safetensors.torch import load_file
    except ImportError as e:
        raise CheckpointError(
            "reading .safetensors needs the safetensors package: "
            "pip install 'latentprobe[safetensors]'"
        ) from e
    try:
        return load_file(str(path), device="cpu")
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error type
        raise CheckpointError(f"{path} is corrupt or truncated ({first_line(e)})") from e


def _from_safetensors(path: Path, arch, arch_kwargs) -> nn.Module:
    sd = _read_safetensors(path)
    model = build_model(_need_arch(arch, path, "safetensors file"), arch_kwargs)
    load_weights(model, sd, path)
    return model


#: diffusers' autoencoders that latentprobe builds from a ``save_pretrained`` folder: the
#: config's ``_class_name`` is looked up here, never imported by name.
DIFFUSERS_CLASSES = ("AutoencoderKL",)
DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"


def _is_diffusers_folder(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / DIFFUSERS_WEIGHTS).is_file()


def _json_object(path: Path, what: str) -> dict:
    """The JSON object in ``path``; a CheckpointError naming ``what`` it should be otherwise."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as e:
        raise CheckpointError(f"cannot read {path} ({first_line(e)})") from e
    if not isinstance(value, dict):
        raise CheckpointError(f"{path} is not {what} (a JSON object)")
    return value


def _from_diffusers_folder(folder: Path, arch, arch_kwargs) -> LoadedModel:
    """A diffusers ``save_pretrained`` folder: the class from config.json (one of
    ``DIFFUSERS_CLASSES``, built by diffusers' ``from_config``; or --arch), the weights from
    the safetensors file. Encoding goes through the model's ``encode`` (``.latent_dist``)."""
    config_path, weights_path = folder / "config.json", folder / DIFFUSERS_WEIGHTS
    config = _json_object(config_path, "a diffusers config")
    sd = _read_safetensors(weights_path)
    if arch is not None:
        model = build_model(_need_arch(arch, folder, "diffusers folder"), arch_kwargs)
    else:
        model = _build_diffusers(config, config_path)
    load_weights(model, sd, weights_path)
    return LoadedModel(model, "diffusers-folder", (config_path, weights_path))


def _build_diffusers(config: dict, config_path: Path) -> nn.Module:
    name = config.get("_class_name")
    if name not in DIFFUSERS_CLASSES:
        raise ArchitectureError(
            f"{config_path} names {name!r}; latentprobe builds {list(DIFFUSERS_CLASSES)} from "
            "diffusers folders: pass --arch for another class"
        )
    try:
        import diffusers
    except ImportError as e:
        raise ArchitectureError(
            f"{config_path} is a diffusers folder: pip install 'latentprobe[diffusers]'"
        ) from e
    try:
        return getattr(diffusers, name).from_config(config)
    except Exception as e:  # noqa: BLE001 - the library's constructor checks the config
        raise ArchitectureError(f"cannot build {name} from {config_path}: {first_line(e)}") from e


def _from_torchscript(path: Path, trusted: bool, map_location) -> LoadedModel:
    if not trusted:
        raise UnsafeCheckpointError(
            f"{path} is a TorchScript archive, which runs code from the file when loaded; "
            "re-run with --trust-checkpoint only if you trust its source"
        )
    try:
        model = torch.jit.load(str(path), map_location=map_location)
    except Exception as e:  # noqa: BLE001 - a trusted TorchScript archive runs its own code
        raise CheckpointError(f"{path} is a corrupt TorchScript archive ({first_line(e)})") from e
    return LoadedModel(model, "torchscript", (path,), trusted=True)


# --------------------------------------------------------------------------- pythae folders


def _from_specs_folder(folder: Path, arch, arch_kwargs, map_location) -> LoadedModel:
    """disentangling-vae's layout: ``specs.json`` (the training arguments, e.g. latent_dim,
    img_size) fills the constructor named by --arch; ``model.pt`` holds the state dict."""
    specs_path, weights_path = folder / "specs.json", folder / "model.pt"
    specs = _json_object(specs_path, "a file of training arguments")
    obj, _ = _torch_load(weights_path, map_location, trusted=False)
    model = build_model(_need_arch(arch, folder, "specs.json folder"), arch_kwargs, specs)
    key = "model_state_dict" if isinstance(obj, dict) and "model_state_dict" in obj else None
    load_weights(model, obj[key] if key else obj, weights_path, key)
    return LoadedModel(model, "specs-folder", (specs_path, weights_path))


def _from_pythae_folder(folder: Path, arch, arch_kwargs, trusted, map_location) -> LoadedModel:
    config_path, weights_path = folder / "model_config.json", folder / "model.pt"
    config = _json_object(config_path, "a pythae model config")
    if not isinstance(config.get("name", ""), str):
        raise CheckpointError(
            f"{config_path} is not a pythae model config (a JSON object with a name); "
            "save the model with pythae's model.save"
        )
    obj, _ = _torch_load(weights_path, map_location, trusted=False)
    files = (config_path, weights_path)
    if arch is not None:
        model = _from_state_dict(obj, weights_path, arch, arch_kwargs)[0]
        return LoadedModel(model, "pythae-folder", files)
    model, extra = _build_pythae(folder, config, trusted)
    key = "model_state_dict" if isinstance(obj, dict) and "model_state_dict" in obj else None
    load_weights(model, obj[key] if key else obj, weights_path, key)
    return LoadedModel(model, "pythae-folder", files + extra, trusted=bool(extra))


def _pythae_classes(folder: Path, config_name: str) -> tuple[type, type]:
    """pythae's config and model classes named by a config: only pythae's own models."""
    try:
        import pythae.models as pythae_models
    except ImportError as e:
        raise CheckpointError(
            f"{folder} is a pythae folder: pip install 'latentprobe[pythae]' "
            "or pass --arch with the model class"
        ) from e
    config_cls = getattr(pythae_models, config_name, None)
    model_cls = getattr(pythae_models, config_name.removesuffix("Config").rstrip("_"), None)
    if not (
        isinstance(config_cls, type)
        and issubclass(config_cls, pythae_models.BaseAEConfig)
        and isinstance(model_cls, type)
        and issubclass(model_cls, pythae_models.BaseAE)
    ):
        raise CheckpointError(
            f"{folder}: pythae has no model for config {config_name!r}; save the model with "
            "pythae's model.save, or pass --arch with its class"
        )
    return config_cls, model_cls


def _build_pythae(folder: Path, config: dict, trusted: bool):
    config = dict(config)
    config_cls, model_cls = _pythae_classes(folder, config.pop("name", ""))
    custom = [
        folder / f"{part}.pkl"
        for part in ("encoder", "decoder")
        if not config.get(f"uses_default_{part}", True)
    ]
    if custom and not trusted:
        raise UnsafeCheckpointError(
            f"{folder} uses a custom pythae network pickled in {custom[0].name}, which runs code "
            "when loaded; re-run with --trust-checkpoint only if you trust its source"
        )
    try:
        nets = {
            p.stem: model_cls._load_custom_encoder_from_folder(str(folder))
            if p.stem == "encoder"
            else model_cls._load_custom_decoder_from_folder(str(folder))
            for p in custom
        }
        model = model_cls(config_cls.from_dict(config), **nets)
    except Exception as e:  # noqa: BLE001 - pythae's loaders and constructors are third-party
        raise CheckpointError(
            f"pythae cannot build {model_cls.__name__} from {folder}: {first_line(e)}"
        ) from e
    return model, tuple(custom)


# --------------------------------------------------------------------------- public entry


def load_model(
    path,
    *,
    arch=None,
    arch_kwargs: dict | None = None,
    trust_checkpoint: bool = False,
    map_location="cpu",
    state_dict_key: str | None = None,
) -> LoadedModel:
    """Load a checkpoint (file or pythae folder) into a model in ``eval()`` mode.

    Parameters
    ----------
    path : str or Path
        Checkpoint file, or a pythae model folder.
    arch : str or type, optional
        ``module:Class`` or ``path/to/file.py:Class``, needed for weights-only formats.
    arch_kwargs : dict, optional
        Keyword arguments for the architecture's constructor.
    trust_checkpoint : bool
        Allow formats that run code from the file (pickled modules, TorchScript).
    state_dict_key : str, optional
        The key of a checkpoint dict holding the weights (``model`` in ``{'epoch', 'model',
        'optimizer'}``); without it a dict whose only state dict is under some key is read
        from there.
    """
    path = Path(path)
    arch_kwargs = dict(arch_kwargs or {})
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir() and (path / "specs.json").is_file() and (path / "model.pt").is_file():
        loaded = _from_specs_folder(path, arch, arch_kwargs, map_location)
    elif path.is_dir() and _is_diffusers_folder(path):
        loaded = _from_diffusers_folder(path, arch, arch_kwargs)
    elif path.is_dir():
        if not (path / "model_config.json").is_file() or not (path / "model.pt").is_file():
            raise CheckpointError(
                f"{path} is a folder without model_config.json and model.pt (pythae), "
                "specs.json and model.pt (disentangling-vae) or config.json and "
                f"{DIFFUSERS_WEIGHTS} (diffusers); pass a checkpoint file or such a folder"
            )
        loaded = _from_pythae_folder(path, arch, arch_kwargs, trust_checkpoint, map_location)
    else:
        loaded = _load_file(path, arch, arch_kwargs, trust_checkpoint, map_location, state_dict_key)
    loaded.model.eval()
    return loaded
