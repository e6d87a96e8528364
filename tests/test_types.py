"""Plain data: the prior and the encoder statistics, validated when built."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentprobe import EncoderStats, Prior
from latentprobe.errors import DataError, PosteriorError, PriorError

# ------------------------------------------------------------------------------ Prior


@pytest.mark.parametrize(
    "weights, means, logvars",
    [
        ([0.5, 0.6], np.zeros((2, 3)), np.zeros((2, 3))),  # weights do not sum to 1
        ([1.5, -0.5], np.zeros((2, 3)), np.zeros((2, 3))),  # a negative weight
        ([1.0, 0.0], np.zeros((2, 3)), np.zeros((2, 3))),  # a zero weight
        ([np.nan], np.zeros((1, 3)), np.zeros((1, 3))),
        ([0.5, 0.5], np.zeros((3, 3)), np.zeros((3, 3))),  # K = 2 weights, 3 components
        ([0.5, 0.5], np.zeros((2, 3)), np.zeros((1, 3))),  # means and logvars disagree on K
        ([[1.0]], np.zeros((1, 3)), np.zeros((1, 3))),  # weights not 1-D
        ([1.0], [[0.0, np.nan]], [[0.0, 0.0]]),
        ([1.0], [[0.0, 0.0]], [[np.inf, 0.0]]),
    ],
)
def test_malformed_priors_are_prior_errors(weights, means, logvars):
    with pytest.raises(PriorError):
        Prior.mixture(weights, means, logvars)


def test_non_finite_diagonal_prior_is_a_prior_error():
    with pytest.raises(PriorError, match="finite"):
        Prior.diagonal(np.nan, 0.0)
    with pytest.raises(PriorError, match="finite"):
        Prior.diagonal(0.0, [0.0, -np.inf])


def test_constructors_store_float64_k_by_d():
    p = Prior.diagonal([1, 2, 3], 0)
    assert p.weights.dtype == p.means.dtype == p.logvars.dtype == np.float64
    assert p.weights.shape == (1,) and p.means.shape == (1, 3) and p.logvars.shape == (1, 1)
    m = Prior.mixture([0.25, 0.75], [[0.0], [1.0]], [[0.0], [2.0]])
    assert m.means.shape == (2, 1) and m.logvars.shape == (2, 1)
    assert Prior.standard_normal().means.shape == (1, 1)


def test_expanded_broadcasts_one_value_to_every_unit():
    p = Prior.mixture([0.5, 0.5], [[1.0], [-1.0]], [[0.0], [0.5]]).expanded(4)
    np.testing.assert_array_equal(p.means, [[1.0] * 4, [-1.0] * 4])
    np.testing.assert_array_equal(p.logvars, [[0.0] * 4, [0.5] * 4])
    np.testing.assert_array_equal(p.weights, [0.5, 0.5])
    p.means[0, 0] = 9.0  # a copy, not a read-only view
    per_unit = Prior.diagonal([1.0, 2.0], 0.0).expanded(2)
    np.testing.assert_array_equal(per_unit.means, [[1.0, 2.0]])
    np.testing.assert_array_equal(per_unit.logvars, [[0.0, 0.0]])


def test_expanded_refuses_another_number_of_units():
    with pytest.raises(PriorError, match="3 units"):
        Prior.diagonal([0.0, 1.0, 2.0], 0.0).expanded(4)
    with pytest.raises(PriorError):
        Prior.diagonal(0.0, [0.0, 1.0]).check_fits(3)
    Prior.diagonal(0.0, [0.0, 1.0]).check_fits(2)
    Prior.standard_normal().check_fits(17)


def test_kind():
    assert Prior.standard_normal().kind == "standard_normal"
    assert Prior.diagonal([0.0, 0.0], [0.0, 0.0]).kind == "standard_normal"
    assert Prior.diagonal(0.5, 0.0).kind == "diagonal_gaussian"
    assert Prior.diagonal(0.0, [0.0, -1.0]).kind == "diagonal_gaussian"
    twin = Prior.mixture([0.5, 0.5], np.zeros((2, 2)), np.zeros((2, 2)))
    assert twin.kind == "mixture_of_diagonal_gaussians"
    assert Prior.standard_normal().is_gaussian and not twin.is_gaussian


def test_describe():
    assert Prior.standard_normal().describe() == {
        "kind": "standard_normal",
        "components": 1,
        "mean": 0.0,
        "logvar": 0.0,
    }
    assert Prior.diagonal([1.0, 2.0], -1.0).describe() == {
        "kind": "diagonal_gaussian",
        "components": 1,
        "mean": [[1.0, 2.0]],
        "logvar": [[-1.0]],
    }
    mixture = Prior.mixture([0.25, 0.75], [[0.0], [1.0]], [[0.0], [2.0]]).describe()
    assert mixture["kind"] == "mixture_of_diagonal_gaussians" and mixture["components"] == 2
    assert mixture["mean"] == [[0.0], [1.0]] and mixture["logvar"] == [[0.0], [2.0]]


# ------------------------------------------------------------------------ EncoderStats


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.int32, np.int64, np.bool_])
def test_stats_convert_to_float64(dtype):
    mu = np.array([[1, 0], [0, 1], [1, 1]]).astype(dtype)
    stats = EncoderStats(mu, np.zeros((3, 2), dtype))
    assert stats.mu.dtype == stats.logvar.dtype == np.float64
    np.testing.assert_array_equal(stats.mu, mu.astype(np.float64))
    assert (stats.n_examples, stats.n_units) == (3, 2)


def test_stats_from_torch_tensors():
    mu = torch.arange(6, dtype=torch.float32).reshape(3, 2)
    stats = EncoderStats(mu, torch.zeros(3, 2))
    assert isinstance(stats.mu, np.ndarray) and stats.mu.dtype == np.float64
    np.testing.assert_array_equal(stats.mu, [[0, 1], [2, 3], [4, 5]])


def test_stats_defaults():
    stats = EncoderStats(np.zeros((2, 3)), np.zeros((2, 3)))
    assert stats.labels == {} and stats.provenance == {}
    assert stats.prior.kind == "standard_normal"


def test_complex_posteriors_are_refused():
    z = np.zeros((3, 2), np.complex128)
    with pytest.raises(PosteriorError, match="real"):
        EncoderStats(z, np.zeros((3, 2)))
    with pytest.raises(PosteriorError, match="real"):
        EncoderStats(np.zeros((3, 2)), z)
    with pytest.raises(PosteriorError):
        EncoderStats(np.full((3, 2), "a"), np.zeros((3, 2)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_posteriors_are_refused_with_their_place(bad):
    mu = np.zeros((4, 3), np.float32)
    mu[2, 1] = bad
    with pytest.raises(PosteriorError, match="example 2, unit 1"):
        EncoderStats(mu, np.zeros((4, 3)))
    with pytest.raises(PosteriorError, match="logvar"):
        EncoderStats(np.zeros((4, 3)), mu)


@pytest.mark.parametrize(
    "mu_shape, logvar_shape",
    [((3, 2), (3, 3)), ((3,), (3,)), ((3, 2, 1), (3, 2, 1)), ((0, 2), (0, 2)), ((3, 0), (3, 0))],
)
def test_bad_shapes_are_refused(mu_shape, logvar_shape):
    with pytest.raises(PosteriorError):
        EncoderStats(np.zeros(mu_shape), np.zeros(logvar_shape))


def test_labels_of_another_length_are_a_data_error():
    with pytest.raises(DataError, match="'y'"):
        EncoderStats(np.zeros((5, 2)), np.zeros((5, 2)), {"y": np.arange(4)})
    ok = EncoderStats(np.zeros((5, 2)), np.zeros((5, 2)), {"y": np.arange(5)})
    assert set(ok.labels) == {"y"}


def test_a_prior_that_does_not_fit_is_refused():
    with pytest.raises(PriorError):
        EncoderStats(np.zeros((5, 2)), np.zeros((5, 2)), prior=Prior.diagonal([0, 0, 0], 0))
    fits = EncoderStats(np.zeros((5, 2)), np.zeros((5, 2)), prior=Prior.diagonal([1, 2], 0))
    assert fits.prior.kind == "diagonal_gaussian"


def test_stats_are_frozen():
    stats = EncoderStats(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(AttributeError):
        stats.mu = np.ones((2, 2))


def test_stats_from_nested_lists():
    stats = EncoderStats([[0.0, 1.0], [2.0, 3.0]], [[0.0, 0.0], [0.0, 0.0]])
    assert stats.mu.dtype == np.float64 and stats.mu.shape == (2, 2)
