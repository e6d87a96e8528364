"""Open a ``--data`` spec as a stream of batches, with optional labels.

Sources (looked up in ``SOURCES``, listed by ``latentprobe formats``):

- ``sklearn:digits``: scikit-learn's 1,797 8x8 digit images, pixel values scaled to [0, 1]
  (``digits.data / 16``), with the digit as label set ``digit``.
- ``file.npz``: array ``x``/``X``/``data`` and labels ``y``/``labels``/``targets``
  (or the keys given by ``x_key``/``labels_keys``).
- ``file.npy``: one array, read batch by batch from disk (memory bounded by the batch).
- ``file.pt``: a tensor, a tuple/list ``(x, y, ...)`` or a dict of tensors (``weights_only=True``).
- ``file.h5`` or ``file.h5:/path/to/x``: an HDF5 dataset, read batch by batch.
- ``module:function``: a callable returning an array, a tuple ``(x, y)``, a dict or a
  ``torch.utils.data.Dataset`` (whose items are ``x`` or ``(x, y)``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import math
import re
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import DataError, PriorError
from .memory import in_memory_bytes, refuse_unless_fits
from .types import Prior

X_KEYS = ("x", "X", "data")
LABEL_KEYS = ("y", "labels", "targets")
Batch = tuple[torch.Tensor, dict[str, np.ndarray]]


@dataclass
class DataSource:
    """A dataset opened for streaming.

    ``n`` is the number of examples (None when a Dataset cannot tell), ``files`` the files
    read (hashed for provenance), ``label_names`` the label sets each batch carries;
    ``supports_workers``: ``iter_batches`` uses DataLoader workers (torch Datasets only).
    ``encoder_inputs(start, stop)``: the arrays the encoder takes beside x (lengths, masks,
    conditions: ``--encoder-inputs``) for the rows of a batch, by name in the order given.
    ``digests``: the files' SHA-256 by path once computed (``hashed``), so that a series of
    checkpoints on the same data hashes it once.
    """

    description: str
    n: int | None
    iter_batches: Callable[[int, int], Iterator[Batch]]
    label_names: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()
    supports_workers: bool = False
    encoder_inputs: Callable[[int, int], dict[str, np.ndarray]] | None = None
    digests: dict[str, str] | None = None

    def hashed(self) -> DataSource:
        """The same source with its files' SHA-256 computed now."""
        return dataclasses.replace(self, digests=self.file_digests())

    def file_digests(self) -> dict[str, str]:
        """The files' SHA-256 by path (computed unless ``hashed`` already did)."""
        if self.digests is not None:
            return dict(self.digests)
        return {str(p): sha256_file(p) for p in self.files}


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks into one reused buffer (no mmap: mapped pages
    would count against the process's memory)."""
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(1 << 22))
    with open(path, "rb", buffering=0) as f:
        while size := f.readinto(buffer):
            digest.update(buffer[:size])
    return digest.hexdigest()


# --------------------------------------------------------------------------- in-memory arrays


def _as_numpy(array, what: str) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    try:
        return np.asarray(array)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what} is not an array ({type(array).__name__}): {e}") from e


def encode_labels(labels, name: str) -> np.ndarray:
    """Labels as a 1-D numeric array; strings become integer codes (sorted class names)."""
    arr = _as_numpy(labels, f"labels {name!r}")
    arr = arr.reshape(len(arr), -1)[:, 0] if arr.ndim > 1 and arr.shape[1] == 1 else arr
    if arr.ndim != 1:
        raise DataError(f"labels {name!r} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind in "biuf":
        return arr
    try:
        _, codes = np.unique(arr.astype(str), return_inverse=True)
    except (TypeError, ValueError) as e:
        raise DataError(f"labels {name!r} of type {arr.dtype} cannot be encoded as classes") from e
    return codes.astype(np.int64)


def _check_x(x: np.ndarray, description: str) -> np.ndarray:
    if x.ndim == 0 or len(x) == 0:
        raise DataError(f"{description} holds no examples (shape {x.shape}); pass non-empty data")
    if x.dtype.kind not in "biuf":
        raise DataError(f"{description} is not numeric (dtype {x.dtype}); pass a numeric array")
    return x


def _check_labels(labels: dict[str, np.ndarray], n: int, description: str) -> None:
    for name, y in labels.items():
        if len(y) != n:
            raise DataError(
                f"{description}: labels {name!r} have {len(y)} entries but the data has {n} "
                "examples; pass labels of the same length"
            )


#: Integer inputs of at least this many bits are token ids (text, SMILES) and reach the
#: encoder as int64, as nn.Embedding needs; narrower integers and booleans are pixel values
#: and reach it as float32, like every float input.
TOKEN_ID_BITS = 32


def is_token_ids(dtype) -> bool:
    """Whether inputs of ``dtype`` (numpy or torch) are token ids by ``TOKEN_ID_BITS``."""
    if isinstance(dtype, torch.dtype):
        wide = dtype.itemsize * 8 >= TOKEN_ID_BITS
        return wide and not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)
    dtype = np.dtype(dtype)
    return dtype.kind in "iu" and dtype.itemsize * 8 >= TOKEN_ID_BITS


