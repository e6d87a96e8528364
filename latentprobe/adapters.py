"""Turn a loaded model into ``encode(x) -> Encoded(mu, logvar, family, scale_tril)``.

Entry points, tried in order: a user function (``--encode module:function``, called as
``function(model, x)``), ``model.encode(x)``, ``model.encoder(x)``. The output is read by
the first matching convention in ``OUTPUT_CONVENTIONS``.

``param`` says what the second output is: ``logvar`` (log sigma^2, most code), ``logstd``
(log sigma, beta-TCVAE), ``std`` or ``var``. A ``torch.distributions`` object carries its
own scale, so ``param`` does not apply to it; pythae's ``log_covariance`` is a log variance.
Distributions other than diagonal Gaussians are kept as their family (``DISTRIBUTIONS``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

from .errors import EncoderOutputError


class Encoded(NamedTuple):
    """The posteriors of a batch: means, the marginals' log-variances, the family's name
    (``types.FAMILIES``) and, for a full covariance, the Cholesky factors (batch, D, D)."""

    mu: torch.Tensor
    logvar: torch.Tensor
    family: str = "normal"
    scale_tril: torch.Tensor | None = None


Encoder = Callable[[torch.Tensor], Encoded]


def _positive_log(t: torch.Tensor, name: str) -> torch.Tensor:
    if bool((t <= 0).any()):
        raise EncoderOutputError(f"encoder returned a non-positive {name}; check --param")
    return torch.log(t)


PARAMETRISATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "logvar": lambda t: t,
    "logstd": lambda t: 2.0 * t,
    "std": lambda t: 2.0 * _positive_log(t, "std"),
    "var": lambda t: _positive_log(t, "var"),
}


def _normal(dist) -> Encoded:
    return Encoded(dist.loc, 2.0 * torch.log(dist.scale))


def _laplace(dist) -> Encoded:
    return Encoded(dist.loc, 2.0 * torch.log(dist.scale) + math.log(2.0), "laplace")


def _full_covariance(dist) -> Encoded:
    tril = dist.scale_tril
    return Encoded(dist.loc, torch.log((tril * tril).sum(-1)), "multivariate_normal", tril)


#: The ``torch.distributions`` families an encoder may return (alone, or as the base of
#: ``Independent``), and how each becomes its stored parameters.
DISTRIBUTIONS: dict[type, Callable] = {
    torch.distributions.Normal: _normal,
    torch.distributions.Laplace: _laplace,
    torch.distributions.MultivariateNormal: _full_covariance,
    torch.distributions.LowRankMultivariateNormal: _full_covariance,
}


def _from_distribution(out, param) -> Encoded:
    dist = out.base_dist if isinstance(out, torch.distributions.Independent) else out
    convert = DISTRIBUTIONS.get(type(dist))
    if convert is None:
        names = ", ".join(t.__name__ for t in DISTRIBUTIONS)
        raise EncoderOutputError(
            f"encoder returned a {type(dist).__name__} distribution; latentprobe analyses "
            f"{names} (alone or in Independent): pass --encode module:function returning one"
        )
    if convert is _full_covariance and dist.loc.ndim != 2:
        raise EncoderOutputError(
            f"encoder returned a {type(dist).__name__} with loc of shape "
            f"{tuple(dist.loc.shape)}; expected (batch, latent_dim)"
        )
    return convert(dist)


def _from_pythae(out, param):
    return out.embedding, out.log_covariance


#: Models whose forward pass transforms the encoder's log-variance before sampling, by their
#: ``model_name``: pythae's VAMP bounds it with tanh (its encoder alone does not).
LOG_VARIANCE_TRANSFORMS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "VAMP": torch.tanh,
}


def _from_pair(out, param):
    mu, second = out
    if not (isinstance(mu, torch.Tensor) and isinstance(second, torch.Tensor)):
        raise EncoderOutputError(
            f"encoder returned ({type(mu).__name__}, {type(second).__name__}); expected two tensors"
        )
    return mu, PARAMETRISATIONS[param](second)


def _from_latent_dist(out, param):
    return _from_mean_logvar(out.latent_dist, param)


def _from_mean_logvar(out, param):
    return out.mean, out.logvar


def _from_loc_scale(out, param):
    return out.loc, 2.0 * _positive_log(out.scale, "scale")


def _from_triple(out, param):
    """(z, mu, logvar) and the like: the two tensors of one shape, in order, when the third
    has another shape (a sample with a draws axis, say); three of one shape are ambiguous."""
    if not all(isinstance(t, torch.Tensor) for t in out):
        raise EncoderOutputError("encoder returned a 3-tuple that is not three tensors")
    shapes = [tuple(t.shape) for t in out]
    pairs = [(i, j) for i in range(3) for j in range(i + 1, 3) if shapes[i] == shapes[j]]
    if len(pairs) != 1:
        raise EncoderOutputError(
            f"encoder returned three tensors of shapes {shapes}: which two are (mu, logvar) "
            "cannot be told from their shapes; pass --encode-method NAME for a method that "
            "returns (mu, logvar), or --encode module:function"
        )
    i, j = pairs[0]
    (k,) = {0, 1, 2} - {i, j}
    if shapes[k] in shared_shapes(shapes[i]):
        raise EncoderOutputError(
            f"encoder returned three tensors of shapes {shapes}: the odd one could be a "
            "shared log-variance, so which are (mu, logvar) cannot be told; pass "
            "--encode-method NAME for a method that returns (mu, logvar), or --encode"
        )
    return out[i], PARAMETRISATIONS[param](out[j])


def _tensors(o, *names) -> bool:
    return all(isinstance(getattr(o, n, None), torch.Tensor) for n in names)


OUTPUT_CONVENTIONS: list[tuple[str, Callable[[object], bool], Callable]] = [
    (
        "torch.distributions Normal / Independent(Normal)",
        lambda o: isinstance(o, torch.distributions.Distribution),
        _from_distribution,
    ),
    (
        "pythae ModelOutput (.embedding, .log_covariance)",
        lambda o: hasattr(o, "embedding") and hasattr(o, "log_covariance"),
        _from_pythae,
    ),
    (
        "diffusers output (.latent_dist with .mean and .logvar)",
        lambda o: _tensors(getattr(o, "latent_dist", None), "mean", "logvar"),
        _from_latent_dist,
    ),
    ("object with .mean and .logvar", lambda o: _tensors(o, "mean", "logvar"), _from_mean_logvar),
    ("object with .loc and .scale", lambda o: _tensors(o, "loc", "scale"), _from_loc_scale),
    (
        "(mu, second) tuple or list; second per --param",
        lambda o: isinstance(o, (tuple, list)) and len(o) == 2,
        _from_pair,
    ),
    (
        "(z, mu, logvar) or (mu, logvar, z) when z's shape differs; second per --param",
        lambda o: isinstance(o, (tuple, list)) and len(o) == 3,
        _from_triple,
    ),
]


#: Models whose posterior is not the encoder's diagonal Gaussian, by pythae's ``model_name``:
#: the encoder's Gaussian is only the start of a flow or of MCMC steps.
REFINED_POSTERIORS = {
    "VAE_IAF": "an inverse autoregressive flow",
    "VAE_LinNF": "planar and radial flows",
    "RHVAE": "Riemannian Hamiltonian MCMC steps",
    "HVAE": "Hamiltonian MCMC steps",
}


def posterior_caveat(model) -> str | None:
    """What is analysed when ``model``'s posterior is more than its encoder's Gaussian: a
    flow or MCMC steps after it (a pythae model name from ``REFINED_POSTERIORS``, or a
    ``flows``/``flow`` module). None for a plain diagonal Gaussian encoder."""
    name = getattr(model, "model_name", None)
    what = REFINED_POSTERIORS.get(name) if isinstance(name, str) else None
    if what is None and any(isinstance(getattr(model, a, None), torch.nn.Module) for a in FLOWS):
        name, what = type(model).__name__, "a flow"
    if what is None:
        return None
    return (
        f"{name} refines the encoder's Gaussian with {what}; latentprobe analyses that base "
        "Gaussian q0(z|x), not the model's posterior, so I(x;z) and the KL describe q0"
    )


FLOWS = ("flows", "flow")


def _storage_dtype(t: torch.Tensor) -> torch.dtype:
    """Keep float32/float64 as the encoder computed them; widen half precision to float32."""
    return t.dtype if t.dtype in (torch.float32, torch.float64) else torch.float32


def interpret_output(out, param: str = "logvar") -> Encoded:
    """The posteriors from one encoder output, by the first matching convention.

    Values keep the encoder's precision (float32 or float64); analyses work in float64.
    """
    for _, matches, convert in OUTPUT_CONVENTIONS:
        if matches(out):
            found = convert(out, param)
            found = found if isinstance(found, Encoded) else Encoded(*found)
            dtype = _storage_dtype(found.mu)
            tril = None if found.scale_tril is None else found.scale_tril.detach().to(dtype)
            mu, logvar = (t.detach().to(dtype) for t in found[:2])
            return Encoded(mu, logvar, found.family, tril)
    kind = f"a {len(out)}-tuple" if isinstance(out, (tuple, list)) else type(out).__name__
    raise EncoderOutputError(
        f"encoder returned {kind}; expected (mu, logvar), a Normal distribution or a pythae "
        "output: pass --encode module:function for other conventions"
    )


def _entry_point(model, encode: Callable | None) -> Callable:
    """``call(x, extras)``: the encoder on a batch and the arrays it takes beside x (empty
    for most data): ``--encode`` gets the batch as a mapping when there are such arrays,
    ``encode``/``encoder`` get them as positional arguments after x, in the order given."""
    if encode is not None:
        return lambda x, extras: encode(model, {"x": x, **extras} if extras else x)
    for name in ("encode", "encoder"):
        method = getattr(model, name, None)
        if callable(method):
            return lambda x, extras, method=method: method(x, *extras.values())
    raise EncoderOutputError(
        f"{type(model).__name__} has neither encode() nor an encoder; pass --encode module:function"
    )


def make_encoder(model, *, encode: Callable | None = None, param: str = "logvar") -> Encoder:
    """A function mapping a batch x to ``Encoded`` posteriors with mu of shape (batch, D).

    Latents with more than one trailing dimension, (C, H, W) or (T, D), are flattened to D
    in C order; the function's ``latent_shape`` attribute keeps the layout of the last batch.
    Every batch must come in the family of the first.
    """
    if param not in PARAMETRISATIONS:
        raise EncoderOutputError(
            f"unknown --param {param!r}; choose one of {list(PARAMETRISATIONS)}"
        )
    call = _entry_point(model, encode)
    name = getattr(model, "model_name", None) if encode is None else None
    transform = LOG_VARIANCE_TRANSFORMS.get(name, lambda t: t)
    shared = False  # a shared log-variance, decided on the first batch
    family = None

    def encoder(x: torch.Tensor, extras: dict | None = None) -> Encoded:
        nonlocal shared, family
        mu, logvar, kind, tril = interpret_output(call(x, extras or {}), param)
        if family not in (None, kind):
            raise EncoderOutputError(
                f"the encoder's posteriors changed family from {family} to {kind} between "
                "batches; return one family for every batch"
            )
        family = kind
        logvar = transform(logvar)
        if mu.shape != logvar.shape:
            logvar = _broadcast(logvar, mu.shape, decided=shared)
            shared = True
        _check_batch(mu, len(x))
        encoder.latent_shape = tuple(mu.shape[1:])
        return Encoded(mu.reshape(len(x), -1), logvar.reshape(len(x), -1), kind, tril)

    encoder.latent_shape = ()
    return encoder


def _check_batch(mu: torch.Tensor, n: int) -> None:
    """Raise unless ``mu`` has one row per example and at least one latent unit."""
    if mu.ndim == 0 or mu.shape[0] != n:
        raise EncoderOutputError(
            f"encoder returned mu of shape {tuple(mu.shape)} for a batch of {n}; "
            "expected (batch, latent_dim)"
        )
    if mu.numel() == 0:
        raise EncoderOutputError(
            f"encoder returned 0 latent units (mu of shape {tuple(mu.shape)}); "
            "check --arch, --arch-kwargs and --encode"
        )


def shared_shapes(shape) -> tuple[tuple, tuple]:
    """The shapes of a log-variance shared by a batch of ``shape``: the latent's shape
    without the batch dimension, or with a batch dimension of 1 (a per-unit parameter)."""
    units = tuple(shape[1:])
    return units, (1, *units)


def _broadcast(logvar: torch.Tensor, shape, decided: bool = False) -> torch.Tensor:
    """Expand a log-variance shared by the batch (``shared_shapes``) to it. On the first
    batch (``decided`` false) one of the latent's shape is refused when its first dimension
    is as long as the batch (a batch of one, or a batch as long as the latent): it could be
    per-example values instead, such as the KL of a (z, KL) text VAE. Once the first batch
    has shown a shared one, a shorter last batch is not refused for its length."""
    units, row = shared_shapes(shape)
    own = tuple(logvar.shape)
    if own == row or (own == units and (decided or own[0] != shape[0])):
        return logvar.reshape(units).expand(shape)
    if own == units:
        raise EncoderOutputError(
            f"encoder returned mu of shape {tuple(shape)} and a second output of shape "
            f"{own}: for a batch of {shape[0]} it cannot be told from per-example values; use "
            "another --batch-size, or pass --encode module:function returning (mu, logvar) "
            "of one shape"
        )
    raise EncoderOutputError(
        f"encoder returned mu of shape {tuple(shape)} and a second output of shape {own}: "
        "not a log-variance per example (same shape) nor one shared per unit (mu's shape "
        "without the batch); if it returns other values, such as (z, KL), pass --encode "
        "module:function returning (mu, logvar)"
    )
