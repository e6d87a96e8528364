"""Real Lightning training runs, saved as Lightning saves them, analysed through the CLI.

Two conventions (tests/lightning_models.py): a LightningModule that calls
``save_hyperparameters()`` (its checkpoint rebuilds it), and AntixK PyTorch-VAE's
experiment module wrapping a plain VAE as ``self.model`` (weights under ``model.``, no
hyperparameters). The known answers: where in training each checkpoint was saved (read from
the trainer when it saved), and the rate R computed directly in float64 from the trained
model's own encoder.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from latentprobe.cli.main import main
from sklearn.datasets import load_digits

from latentprobe.store import read_stats

L = pytest.importorskip("lightning")
from lightning.pytorch.callbacks import Callback, ModelCheckpoint  # noqa: E402
from lightning_models import LitVAE, VAEXperiment, VanillaVAE  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*does not have many workers:UserWarning",
    "ignore:.*isinstance\\(treespec, LeafSpec\\).*:",
)

N = 192  # digits: three batches of 64 per epoch


def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    return (data.data[:N] / 16.0).astype(np.float32), data.target[:N]


class SavedAt(Callback):
    """Records the trainer's epoch and global step each time a checkpoint is saved."""

    def __init__(self):
        self.saves = []

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        self.saves.append({"epoch": trainer.current_epoch, "global_step": trainer.global_step})


def trainer(max_epochs: int, callbacks=(), checkpointing: bool = False):
    return L.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        callbacks=list(callbacks),
        enable_checkpointing=checkpointing,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=1,
        default_root_dir=".",
    )


def direct_rate(model, x: np.ndarray) -> float:
    """R = E_x KL(q(z|x) || N(0, I)) in nats: the model's own encoder, then the closed form
    in float64, the mean over examples of the sum over units."""
    with torch.no_grad():
        mu, logvar = (t.double() for t in model.eval().encode(torch.from_numpy(x)))
    return float((0.5 * (mu**2 + logvar.exp() - 1 - logvar)).sum(1).mean())


def analyze(checkpoint, *options):
    args = ["analyze", checkpoint, *options, "--skip", "probes", "-o", "r.h5", "--quiet"]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.stderr
    return result


def assert_position_and_rate(result, saved_at: dict, rate: float):
    epoch, step = saved_at["epoch"], saved_at["global_step"]
    assert f"epoch {epoch}, global step {step:,}; all figures in nats" in result.stdout
    assert read_stats("r.h5").provenance["checkpoint_training"] == saved_at
    with __import__("h5py").File("r.h5") as f:
        stored = float(f["analyses/kl_divergence"].attrs["total_rate"])
    assert stored == pytest.approx(rate, rel=1e-6)
    assert f"rate R = E_x KL(q(z|x) || p(z)) = {rate:.4f} nats (exact)" in result.stdout


def test_a_lightning_module_with_saved_hyperparameters(tmp_path):
    """``self.save_hyperparameters()`` with plain arguments: --arch names the
    LightningModule and the checkpoint's hyper_parameters rebuild it (no --arch-kwargs)."""
    x, _ = digits()
    np.savez("x.npz", x=x)
    torch.manual_seed(0)
    model = LitVAE(input_dim=64, hidden_dims=(32, 16), latent_dim=5, lr=2e-2)
    saved = SavedAt()
    fit = trainer(max_epochs=2, callbacks=[saved])
    fit.fit(model, DataLoader(TensorDataset(torch.from_numpy(x)), batch_size=64))
    fit.save_checkpoint("last.ckpt")
    assert saved.saves == [{"epoch": 2, "global_step": 6}]
    assert torch.load("last.ckpt", weights_only=False)["hyper_parameters"]["latent_dim"] == 5
    result = analyze("last.ckpt", "--arch", "lightning_models:LitVAE", "--data", "x.npz")
    assert "5 latent units" in result.stdout
    assert_position_and_rate(result, saved.saves[-1], direct_rate(model, x))
    assert read_stats("r.h5").provenance["checkpoint_format"] == "lightning"


def test_antixk_experiment_checkpoint_loads_into_the_inner_vae(tmp_path):
    """AntixK PyTorch-VAE: VAEXperiment(vae_model, params) keeps the VAE as self.model and
    saves no hyperparameters; the ModelCheckpoint callback writes last.ckpt. --arch names
    the inner VAE (the 'model.' prefix is stripped) and, as the constructor's arguments are
    only in the run's config, --arch-kwargs gives them."""
    x, y = digits()
    images = x.reshape(-1, 1, 8, 8)
    np.savez("images.npz", x=images, y=y)
    torch.manual_seed(0)
    vae = VanillaVAE(in_channels=1, latent_dim=3, hidden_dims=[8, 16])
    experiment = VAEXperiment(vae, {"LR": 5e-3, "kld_weight": 0.05})
    saved = SavedAt()
    checkpoints = ModelCheckpoint(dirpath="checkpoints", monitor="val_loss", save_last=True)
    fit = trainer(max_epochs=2, callbacks=[checkpoints, saved], checkpointing=True)
    loader = DataLoader(TensorDataset(torch.from_numpy(images), torch.from_numpy(y)), 64)
    fit.fit(experiment, loader, loader)
    last = torch.load("checkpoints/last.ckpt", weights_only=False)
    assert "hyper_parameters" not in last
    assert all(key.startswith("model.") for key in last["state_dict"])
    kwargs = '{"in_channels": 1, "latent_dim": 3, "hidden_dims": [8, 16]}'
    result = analyze(
        "checkpoints/last.ckpt",
        "--arch",
        "lightning_models:VanillaVAE",
        "--arch-kwargs",
        kwargs,
        "--data",
        "images.npz",
    )
    assert "3 latent units" in result.stdout
    # ModelCheckpoint saves at the end of each epoch; last.ckpt is the latest save
    assert len(saved.saves) >= 2 and saved.saves[-1]["global_step"] == 6
    assert_position_and_rate(result, saved.saves[-1], direct_rate(vae, images))
    assert not math.isnan(direct_rate(vae, images))
