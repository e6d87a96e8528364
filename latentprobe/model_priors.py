"""The prior a model defines for itself, read from the conventions of public codebases.

A VAE trained against its own prior (a VampPrior, a mixture of Gaussians, a learned
Gaussian) and analysed against N(0, I) gives a plausible, wrong rate and per-unit KL (pythae's
VAMP: 7.76 nats against its own 2.51). Conventions, tried in order (``CONVENTIONS``):

- a VampPrior in pythae's layout (Tomczak & Welling 2018): ``pseudo_inputs`` (a module
  mapping ``idle_input``, the K x K identity, to K pseudo-inputs) and the model's own encoder;
  the prior is the uniform mixture of the encoder's posteriors at the pseudo-inputs;
- a ``prior`` attribute, or a ``prior()`` method taking no argument, giving a
  ``torch.distributions`` object: ``Normal`` or ``Independent(Normal)`` (a diagonal
  Gaussian), or ``MixtureSameFamily`` of those (a mixture);
- mixture parameters as attributes: ``prior_means`` (K, D) and ``prior_logvars`` (K, D),
  with ``prior_weights`` (K,) or uniform weights.

``--prior-*`` options override whatever the model defines.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .errors import PriorError
from .types import Prior


def _numpy(t) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


def _vamp_prior(model, encoder: Callable) -> Prior | None:
    """The uniform mixture of the encoder's posteriors at the K pseudo-inputs."""
    idle = getattr(model, "idle_input", None)
    if not (callable(getattr(model, "pseudo_inputs", None)) and isinstance(idle, torch.Tensor)):
        return None
    idle = idle.to(next(model.parameters()).device)
    pseudo = model.pseudo_inputs(idle)
    shape = getattr(getattr(model, "model_config", None), "input_dim", None)
    if shape is not None:
        pseudo = pseudo.reshape((len(idle), *tuple(np.atleast_1d(shape))))
    mu, logvar, family, _ = encoder(pseudo)
    if family != "normal":
        raise PriorError(f"a VampPrior of {family} posteriors is not a mixture of Gaussians")
    k = len(mu)
    return Prior.mixture(np.full(k, 1.0 / k), _numpy(mu), _numpy(logvar))


def _distribution_prior(model, encoder: Callable) -> Prior | None:
    """From a ``prior`` attribute, or ``prior()`` taking no argument, that gives a
    torch.distributions diagonal Gaussian or mixture of them."""
    prior = getattr(model, "prior", None)
    if callable(prior) and not isinstance(prior, torch.distributions.Distribution):
        try:
            prior = prior()
        except Exception:  # needs arguments, or a module without forward(): not a prior() to call
            return None
    if not isinstance(prior, torch.distributions.Distribution):
        return None
    if isinstance(prior, torch.distributions.MixtureSameFamily):
        weights = _numpy(prior.mixture_distribution.probs)
        means, logvars = _normal_parameters(prior.component_distribution)
        return Prior.mixture(weights / weights.sum(), means, logvars)
    return Prior.diagonal(*_normal_parameters(prior))


def _normal_parameters(dist) -> tuple[np.ndarray, np.ndarray]:
    base = dist.base_dist if isinstance(dist, torch.distributions.Independent) else dist
    if not isinstance(base, torch.distributions.Normal):
        raise PriorError(
            f"the model's prior is a {type(base).__name__}; only Normal priors and mixtures "
            "of them are supported: pass --prior-mean/--prior-logvar or --prior-file"
        )
    return _numpy(base.loc), 2.0 * np.log(_numpy(base.scale))


def _attribute_mixture(model, encoder: Callable) -> Prior | None:
    """From ``prior_means`` and ``prior_logvars`` (and ``prior_weights``) attributes."""
    if not all(isinstance(getattr(model, n, None), torch.Tensor) for n in MIXTURE_ATTRIBUTES):
        return None
    means, logvars = _numpy(model.prior_means), _numpy(model.prior_logvars)
    weights = getattr(model, "prior_weights", None)
    w = np.full(len(means), 1.0 / len(means)) if weights is None else _numpy(weights)
    return Prior.mixture(w, means, logvars)


MIXTURE_ATTRIBUTES = ("prior_means", "prior_logvars")

#: (where the prior comes from, reader returning it or None when the model has no such prior)
CONVENTIONS: list[tuple[str, Callable]] = [
    ("VampPrior from the model's pseudo-inputs", _vamp_prior),
    ("the model's prior distribution", _distribution_prior),
    ("the model's mixture prior (prior_means, prior_logvars)", _attribute_mixture),
]


def model_prior(model, encoder: Callable) -> tuple[Prior, str] | None:
    """(prior, where it came from) when ``model`` defines its own prior, else None.
    ``encoder`` maps a batch of inputs to (mu, logvar), as for the data; call under
    ``torch.inference_mode()`` with the model in eval mode."""
    for description, read in CONVENTIONS:
        prior = read(model, encoder)
        if prior is not None:
            return prior, description
    return None
