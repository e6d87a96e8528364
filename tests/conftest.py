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
