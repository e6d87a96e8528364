"""The prior a model defines for itself is the one analysed (issue 11, point 3): a VampPrior in
pythae's layout, a prior() distribution, mixture attributes; --prior-* options override it."""

from __future__ import annotations

import math

import h5py
import models
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from latentprobe.cli.main import main
from scipy.special import logsumexp

import latentprobe
from latentprobe.outputs.summary import summary

X = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save("x.npy", X)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def vamp_model():
    torch.manual_seed(0)
    model = models.PythaeStyleVAMP().eval()
    torch.save(model.state_dict(), "vamp.pt")
    return model


def posteriors(model, x):
    with torch.no_grad():
        out = model.encoder(torch.as_tensor(x))
    return out.embedding.double().numpy(), torch.tanh(out.log_covariance).double().numpy()


def monte_carlo_rate(mu, logvar, means, logvars, draws: int = 400) -> float:
    """E_x KL(q(z|x) || uniform mixture) by plain Monte Carlo, independent of latentprobe."""
    rng = np.random.default_rng(5)
    total = 0.0
    for _ in range(draws):
        eps = rng.standard_normal(mu.shape)
        z = mu + np.exp(0.5 * logvar) * eps
        log_q = (-0.5 * (np.log(2 * np.pi) + logvar + eps**2)).sum(1)
        k = -0.5 * (np.log(2 * np.pi) + logvars + (z[:, None] - means) ** 2 / np.exp(logvars))
        total += (log_q - (logsumexp(k.sum(2), axis=1) - math.log(len(means)))).mean()
    return total / draws


def test_a_pythae_vamp_model_is_analysed_against_its_vamp_prior():
    model = vamp_model()
    common = ["vamp.pt", "--arch", "models:PythaeStyleVAMP", "--data", "x.npy"]
    result = run("analyze", *common, "--skip", "probes", "-o", "r.h5")
    assert result.exit_code == 0, result.stderr
    with torch.no_grad():
        pseudo = model.pseudo_inputs(model.idle_input)
    means, logvars = posteriors(model, pseudo)
    mu, logvar = posteriors(model, X)
    stats = latentprobe.store.read_stats("r.h5")
    np.testing.assert_allclose(stats.prior.means, means, rtol=1e-6)
    np.testing.assert_allclose(stats.prior.logvars, logvars, rtol=1e-6)
    np.testing.assert_allclose(stats.logvar, logvar, rtol=1e-6)  # tanh, as in VAMP's forward
    with h5py.File("r.h5") as f:
        kl = f["analyses/kl_divergence"].attrs
        rate, stderr = kl["total_rate"], kl["total_rate_stderr"]
    assert rate == pytest.approx(monte_carlo_rate(mu, logvar, means, logvars), abs=4 * stderr)
    assert "prior: mixture of 5, the model's own: VampPrior" in result.stdout
    given = run("analyze", *common, "--skip", "probes", "--prior-mean", "0", "-o", "g.h5")
    assert given.exit_code == 0, given.stderr
    assert latentprobe.store.read_stats("g.h5").prior.is_gaussian
    assert "prior: N(0, I), as given" in given.stdout


def test_a_prior_distribution_and_mixture_attributes_are_read():
    torch.manual_seed(1)
    model = models.MixturePriorVAE().eval()
    stats = latentprobe.extract(model, X)
    probs = torch.softmax(model.prior_logits, 0).detach().double().numpy()
    np.testing.assert_allclose(stats.prior.weights, probs, rtol=1e-6)
    np.testing.assert_allclose(stats.prior.logvars, np.full((4, 3), -0.6), rtol=1e-6)
    assert stats.provenance["prior_source"] == "the model's own: the model's prior distribution"
    stats = latentprobe.extract(models.AttributeMixturePriorVAE().eval(), X)
    np.testing.assert_allclose(stats.prior.weights, [0.5, 0.5])
    np.testing.assert_allclose(stats.prior.means[1], [1.0, 1.0, 1.0])
    plain = latentprobe.extract(models.TupleVAE().eval(), X)
    assert plain.prior.kind == "standard_normal"
    assert plain.provenance["prior_source"] == "standard normal (default)"


def test_a_prior_latentprobe_cannot_use_is_announced_and_replaced():
    class LaplacePriorVAE(models.TupleVAE):
        def prior(self):
            return torch.distributions.Laplace(torch.zeros(3), torch.ones(3))

    with pytest.warns(UserWarning, match="Laplace.*--prior-mean.*N\\(0, I\\) instead"):
        stats = latentprobe.extract(LaplacePriorVAE().eval(), X)
    assert stats.prior.kind == "standard_normal" and "Laplace" in stats.provenance["prior_source"]
    text = summary(latentprobe.analyze(stats, only=["kl_divergence"]), "m.pt")
    assert "prior: N(0, I) instead of the model's own, which cannot be used" in text


def test_a_prior_given_for_a_stats_file_is_named_as_given():
    vamp_model()
    common = ["vamp.pt", "--arch", "models:PythaeStyleVAMP", "--data", "x.npy"]
    assert run("extract", *common, "-o", "s.h5").exit_code == 0
    result = run("analyze", "s.h5", "--skip", "probes", "--prior-mean", "0.5")
    assert result.exit_code == 0, result.stderr
    assert "prior: diagonal Gaussian, as given" in result.stdout


class IAFStyleVAE(models.PythaeStyleVAE):
    """pythae's VAE_IAF: the encoder's Gaussian is the base of a flow."""

    model_name = "VAE_IAF"


class FlowAttributeVAE(models.TupleVAE):
    def __init__(self):
        super().__init__()
        self.flows = torch.nn.ModuleList([torch.nn.Linear(3, 3)])


@pytest.mark.parametrize("cls, name", [(IAFStyleVAE, "VAE_IAF"), (FlowAttributeVAE, "Flow")])
def test_a_flow_posterior_is_announced_with_what_was_analysed(cls, name):
    """Issue 11, point 4: a flow's base Gaussian was analysed as if it were the posterior,
    silently."""
    with pytest.warns(UserWarning, match=f"{name}.*analyses that base Gaussian q0"):
        stats = latentprobe.extract(cls().eval(), X)
    assert "base Gaussian q0(z|x)" in stats.provenance["posterior_caveat"]
    text = summary(latentprobe.analyze(stats, only=["kl_divergence"]), "m.pt")
    assert f"posterior: {name}" in text
    assert latentprobe.extract(models.TupleVAE().eval(), X).provenance["posterior_caveat"] == ""
