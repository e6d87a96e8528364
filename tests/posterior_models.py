"""Encoders returning posteriors other than diagonal Gaussians, as torch.distributions code
writes them (used through --arch)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class LaplaceVAE(nn.Module):
    """``encode(x)`` returns ``Independent(Laplace(loc, scale), 1)``."""

    def __init__(self, input_dim: int = 6, latent_dim: int = 3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_dim, 16), nn.Tanh(), nn.Linear(16, 2 * latent_dim))

    def encode(self, x):
        loc, raw = self.net(x).chunk(2, dim=-1)
        dist = torch.distributions.Laplace(loc, F.softplus(raw) + 1e-3)
        return torch.distributions.Independent(dist, 1)


class FullCovarianceVAE(nn.Module):
    """``encode(x)`` returns ``MultivariateNormal(loc, scale_tril=L)``: L's diagonal through a
    softplus, its lower triangle free (the usual full-covariance encoder head)."""

    def __init__(self, input_dim: int = 6, latent_dim: int = 3):
        super().__init__()
        self.latent_dim = latent_dim
        pairs = latent_dim * (latent_dim + 1) // 2
        self.net = nn.Sequential(
            nn.Linear(input_dim, 16), nn.Tanh(), nn.Linear(16, latent_dim + pairs)
        )

    def encode(self, x):
        out = self.net(x)
        loc, entries = out[:, : self.latent_dim], out[:, self.latent_dim :]
        rows, cols = torch.tril_indices(self.latent_dim, self.latent_dim)
        tril = torch.zeros(len(x), self.latent_dim, self.latent_dim, dtype=out.dtype)
        tril[:, rows, cols] = entries
        diagonal = F.softplus(torch.diagonal(tril, dim1=1, dim2=2)) + 1e-2
        tril = torch.tril(tril, -1) + torch.diag_embed(diagonal)
        return torch.distributions.MultivariateNormal(loc, scale_tril=tril)


class BetaVAE(LaplaceVAE):
    """Returns a Beta posterior, a family latentprobe does not analyse."""

    def encode(self, x):
        a, b = self.net(x).chunk(2, dim=-1)
        return torch.distributions.Beta(F.softplus(a) + 0.1, F.softplus(b) + 0.1)
