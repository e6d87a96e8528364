"""Decoder conventions: how a model's log p(x|z) is computed, whatever codebase it comes from.

A ``Decoder`` turns a batch of inputs x (B, ...) and latents z (B, S, D) into log p(x|z) of
shape (B, S), float64, in nats. It is found, in this order, from:

- ``--log-likelihood module:function``, called as ``function(model, x, z) -> (B, S)`` (or
  ``(B,)`` when S is 1);
- a ``log_probability(x, z)`` method of the model or of its ``decoder``: the teacher-forced
  scoring of autoregressive text and molecule VAEs (He et al. 2019's code names it so, and
  takes z as (batch, samples, nz) and returns (batch, samples));
- ``decode(z)`` or ``decoder(z)`` returning the parameters of p(x|z), scored by a family
  of ``LIKELIHOODS`` (``--likelihood``): a tensor of logits, probabilities or means, a
  ``(mean, logvar)`` pair, a ``torch.distributions`` object (scored by its own
  ``log_prob``; no ``--likelihood`` needed), or a pythae output with ``.reconstruction``.

The decoder runs in ``eval()`` under ``torch.inference_mode`` on the model's device; z is
reshaped to the encoder's latent layout (C, H, W) before ``decode``. Each element's term of
log p(x|z) is computed in the decoder's precision and the sum over elements in float64: for
a float32 decoder each term is off by at most its float32 rounding (a relative 6e-8), so
log p(x|z) by at most about 6e-8 times the sum of the terms' magnitudes (6e-6 nats for a
100-nat distortion), far below the Monte Carlo errors reported. The Bernoulli on logits,
the hot path of image VAEs, sums in the decoder's precision instead (see its bound).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import DecoderOutputError, OptionsError

LOG_2PI = math.log(2.0 * math.pi)
#: Probabilities are clipped to [EPS, 1 - EPS] before their log (a decoder's sigmoid output
#: can round to exactly 0 or 1 in float32).
EPS = 1e-7


def _sum_per_example(t: torch.Tensor) -> torch.Tensor:
    """The sum of each row's terms, accumulated in float64."""
    return t.reshape(t.shape[0], -1).sum(1, dtype=torch.float64)


def _repeat(x: torch.Tensor, draws: int) -> torch.Tensor:
    """Each example's row of x once per draw (rows in the decoder's order: example-major)."""
    return x if draws == 1 else x.repeat_interleave(draws, dim=0)


def _bernoulli_logits(params, x, _, draws):
    """sum_j x_j l_j - softplus(l_j): the Bernoulli log-pmf on logits l (the cross-entropy
    for x in [0, 1]). The x term is one batched matrix product of each example's S rows of
    logits with its x (x is not copied S times). Both sums accumulate in the decoder's
    precision: a float64 copy of the logits costs more than the scoring (its allocation
    alone made the IWAE benchmark's overhead 133% of the decoder's time instead of 33%).
    For float32 the error is at most F * 6e-8 * sum_j (|x_j l_j| + softplus(l_j)) over F
    elements (the worst case of any summation order); measured 2e-7 relative (1.2e-4 nats
    at 550 nats, F = 784). Half-precision logits are summed in float32."""
    logits = _tensor(params, "bernoulli", x, draws)
    b = x.shape[0]
    rows = logits.reshape(b, draws, -1)
    if rows.dtype in (torch.float16, torch.bfloat16):
        rows = rows.float()  # sums in half precision round to whole nats
    x_rows = x.reshape(b, 1, -1).to(rows.dtype)
    if rows.is_cuda:  # a CUDA matrix product may run in TF32 (10-bit mantissa)
        xl = (rows * x_rows).sum(-1).reshape(b * draws)
    else:
        xl = torch.bmm(rows, x_rows.transpose(1, 2)).reshape(b * draws)
    return (xl - F.softplus(rows).sum(-1).reshape(b * draws)).double()


