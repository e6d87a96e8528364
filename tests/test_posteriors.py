"""Posterior families beyond the diagonal Gaussian (issue 11): every kernel against a float64
brute force through torch.distributions or scipy, closed forms and invariances."""

from __future__ import annotations

import importlib
import math

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from latentprobe.cli.main import main
from posterior_models import FullCovarianceVAE, LaplaceVAE
from scipy import integrate
from scipy.special import logsumexp

from latentprobe import posteriors
from latentprobe.adapters import make_encoder
from latentprobe.analyzers import kl_divergence, mutual_information
from latentprobe.errors import EncoderOutputError, PosteriorError, StatsFileError
from latentprobe.store import read_stats, write_stats
from latentprobe.types import EncoderStats, Prior, marginal_logvar

D = torch.distributions


def _laplace_params(rng, n=40, d=3, spread=10.0):
    """Adversarial Laplace posteriors: log-variances -12..4, |mu| up to 10."""
    mu = rng.uniform(-spread, spread, (n, d))
    logvar = rng.uniform(-12, 4, (n, d))
    return torch.tensor(mu), torch.tensor(logvar)


def _trils(rng, n=30, d=3):
    raw = np.tril(rng.normal(size=(n, d, d)), -1)
    diagonal = np.exp(rng.uniform(-3, 1, (n, d)))
    return raw * rng.uniform(0.1, 2.0) + np.einsum("nd,de->nde", diagonal, np.eye(d))


def _brute_laplace(z, mu, logvar):
    """log q(z_m | x_n) for every pair, (M, N, D), from torch.distributions."""
    scale = torch.exp(0.5 * logvar) / math.sqrt(2.0)
    return D.Laplace(mu[None], scale[None]).log_prob(z[:, None, :])


def test_laplace_mixture_and_its_marginals_match_brute_force():
    rng = np.random.default_rng(0)
    mu, logvar = _laplace_params(rng)
    q = posteriors.of("laplace", mu, logvar)
    z, index = q.sample(3, rng)
    pairs = _brute_laplace(z, mu, logvar)
    joint = torch.logsumexp(pairs.sum(2), dim=1) - math.log(len(mu))
    torch.testing.assert_close(q.log_mixture(z, block_bytes=4096), joint, rtol=0, atol=1e-9)
    units = torch.logsumexp(pairs, dim=1) - math.log(len(mu))
    torch.testing.assert_close(q.log_mixture_units(z, block_bytes=4096), units, rtol=0, atol=1e-9)
    own = pairs[torch.arange(len(z)), index]
    torch.testing.assert_close(q.log_density_units(z, index), own, rtol=0, atol=1e-12)
    left_out = pairs.sum(2).clone()
    left_out[torch.arange(len(z)), index] = -math.inf
    expected = torch.logsumexp(left_out, dim=1) - math.log(len(mu))
    got = q.log_mixture(z, block_bytes=4096, exclude=index)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-9)


def test_laplace_draws_have_the_family_variance():
    mu, logvar = torch.zeros(1, 2, dtype=torch.float64), torch.tensor([[0.0, 2.0]])
    z, _ = posteriors.of("laplace", mu, logvar.double()).sample(200_000, np.random.default_rng(1))
    np.testing.assert_allclose(z.var(0).numpy(), np.exp([0.0, 2.0]), rtol=0.02)
    # a Laplace's kurtosis is 6 (a Gaussian's 3): the draws are not Gaussian ones rescaled
    standard = (z / z.std(0)).numpy()
    np.testing.assert_allclose((standard**4).mean(0), 6.0, rtol=0.1)


