"""Decoder conventions and likelihood families (latentprobe.decoders) against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from decoder_models import (
    DistributionDecoderVAE,
    GRUTextVAE,
    TensorDecoderVAE,
    gru_log_probability_by_steps,
    linear_gaussian,
    log_likelihood_function,
)
from scipy import stats as sps

from latentprobe import decoders
from latentprobe.decoders import Likelihood, make_decoder
from latentprobe.errors import DecoderOutputError, OptionsError

RNG = np.random.default_rng(0)
X01 = (RNG.random((4, 6)) > 0.5).astype(np.float64)
PARAMS = RNG.normal(size=(4, 6))


def _score(text, params, x):
    return Likelihood.parse(text).score(params, torch.as_tensor(x)).numpy()


def test_bernoulli_on_logits_and_on_probabilities_against_scipy():
    p = 1 / (1 + np.exp(-PARAMS))
    expected = sps.bernoulli.logpmf(X01, p).sum(1)
    np.testing.assert_allclose(_score("bernoulli", torch.tensor(PARAMS), X01), expected, rtol=1e-10)
    probs = torch.tensor(p)
    np.testing.assert_allclose(_score("bernoulli-probs", probs, X01), expected, rtol=1e-10)


def test_gaussian_laplace_and_learned_variance_against_scipy():
    x = RNG.normal(size=(4, 6))
    mean = torch.tensor(PARAMS)
    expected = sps.norm.logpdf(x, PARAMS, 0.3).sum(1)
    np.testing.assert_allclose(_score("gaussian:0.3", mean, x), expected, rtol=1e-10)
    np.testing.assert_allclose(
        _score("gaussian", mean, x), sps.norm.logpdf(x, PARAMS, 1.0).sum(1), rtol=1e-10
    )
    expected = sps.laplace.logpdf(x, PARAMS, 0.5).sum(1)
    np.testing.assert_allclose(_score("laplace:0.5", mean, x), expected, rtol=1e-10)
    logvar = RNG.normal(size=(4, 6))
    expected = sps.norm.logpdf(x, PARAMS, np.exp(0.5 * logvar)).sum(1)
    pair = (mean, torch.tensor(logvar))
    np.testing.assert_allclose(_score("gaussian-learned", pair, x), expected, rtol=1e-10)
    shared = (
        mean,
        torch.tensor(0.4, dtype=torch.float64),
    )  # one learned log-variance for every pixel
    expected = sps.norm.logpdf(x, PARAMS, math.exp(0.2)).sum(1)
    np.testing.assert_allclose(_score("gaussian-learned", shared, x), expected, rtol=1e-10)


def test_categorical_in_both_layouts_against_a_loop():
    logits = RNG.normal(size=(3, 5, 7))  # (B, T, V)
    ids = RNG.integers(0, 7, (3, 5))
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = np.array([sum(log_p[b, t, ids[b, t]] for t in range(5)) for b in range(3)])
    np.testing.assert_allclose(_score("categorical", torch.tensor(logits), ids), expected)
    channels_first = torch.tensor(logits).permute(0, 2, 1)  # (B, V, T)
    np.testing.assert_allclose(_score("categorical", channels_first, ids), expected)


@pytest.mark.parametrize(
    "text", ["bernoulli", "bernoulli-probs", "gaussian:0.3", "laplace:0.5", "gaussian-learned"]
)
def test_several_draws_per_example_score_each_row_against_its_own_example(text):
    """Parameters for S draws per example (example-major) against x given once per example:
    each row is scored against its example's x, as a brute-force loop over rows says."""
    draws, rng = 3, np.random.default_rng(1)
    x = X01 if text.startswith("bernoulli") else rng.normal(size=X01.shape)
    raw = rng.normal(size=(4 * draws, 6))
    params = torch.tensor(1 / (1 + np.exp(-raw)) if text == "bernoulli-probs" else raw)
    if text == "gaussian-learned":
        params = (params, torch.tensor(rng.normal(size=(4 * draws, 6))))
    per_row = Likelihood.parse(text).score(params, torch.as_tensor(x), draws).numpy()
    for row in range(4 * draws):
        one = params[0][row : row + 1], params[1][row : row + 1]
        alone = one if text == "gaussian-learned" else params[row : row + 1]
        expected = _score(text, alone, x[row // draws : row // draws + 1])
        np.testing.assert_allclose(per_row[row], expected[0], rtol=1e-12)


def test_float32_bernoulli_logits_within_the_stated_rounding_bound():
    """A float32 decoder: within F * 6e-8 * sum |x l| of the float64 log-pmf (the bound of
    _bernoulli_logits' docstring), here 784 pixels and 50 draws of 2 examples."""
    rng = np.random.default_rng(2)
    logits = rng.normal(scale=4.0, size=(100, 784))
    x = (rng.random((2, 784)) < 0.3).astype(np.float64)
    exact = Likelihood("bernoulli").score(torch.tensor(logits), torch.tensor(x), 50).numpy()
    low = Likelihood("bernoulli").score(
        torch.tensor(logits, dtype=torch.float32), torch.tensor(x, dtype=torch.float32), 50
    )
    magnitudes = np.abs(logits * np.repeat(x, 50, axis=0)) + np.logaddexp(0, logits)
    bound = 784 * 6e-8 * magnitudes.sum(1)
    assert np.all(np.abs(low.numpy() - exact) <= bound)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_bernoulli_logits_are_summed_in_float32(dtype):
    """Logits rounded to half precision, then scored: within the float32 bound of the float64
    score of the same rounded logits (sums in half precision were off by whole nats)."""
    rng = np.random.default_rng(3)
    logits = torch.tensor(rng.normal(scale=3.0, size=(40, 784))).to(dtype)
    x = torch.tensor((rng.random((4, 784)) < 0.3).astype(np.float32))
    exact = Likelihood("bernoulli").score(logits.double(), x.double(), 10).numpy()
    low = Likelihood("bernoulli").score(logits, x.to(dtype), 10).numpy()
    bound = 784 * 6e-8 * 2 * np.abs(logits.double().numpy()).sum(1) + 1e-3
    assert np.all(np.abs(low - exact) <= bound)


def test_a_flat_decoder_output_is_reshaped_to_x_and_a_wrong_size_refused():
    x = X01.reshape(4, 1, 2, 3)
    flat = _score("bernoulli", torch.tensor(PARAMS), x)
    np.testing.assert_allclose(flat, _score("bernoulli", torch.tensor(PARAMS), X01))
    with pytest.raises(DecoderOutputError, match="one value per element of x"):
        _score("bernoulli", torch.tensor(PARAMS[:, :5]), X01)


@pytest.mark.parametrize(
    "text, message",
    [
        ("poisson", "unknown --likelihood"),
        ("bernoulli:2", "takes no parameter"),
        ("gaussian:-1", "positive number"),
        ("laplace:abc", "positive number"),
    ],
)
def test_bad_likelihood_values_are_usage_errors(text, message):
    with pytest.raises(OptionsError, match=message):
        Likelihood.parse(text)


def test_every_family_is_listed_with_a_description():
    assert set(decoders.LIKELIHOODS) == {
        "bernoulli",
        "bernoulli-probs",
        "gaussian",
        "gaussian-learned",
        "laplace",
        "categorical",
    }
    assert all(f.description for f in decoders.LIKELIHOODS.values())


def test_a_teacher_forced_log_probability_method_is_used_and_matches_a_step_loop():
    torch.manual_seed(0)
    model = GRUTextVAE().double()
    tokens = torch.randint(0, 7, (5, 6))
    decoder = make_decoder(model, latent_shape=(2,))
    assert "log_probability(x, z)" in decoder.description
    z = torch.randn(5, 3, 2, dtype=torch.float64)
    got = decoder.log_likelihood(tokens, z)
    assert got.shape == (5, 3)
    for s in range(3):
        expected = gru_log_probability_by_steps(model, tokens, z[:, s])
        torch.testing.assert_close(got[:, s], expected, rtol=1e-9, atol=1e-9)


def test_a_distribution_from_decode_needs_no_likelihood():
    torch.manual_seed(1)
    model = DistributionDecoderVAE(features=6, latent=2)
    decoder = make_decoder(model, latent_shape=(2,))
    x = torch.tensor(X01, dtype=torch.float32)
    z = torch.randn(4, 2, 2, dtype=torch.float64)
    got = decoder.log_likelihood(x, z)
    with torch.no_grad():
        logits = model.out(z.float()).double()
    expected = -torch.nn.functional.binary_cross_entropy_with_logits(
        logits, x.double()[:, None].expand_as(logits), reduction="none"
    ).sum(-1)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_a_tensor_decoder_without_a_likelihood_is_an_error_naming_the_option():
    with pytest.raises(DecoderOutputError, match="--likelihood"):
        make_decoder(TensorDecoderVAE(features=6), latent_shape=(2,))
    decoder = make_decoder(
        TensorDecoderVAE(features=6), latent_shape=(2,), likelihood=Likelihood("bernoulli")
    )
    assert decoder.description.endswith("scored as bernoulli")


def test_a_model_without_a_decoder_gives_none():
    assert make_decoder(torch.nn.Linear(2, 2), latent_shape=(2,)) is None


def test_a_log_likelihood_function_and_its_shape_check():
    model = linear_gaussian()
    decoder = make_decoder(model, latent_shape=(3,), log_likelihood=log_likelihood_function)
    x = torch.randn(4, 5, dtype=torch.float64)
    z = torch.randn(4, 2, 3, dtype=torch.float64)
    reference = make_decoder(model, latent_shape=(3,)).log_likelihood(x, z)
    torch.testing.assert_close(decoder.log_likelihood(x, z), reference)
    wrong = make_decoder(model, latent_shape=(3,), log_likelihood=lambda m, x, z: z.sum(-1).T)
    with pytest.raises(DecoderOutputError, match=r"expected \(4, 2\)"):
        wrong.log_likelihood(x, z)


def test_a_spatial_latent_is_reshaped_before_decode():
    seen = []

    class Spatial(torch.nn.Module):
        likelihood = "gaussian"

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(()))

        def decode(self, z):
            seen.append(tuple(z.shape))
            return z.flatten(1) * self.w

    decoder = make_decoder(Spatial(), latent_shape=(2, 2, 3))
    out = decoder.log_likelihood(torch.zeros(4, 12), torch.zeros(4, 2, 12, dtype=torch.float64))
    assert seen[-1] == (8, 2, 2, 3) and out.shape == (4, 2)


def test_pythae_reconstruction_losses_name_their_likelihood():
    class Config:
        reconstruction_loss = "bce"

    class PythaeLike(torch.nn.Module):
        model_config = Config()

    assert decoders.declared_likelihood(PythaeLike()) == Likelihood("bernoulli-probs")
    Config.reconstruction_loss = "mse"
    assert decoders.declared_likelihood(PythaeLike()) == Likelihood("gaussian", 1.0)
    Config.reconstruction_loss = "os.system"
    assert decoders.declared_likelihood(PythaeLike()) is None
