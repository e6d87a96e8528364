"""Every data source yields the same rows and labels; bad data gives clear errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from latentprobe.data import open_data
from latentprobe.errors import DataError

RNG = np.random.default_rng(3)
X = RNG.normal(size=(37, 4)).astype(np.float32)
Y = RNG.integers(0, 5, 37)


def collect(source, batch_size=8):
    xs, ys = [], []
    for x, labels in source.iter_batches(batch_size, 0):
        xs.append(x.numpy())
        ys.append(labels.get("y", labels.get("labels", labels.get("digit"))))
    return np.concatenate(xs), (np.concatenate(ys) if ys[0] is not None else None)


def make_npz(p):
    np.savez(p / "d.npz", X=X, labels=Y)
    return str(p / "d.npz")


def make_npy(p):
    np.save(p / "d.npy", X)
    return str(p / "d.npy")


def make_pt_tuple(p):
    torch.save((torch.from_numpy(X), torch.from_numpy(Y)), p / "d.pt")
    return str(p / "d.pt")


def make_pt_dict(p):
    torch.save({"data": torch.from_numpy(X), "y": torch.from_numpy(Y)}, p / "d.pt")
    return str(p / "d.pt")


def make_h5(p):
    with h5py.File(p / "d.h5", "w") as f:
        f["group/images"] = X
        f["y"] = Y
    return f"{p / 'd.h5'}:/group/images"


def make_module(p):
    (p / "mydata.py").write_text(
        "import numpy as np\n"
        "def load():\n"
        "    rng = np.random.default_rng(3)\n"
        "    x = rng.normal(size=(37, 4)).astype(np.float32)\n"
        "    return x, rng.integers(0, 5, 37)\n"
    )
    return "mydata:load"


def make_dataset_module(p):
    (p / "mydataset.py").write_text(
        "import numpy as np, torch\n"
        "class D(torch.utils.data.Dataset):\n"
        "    def __init__(self):\n"
        "        rng = np.random.default_rng(3)\n"
        "        self.x = torch.from_numpy(rng.normal(size=(37, 4)).astype(np.float32))\n"
        "        self.y = torch.from_numpy(rng.integers(0, 5, 37))\n"
        "    def __len__(self): return 37\n"
        "    def __getitem__(self, i): return self.x[i], self.y[i]\n"
        "def load():\n    return D()\n"
    )
    return "mydataset:load"


MAKERS = [
    make_npz,
    make_npy,
    make_pt_tuple,
    make_pt_dict,
    make_h5,
    make_module,
    make_dataset_module,
]


@pytest.mark.parametrize("make", MAKERS, ids=lambda f: f.__name__[5:])
def test_sources_agree(make, tmp_path):
    source = open_data(make(tmp_path))
    assert source.n == 37
    x, y = collect(source)
    np.testing.assert_array_equal(x, X)
    if make is not make_npy:
        np.testing.assert_array_equal(y, Y)


def test_sklearn_digits():
    source = open_data("sklearn:digits")
    x, y = collect(source, 500)
    assert x.shape == (1797, 64) and 0 <= x.min() and x.max() <= 1
    assert set(np.unique(y)) == set(range(10))


def test_input_shape_reshapes_rows(tmp_path):
    x, _ = collect(open_data(make_npy(tmp_path), input_shape=(1, 2, 2)))
    assert x.shape == (37, 1, 2, 2)


def test_named_keys_and_several_label_sets(tmp_path):
    np.savez(tmp_path / "d.npz", images=X, digit=Y, parity=Y % 2)
    source = open_data(tmp_path / "d.npz", x_key="images", labels_keys=["digit", "parity"])
    assert source.label_names == ("digit", "parity")
    batch = next(source.iter_batches(50, 0))[1]
    np.testing.assert_array_equal(batch["parity"], Y % 2)


def test_string_labels_are_encoded(tmp_path):
    np.savez(tmp_path / "d.npz", x=X, y=np.array(["cat", "dog"] * 18 + ["cat"]))
    labels = next(open_data(tmp_path / "d.npz").iter_batches(50, 0))[1]["y"]
    assert labels.dtype.kind == "i" and set(labels) == {0, 1}


def garbage(path):
    path.write_bytes(b"garbage")
    return path


@pytest.mark.parametrize(
    "setup, message",
    [
        (
            lambda p: np.savez(p / "d.npz", x=X, y=Y[:-1]) or p / "d.npz",
            "36 entries but the data has 37",
        ),
        (lambda p: np.savez(p / "d.npz", x=X[:0]) or p / "d.npz", "no examples"),
        (lambda p: np.save(p / "d.npy", X[:0]) or p / "d.npy", "no examples"),
        (lambda p: garbage(p / "d.npz"), "cannot read"),
        (lambda p: garbage(p / "d.npy"), "cannot read"),
        (lambda p: garbage(p / "d.h5"), "cannot read"),
        (lambda p: garbage(p / "d.pt"), "cannot read"),
        (lambda p: p / "absent.npz", "not found"),
        (lambda p: np.savez(p / "d.npz", z=X) or p / "d.npz", "--x-key"),
        (lambda p: garbage(p / "d.csv"), "unknown data format"),
        (lambda p: "no_such_mod:load", "cannot import module"),
    ],
)
def test_bad_data(setup, message, tmp_path):
    with pytest.raises(DataError, match=message):
        open_data(setup(tmp_path))


def test_truncated_npy(tmp_path):
    np.save(tmp_path / "d.npy", X)
    data = (tmp_path / "d.npy").read_bytes()
    (tmp_path / "d.npy").write_bytes(data[:-40])
    with pytest.raises(DataError, match="truncated"):
        open_data(tmp_path / "d.npy")


def test_sha256_of_a_file_larger_than_the_read_buffer(tmp_path):
    import hashlib

    from latentprobe.data import sha256_file

    payload = np.random.default_rng(0).bytes((1 << 22) * 2 + 12345)
    (tmp_path / "big.bin").write_bytes(payload)
    assert sha256_file(tmp_path / "big.bin") == hashlib.sha256(payload).hexdigest()


def test_the_builtin_digits_are_scikit_learns():
    """Read from scikit-learn's shipped file (without importing sklearn.datasets): the same
    pixels, scaled to [0, 1], and the same labels as its own loader."""
    from sklearn.datasets import load_digits

    from latentprobe.data import _digits_arrays, open_data

    pixels, digit = _digits_arrays()
    reference = load_digits()
    np.testing.assert_array_equal(pixels, reference.data)
    np.testing.assert_array_equal(digit, reference.target)
    x, labels = next(open_data("sklearn:digits").iter_batches(2000))
    np.testing.assert_allclose(x.numpy(), reference.data / 16.0, rtol=1e-7)
    np.testing.assert_array_equal(labels["digit"], reference.target)
