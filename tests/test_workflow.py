"""The verbs as library functions: priors from options, the zoo's dataset name, analyze on a
checkpoint or a stats file, the inputs x, HDF5 sniffing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from latentprobe import EncoderStats, Prior, data, read_stats, write_stats
from latentprobe.checkpoints import LoadedModel
from latentprobe.errors import CheckpointError, DataError, PriorError
from latentprobe.workflow import (
    DataSpec,
    ModelSpec,
    PriorSpec,
    analyze_source,
    collect_inputs,
    extract_file,
    is_hdf5,
    zoo_dataset,
)
from latentprobe.zoo import MLPVAE, zoo_checkpoint

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HEALTHY = FIXTURES / "healthy.pt"
DIGITS = 1797


def assert_prior(prior: Prior, weights, means, logvars):
    np.testing.assert_array_equal(prior.weights, weights)
    np.testing.assert_array_equal(prior.means, means)
    np.testing.assert_array_equal(prior.logvars, logvars)


# ----------------------------------------------------------------------------- priors


def test_prior_spec_none_keeps_the_recorded_prior():
    assert PriorSpec().resolve() is None


def test_prior_spec_diagonal_from_numbers_and_tuples():
    assert_prior(PriorSpec(mean=1.0).resolve(), [1.0], [[1.0]], [[0.0]])
    assert_prior(PriorSpec(logvar=-1.0).resolve(), [1.0], [[0.0]], [[-1.0]])
    assert_prior(
        PriorSpec(mean=(0.5, -0.5, 2.0), logvar=(0.0, 1.0, -1.0)).resolve(),
        [1.0],
        [[0.5, -0.5, 2.0]],
        [[0.0, 1.0, -1.0]],
    )
    one_logvar = PriorSpec(mean=(0.5, -0.5)).resolve()
    assert_prior(one_logvar, [1.0], [[0.5, -0.5]], [[0.0]])
    assert one_logvar.kind == "diagonal_gaussian"
    assert_prior(one_logvar.expanded(2), [1.0], [[0.5, -0.5]], [[0.0, 0.0]])
    assert PriorSpec(mean=0.0, logvar=0.0).resolve().kind == "standard_normal"


def test_prior_spec_from_a_file(tmp_path):
    weights, means, logvars = [0.25, 0.75], [[-1.0, 0.0, 1.0], [1.0, 2.0, 3.0]], np.zeros((2, 3))
    np.savez(tmp_path / "prior.npz", weights=weights, means=means, logvars=logvars)
    prior = PriorSpec(file=tmp_path / "prior.npz").resolve()
    assert_prior(prior, weights, means, logvars)
    assert prior.kind == "mixture_of_diagonal_gaussians"
    # a file wins over numbers
    assert_prior(
        PriorSpec(mean=5.0, file=tmp_path / "prior.npz").resolve(), weights, means, logvars
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda p: p.write_bytes(b"not an npz at all"),
        lambda p: np.savez(p, weights=[1.0], means=[[0.0]]),  # no logvars
        lambda p: np.savez(p, weights=[0.5, 0.6], means=np.zeros((2, 1)), logvars=np.zeros((2, 1))),
        lambda p: np.savez(p, weights=[1.0], means=[[np.nan]], logvars=[[0.0]]),
        lambda p: np.savez(p, weights=np.array([{"a": 1}]), means=[[0.0]], logvars=[[0.0]]),
        lambda p: None,  # missing file
    ],
    ids=["garbage", "missing-key", "weights-sum", "nan-mean", "pickled", "missing-file"],
)
def test_a_bad_prior_file_is_a_prior_error(tmp_path, make):
    path = tmp_path / "prior.npz"
    make(path)
    with pytest.raises(PriorError):
        PriorSpec(file=path).resolve()


# -------------------------------------------------------------------- zoo dataset names

EVIL = """
from pathlib import Path
Path("IMPORTED").write_text("the module ran")

