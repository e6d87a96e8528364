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


class SoftplusStdVAE(nn.Module):
    """A conv-VAE habit: the encoder's second output is a standard deviation (softplus), so
    it is never negative; read with the default --param logvar it gives wrong numbers."""

    def __init__(self, input_dim: int = 6, latent_dim: int = 3):
        super().__init__()
        self.mean = nn.Linear(input_dim, latent_dim)
        self.scale = nn.Linear(input_dim, latent_dim)
        with torch.no_grad():
            self.mean.weight.mul_(3.0)
            self.scale.bias.fill_(-2.0)

    def encode(self, x):
        return self.mean(x), nn.functional.softplus(self.scale(x)) + 1e-3


class PythaeStyleConfig:
    """The fields of a pythae model config that a VAMP model reads."""

    def __init__(self, input_dim=(6,), latent_dim: int = 3, number_components: int = 5):
        self.input_dim, self.latent_dim = input_dim, latent_dim
        self.number_components = number_components


class PythaeStyleEncoder(nn.Module):
    def __init__(self, input_dim: int = 6, latent_dim: int = 3):
        super().__init__()
        self.net = nn.Linear(input_dim, 2 * latent_dim)

    def forward(self, x):
        mu, raw = self.net(x.reshape(len(x), -1)).chunk(2, dim=-1)
        return PythaeStyleOutput(embedding=mu, log_covariance=3.0 * raw)


class PythaeStyleVAMP(nn.Module):
    """pythae's VAMP layout: ``encoder`` returns (embedding, log_covariance), the forward pass
    bounds the log-variance with tanh, and the VampPrior is the mixture of the encoder's
    posteriors at ``pseudo_inputs(idle_input)``."""

    model_name = "VAMP"

    def __init__(self, input_dim: int = 6, latent_dim: int = 3, components: int = 5):
        super().__init__()
        self.model_config = PythaeStyleConfig((input_dim,), latent_dim, components)
        self.encoder = PythaeStyleEncoder(input_dim, latent_dim)
        self.pseudo_inputs = nn.Sequential(nn.Linear(components, input_dim), nn.Hardtanh(0.0, 1.0))
        self.idle_input = torch.eye(components)


class MixturePriorVAE(TupleVAE):
    """A learned mixture-of-Gaussians prior returned by ``prior()`` as a distribution."""

    def __init__(self, input_dim: int = 6, latent_dim: int = 3, components: int = 4):
        super().__init__(input_dim, latent_dim)
        self.prior_logits = nn.Parameter(torch.linspace(-1.0, 1.0, components))
        self.prior_loc = nn.Parameter(torch.linspace(-2.0, 2.0, components * latent_dim))
        self.prior_log_scale = nn.Parameter(torch.full((components, latent_dim), -0.3))
        self.shape = (components, latent_dim)

    def prior(self):
        d = torch.distributions
        components = d.Independent(
            d.Normal(self.prior_loc.reshape(self.shape), self.prior_log_scale.exp()), 1
        )
        return d.MixtureSameFamily(d.Categorical(logits=self.prior_logits), components)


class AttributeMixturePriorVAE(TupleVAE):
    """A mixture prior kept as attributes prior_means and prior_logvars (uniform weights)."""

    def __init__(self, input_dim: int = 6, latent_dim: int = 3):
        super().__init__(input_dim, latent_dim)
        self.prior_means = nn.Parameter(torch.tensor([[-1.0] * latent_dim, [1.0] * latent_dim]))
        self.prior_logvars = nn.Parameter(torch.full((2, latent_dim), -0.5))


class SampleOnlyEncodeVAE(TupleVAE):
    """encode() returns a sample z; the posterior's parameters come from encode_stats()."""

    def encode(self, x):
        mu, logvar = self.encode_stats(x)
        return mu + torch.randn_like(mu) * (0.5 * logvar).exp()

    def encode_stats(self, x):
        return super().encode(x)


def build_tuple_vae(input_dim: int = 6, latent_dim: int = 3) -> TupleVAE:
    """A factory function, as some codebases name their models (``--arch models:build_...``)."""
    return TupleVAE(input_dim=input_dim, latent_dim=latent_dim)


class SpecsVAE(TupleVAE):
    """disentangling-vae's habit: the constructor takes img_size and latent_dim, which its
    specs.json records beside model.pt with training arguments the constructor ignores."""

    def __init__(self, img_size=(1, 2, 3), latent_dim: int = 3):
        super().__init__(input_dim=int(torch.tensor(img_size).prod()), latent_dim=latent_dim)


class TokenVAE(nn.Module):
    """A text VAE's encoder: token ids (int64) through nn.Embedding, mean-pooled."""

    def __init__(self, vocab: int = 20, latent_dim: int = 2):
        super().__init__()
        self.embed = nn.Embedding(vocab, 8)
        self.head = nn.Linear(8, 2 * latent_dim)

    def encode(self, tokens):
        return self.head(self.embed(tokens).mean(1)).chunk(2, dim=-1)


class LengthsTokenVAE(TokenVAE):
    """A text VAE over padded sequences: encode(tokens, lengths) pools the real tokens only."""

    def encode(self, tokens, lengths):
        keep = torch.arange(tokens.shape[1])[None, :] < lengths[:, None]
        pooled = (self.embed(tokens) * keep[..., None]).sum(1) / lengths[:, None]
        return self.head(pooled).chunk(2, dim=-1)


def encode_batch_mapping(model, batch):
    """An --encode function for batches with arrays beside x: it gets them as a mapping."""
    return model.encode(batch["x"], batch["lengths"])


class GainEncoder(nn.Module):
    """mu_i = gain_i x_i, logvar_i = log(1 - gain_i^2): a linear-Gaussian encoder whose
    unit i is exactly the prior N(0, 1) (collapsed) when gain_i = 0, for x ~ N(0, I)."""

    def __init__(self, latent_dim: int = 4):
        super().__init__()
        self.gain = nn.Parameter(torch.zeros(latent_dim))

    def encode(self, x):
        gain = self.gain.to(x.dtype)
        return x[:, : len(gain)] * gain, torch.log1p(-(gain**2)).expand(len(x), -1)
