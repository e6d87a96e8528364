"""A diffusers AutoencoderKL saved with save_pretrained, analysed with no flag but --data
(issue 11): built from its config through diffusers, weights from safetensors, encoded through
.latent_dist, the (C, H, W) latent kept as its layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from latentprobe.cli.main import main

from latentprobe.store import read_stats

diffusers = pytest.importorskip("diffusers", reason="diffusers is the optional extra")


def tiny_autoencoder():
    torch.manual_seed(0)
    return diffusers.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8,),
        layers_per_block=1,
        latent_channels=2,
        norm_num_groups=8,
        sample_size=8,
        down_block_types=("DownEncoderBlock2D",),
        up_block_types=("UpDecoderBlock2D",),
    ).eval()


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_a_save_pretrained_folder_is_analysed_per_channel(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = tiny_autoencoder()
    model.save_pretrained("vae")
    x = np.random.default_rng(0).normal(size=(40, 3, 8, 8)).astype(np.float32)
    np.save("x.npy", x)
    result = run("analyze", "vae", "--data", "x.npy", "--skip", "probes", "-o", "r.h5")
    assert result.exit_code == 0, result.stderr
    stats = read_stats("r.h5")
    with torch.no_grad():
        dist = model.encode(torch.from_numpy(x)).latent_dist
    np.testing.assert_allclose(stats.mu, dist.mean.reshape(40, -1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats.logvar, dist.logvar.reshape(40, -1).numpy(), atol=1e-5)
    assert stats.latent_shape == (2, 8, 8)
    assert stats.provenance["checkpoint_format"] == "diffusers-folder"
    assert "per channel (the first axis of the 2 x 8 x 8 latent)" in result.stdout


def test_a_folder_naming_another_class_is_refused_without_importing_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny_autoencoder().save_pretrained("vae")
    config = json.loads(Path("vae/config.json").read_text())
    Path("vae/config.json").write_text(json.dumps({**config, "_class_name": "os.system"}))
    np.save("x.npy", np.zeros((4, 3, 8, 8), np.float32))
    result = run("extract", "vae", "--data", "x.npy", "-o", "s.h5")
    assert result.exit_code == 5 and "names 'os.system'" in result.stderr
    assert not Path("s.h5").exists()