def model_input(x: np.ndarray) -> torch.Tensor:
    """A batch of inputs as the encoder gets it: int64 token ids or float32 values."""
    dtype = np.int64 if is_token_ids(x.dtype) else np.float32
    return torch.from_numpy(np.ascontiguousarray(x, dtype=dtype))


def _tensor_input(x: torch.Tensor) -> torch.Tensor:
    return x.long() if is_token_ids(x.dtype) else x.float()


def encoder_input(a: np.ndarray) -> torch.Tensor:
    """An array the encoder takes beside x, keeping its kind: booleans stay booleans
    (masks), integers become int64 (lengths, conditions), floats float32."""
    a = np.asarray(a)
    if a.dtype.kind == "b":
        return torch.from_numpy(np.ascontiguousarray(a))
    return torch.from_numpy(
        np.ascontiguousarray(a, dtype=np.int64 if a.dtype.kind in "iu" else np.float32)
    )


def _array_batches(read: Callable[[int, int], np.ndarray], n: int, labels: dict) -> Callable:
    def iter_batches(batch_size: int, num_workers: int = 0) -> Iterator[Batch]:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            x = model_input(read(start, stop))
            yield x, {k: v[start:stop] for k, v in labels.items()}

    return iter_batches


def from_arrays(x, labels: dict | None = None, *, description: str = "array") -> DataSource:
    """A source over in-memory arrays (numpy or torch) and optional label arrays."""
    x = _check_x(_as_numpy(x, "data"), description)
    labels = {k: encode_labels(v, k) for k, v in (labels or {}).items()}
    _check_labels(labels, len(x), description)
    read = lambda a, b: x[a:b]  # noqa: E731
    return DataSource(description, len(x), _array_batches(read, len(x), labels), tuple(labels))


def _numeric_labels(y, description: str) -> np.ndarray:
    """A batch of a Dataset's labels, refused unless numbers (classes in one batch cannot be
    coded consistently with the next)."""
    y = _as_numpy(y, "labels")
    if y.dtype.kind not in "biuf":
        raise DataError(
            f"{description}: the Dataset's labels are {y.dtype} values, not numbers; "
            "return class indices (integers) from __getitem__"
        )
    return y


def from_dataset(dataset, *, description: str = "dataset") -> DataSource:
    """A source over a ``torch.utils.data.Dataset`` whose items are ``x`` or ``(x, y)``."""
    n = len(dataset) if hasattr(dataset, "__len__") else None
    if n == 0:
        raise DataError(f"{description} holds no examples; pass a non-empty dataset")
    first = dataset[0]
    has_labels = isinstance(first, (tuple, list)) and len(first) >= 2

    def iter_batches(batch_size: int, num_workers: int = 0) -> Iterator[Batch]:
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers
        )
        for item in loader:
            if has_labels:
                yield _tensor_input(item[0]), {"y": _numeric_labels(item[1], description)}
            else:
                yield _tensor_input(item[0] if isinstance(item, (tuple, list)) else item), {}

    labels = ("y",) if has_labels else ()
    return DataSource(description, n, iter_batches, labels, supports_workers=True)


# --------------------------------------------------------------------------- file sources


