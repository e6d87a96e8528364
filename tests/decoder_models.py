"""Models for the decoder's analyses, with their closed forms.

A linear-Gaussian VAE: z ~ N(0, I), x | z ~ N(W z + b, s^2 I). Then (BACKGROUND.md, "The
decoder side") x ~ N(b, W W^T + s^2 I), and the true posterior is N(M W^T (x - b) / s^2, M)
with M = (I + W^T W / s^2)^-1. An encoder N(m(x), diag v) has, per example, the exact
distortion

    D(x) = (|x - W m - b|^2 + sum_i v_i |W_i|^2) / (2 s^2) + F/2 log(2 pi s^2),

and the rise in D when z_i alone is drawn from N(0, 1) instead is |W_i|^2 (m_i^2 + v_i + 1)
/ (2 s^2); when all of z is drawn from the prior, (|x - b|^2 + tr W^T W) / (2 s^2) - D(x) +
F/2 log(2 pi s^2). A zero column W_i is a unit the decoder cannot use.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


class LinearGaussianVAE(nn.Module):
    """encode(x) = (A x + c, log v) with a fixed diagonal v; decode(z) = W z + b, a Gaussian
    of standard deviation ``sigma`` (declared through ``likelihood``)."""

    def __init__(self, features: int = 5, latent: int = 3, sigma: float = 0.5):
        super().__init__()
        self.W = nn.Parameter(torch.zeros(features, latent, dtype=torch.float64))
        self.b = nn.Parameter(torch.zeros(features, dtype=torch.float64))
        self.A = nn.Parameter(torch.zeros(latent, features, dtype=torch.float64))
        self.c = nn.Parameter(torch.zeros(latent, dtype=torch.float64))
        self.log_v = nn.Parameter(torch.zeros(latent, dtype=torch.float64))
        self.sigma = sigma
        self.likelihood = f"gaussian:{sigma!r}"

    def encode(self, x):
        mu = x.double() @ self.A.T + self.c
        return mu, self.log_v.expand_as(mu)

    def decode(self, z):
        return z.double() @ self.W.T + self.b


def linear_gaussian(seed: int = 0, features: int = 5, latent: int = 3, sigma: float = 0.5):
    """A model with orthogonal columns of W (so the true posterior is diagonal), its last
    column zero, and the encoder set to the true posterior."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(features, latent)))
    W = q * np.linspace(2.0, 0.8, latent)
    W[:, -1] = 0.0
    model = LinearGaussianVAE(features, latent, sigma)
    with torch.no_grad():
        model.W.copy_(torch.from_numpy(W))
        model.b.copy_(torch.from_numpy(rng.normal(size=features)))
        set_true_posterior(model)
    return model


def set_true_posterior(model: LinearGaussianVAE) -> None:
    W, b, s2 = model.W.detach().numpy(), model.b.detach().numpy(), model.sigma**2
    M = np.linalg.inv(np.eye(W.shape[1]) + W.T @ W / s2)
    with torch.no_grad():
        model.A.copy_(torch.from_numpy(M @ W.T / s2))
        model.c.copy_(torch.from_numpy(-M @ W.T @ b / s2))
        model.log_v.copy_(torch.from_numpy(np.log(np.diag(M))))


