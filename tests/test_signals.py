"""Signals: SIGTERM and SIGINT at several moments of extract and analyze leave no output file
and no temporary, and an existing output survives."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

SLOW_MODEL = """
import time
import torch
from torch import nn


class SlowVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(6, 6)

    def encode(self, x):
        time.sleep(0.02)
        mu, logvar = self.net(x).chunk(2, dim=-1)
        return mu, logvar
"""


@pytest.fixture
def slow_job(tmp_path):
    (tmp_path / "slowmodel.py").write_text(SLOW_MODEL)
    sys.path.insert(0, str(tmp_path))
    try:
        from slowmodel import SlowVAE
    finally:
        sys.path.remove(str(tmp_path))
    torch.save(SlowVAE().state_dict(), tmp_path / "m.pt")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(3000, 6)).astype("f4"))
    return tmp_path


def _start(folder: Path, verb: str, output: str) -> subprocess.Popen:
    cli = Path(sys.executable).parent / "latentprobe"
    args = [str(cli), verb, "m.pt", "--arch", "slowmodel:SlowVAE", "--data", "x.npy"]
    args += ["--batch-size", "10", "-o", output, "--quiet"]
    if verb == "analyze":
        args += ["--only", "active_units"]
    return subprocess.Popen(args, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "signum, moment",
    [
        (signal.SIGTERM, "starting"),
        (signal.SIGTERM, "writing"),
        (signal.SIGINT, "starting"),
        (signal.SIGINT, "writing"),
    ],
)
def test_extract_stopped_by_a_signal_leaves_nothing(slow_job, signum, moment):
    (slow_job / "s.h5").write_bytes(b"previous")
    process = _start(slow_job, "extract", "new.h5")
    if moment == "writing":
        _wait_for(lambda: _temporaries(slow_job) or process.poll() is not None)
    else:
        time.sleep(0.3)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0, stderr
    assert b"Traceback" not in stderr
    assert len(stderr.decode().strip().splitlines()) == 1, stderr
    assert not (slow_job / "new.h5").exists() and _temporaries(slow_job) == []
    assert (slow_job / "s.h5").read_bytes() == b"previous"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_analyze_stopped_by_a_signal_keeps_the_existing_report(slow_job, signum):
    (slow_job / "r.h5").write_bytes(b"previous report")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "latentprobe"),
            "analyze",
            "m.pt",
            "--arch",
            "slowmodel:SlowVAE",
            "--data",
            "x.npy",
            "--batch-size",
            "10",
            "-o",
            "r.h5",
            "--force",
            "--quiet",
        ],
        cwd=slow_job,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(2.0)  # encoding in memory, before the report is written
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stderr
    assert len(stderr.decode().strip().splitlines()) == 1, stderr
    assert (slow_job / "r.h5").read_bytes() == b"previous report"
    assert _temporaries(slow_job) == [] and b"Traceback" not in stderr


def _limit_file_size(limit: int):
    def apply():
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize("verb", ["extract", "analyze"])
def test_an_output_too_large_for_the_file_size_limit_is_refused_first(tmp_path, verb):
    x = np.random.default_rng(0).normal(size=(20_000, 64)).astype("f4")
    np.save(tmp_path / "x.npy", x)  # written before the limit applies
    zoo = Path(__file__).resolve().parent.parent / "fixtures" / "healthy.pt"
    cli = Path(sys.executable).parent / "latentprobe"
    args = [str(cli), verb, str(zoo), "--data", "x.npy", "-o", "out.h5", "--quiet"]
    if verb == "analyze":
        args += ["--only", "kl_divergence"]  # the (N, D) per-example KL makes the report large
    done = subprocess.run(
        args, cwd=tmp_path, capture_output=True, preexec_fn=_limit_file_size(200_000), timeout=120
    )
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 9, done.stderr  # OutputError
    assert len(lines) == 1 and "file-size limit" in lines[0] and "out.h5" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]