def payload():
    Path("CALLED").write_text("the function ran")
    return {"x": __import__("numpy").zeros((10, 64), "float32")}
"""


@pytest.fixture
def evil_module(tmp_path):
    """An evilmod.py in the current folder (tests run in tmp_path) that leaves markers."""
    (tmp_path / "evilmod.py").write_text(EVIL)
    yield tmp_path
    sys.modules.pop("evilmod", None)


def assert_not_imported(folder: Path):
    assert not (folder / "IMPORTED").exists() and not (folder / "CALLED").exists()
    assert "evilmod" not in sys.modules


def evil_checkpoint(folder: Path) -> Path:
    torch.manual_seed(0)
    kwargs = {"input_dim": 64, "hidden_dim": 8, "latent_dim": 2}
    path = folder / "evil.pt"
    torch.save(zoo_checkpoint(MLPVAE(**kwargs), "mlp-vae", kwargs, "evilmod:payload"), path)
    return path


def loaded(dataset):
    return LoadedModel(torch.nn.Identity(), "zoo", (Path("m.pt"),), dataset=dataset)


def test_zoo_dataset_accepts_built_in_names_only(evil_module):
    assert zoo_dataset(loaded(None)) is None
    for name in data.BUILTIN:
        assert zoo_dataset(loaded(name)) == name
    with pytest.raises(CheckpointError, match="evilmod:payload"):
        zoo_dataset(loaded("evilmod:payload"))
    assert_not_imported(evil_module)


def test_a_checkpoint_naming_a_module_never_imports_it(evil_module):
    with pytest.raises(CheckpointError, match="not a built-in"):
        analyze_source(evil_checkpoint(evil_module), skip=["probes"])
    assert_not_imported(evil_module)


def test_passing_data_overrides_a_non_built_in_dataset_name(evil_module):
    rng = np.random.default_rng(0)
    np.savez(evil_module / "d.npz", x=rng.random((50, 64)).astype(np.float32))
    report = analyze_source(
        evil_checkpoint(evil_module), data_spec=DataSpec("d.npz"), only=["active_units"]
    )
    assert report.stats.mu.shape == (50, 2)
    assert_not_imported(evil_module)


# --------------------------------------------------------------------- analyze_source


@pytest.fixture(scope="module")
def standard_report():
    return analyze_source(HEALTHY, only=["kl_divergence"])


def test_analyze_a_zoo_checkpoint_with_its_own_dataset(standard_report):
    stats = standard_report.stats
    assert stats.mu.shape == (DIGITS, 4) and set(stats.labels) == {"digit"}
    assert stats.provenance["prior"]["kind"] == "standard_normal"
    assert stats.provenance["data"] == "sklearn:digits"
    assert list(standard_report.results) == ["kl_divergence"]


def test_a_prior_from_options_is_recorded_and_used(standard_report):
    """KL(N(m, s2) || N(1, 1)) - KL(N(m, s2) || N(0, 1)) = 0.5 - m: the per-unit rates under
    the prior N(1, 1) exceed the standard-normal ones by 0.5 - mean(mu_i)."""
    report = analyze_source(HEALTHY, only=["kl_divergence"], prior=PriorSpec(mean=1.0))
    stats = report.stats
    assert stats.provenance["prior"]["kind"] == "diagonal_gaussian"
    assert stats.provenance["prior"]["mean"] == [[1.0]]
    assert stats.prior.kind == "diagonal_gaussian"
    assert (stats.prior.means == 1.0).all() and (stats.prior.logvars == 0.0).all()
    np.testing.assert_array_equal(stats.mu, standard_report.stats.mu)
    rate = report.results["kl_divergence"].per_unit_rate
    standard = standard_report.results["kl_divergence"].per_unit_rate
    np.testing.assert_allclose(rate - standard, 0.5 - stats.mu.mean(0), atol=1e-9)
    assert report.results["kl_divergence"].total_rate != pytest.approx(
        standard_report.results["kl_divergence"].total_rate
    )


def stats_file(path, n=120, d=3, labels=True, seed=0) -> Path:
    rng = np.random.default_rng(seed)
    mu, logvar = rng.normal(size=(n, d)), np.full((n, d), -1.0)
    write_stats(EncoderStats(mu, logvar, {"y": rng.integers(0, 2, n)} if labels else {}), path)
    return path


def test_a_prior_from_options_replaces_a_stats_file_prior(tmp_path):
    source = stats_file(tmp_path / "s.h5")
    base = analyze_source(source, only=["kl_divergence"])
    shifted = analyze_source(source, only=["kl_divergence"], prior=PriorSpec(mean=1.0))
    assert (shifted.stats.prior.means == 1.0).all()
    rate = shifted.results["kl_divergence"].per_unit_rate
    expected = base.results["kl_divergence"].per_unit_rate + 0.5 - base.stats.mu.mean(0)
    np.testing.assert_allclose(rate, expected, atol=1e-12)


def test_a_stats_file_prior_override_is_recorded(tmp_path):
    source = extract_file(ModelSpec(HEALTHY), DataSpec(), tmp_path / "s.h5")
    assert read_stats(source).provenance["prior"]["kind"] == "standard_normal"
    report = analyze_source(source, only=["kl_divergence"], prior=PriorSpec(mean=1.0))
    assert report.stats.prior.kind == "diagonal_gaussian"
    assert report.stats.provenance["prior"]["kind"] == "diagonal_gaussian"


def test_data_of_the_wrong_length_for_a_stats_file_is_a_data_error(tmp_path):
    source = stats_file(tmp_path / "s.h5", n=120)
    np.savez(tmp_path / "d.npz", x=np.zeros((119, 5), np.float32))
    with pytest.raises(DataError, match="119 examples"):
        analyze_source(source, data_spec=DataSpec(str(tmp_path / "d.npz")))
    # the inputs are not read when no analysis that runs uses them
    report = analyze_source(source, data_spec=DataSpec(str(tmp_path / "d.npz")), skip=["probes"])
    assert report.stats.n_examples == 120


def test_a_stats_file_is_read_not_extracted(tmp_path):
    source = stats_file(tmp_path / "s.h5", labels=False)
    report = analyze_source(source, only=["active_units"])
    np.testing.assert_array_equal(report.stats.mu, read_stats(source).mu)


# ------------------------------------------------------------------ inputs and sniffing


def test_collect_inputs_keeps_every_example_in_order_and_its_layout():
    """The decoder's analyses score x in the encoder's layout; the probes flatten it."""
    x = np.arange(5000 * 6, dtype=np.float32).reshape(5000, 2, 3)  # more than one batch
    collected = collect_inputs(data.open_data(x), 5000)
    assert collected.shape == (5000, 2, 3) and collected.dtype == np.float32
    np.testing.assert_array_equal(collected, x)


def test_collect_inputs_refuses_a_different_n():
    with pytest.raises(DataError, match="10 examples"):
        collect_inputs(data.open_data(np.zeros((10, 3), np.float32)), 11)


def test_is_hdf5(tmp_path):
    h5 = stats_file(tmp_path / "s.h5", labels=False)
    assert is_hdf5(h5) and is_hdf5(str(h5))
    np.savez(tmp_path / "d.npz", x=np.zeros(3))
    assert not is_hdf5(tmp_path / "d.npz")
    assert not is_hdf5(HEALTHY)
    assert not is_hdf5(tmp_path / "missing.h5")
    assert not is_hdf5(tmp_path)  # a folder
    (tmp_path / "short").write_bytes(b"\x89HDF")
    assert not is_hdf5(tmp_path / "short")
    (tmp_path / "sig").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 8)
    assert is_hdf5(tmp_path / "sig")