def _pick(mapping, keys: tuple[str, ...], wanted: str | None, what: str, path: Path):
    if wanted is not None:
        if wanted not in mapping:
            raise DataError(f"{path}: no {what} named {wanted!r}; found {sorted(mapping)}")
        return wanted
    for key in keys:
        if key in mapping:
            return key
    return None


def _label_keys(mapping, labels_keys, path: Path) -> list[str]:
    """The keys of the label arrays: those asked for, else the usual names present."""
    if labels_keys:
        missing = [k for k in labels_keys if k not in mapping]
        if missing:
            raise DataError(f"{path}: no labels named {missing}; found {sorted(mapping)}")
        return list(labels_keys)
    return [k for k in LABEL_KEYS if k in mapping]


def _label_dict(mapping, labels_keys, path: Path) -> dict[str, np.ndarray]:
    names = _label_keys(mapping, labels_keys, path)
    return {
        label_set_name(k): encode_labels(
            mapping[k][()] if hasattr(mapping[k], "shape") else mapping[k], k
        )
        for k in names
    }


def label_set_name(key: str) -> str:
    """A label set's name from the key it was read under: a path inside an HDF5 file
    (``meta/digit``) becomes ``meta.digit``, since a name is one HDF5 link and one file name."""
    name = str(key).strip("/").replace("/", ".")
    if not name or name in (".", ".."):
        raise DataError(f"labels key {key!r} gives no usable label-set name; rename it")
    return name


def _from_mapping(mapping, x_key, labels_keys, path: Path, what: str) -> DataSource:
    """A source over the data array and label arrays of a file read whole."""
    key = _pick(mapping, X_KEYS, x_key, what, path)
    if key is None:
        raise DataError(f"{path}: no data {what} among {sorted(mapping)}; name it with --x-key")
    labels = _label_dict(mapping, labels_keys, path)
    return dataclasses.replace(
        from_arrays(mapping[key], labels, description=str(path)), files=(path,)
    )