def test_full_covariance_densities_match_torch_distributions():
    rng = np.random.default_rng(2)
    n, d = 30, 3
    tril = torch.tensor(_trils(rng, n, d))
    mu = torch.tensor(rng.normal(0, 3, (n, d)))
    logvar = torch.tensor(marginal_logvar(tril.numpy()))
    q = posteriors.of("multivariate_normal", mu, logvar, tril)
    z, index = q.sample(2, rng)
    dist = D.MultivariateNormal(mu[None], scale_tril=tril[None])
    pairs = dist.log_prob(z[:, None, :])  # (M, N)
    torch.testing.assert_close(q.log_density(z, index), pairs[torch.arange(len(z)), index])
    expected = torch.logsumexp(pairs, dim=1) - math.log(n)
    torch.testing.assert_close(q.log_mixture(z, block_bytes=2048), expected, rtol=0, atol=1e-9)
    marginal = D.Normal(mu[None], torch.exp(0.5 * logvar)[None]).log_prob(z[:, None, :])
    units = torch.logsumexp(marginal, dim=1) - math.log(n)
    torch.testing.assert_close(q.log_mixture_units(z), units, rtol=0, atol=1e-9)
    cov = tril @ tril.transpose(1, 2)
    dependence = 0.5 * (torch.log(torch.diagonal(cov, dim1=1, dim2=2)).sum(1) - torch.logdet(cov))
    torch.testing.assert_close(q.dependence(), dependence)


def test_full_covariance_draws_have_the_covariance():
    tril = torch.tensor([[[1.0, 0.0], [0.8, 0.5]]], dtype=torch.float64)
    mu = torch.zeros(1, 2, dtype=torch.float64)
    q = posteriors.of("multivariate_normal", mu, torch.log((tril**2).sum(-1)), tril)
    z, _ = q.sample(100_000, np.random.default_rng(3))
    np.testing.assert_allclose(np.cov(z.numpy().T), (tril @ tril.mT)[0].numpy(), atol=0.02)


def _quad_kl(density, log_prior, lo, hi, points=()):
    """KL(q || p) of 1-D densities by adaptive quadrature."""

    def integrand(z):
        q = density(z)
        return q * (math.log(q) - log_prior(z)) if q > 0 else 0.0

    return integrate.quad(integrand, lo, hi, points=points, limit=400, epsabs=1e-11)[0]


@pytest.mark.parametrize("prior", ["gaussian", "mixture"])
def test_laplace_kl_matches_numerical_integration(prior):
    """Per unit, closed form against a Gaussian prior and Gauss-Laguerre against a mixture,
    each against scipy's adaptive quadrature of the defining integral."""
    mu = np.array([[0.3, -2.0], [4.0, 0.0]])
    logvar = np.array([[-1.0, 0.5], [2.0, -6.0]])
    if prior == "gaussian":
        p = Prior.diagonal([0.5, -1.0], [0.2, 1.0])
    else:
        p = Prior.mixture([0.3, 0.7], [[-1.5, 0.0], [2.0, 1.0]], [[-0.5, 0.0], [0.5, -1.0]])
    result = kl_divergence(mu, logvar, prior=p, family="laplace")
    for n in range(2):
        for i in range(2):
            b = math.sqrt(math.exp(logvar[n, i]) / 2)
            m = mu[n, i]

            def density(z, m=m, b=b):
                return math.exp(-abs(z - m) / b) / (2 * b)

            def log_prior(z, i=i):
                comps = [
                    math.log(w)
                    - 0.5 * (math.log(2 * math.pi) + lv[i])
                    - (z - mm[i]) ** 2 / (2 * math.exp(lv[i]))
                    for w, mm, lv in zip(p.weights, p.means, p.logvars, strict=True)
                ]
                return float(logsumexp(comps))

            expected = _quad_kl(density, log_prior, m - 60 * b, m + 60 * b, points=[m])
            assert result.per_example[n, i] == pytest.approx(expected, abs=1e-8)


def test_full_covariance_rate_is_the_joint_kl_not_the_sum_of_marginals():
    rng = np.random.default_rng(4)
    tril = _trils(rng, 25, 4)
    mu = rng.normal(size=(25, 4))
    prior = Prior.diagonal([0.2, 0.0, -0.1, 0.3], [0.5, 0.0, -0.3, 0.1])
    logvar = marginal_logvar(tril)
    result = kl_divergence(mu, logvar, prior=prior, family="multivariate_normal", scale_tril=tril)
    p = D.MultivariateNormal(
        torch.tensor(prior.means[0]), torch.diag(torch.tensor(np.exp(prior.logvars[0])))
    )
    q = D.MultivariateNormal(torch.tensor(mu), scale_tril=torch.tensor(tril))
    expected = D.kl_divergence(q, p).mean().item()
    assert result.total_rate == pytest.approx(expected, rel=1e-10)
    marginals = kl_divergence(mu, logvar, prior=prior)  # the diagonal Gaussians of the marginals
    np.testing.assert_allclose(result.per_unit_rate, marginals.per_unit_rate, rtol=1e-12)
    assert result.total_rate > marginals.total_rate + 0.01


