from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from models import TupleVAE

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def tuple_model() -> TupleVAE:
    torch.manual_seed(0)
    return TupleVAE(input_dim=6, latent_dim=3).eval()


@pytest.fixture
def data_npz(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    np.savez(path, x=rng.normal(size=(250, 6)).astype(np.float32), y=rng.integers(0, 3, 250))
    return path


@pytest.fixture(autouse=True)
def _run_in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


#: Cheaper settings for the fixtures' reports (the tests of report outputs read them).
def _report_options():
    from latentprobe.analyzers.log_likelihood import LogLikelihoodOptions
    from latentprobe.analyzers.probes import ProbesOptions

    probes = ProbesOptions(mlp=False, mdl=False, per_unit=False, permutations=99)
    return {"probes": probes, "log_likelihood": LogLikelihoodOptions(samples=100)}


@pytest.fixture(scope="session")
def fixture_reports(tmp_path_factory) -> dict[str, Path]:
    """The healthy, partial and collapsed fixtures analysed once per session (every
    analysis, the decoder's included), as report files by name."""
    from latentprobe import workflow

    folder = tmp_path_factory.mktemp("reports")
    paths = {}
    for name in ("healthy", "partial", "collapsed"):
        source = FIXTURES / f"{name}.pt"
        report = workflow.analyze_source(source, options=_report_options())
        paths[name] = report.write(folder / f"{name}.report.h5")
    return paths