def _bernoulli_probs(params, x, _, draws):
    p = _tensor(params, "bernoulli-probs", x, draws)
    x, p = _repeat(x, draws).to(p.dtype), p.clamp(EPS, 1 - EPS)
    return _sum_per_example(x * torch.log(p) + (1 - x) * torch.log1p(-p))


def _gaussian(params, x, sigma, draws):
    mean = _tensor(params, "gaussian", x, draws)
    r = (_repeat(x, draws).to(mean.dtype) - mean) / sigma
    return _sum_per_example(-0.5 * r * r - (math.log(sigma) + 0.5 * LOG_2PI))


def _gaussian_learned(params, x, _, draws):
    if not (isinstance(params, (tuple, list)) and len(params) == 2):
        raise DecoderOutputError(
            "--likelihood gaussian-learned needs the decoder to return (mean, logvar); "
            f"it returned {type(params).__name__}"
        )
    mean = _tensor(params[0], "gaussian-learned", x, draws)
    logvar = params[1]
    shared = isinstance(logvar, torch.Tensor) and logvar.shape in ((), (1,), x.shape[1:])
    logvar = logvar if shared else _tensor(logvar, "gaussian-learned", x, draws)
    r2 = (_repeat(x, draws).to(mean.dtype) - mean) ** 2
    return _sum_per_example(-0.5 * (r2 * torch.exp(-logvar) + logvar + LOG_2PI))


def _laplace(params, x, b, draws):
    mean = _tensor(params, "laplace", x, draws)
    return _sum_per_example(
        -(_repeat(x, draws).to(mean.dtype) - mean).abs() / b - math.log(2.0 * b)
    )


def _categorical(params, x, _, draws):
    logits = _tensor(params, "categorical")
    ids = _repeat(x.long(), draws)
    if logits.dim() == ids.dim() + 1 and logits.shape[:-1] == ids.shape:
        classes_at = -1  # (B, T, V): text
    elif logits.dim() == ids.dim() + 1 and logits.shape[2:] == ids.shape[1:]:
        classes_at = 1  # (B, V, H, W): PyTorch's cross_entropy layout
    else:
        raise DecoderOutputError(
            f"--likelihood categorical needs logits of shape x.shape + (classes,) or "
            f"(batch, classes, ...); the decoder gave {tuple(logits.shape)} for x of "
            f"shape {tuple(ids.shape)}"
        )
    log_p = torch.log_softmax(logits, dim=classes_at)
    return _sum_per_example(log_p.gather(classes_at, ids.unsqueeze(classes_at)))


@dataclass(frozen=True)
class Family:
    """A likelihood family: how it scores x given the decoder's parameters, and its fixed
    parameter (sigma, b) when it takes one, with the default."""

    description: str
    score: Callable
    parameter: str | None = None
    default: float | None = None


LIKELIHOODS: dict[str, Family] = {
    "bernoulli": Family(
        "Bernoulli on logits (sigmoid not applied by the decoder)", _bernoulli_logits
    ),
    "bernoulli-probs": Family("Bernoulli on probabilities in (0, 1)", _bernoulli_probs),
    "gaussian": Family(
        "Gaussian around the output, fixed sigma (gaussian:0.1)", _gaussian, "sigma", 1.0
    ),
    "gaussian-learned": Family(
        "Gaussian with the (mean, logvar) the decoder returns", _gaussian_learned
    ),
    "laplace": Family("Laplace around the output, fixed scale b (laplace:0.1)", _laplace, "b", 1.0),
    "categorical": Family("categorical over token ids, the decoder giving logits", _categorical),
}