def test_a_diagonal_cholesky_factor_gives_the_diagonal_gaussian_numbers():
    """Same seed, same draws: a full covariance that is diagonal reproduces every figure of
    the diagonal-Gaussian path (GEMM kernel) through the triangular solves."""
    rng = np.random.default_rng(5)
    mu, logvar = rng.normal(0, 2, (300, 3)), rng.uniform(-3, 0.5, (300, 3))
    tril = np.einsum("nd,de->nde", np.exp(0.5 * logvar), np.eye(3))
    full = mutual_information(mu, logvar, family="multivariate_normal", scale_tril=tril, seed=7)
    diagonal = mutual_information(mu, logvar, seed=7)
    for name in ("nats", "stderr", "rate", "marginal_kl", "total_correlation"):
        assert getattr(full, name) == pytest.approx(getattr(diagonal, name), abs=1e-8), name
    np.testing.assert_allclose(full.per_unit_mi, diagonal.per_unit_mi, atol=1e-8)
    assert full.growth_nats == pytest.approx(diagonal.growth_nats, abs=1e-8)


def test_laplace_information_equals_the_brute_force_estimator():
    """The estimator's own draws rebuilt from the seed (every example, S draws each), its
    densities from torch.distributions over every pair."""
    rng = np.random.default_rng(6)
    mu, logvar = rng.normal(0, 1.5, (120, 2)), rng.uniform(-4, 0, (120, 2))
    draws = 4
    result = mutual_information(mu, logvar, family="laplace", draws_per_example=draws, seed=3)
    eps = np.random.default_rng(3).laplace(size=(120 * draws, 2))
    index = np.repeat(np.arange(120), draws)
    scale = np.sqrt(np.exp(logvar) / 2)
    z = torch.tensor(mu[index] + scale[index] * eps)
    pairs = _brute_laplace(z, torch.tensor(mu), torch.tensor(logvar))
    own = pairs[torch.arange(len(z)), torch.tensor(index)]
    log_q = torch.logsumexp(pairs.sum(2), 1) - math.log(120)
    assert result.nats == pytest.approx((own.sum(1) - log_q).mean().item(), abs=1e-10)
    units = own - (torch.logsumexp(pairs, 1) - math.log(120))
    np.testing.assert_allclose(result.per_unit_mi, units.mean(0).numpy(), atol=1e-10)


def test_identical_laplace_posteriors_carry_no_information():
    mu, logvar = np.full((50, 2), 0.4), np.full((50, 2), -1.0)
    result = mutual_information(mu, logvar, family="laplace")
    assert result.nats == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_array_equal(result.per_unit_mi, 0.0)


def test_rotated_linear_gaussian_posteriors_give_the_closed_form():
    """x ~ N(0, I_2), q(z|x) = N(R A x, R S R^T) with a rotation R: a full covariance. Then
    I(x;z) = 0.5 log det(A A^T + S) / det(S) (rotation-invariant), up to the empirical
    distribution's O(1/N) bias, within 4 standard errors plus 0.02 nats."""
    rng = np.random.default_rng(8)
    n = 2000
    x = rng.normal(size=(n, 2))
    a, s = np.diag([2.0, 0.7]), np.diag([0.3, 0.5])
    angle = 0.6
    r = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    mu = x @ (r @ a).T
    cov = r @ s @ r.T
    tril = np.broadcast_to(np.linalg.cholesky(cov), (n, 2, 2)).copy()
    result = mutual_information(
        mu, marginal_logvar(tril), family="multivariate_normal", scale_tril=tril, growth=False
    )
    truth = 0.5 * math.log(np.linalg.det(a @ a.T + s) / np.linalg.det(s))
    assert abs(result.nats - truth) < 4 * result.stderr + 0.02