def _member_bytes(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
    """In-memory bytes of one .npy member of an .npz, from its header; a member whose header
    and size in the archive disagree is damaged (numpy would allocate what the header says)."""
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(member)
        header = member.tell()
    values = math.prod(shape)
    if dtype.hasobject or header + values * dtype.itemsize != info.file_size:
        raise ValueError(
            f"member {info.filename} declares shape {shape} of {dtype} but holds "
            f"{info.file_size:,} bytes"
        )
    return in_memory_bytes(values, dtype.itemsize)


def archive_bytes(path: Path) -> int:
    """In-memory bytes of the arrays of an .npz or .npy, from their headers (nothing else is
    read, so a small archive that inflates to terabytes is caught before it inflates)."""
    with open(path, "rb") as f:
        zipped = f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")  # what np.load takes as .npz
    if not zipped:
        shape, _, dtype, _ = _npy_header(path)
        return in_memory_bytes(math.prod(shape), dtype.itemsize)
    with zipfile.ZipFile(path) as archive:
        return sum(_member_bytes(archive, info) for info in archive.infolist())


def load_arrays(path: Path, what: str, error: type[Exception], remedy: str) -> dict:
    """The arrays of an .npz by name (of an .npy, under the file's stem), read whole and
    without pickle, once their declared size is known to fit in memory; damaged bytes raise
    ``error`` naming ``what``, ``path`` and ``remedy``."""
    try:
        needed = archive_bytes(path)
    except Exception as e:  # noqa: BLE001 - zipfile and numpy raise anything on damaged bytes
        raise error(f"cannot read {what} {path} ({first_line(e)}); {remedy}") from e
    refuse_unless_fits(needed, path, what, error, remedy)
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return {path.stem: loaded}
        with loaded:
            return {name: loaded[name] for name in loaded.files}
    except Exception as e:  # noqa: BLE001 - numpy and zipfile raise anything on damaged bytes
        raise error(f"cannot read {what} {path} ({first_line(e)}); {remedy}") from e


def first_line(e: Exception) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _open_npz(path: Path, x_key, labels_keys, encoder_inputs=()) -> DataSource:
    arrays = load_arrays(path, "data file", DataError, "pass a valid numpy archive")
    source = _from_mapping(arrays, x_key, labels_keys, path, "array")
    if not encoder_inputs:
        return source
    return dataclasses.replace(
        source, encoder_inputs=_input_reader(arrays, encoder_inputs, source.n, path)
    )


def _input_reader(arrays: dict, names, n: int, path: Path) -> Callable:
    """A reader of the named arrays' rows, checked to exist with one row per example."""
    for name in names:
        if name not in arrays:
            raise DataError(
                f"{path} has no array {name!r} for --encoder-inputs (arrays: {sorted(arrays)})"
            )
        if np.ndim(arrays[name]) == 0 or len(arrays[name]) != n:
            raise DataError(
                f"{path}: array {name!r} has shape {np.shape(arrays[name])}, not one row per "
                f"example of the {n} in x; pass per-example arrays to --encoder-inputs"
            )
    return lambda start, stop: {name: arrays[name][start:stop] for name in names}


def _npy_rows(path: Path, offset: int, shape: tuple, dtype: np.dtype) -> Callable:
    """A reader of row ranges of an uncompressed .npy file (explicit reads, no mmap: mapped
    pages would count against the process's memory)."""
    row = math.prod(shape[1:])

    def read(start: int, stop: int) -> np.ndarray:
        with open(path, "rb") as f:
            f.seek(offset + start * row * dtype.itemsize)
            flat = np.fromfile(f, dtype=dtype, count=(stop - start) * row)
        return flat.reshape((stop - start, *shape[1:]))

    return read


def _npy_header(path: Path) -> tuple[tuple, bool, np.dtype, int]:
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            return shape, fortran, dtype, f.tell()
    except Exception as e:  # noqa: BLE001 - numpy's header parser raises anything on garbage
        raise DataError(
            f"cannot read {path} as .npy ({first_line(e)}); pass a valid numpy array file"
        ) from e


def _open_npy(path: Path) -> DataSource:
    """Read rows straight from the file so memory is bounded by the batch, not by N."""
    shape, fortran, dtype, offset = _npy_header(path)
    if dtype.kind not in "biuf":
        raise DataError(f"{path} is not numeric (dtype {dtype}); pass a numeric array")
    if len(shape) == 0 or min(shape) <= 0:
        raise DataError(f"{path} holds no examples (shape {shape}); pass non-empty data")
    expected = offset + math.prod(shape) * dtype.itemsize  # Python integers: no overflow
    if path.stat().st_size < expected:
        raise DataError(
            f"{path} is truncated ({path.stat().st_size:,} of the {expected:,} bytes its header "
            f"declares for shape {shape}); pass the complete file"
        )
    if fortran:
        (x,) = load_arrays(path, "data file", DataError, "pass a valid numpy array file").values()
        return dataclasses.replace(from_arrays(x, description=str(path)), files=(path,))
    batches = _array_batches(_npy_rows(path, offset, shape, dtype), shape[0], {})
    return DataSource(str(path), shape[0], batches, (), (path,))


def _zip_bytes(path: Path) -> int:
    """Bytes the members of a torch.save zip declare (0 for the legacy, non-zip format)."""
    if not zipfile.is_zipfile(path):
        return 0
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def _open_pt(path: Path, x_key, labels_keys) -> DataSource:
    try:
        needed = _zip_bytes(path)
    except Exception as e:  # noqa: BLE001 - zipfile raises anything on damaged bytes
        raise DataError(
            f"cannot read {path} as tensors ({first_line(e)}); save tensors with torch.save"
        ) from e
    refuse_unless_fits(needed, path, "tensors", DataError, "pass data that fits in memory")
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - the unpickler raises anything on garbage bytes
        raise DataError(
            f"cannot read {path} as tensors ({first_line(e)}); save tensors with torch.save"
        ) from e
    if isinstance(obj, (tuple, list)):
        obj = {"x": obj[0], **({"y": obj[1]} if len(obj) > 1 else {})}
    if isinstance(obj, torch.Tensor):
        obj = {"x": obj}
    if not isinstance(obj, dict):
        raise DataError(f"{path} holds a {type(obj).__name__}; expected a tensor, tuple or dict")
    return _from_mapping(obj, x_key, labels_keys, path, "tensor")


def _open_h5(path: Path, inner: str | None, x_key, labels_keys) -> DataSource:
    import h5py

    from .hdf5 import damage_as, refuse_crashing, refuse_foreign, unwritten

    remedy = "pass a valid HDF5 file"
    refuse_crashing(path, DataError, remedy)
    try:
        opened = h5py.File(path, "r")
    except OSError as e:
        raise DataError(f"cannot read {path} as HDF5 ({e}); {remedy}") from e
    with damage_as(DataError, path, remedy), opened as f:
        refuse_foreign(f, path, DataError)
        key = inner or _pick(f, X_KEYS, x_key, "dataset", path)
        if key is None or key not in f or not isinstance(f[key], h5py.Dataset):
            raise DataError(f"{path}: no dataset {key or 'x/X/data'}; use {path}:/path/to/x")
        if unwritten(f[key]):
            raise DataError(
                f"{path}:{key} declares shape {f[key].shape} but parts of it were never "
                "written (HDF5 would read them as fill values); pass a complete file"
            )
        shape, dtype = f[key].shape, f[key].dtype
        _refuse_big_labels(f, _label_keys(f, labels_keys, path), path)
        labels = _label_dict(f, labels_keys, path)
    _check_x(np.empty((shape[0] if shape else 0, 1), dtype), f"{path}:{key}")
    _check_labels(labels, shape[0], str(path))

    def iter_batches(batch_size: int, num_workers: int = 0) -> Iterator[Batch]:
        with damage_as(DataError, path, remedy), h5py.File(path, "r") as f:
            read = lambda a, b: f[key][a:b]  # noqa: E731
            yield from _array_batches(read, shape[0], labels)(batch_size)

    return DataSource(f"{path}:{key}", shape[0], iter_batches, tuple(labels), (path,))


def _refuse_big_labels(f, keys: list[str], path: Path) -> None:
    """Label arrays are read whole: refuse them before reading when they would not fit."""
    sizes = [(f[k].size or 0, f[k].dtype.itemsize) for k in keys if hasattr(f[k], "dtype")]
    needed = sum(in_memory_bytes(n, itemsize) for n, itemsize in sizes)
    refuse_unless_fits(needed, path, "labels", DataError, "pass labels that fit in memory")


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (pixels (1797, 64) in 0..16, digit (1797,)). Read from the
    file scikit-learn ships when it is where its loader keeps it: importing
    ``sklearn.datasets`` costs 0.7 s, about a third of an analysis of a fixture."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    folders = spec.submodule_search_locations if spec else None
    path = Path(folders[0]) / "datasets" / "data" / "digits.csv.gz" if folders else None
    if path is None or not path.is_file():
        from sklearn.datasets import load_digits

        digits = load_digits()
        return digits.data, digits.target
    table = np.loadtxt(path, delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64)


def _load_sklearn_digits() -> DataSource:
    pixels, digit = _digits_arrays()
    x = (pixels / 16.0).astype(np.float32)
    return from_arrays(x, {"digit": digit}, description="sklearn:digits")


BUILTIN = {"sklearn:digits": _load_sklearn_digits}


def importable_from_cwd() -> None:
    """Put the current folder at the END of the import path: the user's modules there can
    be imported, but a file there (``sklearn.py``) never shadows an installed library."""
    if str(Path.cwd()) not in sys.path:
        sys.path.append(str(Path.cwd()))


def import_from_spec(spec: str, what: str, error=DataError):
    """Import ``module:name``, the current folder on the import path (after the libraries)."""
    module_name, _, attr = spec.partition(":")
    importable_from_cwd()
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - importing the user's module runs the user's code
        raise error(f"cannot import module {module_name!r} for {what} {spec!r}: {e}") from e
    if not hasattr(module, attr):
        raise error(f"module {module_name!r} has no attribute {attr!r} (from {what} {spec!r})")
    return getattr(module, attr)


def _from_callable(spec: str, x_key, labels_keys) -> DataSource:
    result = import_from_spec(spec, "--data")()
    if isinstance(result, torch.utils.data.Dataset):
        return from_dataset(result, description=spec)
    if isinstance(result, (tuple, list)):
        result = {"x": result[0], **({"y": result[1]} if len(result) > 1 else {})}
    if not isinstance(result, dict):
        result = {"x": result}
    key = _pick(result, X_KEYS, x_key, "array", Path(spec))
    if key is None:
        raise DataError(f"{spec} returned no data array among {sorted(result)}")
    return from_arrays(result[key], _label_dict(result, labels_keys, Path(spec)), description=spec)


SOURCES = {
    ".npz": "numpy archive: x/X/data and y/labels/targets (or --x-key/--labels-key)",
    ".npy": "one numpy array, streamed from disk",
    ".pt": "torch.save of a tensor, tuple (x, y) or dict (loaded with weights_only=True)",
    ".h5": "HDF5 dataset, file.h5 or file.h5:/path/to/x, streamed",
    "sklearn:digits": "scikit-learn's digits (1,797 8x8 images in [0, 1], label set 'digit')",
    "module:function": "a function returning arrays, (x, y), a dict or a torch Dataset",
}

_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def open_data(
    spec, *, x_key: str | None = None, labels_keys=(), input_shape=None, encoder_inputs=()
) -> DataSource:
    """Open a data spec (a path, ``sklearn:digits``, ``module:function`` or arrays);
    ``encoder_inputs`` names arrays of an .npz the encoder takes beside x."""
    if encoder_inputs:
        path = Path(str(spec))
        if not (isinstance(spec, (str, Path)) and path.suffix.lower() == ".npz"):
            raise DataError(
                f"--encoder-inputs reads arrays beside x from an .npz data file, not {spec}; "
                "save x and those arrays together with np.savez"
            )
        source = _open_npz(path, x_key, tuple(labels_keys), tuple(encoder_inputs))
    else:
        source = _open_spec(spec, x_key, tuple(labels_keys))
    if input_shape:
        source = reshaped(source, tuple(int(s) for s in input_shape))
    return source


def _open_spec(spec, x_key, labels_keys) -> DataSource:
    if isinstance(spec, DataSource):
        return spec
    if isinstance(spec, torch.utils.data.Dataset):
        return from_dataset(spec)
    if not isinstance(spec, (str, Path)):
        return from_arrays(spec)
    text = str(spec)
    if text in BUILTIN:
        return BUILTIN[text]()
    path = Path(text)
    head, sep, inner = text.rpartition(":")
    if sep and Path(head).suffix in (".h5", ".hdf5") and Path(head).is_file():
        return _open_h5(Path(head), inner, x_key, labels_keys)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".npz":
            return _open_npz(path, x_key, labels_keys)
        if suffix == ".npy":
            return _open_npy(path)
        if suffix in (".pt", ".pth"):
            return _open_pt(path, x_key, labels_keys)
        if suffix in (".h5", ".hdf5"):
            return _open_h5(path, None, x_key, labels_keys)
        raise DataError(f"unknown data format {suffix!r} for {path}; see `latentprobe formats`")
    if _CALLABLE.match(text) and not path.suffix:
        return _from_callable(text, x_key, labels_keys)
    raise DataError(f"data file not found: {text}; pass an existing file or sklearn:digits")


def reshaped(source: DataSource, shape: tuple[int, ...]) -> DataSource:
    """The same source with each example reshaped to ``shape`` (e.g. flat rows to 1x8x8)."""
    inner = source.iter_batches

    def iter_batches(batch_size: int, num_workers: int = 0) -> Iterator[Batch]:
        for x, labels in inner(batch_size, num_workers):
            try:
                yield x.reshape(len(x), *shape), labels
            except RuntimeError as e:
                raise DataError(
                    f"cannot reshape examples of shape {tuple(x.shape[1:])} to {shape}"
                ) from e

    return dataclasses.replace(source, iter_batches=iter_batches)


def read_labels_file(path) -> dict[str, np.ndarray]:
    """Label sets from an .npz (one per array) or an .npy (named after the file)."""
    path = Path(path)
    arrays = load_arrays(path, "labels file", DataError, "pass labels as an .npz or .npy")
    return {label_set_name(k): encode_labels(y, f"{path}:{k}") for k, y in arrays.items()}


def read_prior_file(path) -> Prior:
    """A mixture prior from an .npz with weights (K,), means (K, D) and logvars (K, D)."""
    remedy = "expected an .npz with weights, means and logvars"
    arrays = load_arrays(Path(path), "prior file", PriorError, remedy)
    try:
        return Prior.mixture(arrays["weights"], arrays["means"], arrays["logvars"])
    except (KeyError, ValueError, TypeError) as e:
        raise PriorError(f"cannot read prior file {path} ({e}); {remedy}") from e
