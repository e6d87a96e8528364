"""The zoo: architectures looked up by name, checkpoints of plain types only."""

from __future__ import annotations

import torch

from latentprobe.zoo import ARCHITECTURES, MLPVAE, ZOO_KEY, zoo_checkpoint


def test_mlp_vae_shapes():
    torch.manual_seed(0)
    model = MLPVAE(input_dim=10, hidden_dim=7, latent_dim=3)
    x = torch.rand(4, 10)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (4, 3)
    assert model.decode(mu).shape == (4, 10)
    logits, mu2, _ = model(x)
    assert logits.shape == (4, 10) and torch.equal(mu, mu2)


def test_a_zoo_checkpoint_holds_only_plain_types_and_tensors(tmp_path):
    model = MLPVAE(input_dim=10, latent_dim=3)
    saved = zoo_checkpoint(model, "mlp-vae", {"input_dim": 10, "latent_dim": 3}, "sklearn:digits")
    torch.save(saved, tmp_path / "z.pt")
    loaded = torch.load(tmp_path / "z.pt", weights_only=True)  # no pickled classes inside
    assert loaded[ZOO_KEY] == {
        "arch": "mlp-vae",
        "kwargs": {"input_dim": 10, "latent_dim": 3},
        "dataset": "sklearn:digits",
    }
    rebuilt = ARCHITECTURES["mlp-vae"](**loaded[ZOO_KEY]["kwargs"])
    rebuilt.load_state_dict(loaded["state_dict"])
    x = torch.rand(2, 10)
    assert torch.equal(rebuilt.encode(x)[0], model.encode(x)[0])
