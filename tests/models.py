"""Small architectures written the ways real VAE code writes them (used through --arch)."""

from __future__ import annotations

import torch
from torch import nn


class TupleVAE(nn.Module):
    """``encode(x) -> (mu, logvar)``, the most common convention."""

    def __init__(self, input_dim: int = 6, latent_dim: int = 3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_dim, 16), nn.ReLU(), nn.Linear(16, 2 * latent_dim))

    @torch.jit.export
    def encode(self, x):
        mu, logvar = self.net(x).chunk(2, dim=-1)
        return mu, logvar

    def forward(self, x):
        return self.encode(x)


class DistributionVAE(TupleVAE):
    """``encode(x)`` returns ``Independent(Normal(mu, sigma), 1)``."""

    def encode(self, x):
        mu, logvar = super().encode(x)
        return torch.distributions.Independent(
            torch.distributions.Normal(mu, (0.5 * logvar).exp()), 1
        )


class LogStdEncoderVAE(nn.Module):
    """No ``encode``; an ``encoder`` attribute returning ``[mu, log sigma]`` (beta-TCVAE style)."""

    def __init__(self, input_dim: int = 6, latent_dim: int = 3):
        super().__init__()
        self.inner = TupleVAE(input_dim, latent_dim)

    def encoder(self, x):
        mu, logvar = self.inner.encode(x)
        return [mu, 0.5 * logvar]


class SharedVarianceVAE(nn.Module):
    """A learned per-unit log-variance, expanded to the batch (a parameter, needs detaching)."""

    def __init__(self, input_dim: int = 6, latent_dim: int = 3):
        super().__init__()
        self.mean = nn.Linear(input_dim, latent_dim)
        self.logvar = nn.Parameter(torch.linspace(-1.0, 0.5, latent_dim))

    def encode(self, x):
        return self.mean(x), self.logvar.expand(len(x), -1)


class PythaeStyleOutput(dict):
    __getattr__ = dict.__getitem__


class PythaeStyleVAE(TupleVAE):
    def encode(self, x):
        mu, logvar = super().encode(x)
        return PythaeStyleOutput(embedding=mu, log_covariance=logvar)


class NaNAfterVAE(TupleVAE):
    """Returns NaN in mu for rows whose first feature exceeds 100 (marks a 'bad' example)."""

    def encode(self, x):
        mu, logvar = super().encode(x)
        mu = torch.where(x[:, :1] > 100, torch.full_like(mu, float("nan")), mu)
        return mu, logvar


class TensorOnlyVAE(TupleVAE):
    def encode(self, x):
        return super().encode(x)[0]


class WrongBatchVAE(TupleVAE):
    def encode(self, x):
        mu, logvar = super().encode(x)
        return mu[:1], logvar[:1]


not_a_class = 42


def encode_with_function(model, x):
    """For --encode: read the means and log-variances straight off the network."""
    mu, logvar = model.net(x).chunk(2, dim=-1)
    return mu, logvar


class ImageVAE(nn.Module):
    """Wants images of shape (batch, 1, 2, 3): for --input-shape."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(6, 4))

    def encode(self, x):
        if x.ndim != 4:
            raise ValueError(f"expected (batch, 1, 2, 3) images, got {tuple(x.shape)}")
        mu, logvar = self.net(x).chunk(2, dim=-1)
        return mu, logvar


def make_pythae_encoder():
    """A custom pythae encoder (pythae pickles such networks into encoder.pkl)."""
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseEncoder

    class SmallEncoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(6, 6)

        def forward(self, x):
            mu, logvar = self.net(x).chunk(2, dim=-1)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    return SmallEncoder()
