"""The decoder's analyses through ``latentprobe analyze``: checkpoints saved as state dicts,
their numbers against the linear-Gaussian closed forms, and each way of saying how x is
scored (a declared likelihood, --likelihood, log_probability(x, z), --log-likelihood)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from decoder_models import (
    GRUTextVAE,
    TensorDecoderVAE,
    exact_distortion,
    linear_gaussian,
    log_marginal,
    sample_x,
)
from latentprobe.cli.main import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ARCH = "decoder_models:LinearGaussianVAE"
DECODER_ONLY = ("--only", "distortion,log_likelihood")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def analyze_json(*args) -> dict:
    result = run("analyze", *args, "--json", "--quiet", "-o", "r.h5", "--force")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def linear_checkpoint():
    model = linear_gaussian()
    x = sample_x(model, 300)
    torch.save(model.state_dict(), "m.pt")
    np.savez("x.npz", x=x)
    return model, x


def test_a_linear_gaussian_checkpoint_gives_the_closed_forms(linear_checkpoint):
    model, x = linear_checkpoint
    doc = analyze_json("m.pt", "--arch", ARCH, "--data", "x.npz", "--iwae-samples", "50")
    truth = log_marginal(model, x).mean()
    d, ll = doc["analyses"]["distortion"], doc["analyses"]["log_likelihood"]
    assert abs(d["distortion"] - exact_distortion(model, x).mean()) < 5 * d["distortion_stderr"]
    assert abs(d["elbo"] - truth) < 5 * d["elbo_stderr"]
    assert ll["log_likelihood"] == pytest.approx(truth, abs=1e-6)  # a tight encoder
    assert "scored as gaussian:0.5" in d["decoder"]
    assert doc["decoder_uses_z"] is True
    assert [row["reliance"] for row in doc["per_unit"]][-1] == 0.0  # the zero column


def test_a_stats_file_with_its_checkpoint_gives_the_same_numbers(linear_checkpoint):
    direct = analyze_json("m.pt", "--arch", ARCH, "--data", "x.npz", *DECODER_ONLY)
    assert run("extract", "m.pt", "--arch", ARCH, "--data", "x.npz", "-o", "s.h5").exit_code == 0
    args = ("s.h5", "--checkpoint", "m.pt", "--arch", ARCH, "--data", "x.npz", *DECODER_ONLY)
    via_stats = analyze_json(*args)
    assert via_stats["analyses"] == direct["analyses"]


def test_a_log_likelihood_function_gives_what_the_declared_likelihood_gives(linear_checkpoint):
    declared = analyze_json("m.pt", "--arch", ARCH, "--data", "x.npz", *DECODER_ONLY)
    function = "decoder_models:log_likelihood_function"
    given = analyze_json(
        "m.pt", "--arch", ARCH, "--data", "x.npz", "--log-likelihood", function, *DECODER_ONLY
    )
    for name in ("distortion", "elbo", "reliance"):
        a, b = declared["analyses"]["distortion"][name], given["analyses"]["distortion"][name]
        assert a == pytest.approx(b, rel=1e-9)


def test_a_text_vae_is_scored_through_its_log_probability(tmp_path):
    torch.manual_seed(0)
    model = GRUTextVAE()
    torch.save(model.state_dict(), "text.pt")
    tokens = torch.randint(0, 7, (120, 6)).numpy()
    np.savez("tokens.npz", x=tokens)
    doc = analyze_json("text.pt", "--arch", "decoder_models:GRUTextVAE", "--data", "tokens.npz")
    d = doc["analyses"]["distortion"]
    assert "GRUTextVAE.log_probability(x, z)" in d["decoder"]
    assert 0 < d["distortion"] < 6 * np.log(7) * 1.5  # near uniform over 7 tokens, untrained
    assert doc["analyses"]["log_likelihood"]["gap"] >= -1e-9


def test_a_tensor_decoder_without_a_likelihood(tmp_path):
    """By default the decoder's analyses are left out with a warning naming --likelihood;
    asked for by name, a one-line error (exit 13); with --likelihood they run."""
    torch.manual_seed(0)
    torch.save(TensorDecoderVAE(features=64).state_dict(), "t.pt")
    args = ("t.pt", "--arch", "decoder_models:TensorDecoderVAE", "--data", "sklearn:digits")
    result = run("analyze", *args, "--skip", "probes", "--quiet", "-o", "a.h5")
    assert result.exit_code == 0, result.stderr
    assert "the decoder's analyses are left out" in result.stderr
    assert "--likelihood" in result.stderr and "distortion" not in result.stdout
    bad = run("analyze", *args, "--only", "distortion", "--quiet", "-o", "b.h5")
    assert bad.exit_code == 13 and "--likelihood" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and not Path("b.h5").exists()
    good = run("analyze", *args, "--only", "distortion", "--likelihood", "bernoulli", "-o", "c.h5")
    assert good.exit_code == 0, good.stderr
    assert "scored as bernoulli" in good.stdout


def test_the_zoo_fixture_runs_the_decoder_side_by_default():
    result = run("analyze", FIXTURES / "healthy.pt", "--skip", "probes", "--quiet", "-o", "h.h5")
    assert result.exit_code == 0, result.stderr
    assert "the decoder uses z" in result.stdout
    assert "MLPVAE.decode(z) scored as bernoulli" in result.stdout
    assert "log p(x) >=" in result.stdout


def test_decoder_options_need_a_model(linear_checkpoint):
    assert run("extract", "m.pt", "--arch", ARCH, "--data", "x.npz", "-o", "s.h5").exit_code == 0
    result = run("analyze", "s.h5", "--likelihood", "gaussian", "-o", "r.h5")
    assert result.exit_code == 2 and "--checkpoint" in result.stderr
    bad = run("analyze", "m.pt", "--arch", ARCH, "--data", "x.npz", "--likelihood", "poisson")
    assert bad.exit_code == 2 and "unknown --likelihood" in bad.stderr