@dataclass(frozen=True)
class Likelihood:
    """A family of ``LIKELIHOODS`` and its fixed parameter (None when it takes none)."""

    family: str
    parameter: float | None = None

    @classmethod
    def parse(cls, text: str) -> Likelihood:
        """``bernoulli``, ``gaussian:0.1``, ``laplace:0.5``, ... (the ``--likelihood`` value)."""
        name, _, value = text.strip().partition(":")
        family = LIKELIHOODS.get(name)
        if family is None:
            raise OptionsError(
                f"unknown --likelihood {text!r}; choose one of {', '.join(LIKELIHOODS)}"
            )
        if family.parameter is None:
            if value:
                raise OptionsError(f"--likelihood {name} takes no parameter, got {text!r}")
            return cls(name)
        try:
            parameter = float(value) if value else family.default
        except ValueError:
            parameter = math.nan
        if not parameter > 0 or not math.isfinite(parameter):
            raise OptionsError(
                f"--likelihood {name}:{value} needs a positive number for {family.parameter}"
            )
        return cls(name, parameter)

    def describe(self) -> str:
        if self.parameter is None:
            return self.family
        return f"{self.family}:{self.parameter:g}"

    def score(self, params, x: torch.Tensor, draws: int = 1) -> torch.Tensor:
        """log p(x|z) of shape (B * draws,) for the decoder's parameters ``params`` at
        B * draws latents, example-major, and the B examples ``x``."""
        return LIKELIHOODS[self.family].score(params, x, self.parameter, draws)


def _tensor(params, family: str, x: torch.Tensor | None = None, draws: int = 1) -> torch.Tensor:
    """The decoder's tensor for ``draws`` latents per example of x, in the shape of x's rows
    so repeated when it holds one value per element of x (a flat decoder for images); a
    different number of values is refused, never broadcast."""
    if isinstance(params, torch.Tensor):
        if x is None:
            return params
        shape = (x.shape[0] * draws, *x.shape[1:])
        if params.shape == shape:
            return params
        if params.shape[0] == shape[0] and params[0].numel() == x[0].numel():
            return params.reshape(shape)
        raise DecoderOutputError(
            f"the decoder gave {tuple(params.shape)} for x of shape {shape}: "
            f"--likelihood {family} needs one value per element of x"
        )
    raise DecoderOutputError(
        f"--likelihood {family} needs the decoder to return a tensor; it returned "
        f"{type(params).__name__}"
    )


def _parameters(out):
    """The decoder's output with pythae's wrapper taken off."""
    reconstruction = getattr(out, "reconstruction", None)
    if isinstance(reconstruction, torch.Tensor):
        return reconstruction
    if isinstance(out, dict) and isinstance(out.get("reconstruction"), torch.Tensor):
        return out["reconstruction"]
    return out


def _score_distribution(dist, x: torch.Tensor) -> torch.Tensor:
    log_p = dist.log_prob(x.to(dist.mean.dtype) if x.is_floating_point() else x)
    if log_p.shape[0] != x.shape[0]:
        raise DecoderOutputError(
            f"the decoder's distribution gives log-probabilities of shape "
            f"{tuple(log_p.shape)} for a batch of {x.shape[0]}"
        )
    return _sum_per_example(log_p)


@dataclass
class Decoder:
    """log p(x|z) for a batch: ``log_likelihood(x, z)`` with x (B, ...) and z (B, S, D) on
    any device, float64 out of shape (B, S). ``description`` says which convention scores it
    (for the summary and the provenance)."""

    call: Callable
    description: str

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = self.call(x, z)
        if not isinstance(out, torch.Tensor):
            raise DecoderOutputError(
                f"{self.description} returned {type(out).__name__}, not a tensor of log-likelihoods"
            )
        b, s = z.shape[:2]
        if out.shape == (b,) and s == 1:
            out = out[:, None]
        if out.shape != (b, s):
            raise DecoderOutputError(
                f"{self.description} returned shape {tuple(out.shape)}; expected "
                f"({b}, {s}): one log p(x|z) per example and draw"
            )
        return out.double()


#: pythae's ``model_config.reconstruction_loss`` -> the likelihood its loss is (up to a
#: constant): "bce" on the decoder's sigmoid output, "mse" as 0.5 ||x - x'||^2.
PYTHAE_LOSSES = {"bce": Likelihood("bernoulli-probs"), "mse": Likelihood("gaussian", 1.0)}


