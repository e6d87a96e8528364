"""Encoder conventions all reduce to the same (mu, log sigma^2)."""

from __future__ import annotations

import models
import numpy as np
import pytest
import torch

from latentprobe.adapters import make_encoder
from latentprobe.errors import EncoderOutputError

X = torch.from_numpy(np.random.default_rng(2).normal(size=(9, 6)).astype(np.float32))


def expected(model: models.TupleVAE):
    mu, logvar = models.TupleVAE.encode(model, X)
    return mu.detach(), logvar.detach()


@pytest.mark.parametrize("cls", [models.TupleVAE, models.DistributionVAE, models.PythaeStyleVAE])
def test_conventions_agree(cls):
    torch.manual_seed(0)
    model = cls()
    mu, logvar, *_ = make_encoder(model)(X)
    mu_ref, logvar_ref = expected(model)
    assert mu.dtype == torch.float32  # the encoder's own precision is kept
    torch.testing.assert_close(mu, mu_ref)
    torch.testing.assert_close(logvar, logvar_ref, rtol=1e-6, atol=1e-6)


def test_encoder_attribute_with_logstd():
    torch.manual_seed(0)
    model = models.LogStdEncoderVAE()
    mu, logvar, *_ = make_encoder(model, param="logstd")(X)
    torch.testing.assert_close(logvar, expected(model.inner)[1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "param, transform",
    [
        ("std", lambda lv: (0.5 * lv).exp()),
        ("var", lambda lv: lv.exp()),
        ("logstd", lambda lv: 0.5 * lv),
    ],
)
def test_parametrisations_invert_to_logvar(param, transform):
    mu = torch.zeros(4, 2)
    logvar = torch.tensor([[-3.0, 0.0], [1.0, 2.0], [-0.5, 0.25], [4.0, -12.0]])
    encoder = make_encoder(object(), encode=lambda m, x: (mu, transform(logvar)), param=param)
    torch.testing.assert_close(encoder(torch.zeros(4, 1))[1], logvar, rtol=1e-5, atol=1e-5)


def test_shared_parameter_is_expanded_and_detached():
    model = models.SharedVarianceVAE()
    mu, logvar, *_ = make_encoder(model)(X)
    assert logvar.shape == mu.shape == (9, 3)
    assert not logvar.requires_grad
    torch.testing.assert_close(logvar[4], model.logvar.detach())


def test_user_function():
    torch.manual_seed(0)
    model = models.TupleVAE()
    mu, *_ = make_encoder(model, encode=models.encode_with_function)(X)
    torch.testing.assert_close(mu, expected(model)[0])


@pytest.mark.parametrize(
    "cls, message",
    [
        (models.TensorOnlyVAE, "encoder returned Tensor"),
        (models.WrongBatchVAE, r"shape \(1, 3\) for a batch of 9"),
    ],
)
def test_wrong_outputs(cls, message):
    with pytest.raises(EncoderOutputError, match=message):
        make_encoder(cls())(X)


def test_model_without_encoder():
    with pytest.raises(EncoderOutputError, match="--encode"):
        make_encoder(torch.nn.Linear(6, 3))


def test_half_precision_is_widened_to_float32():
    encoder = make_encoder(object(), encode=lambda m, x: (x.half(), x.half()))
    assert encoder(X)[0].dtype == torch.float32


def test_non_positive_std_is_rejected():
    encoder = make_encoder(object(), encode=lambda m, x: (x, torch.zeros_like(x)), param="std")
    with pytest.raises(EncoderOutputError, match="non-positive std"):
        encoder(X)


class LatentAndKLEncoder(torch.nn.Module):
    """The convention of some LSTM text VAEs: encode(x) returns (z, KL per example)."""

    def __init__(self, latent_dim: int = 3):
        super().__init__()
        self.mean = torch.nn.Linear(6, latent_dim)

    def encode(self, x):
        mu = self.mean(x)
        return mu, 0.5 * (mu**2).sum(1)


@pytest.mark.parametrize("batch, latent", [(1, 3), (9, 3), (3, 3), (1, 1)])
def test_a_second_output_that_is_not_a_log_variance_is_refused(batch, latent):
    """At a batch of one, (z, KL) of shape (1, D) and (1,) expanded silently to a
    plausible log-variance; a batch as long as the latent made (D,) look per-unit."""
    encoder = make_encoder(LatentAndKLEncoder(latent))
    with pytest.raises(EncoderOutputError, match="second output of shape"):
        encoder(X[:batch])


def test_a_shared_per_unit_log_variance_is_expanded_even_for_a_batch_of_one():
    logvar = torch.tensor([-1.0, 0.0, 0.5])
    encoder = make_encoder(object(), encode=lambda m, x: (x[:, :3], logvar))
    for batch in (1, 9):
        torch.testing.assert_close(encoder(X[:batch])[1], logvar.expand(batch, 3))


def test_a_shared_log_variance_stays_shared_on_a_last_batch_as_long_as_the_latent():
    """The first batch decides; a (1, D) parameter is shared too (review of issue 11)."""
    logvar = torch.tensor([-1.0, 0.0, 0.5])
    encoder = make_encoder(object(), encode=lambda m, x: (x[:, :3], logvar))
    encoder(X[:9])
    torch.testing.assert_close(encoder(X[:3])[1], logvar.expand(3, 3))
    row = make_encoder(object(), encode=lambda m, x: (x[:, :3], logvar[None]))
    torch.testing.assert_close(row(X[:9])[1], logvar.expand(9, 3))


class _Holder:
    def __init__(self, **fields):
        self.__dict__.update(fields)


def _mu_logvar(x):
    return x[:, :3], x[:, 3:6] - 1.0


@pytest.mark.parametrize(
    "wrap",
    [
        lambda mu, lv: _Holder(latent_dist=_Holder(mean=mu, logvar=lv, std=(0.5 * lv).exp())),
        lambda mu, lv: _Holder(mean=mu, logvar=lv),
        lambda mu, lv: _Holder(loc=mu, scale=(0.5 * lv).exp()),
        lambda mu, lv: (mu + 0.0, mu, lv)[1:] + (mu[:, None].expand(-1, 4, -1),),  # (mu, lv, z)
        lambda mu, lv: (mu[None].expand(5, -1, -1), mu, lv),  # (z with a draws axis, mu, lv)
    ],
    ids=["diffusers latent_dist", "mean/logvar", "loc/scale", "mu-logvar-z", "z-mu-logvar"],
)
def test_more_output_conventions_reduce_to_mu_and_logvar(wrap):
    """Issue 11: diffusers' .latent_dist, objects with .mean/.logvar or .loc/.scale, and
    triples whose third tensor's shape tells it apart."""
    encoder = make_encoder(object(), encode=lambda m, x: wrap(*_mu_logvar(x)))
    mu, logvar, *_ = encoder(X)
    torch.testing.assert_close(mu, _mu_logvar(X)[0])
    torch.testing.assert_close(logvar, _mu_logvar(X)[1], rtol=1e-5, atol=1e-5)


def test_a_triple_of_one_shape_is_refused_naming_encode_method():
    encoder = make_encoder(object(), encode=lambda m, x: (x[:, :3], x[:, :3], x[:, 3:6]))
    with pytest.raises(EncoderOutputError, match="cannot be told.*--encode-method"):
        encoder(X)


def test_a_triple_whose_odd_tensor_could_be_a_shared_logvar_is_refused():
    """(z, mu, logvar) with a per-unit logvar: the equal-shape pair is (z, mu), which read
    as (mu, logvar) silently (review of issue 11)."""
    shared = torch.zeros(3)
    encoder = make_encoder(object(), encode=lambda m, x: (x[:, :3] + 1, x[:, :3], shared))
    with pytest.raises(EncoderOutputError, match="could be a shared log-variance"):
        encoder(X)


def test_arrays_beside_x_keep_their_kind():
    from latentprobe.data import encoder_input

    assert encoder_input(np.array([True, False])).dtype == torch.bool
    assert encoder_input(np.array([3, 4], dtype=np.uint8)).dtype == torch.int64
    assert encoder_input(np.array([0.5])).dtype == torch.float32
