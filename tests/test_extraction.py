"""Extraction: in-memory and streamed statistics agree, files are atomic and carry provenance."""

from __future__ import annotations

import hashlib
import os

import h5py
import numpy as np
import pytest
import torch
from models import NaNAfterVAE, TupleVAE

import latentprobe
from latentprobe.errors import (
    DataError,
    DeviceError,
    EncoderOutputError,
    OptionsError,
    OutputError,
    PosteriorError,
    PriorError,
    StatsFileError,
)
from latentprobe.extraction import extract_to_file
from latentprobe.store import read_stats
from latentprobe.types import EncoderStats, Prior

RNG = np.random.default_rng(4)
X = RNG.normal(size=(230, 6)).astype(np.float32)
Y = RNG.integers(0, 4, 230)


def test_extract_matches_a_direct_forward_pass(tuple_model):
    stats = latentprobe.extract(tuple_model, X, batch_size=17)
    with torch.no_grad():
        mu, logvar = tuple_model.encode(torch.from_numpy(X))
    np.testing.assert_array_equal(stats.mu, mu.double().numpy())
    np.testing.assert_array_equal(stats.logvar, logvar.double().numpy())
    assert stats.mu.dtype == np.float64 and stats.n_examples == 230 and stats.n_units == 3


def test_batch_size_does_not_change_the_numbers(tuple_model):
    a = latentprobe.extract(tuple_model, X, batch_size=1)
    b = latentprobe.extract(tuple_model, X, batch_size=1000)
    np.testing.assert_allclose(a.mu, b.mu, rtol=1e-6, atol=1e-7)  # float32 kernels differ


def test_file_round_trip_matches_memory(tuple_model, data_npz, tmp_path):
    out = extract_to_file(tuple_model, data_npz, tmp_path / "s.h5", batch_size=64)
    stats = read_stats(out)
    memory = latentprobe.extract(tuple_model, data_npz)
    np.testing.assert_array_equal(stats.mu, memory.mu)
    np.testing.assert_array_equal(stats.logvar, memory.logvar)
    np.testing.assert_array_equal(stats.labels["y"], np.load(data_npz)["y"])
    assert stats.prior.kind == "standard_normal"
    with h5py.File(out) as f:
        assert f["encoder/mu"].chunks is not None and f["encoder/mu"].compression is None
        assert f["encoder/mu"].maxshape == (None, 3) and f["encoder/mu"].dtype == np.float32
        assert f.attrs["latentprobe_format"] == "latentprobe-stats"


def test_provenance(tmp_path, data_npz):
    torch.manual_seed(0)
    model = TupleVAE()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    loaded = latentprobe.load_model(tmp_path / "m.pt", arch="models:TupleVAE")
    prior = Prior.diagonal([0.0, 1.0, -1.0], 0.5)
    out = extract_to_file(
        loaded,
        data_npz,
        tmp_path / "s.h5",
        prior=prior,
        seed=7,
        provenance={"command_line": "latentprobe extract m.pt"},
    )
    provenance = read_stats(out).provenance
    digest = hashlib.sha256((tmp_path / "m.pt").read_bytes()).hexdigest()
    assert provenance["checkpoint_sha256"] == {str(tmp_path / "m.pt"): digest}
    assert (
        provenance["data_sha256"][str(data_npz)]
        == hashlib.sha256(data_npz.read_bytes()).hexdigest()
    )
    assert provenance["seed"] == 7 and provenance["trust_checkpoint"] is False
    assert provenance["torch_version"] == torch.__version__
    assert provenance["command_line"] == "latentprobe extract m.pt"
    assert provenance["prior"]["kind"] == "diagonal_gaussian"
    np.testing.assert_array_equal(read_stats(out).prior.means, [[0.0, 1.0, -1.0]])
    for key in (
        "created_utc",
        "h5py_version",
        "hdf5_version",
        "python_version",
        "device",
        "latentprobe_version",
        "schema_version",
    ):
        assert key in provenance


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_failure_half_way_leaves_no_file(tmp_path):
    x = X.copy()
    x[150, 0] = 1000.0  # NaNAfterVAE returns NaN for this example
    with pytest.raises(EncoderOutputError, match="example 150"):
        extract_to_file(NaNAfterVAE(), x, tmp_path / "s.h5", batch_size=50)
    assert not (tmp_path / "s.h5").exists()
    assert _leftovers(tmp_path) == []


def test_interrupt_keeps_the_existing_file(tmp_path, tuple_model):
    (tmp_path / "s.h5").write_bytes(b"previous results")

    def interrupted(batch_size, num_workers):
        yield torch.from_numpy(X[:10]), {}
        raise KeyboardInterrupt

    source = latentprobe.open_data(X)
    source.iter_batches = interrupted
    with pytest.raises(KeyboardInterrupt):
        extract_to_file(tuple_model, source, tmp_path / "s.h5", force=True)
    assert (tmp_path / "s.h5").read_bytes() == b"previous results"
    assert _leftovers(tmp_path) == []


def test_existing_output_needs_force(tmp_path, tuple_model):
    (tmp_path / "s.h5").write_bytes(b"keep me")
    with pytest.raises(OutputError, match="--force"):
        extract_to_file(tuple_model, X, tmp_path / "s.h5")
    assert (tmp_path / "s.h5").read_bytes() == b"keep me"
    extract_to_file(tuple_model, X, tmp_path / "s.h5", force=True)
    assert read_stats(tmp_path / "s.h5").n_examples == 230


def test_missing_output_folder(tmp_path, tuple_model):
    with pytest.raises(OutputError, match="output folder does not exist"):
        extract_to_file(tuple_model, X, tmp_path / "nope" / "s.h5")