def declared_likelihood(model) -> Likelihood | None:
    """The likelihood a model declares: a ``likelihood`` attribute naming a family of
    ``LIKELIHOODS`` ("bernoulli", "gaussian:0.1"), or pythae's reconstruction loss. Only
    names in those tables count; nothing is imported or called."""
    declared = getattr(model, "likelihood", None)
    if isinstance(declared, str):
        return Likelihood.parse(declared)
    loss = getattr(getattr(model, "model_config", None), "reconstruction_loss", None)
    return PYTHAE_LOSSES.get(loss) if isinstance(loss, str) else None


def _first_method(model, name: str):
    for owner in (model, getattr(model, "decoder", None)):
        method = getattr(owner, name, None) if owner is not None else None
        if callable(method) and not isinstance(method, torch.nn.Module):
            return method
    return None


def _decode_entry(model):
    """``decode`` or the ``decoder`` module, or None."""
    method = getattr(model, "decode", None)
    if callable(method):
        return method, "decode(z)"
    decoder = getattr(model, "decoder", None)
    if callable(decoder):
        return decoder, "decoder(z)"
    return None, ""


def make_decoder(
    model,
    *,
    latent_shape: tuple[int, ...],
    likelihood: Likelihood | None = None,
    log_likelihood: Callable | None = None,
) -> Decoder | None:
    """The model's ``Decoder`` by the conventions above, or None when the model has no
    decoder latentprobe can call. A decoder that returns parameters when neither
    ``likelihood`` nor the model says how to score them raises ``DecoderOutputError``
    naming ``--likelihood`` (found by one call of the decoder at z = 0)."""
    model = model.eval()
    reference = next(iter(model.parameters()), torch.zeros(()))
    dtype = reference.dtype if reference.is_floating_point() else torch.float32
    device = reference.device

    def as_latent(z):
        return z.to(device=device, dtype=dtype)

    if log_likelihood is not None:
        call = lambda x, z: log_likelihood(model, x.to(device), as_latent(z))  # noqa: E731
        return Decoder(call, f"--log-likelihood {getattr(log_likelihood, '__name__', '')}")
    scorer = _first_method(model, "log_probability")
    if scorer is not None:
        call = lambda x, z: scorer(x.to(device), as_latent(z))  # noqa: E731
        return Decoder(call, f"{type(model).__name__}.log_probability(x, z)")
    decode, how = _decode_entry(model)
    if decode is None:
        return None
    likelihood = likelihood or declared_likelihood(model)

    def call(x, z):
        b, s, d = z.shape
        flat = as_latent(z).reshape(b * s, *(latent_shape or (d,)))
        out = _parameters(decode(flat))
        if isinstance(out, torch.distributions.Distribution):
            return _score_distribution(out, _repeat(x.to(device), s)).reshape(b, s)
        if likelihood is None:
            raise DecoderOutputError(
                f"{type(model).__name__}.{how} returned {type(out).__name__} where it had "
                "returned a distribution; pass --likelihood"
            )
        return likelihood.score(out, x.to(device), s).reshape(b, s)

    if likelihood is None:
        _check_distribution(model, how, decode, as_latent(torch.zeros(1, *(latent_shape or (1,)))))
    name = likelihood.describe() if likelihood else "its distribution"
    return Decoder(call, f"{type(model).__name__}.{how} scored as {name}")


def _check_distribution(model, how: str, decode, z: torch.Tensor) -> None:
    """Without a likelihood, the decoder must return a distribution: one call at z = 0."""
    with torch.inference_mode():
        out = _parameters(decode(z))
    if not isinstance(out, torch.distributions.Distribution):
        raise DecoderOutputError(
            f"{type(model).__name__}.{how} returns {type(out).__name__}, not a "
            "distribution: say how to score x with --likelihood "
            f"({', '.join(LIKELIHOODS)}), or pass --log-likelihood module:function"
        )
