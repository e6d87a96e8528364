"""Progress bars appear on stderr only where asked for, and only for long work."""

from __future__ import annotations

import numpy as np

import latentprobe
from latentprobe import progress
from latentprobe.analyzers.probes.crossval import unit_p_values


def _stats() -> latentprobe.EncoderStats:
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(50, 3))
    return latentprobe.EncoderStats(mu, np.full((50, 3), -1.0), {"y": (mu[:, 0] > 0).astype(int)})


def test_analyze_shows_which_analysis_runs_when_progress_is_shown(capsys):
    with progress.shown(True):
        latentprobe.analyze(_stats(), only=["kl_divergence", "active_units"])
    err = capsys.readouterr().err
    assert "analysing" in err and "active_units" in err and "kl_divergence" in err


def test_no_bar_unless_shown(capsys):
    latentprobe.analyze(_stats(), only=["kl_divergence"])
    assert capsys.readouterr().err == ""


def test_short_work_gets_no_bar_long_work_does(capsys):
    with progress.shown(True):
        assert list(progress.steps(range(3), 3, "quick", seconds=0.1)) == [0, 1, 2]
        assert capsys.readouterr().err == ""
        assert list(progress.steps(range(3), 3, "slow", seconds=60)) == [0, 1, 2]
    assert "slow" in capsys.readouterr().err


def test_per_unit_permutations_count_on_a_bar_when_long(capsys, monkeypatch):
    monkeypatch.setattr(progress, "QUIET_SECONDS", 0.0)
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(40, 2)), np.arange(40) % 2
    with progress.shown(True):
        unit_p_values(z, y, rng, task="classification", k=2, draws=1, permutations=5)
    assert "per-unit permutations" in capsys.readouterr().err