def test_empty_data(tuple_model):
    with pytest.raises(DataError, match="no examples"):
        latentprobe.extract(tuple_model, X[:0])


def test_foreign_and_damaged_stats_files(tmp_path, tuple_model):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["encoder/mu"] = np.zeros((3, 2))
    with pytest.raises(StatsFileError, match="not written by latentprobe"):
        read_stats(tmp_path / "other.h5")
    extract_to_file(tuple_model, X, tmp_path / "s.h5")
    data = (tmp_path / "s.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(StatsFileError):
        read_stats(tmp_path / "cut.h5")
    with h5py.File(tmp_path / "s.h5", "a") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(StatsFileError, match="newer"):
        read_stats(tmp_path / "s.h5")


def test_in_memory_posteriors_are_validated_as_posteriors_not_files():
    with pytest.raises(PosteriorError, match=r"same shape \(N, D\), got \(4, 2\) and \(4, 3\)"):
        EncoderStats(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(PosteriorError, match="real numbers"):
        EncoderStats(np.zeros((4, 2), complex), np.zeros((4, 2)))


def test_temporary_name_is_in_the_target_folder(tmp_path, tuple_model, monkeypatch):
    seen = []
    real_file = h5py.File

    def spy(name, *args, **kwargs):
        seen.append(os.fspath(name))
        return real_file(name, *args, **kwargs)

    monkeypatch.setattr("latentprobe.store.h5py.File", spy)
    extract_to_file(tuple_model, X, tmp_path / "s.h5")
    assert os.path.dirname(seen[0]) == str(tmp_path) and seen[0].endswith(".tmp")


def test_options_are_checked_before_any_work(tuple_model, tmp_path):
    with pytest.raises(OptionsError, match="--batch-size must be at least 1"):
        latentprobe.extract(tuple_model, X, batch_size=0)
    with pytest.raises(OptionsError, match="--num-workers applies to torch Dataset"):
        extract_to_file(tuple_model, X, tmp_path / "s.h5", num_workers=2)
    assert not (tmp_path / "s.h5").exists() and _leftovers(tmp_path) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_cuda_device_is_a_device_error(tuple_model):
    with pytest.raises(DeviceError, match="no CUDA device"):
        latentprobe.extract(tuple_model, X, device="cuda")


def test_an_npy_file_is_hashed_and_torch_gets_its_threads_back(tuple_model, tmp_path):
    np.save(tmp_path / "x.npy", X)
    before = torch.get_num_threads()
    out = extract_to_file(tuple_model, tmp_path / "x.npy", tmp_path / "s.h5", batch_size=16)
    digest = hashlib.sha256((tmp_path / "x.npy").read_bytes()).hexdigest()
    assert read_stats(out).provenance["data_sha256"] == {str(tmp_path / "x.npy"): digest}
    assert torch.get_num_threads() == before


def test_an_encoder_that_changes_its_input_does_not_change_the_digest(tmp_path):
    class Scribbler(TupleVAE):
        def encode(self, x):
            out = super().encode(x)
            x.mul_(0)  # some user code changes its input in place
            return out

    np.save(tmp_path / "x.npy", X)
    out = extract_to_file(Scribbler(), tmp_path / "x.npy", tmp_path / "s.h5", batch_size=16)
    digest = hashlib.sha256((tmp_path / "x.npy").read_bytes()).hexdigest()
    assert read_stats(out).provenance["data_sha256"][str(tmp_path / "x.npy")] == digest


def test_a_file_of_several_chunks_round_trips(tuple_model, tmp_path, monkeypatch):
    monkeypatch.setattr("latentprobe.store.CHUNK_BYTES", 1024)  # 85 rows of 3 float32
    out = extract_to_file(tuple_model, X, tmp_path / "s.h5", batch_size=64)
    with h5py.File(out) as f:
        assert f["encoder/mu"].chunks[0] == 85 and f["encoder/mu"].shape[0] == 230
    np.testing.assert_array_equal(read_stats(out).mu, latentprobe.extract(tuple_model, X).mu)


def test_a_prior_that_does_not_fit_the_units_is_refused(tuple_model, tmp_path):
    two_units = Prior.diagonal([0.0, 1.0], 0.0)  # the model has 3 units
    with pytest.raises(PriorError, match="prior has 2 units but the encoder has 3"):
        latentprobe.extract(tuple_model, X, prior=two_units)
    with pytest.raises(PriorError, match="prior has 2 units"):
        extract_to_file(tuple_model, X, tmp_path / "s.h5", prior=two_units)
    assert not (tmp_path / "s.h5").exists() and _leftovers(tmp_path) == []
    latentprobe.extract(tuple_model, X, prior=Prior.diagonal([0.0, 1.0, 2.0], 0.5))  # fits


def test_overlapping_extractions_give_torch_its_threads_back():
    """Two extractions sharing the cores with their hashing threads, entered and left in an
    interleaved order (track --checkpoint-jobs): torch's process-wide thread count returns
    to where it was (each used to restore the reduced count the other had left)."""
    from concurrent.futures import Future

    from latentprobe.extraction import _SharedCores

    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        busy_a, busy_b = Future(), Future()
        a = _SharedCores(busy_a).__enter__()
        a.update()
        b = _SharedCores(busy_b).__enter__()
        b.update()
        assert torch.get_num_threads() == 2  # one thread given up by each
        a.__exit__(None, None, None)
        assert torch.get_num_threads() == 3
        busy_b.set_result(None)
        b.update()
        assert torch.get_num_threads() == 4
        b.__exit__(None, None, None)
        assert torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(before)
