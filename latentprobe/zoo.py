"""latentprobe's own small model zoo.

A zoo checkpoint is a plain dict saved with ``torch.save``::

    {"latentprobe_zoo": {"arch": "mlp-vae", "kwargs": {...}, "dataset": "sklearn:digits"},
     "state_dict": {...}}

It loads with ``weights_only=True``. The architecture is looked up by name in
``ARCHITECTURES``; nothing in the file is imported or called.
"""

from __future__ import annotations

import torch
from torch import nn


class MLPVAE(nn.Module):
    """A Gaussian-encoder, Bernoulli-decoder VAE with one hidden layer on each side.

    ``encode(x)`` returns ``(mu, logvar)``, each of shape (batch, latent_dim); ``decode(z)``
    Bernoulli logits, as ``likelihood`` says.
    """

    likelihood = "bernoulli"

    def __init__(self, input_dim: int = 64, hidden_dim: int = 128, latent_dim: int = 8):
        super().__init__()
        self.input_dim = input_dim
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Flatten(),
            nn.Linear(input_dim, hidden_dim),
            nn.Tanh(),
            nn.Linear(hidden_dim, 2 * latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, input_dim)
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of shape (batch, input_dim)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


ARCHITECTURES: dict[str, type[nn.Module]] = {"mlp-vae": MLPVAE}

ZOO_KEY = "latentprobe_zoo"


def zoo_checkpoint(model: nn.Module, arch: str, kwargs: dict, dataset: str | None = None) -> dict:
    """The dict to ``torch.save`` for a zoo model (only plain types and tensors)."""
    meta = {"arch": arch, "kwargs": dict(kwargs)}
    if dataset is not None:
        meta["dataset"] = dataset
    return {ZOO_KEY: meta, "state_dict": model.state_dict()}