def sample_x(model: LinearGaussianVAE, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    W, b = model.W.detach().numpy(), model.b.detach().numpy()
    z = rng.standard_normal((n, W.shape[1]))
    return z @ W.T + b + model.sigma * rng.standard_normal((n, W.shape[0]))


def log_marginal(model: LinearGaussianVAE, x: np.ndarray) -> np.ndarray:
    """log p(x) = log N(x; b, W W^T + s^2 I), per example."""
    W, b = model.W.detach().numpy(), model.b.detach().numpy()
    cov = W @ W.T + model.sigma**2 * np.eye(len(b))
    _, logdet = np.linalg.slogdet(cov)
    r = x - b
    quad = np.einsum("ni,ij,nj->n", r, np.linalg.inv(cov), r)
    return -0.5 * (quad + logdet + len(b) * math.log(2 * math.pi))


def encoder_stats(model: LinearGaussianVAE, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        mu, logvar = model.encode(torch.from_numpy(x))
    return mu.detach().numpy(), logvar.detach().numpy()


def exact_distortion(model: LinearGaussianVAE, x: np.ndarray) -> np.ndarray:
    W, b, s2 = model.W.detach().numpy(), model.b.detach().numpy(), model.sigma**2
    m, logvar = encoder_stats(model, x)
    v = np.exp(logvar[0])
    residual = ((x - m @ W.T - b) ** 2).sum(1) + (v * (W**2).sum(0)).sum()
    return residual / (2 * s2) + 0.5 * len(b) * math.log(2 * math.pi * s2)


def exact_rate(model: LinearGaussianVAE, x: np.ndarray) -> np.ndarray:
    m, logvar = encoder_stats(model, x)
    return 0.5 * (np.exp(logvar) + m**2 - 1 - logvar).sum(1)


def exact_unit_reliance(model: LinearGaussianVAE, x: np.ndarray) -> np.ndarray:
    W, s2 = model.W.detach().numpy(), model.sigma**2
    m, logvar = encoder_stats(model, x)
    return (W**2).sum(0) * (m**2 + np.exp(logvar) + 1).mean(0) / (2 * s2)


def exact_prior_distortion(model: LinearGaussianVAE, x: np.ndarray) -> np.ndarray:
    W, b, s2 = model.W.detach().numpy(), model.b.detach().numpy(), model.sigma**2
    return (((x - b) ** 2).sum(1) + (W**2).sum()) / (2 * s2) + 0.5 * len(b) * math.log(
        2 * math.pi * s2
    )


class ConstantDecoderVAE(nn.Module):
    """An encoder that uses x; a decoder whose Bernoulli logits ignore z."""

    likelihood = "bernoulli"

    def __init__(self, features: int = 64, latent: int = 2):
        super().__init__()
        self.encoder = nn.Linear(features, 2 * latent)
        self.logits = nn.Parameter(torch.zeros(features))
        self.latent = latent

    def encode(self, x):
        mu, logvar = self.encoder(x.flatten(1)).chunk(2, -1)
        return 3 * mu, logvar - 4

    def decode(self, z):
        return self.logits.expand(len(z), -1)


class TensorDecoderVAE(ConstantDecoderVAE):
    """The same, without a declared likelihood: its decoder's tensor cannot be scored."""

    likelihood = None

    def decode(self, z):
        return self.logits.expand(len(z), -1) + z[:, :1]


class DistributionDecoderVAE(ConstantDecoderVAE):
    """decode(z) returns a torch.distributions object: no --likelihood needed."""

    likelihood = None

    def __init__(self, features: int = 64, latent: int = 2):
        super().__init__(features, latent)
        self.out = nn.Linear(latent, features)

    def decode(self, z):
        return torch.distributions.Independent(torch.distributions.Bernoulli(logits=self.out(z)), 1)


class GRUTextVAE(nn.Module):
    """A text VAE in the style of He et al. (2019)'s code: token ids (B, T) in,
    ``log_probability(x, z)`` teacher-forced with z of shape (B, S, nz), out (B, S)."""

    def __init__(self, vocab: int = 7, latent: int = 2, hidden: int = 8, start: int = 0):
        super().__init__()
        self.embed = nn.Embedding(vocab, 4)
        self.encoder_rnn = nn.GRU(4, hidden, batch_first=True)
        self.stats = nn.Linear(hidden, 2 * latent)
        self.init = nn.Linear(latent, hidden)
        self.decoder_rnn = nn.GRU(4 + latent, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)
        self.start = start

    def encode(self, tokens):
        _, h = self.encoder_rnn(self.embed(tokens))
        mu, logvar = self.stats(h[-1]).chunk(2, -1)
        return mu, logvar

    def log_probability(self, x, z):
        b, s, nz = z.shape
        tokens = x.repeat_interleave(s, 0)  # (B * S, T)
        z = z.reshape(b * s, nz)
        shifted = torch.cat([torch.full_like(tokens[:, :1], self.start), tokens[:, :-1]], 1)
        inputs = torch.cat([self.embed(shifted), z[:, None].expand(-1, tokens.shape[1], -1)], -1)
        h, _ = self.decoder_rnn(inputs, torch.tanh(self.init(z))[None])
        log_p = torch.log_softmax(self.out(h), -1).gather(-1, tokens[..., None])[..., 0]
        return log_p.sum(1).reshape(b, s)


def gru_log_probability_by_steps(model: GRUTextVAE, tokens: torch.Tensor, z: torch.Tensor):
    """The same teacher-forced log p(x|z) computed one token at a time with GRUCell
    arithmetic in float64 (the brute-force reference), z of shape (B, nz)."""
    rnn = model.decoder_rnn
    w_ih, w_hh = rnn.weight_ih_l0.double(), rnn.weight_hh_l0.double()
    b_ih, b_hh = rnn.bias_ih_l0.double(), rnn.bias_hh_l0.double()
    z = z.double()
    h = torch.tanh(z @ model.init.weight.double().T + model.init.bias.double())
    previous = torch.full_like(tokens[:, 0], model.start)
    total = torch.zeros(len(tokens), dtype=torch.float64)
    for t in range(tokens.shape[1]):
        inp = torch.cat([model.embed.weight.double()[previous], z], -1)
        gi, gh = inp @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        r = torch.sigmoid(gi[:, : h.shape[1]] + gh[:, : h.shape[1]])
        u = torch.sigmoid(gi[:, h.shape[1] : 2 * h.shape[1]] + gh[:, h.shape[1] : 2 * h.shape[1]])
        n = torch.tanh(gi[:, 2 * h.shape[1] :] + r * gh[:, 2 * h.shape[1] :])
        h = (1 - u) * n + u * h
        logits = h @ model.out.weight.double().T + model.out.bias.double()
        total += torch.log_softmax(logits, -1)[torch.arange(len(tokens)), tokens[:, t]]
        previous = tokens[:, t]
    return total


def log_likelihood_function(model, x, z):
    """A --log-likelihood function: log p(x|z) of the linear-Gaussian model, by hand."""
    mean = z.double() @ model.W.T.double() + model.b.double()
    s = model.sigma
    r = (x.double()[:, None, :] - mean) / s
    return (-0.5 * r**2 - math.log(s) - 0.5 * math.log(2 * math.pi)).sum(-1)


def decoder_inputs(n: int, latent: int, seed: int = 0):
    """(x, decoder) for analyses of any statistics with ``latent`` units and n examples: a
    linear-Gaussian decoder and x drawn from it (the decoder's analyses then run too)."""
    from latentprobe.decoders import make_decoder

    model = linear_gaussian(seed=seed, features=latent + 2, latent=latent)
    return sample_x(model, n, seed=seed), make_decoder(model, latent_shape=(latent,))
