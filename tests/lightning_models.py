"""VAEs trained with Lightning in two real conventions (used through --arch by
tests/test_lightning.py; importing this module needs lightning).

``LitVAE`` is a LightningModule that calls ``self.save_hyperparameters()`` with plain
constructor arguments, so its checkpoint's ``hyper_parameters`` rebuild it. ``VanillaVAE``
and ``VAEXperiment`` follow AntixK's PyTorch-VAE: a plain ``nn.Module`` whose ``encode``
returns ``[mu, log_var]`` as a list, wrapped by an experiment LightningModule that keeps it
as ``self.model`` (so the checkpoint's keys start with ``model.``) and saves no
hyperparameters (the constructor arguments live in the run's YAML config).
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F


def gaussian_kl(mu, log_var):
    """KL(N(mu, exp(log_var)) || N(0, I)) per example, summed over units."""
    return 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(dim=1)


class LitVAE(L.LightningModule):
    """An MLP VAE as a LightningModule: ``encode(x) -> (mu, logvar)``."""

    def __init__(self, input_dim: int = 64, hidden_dims=(32, 16), latent_dim: int = 4, lr=1e-2):
        super().__init__()
        self.save_hyperparameters()
        layers, width = [], input_dim
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.encoder = nn.Sequential(*layers)
        self.fc_mu = nn.Linear(width, latent_dim)
        self.fc_logvar = nn.Linear(width, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dims[-1]), nn.ReLU(), nn.Linear(hidden_dims[-1], input_dim)
        )

    def encode(self, x):
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def training_step(self, batch, batch_idx):
        (x,) = batch
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        loss = (
            F.mse_loss(self.decoder(z), x, reduction="sum") / len(x)
            + gaussian_kl(mu, logvar).mean()
        )
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


class VanillaVAE(nn.Module):
    """AntixK PyTorch-VAE's ``VanillaVAE``, small: convolutions over (C, H, W) images,
    ``encode`` returns ``[mu, log_var]``, ``forward`` returns ``[recons, input, mu, log_var]``
    and ``loss_function`` weighs the KL by ``M_N``."""

    def __init__(self, in_channels: int, latent_dim: int, hidden_dims=None, **kwargs):
        super().__init__()
        hidden_dims = list(hidden_dims or [8, 16])
        self.latent_dim, self.last = latent_dim, hidden_dims[-1]
        modules, channels = [], in_channels
        for h_dim in hidden_dims:
            modules.append(
                nn.Sequential(
                    nn.Conv2d(channels, h_dim, kernel_size=3, stride=2, padding=1),
                    nn.BatchNorm2d(h_dim),
                    nn.LeakyReLU(),
                )
            )
            channels = h_dim
        self.encoder = nn.Sequential(*modules)
        self.fc_mu = nn.Linear(hidden_dims[-1] * 4, latent_dim)
        self.fc_var = nn.Linear(hidden_dims[-1] * 4, latent_dim)
        self.decoder_input = nn.Linear(latent_dim, hidden_dims[-1] * 4)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(hidden_dims[-1], in_channels, 4, stride=4), nn.Sigmoid()
        )

    def encode(self, input):
        result = torch.flatten(self.encoder(input), start_dim=1)
        return [self.fc_mu(result), self.fc_var(result)]

    def decode(self, z):
        return self.decoder(self.decoder_input(z).view(-1, self.last, 2, 2))

    def reparameterize(self, mu, logvar):
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def forward(self, input, **kwargs):
        mu, log_var = self.encode(input)
        return [self.decode(self.reparameterize(mu, log_var)), input, mu, log_var]

    def loss_function(self, *args, **kwargs):
        recons, input, mu, log_var = args
        recons_loss = F.mse_loss(recons, input)
        kld_loss = gaussian_kl(mu, log_var).mean()
        loss = recons_loss + kwargs["M_N"] * kld_loss
        return {"loss": loss, "Reconstruction_Loss": recons_loss.detach(), "KLD": -kld_loss}


class VAEXperiment(L.LightningModule):
    """AntixK PyTorch-VAE's experiment: the VAE under ``self.model``, its settings in
    ``params``; no ``save_hyperparameters()``."""

    def __init__(self, vae_model: nn.Module, params: dict) -> None:
        super().__init__()
        self.model = vae_model
        self.params = params
        self.curr_device = None

    def forward(self, input, **kwargs):
        return self.model(input, **kwargs)

    def training_step(self, batch, batch_idx):
        real_img, labels = batch
        self.curr_device = real_img.device
        results = self.forward(real_img, labels=labels)
        train_loss = self.model.loss_function(*results, M_N=self.params["kld_weight"])
        self.log_dict({key: val.item() for key, val in train_loss.items()})
        return train_loss["loss"]

    def validation_step(self, batch, batch_idx):
        real_img, labels = batch
        results = self.forward(real_img, labels=labels)
        val_loss = self.model.loss_function(*results, M_N=1.0)
        self.log_dict({f"val_{key}": val.item() for key, val in val_loss.items()})

    def configure_optimizers(self):
        return torch.optim.Adam(self.model.parameters(), lr=self.params["LR"])


class LitVAEWithValidation(LitVAE):
    """``LitVAE`` with a validation loop (its loss on the validation batches)."""

    def validation_step(self, batch, batch_idx):
        (x,) = batch
        mu, logvar = self.encode(x)
        self.log("val_kl", gaussian_kl(mu, logvar).mean())