def test_stats_with_a_family_round_trip_and_unknown_families_are_refused(tmp_path):
    rng = np.random.default_rng(9)
    tril = _trils(rng, 10, 3)
    stats = EncoderStats(
        rng.normal(size=(10, 3)),
        marginal_logvar(tril),
        family="multivariate_normal",
        scale_tril=tril,
    )
    write_stats(stats, tmp_path / "s.h5")
    back = read_stats(tmp_path / "s.h5")
    assert back.family == "multivariate_normal"
    np.testing.assert_array_equal(back.scale_tril, tril)
    with h5py.File(tmp_path / "s.h5", "r+") as f:
        f["encoder"].attrs["family"] = "os.system"
    with pytest.raises(StatsFileError, match="unknown posterior family 'os.system'"):
        read_stats(tmp_path / "s.h5")
    with pytest.raises(PosteriorError, match="Cholesky"):
        EncoderStats(stats.mu, stats.logvar, family="multivariate_normal", scale_tril=-tril)
    with pytest.raises(PosteriorError, match="log-variance of scale_tril"):
        EncoderStats(stats.mu, stats.logvar + 1, family="multivariate_normal", scale_tril=tril)


def test_a_stats_file_without_a_family_holds_diagonal_gaussians(tmp_path):
    write_stats(EncoderStats(np.zeros((4, 2)), np.zeros((4, 2))), tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5", "r+") as f:
        del f["encoder"].attrs["family"]
        f.attrs["schema_version"] = 2
    assert read_stats(tmp_path / "s.h5").family == "normal"


@pytest.mark.parametrize(
    "make, family",
    [
        (lambda mu, s: D.Independent(D.Laplace(mu, s), 1), "laplace"),
        (lambda mu, s: D.Laplace(mu, s), "laplace"),
        (
            lambda mu, s: D.MultivariateNormal(mu, scale_tril=torch.diag_embed(s)),
            "multivariate_normal",
        ),
        (
            lambda mu, s: D.LowRankMultivariateNormal(mu, torch.ones(len(mu), 3, 1), s**2),
            "multivariate_normal",
        ),
    ],
)
def test_encoder_distributions_keep_their_family(make, family):
    x = torch.randn(5, 3)
    encoder = make_encoder(object(), encode=lambda m, x: make(x, x.abs() + 0.5))
    out = encoder(x)
    dist = make(x, x.abs() + 0.5)
    assert out.family == family
    torch.testing.assert_close(out.logvar, torch.log(dist.variance))
    if family == "multivariate_normal":
        torch.testing.assert_close(out.scale_tril, dist.scale_tril)


def test_unsupported_families_and_family_changes_are_errors():
    beta = make_encoder(object(), encode=lambda m, x: D.Beta(x.abs() + 1, x.abs() + 1))
    with pytest.raises(EncoderOutputError, match="Beta distribution; latentprobe analyses Normal"):
        beta(torch.randn(4, 2))
    calls = iter([True, False])
    flip = make_encoder(
        object(),
        encode=lambda m, x: D.Normal(x, 1.0) if next(calls) else D.Laplace(x, torch.ones_like(x)),
    )
    flip(torch.randn(4, 2))
    with pytest.raises(EncoderOutputError, match="changed family from normal to laplace"):
        flip(torch.randn(4, 2))


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("cls", [LaplaceVAE, FullCovarianceVAE])
def test_cli_analyses_a_distribution_encoder_and_its_rate_is_the_joint_kl(cls, data_npz):
    torch.manual_seed(0)
    model = cls().eval()
    torch.save(model.state_dict(), "m.pt")
    result = _run(
        "analyze",
        "m.pt",
        "--arch",
        f"posterior_models:{cls.__name__}",
        "--data",
        data_npz,
        "--skip",
        "probes",
        "-o",
        "r.h5",
        "--quiet",
    )
    assert result.exit_code == 0, result.stderr
    family = "laplace" if cls is LaplaceVAE else "multivariate_normal"
    assert (
        f"posterior: {'factorised Laplace' if cls is LaplaceVAE else 'full-covariance'}"
        in result.stdout
    )
    x = torch.from_numpy(np.load(data_npz)["x"])
    with torch.no_grad():
        q = model.encode(x)
        base = q.base_dist if isinstance(q, D.Independent) else q
        if family == "laplace":  # torch has no Laplace-Normal KL: the closed form
            b, m = base.scale.double(), base.loc.double()
            kl = -(1 + torch.log(2 * b)) + 0.5 * math.log(2 * math.pi) + 0.5 * (m**2 + 2 * b**2)
            rate = kl.sum(1).mean().item()
        else:
            d = q.mean.shape[1]
            standard = D.MultivariateNormal(torch.zeros(d), torch.eye(d))
            rate = D.kl_divergence(q, standard).mean().item()
    stats = read_stats("r.h5")
    assert stats.family == family
    with h5py.File("r.h5") as f:
        assert f["analyses/kl_divergence"].attrs["total_rate"] == pytest.approx(rate, rel=1e-5)
        assert f["analyses/mutual_information"].attrs["rate"] == pytest.approx(rate, rel=1e-5)


def test_probes_draw_from_the_full_covariance_through_the_analysis_table():
    """The label sits along (1, -1) where a correlation of 0.995 leaves little noise: samples
    from the full covariance separate the classes; samples from its diagonal marginals
    alone (the same mu and logvar read as a diagonal Gaussian) barely do."""
    from latentprobe.analyzers import ProbesOptions
    from latentprobe.registry import ANALYSES, AnalysisInputs

    rng = np.random.default_rng(10)
    n = 600
    y = rng.integers(0, 2, n)
    mu = np.column_stack([0.3 * y, -0.3 * y]) + rng.normal(size=(n, 1))
    rho = 0.995
    tril = np.broadcast_to(np.linalg.cholesky([[1.0, rho], [rho, 1.0]]), (n, 2, 2)).copy()
    options = ProbesOptions(permutations=20, mlp=False, control=False, mdl=False, n_jobs=1)
    full = EncoderStats(
        mu, marginal_logvar(tril), {"y": y}, family="multivariate_normal", scale_tril=tril
    )
    diagonal = EncoderStats(mu, marginal_logvar(tril), {"y": y})
    run = ANALYSES["probes"].run
    got = run(AnalysisInputs(full), options, 0).label_sets["y"].accuracy
    marginal_only = run(AnalysisInputs(diagonal), options, 0).label_sets["y"].accuracy
    assert got > 0.95 and marginal_only < 0.7


@pytest.mark.parametrize("family", ["normal", "laplace", "multivariate_normal"])
def test_draws_with_their_density_match_the_family_density(family):
    rng = np.random.default_rng(3)
    mu, logvar = _laplace_params(rng, n=12, d=4)
    tril = torch.tensor(_trils(rng, n=12, d=4)) if family == "multivariate_normal" else None
    if tril is not None:
        logvar = torch.log(torch.einsum("nij,nij->ni", tril, tril))
    q = posteriors.of(family, mu, logvar, tril)
    rows = np.array([7, 2, 2, 11])
    z, index, log_q = q.sample_with_log_density(5, np.random.default_rng(0), rows)
    again, again_index = q.sample(5, np.random.default_rng(0), rows)
    assert torch.equal(z, again) and torch.equal(index, again_index)  # the same draws
    assert index.tolist() == np.repeat(rows, 5).tolist()
    torch.testing.assert_close(log_q, q.log_density(z, index), rtol=1e-12, atol=1e-9)


def test_gaussian_draws_are_mu_plus_sigma_times_the_seeded_noise():
    rng = np.random.default_rng(4)
    mu, logvar = torch.tensor(rng.normal(size=(6, 3))), torch.tensor(rng.uniform(-12, 4, (6, 3)))
    z, index = posteriors.of("normal", mu, logvar, None).sample(4, np.random.default_rng(9))
    eps = torch.tensor(np.random.default_rng(9).standard_normal((24, 3)))
    expected = mu.repeat_interleave(4, 0) + torch.exp(0.5 * logvar).repeat_interleave(4, 0) * eps
    assert torch.equal(z, expected)  # bit for bit: the draws of earlier versions
    z_prior = torch.tensor(rng.normal(size=(10, 3)) * 3)
    standard = Prior.standard_normal().expanded(3)
    log_p = importlib.import_module("latentprobe.analyzers.log_likelihood")._prior_log_density(
        standard, z_prior.device
    )(z_prior)
    torch.testing.assert_close(log_p, D.Normal(0.0, 1.0).log_prob(z_prior).sum(1))
