"""Every checkpoint form loads to the same statistics; bad checkpoints give clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import latentprobe
from latentprobe.errors import ArchitectureError, CheckpointError, UnsafeCheckpointError
from latentprobe.zoo import MLPVAE, zoo_checkpoint

ARCH = "models:TupleVAE"
KWARGS = {"input_dim": 6, "latent_dim": 3}
X = np.random.default_rng(1).normal(size=(40, 6)).astype(np.float32)


def reference(model) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        mu, logvar = model.encode(torch.from_numpy(X))
    return mu.double().numpy(), logvar.double().numpy()


def stats_of(loaded) -> tuple[np.ndarray, np.ndarray]:
    stats = latentprobe.extract(loaded, X, batch_size=16)
    return stats.mu, stats.logvar


def prefixed(sd: dict, prefix: str) -> dict:
    return {prefix + k: v for k, v in sd.items()}


def save_state_dict(model, path: Path) -> dict:
    torch.save(model.state_dict(), path)
    return {"arch": ARCH, "arch_kwargs": KWARGS}


def save_lightning(model, path: Path) -> dict:
    torch.save(
        {
            "state_dict": prefixed(model.state_dict(), "model."),
            "epoch": 3,
            "hyper_parameters": {**KWARGS, "lr": 1e-3},
            "pytorch-lightning_version": "2.4.0",
        },
        path,
    )
    return {"arch": ARCH}  # constructor arguments come from hyper_parameters; lr is dropped


def save_model_state_dict(model, path: Path) -> dict:
    torch.save({"model_state_dict": model.state_dict(), "epoch": 7}, path)
    return {"arch": ARCH, "arch_kwargs": KWARGS}


def save_safetensors(model, path: Path) -> dict:
    from safetensors.torch import save_file

    save_file(model.state_dict(), str(path))
    return {"arch": ARCH, "arch_kwargs": KWARGS}


def save_pythae_layout(model, path: Path) -> dict:
    path.mkdir()
    (path / "model_config.json").write_text(json.dumps({"name": "VAEConfig", "latent_dim": 3}))
    torch.save({"model_state_dict": model.state_dict()}, path / "model.pt")
    return {"arch": ARCH, "arch_kwargs": KWARGS}


def save_arch_from_file(model, path: Path) -> dict:
    torch.save(model.state_dict(), path)
    models_file = Path(__file__).parent / "models.py"
    return {"arch": f"{models_file}:TupleVAE", "arch_kwargs": KWARGS}


def save_pickled_module(model, path: Path) -> dict:
    torch.save(model, path)
    return {"trust_checkpoint": True}


def save_torchscript(model, path: Path) -> dict:
    torch.jit.save(torch.jit.script(model), str(path))
    return {"trust_checkpoint": True}


FORMS = {
    "state-dict": (save_state_dict, "m.pt"),
    "lightning": (save_lightning, "m.ckpt"),
    "model-state-dict": (save_model_state_dict, "m.pt"),
    "safetensors": (save_safetensors, "m.safetensors"),
    "pythae-folder": (save_pythae_layout, "pythae_model"),
    "state-dict-from-file": (save_arch_from_file, "m.pt"),
    "pickled-module": (save_pickled_module, "m.pt"),
    "torchscript": (save_torchscript, "m.pt"),
}


@pytest.mark.parametrize("form", FORMS)
def test_every_form_gives_identical_statistics(form, tuple_model, tmp_path):
    save, name = FORMS[form]
    options = save(tuple_model, tmp_path / name)
    loaded = latentprobe.load_model(tmp_path / name, **options)
    expected = reference(tuple_model)
    mu, logvar = stats_of(loaded)
    np.testing.assert_array_equal(mu, expected[0])
    np.testing.assert_array_equal(logvar, expected[1])
    assert loaded.format == form.replace("-from-file", "")
    assert loaded.model.training is False


@pytest.mark.parametrize("form", ["pickled-module", "torchscript"])
def test_code_running_formats_are_refused_without_trust(form, tuple_model, tmp_path):
    save, name = FORMS[form]
    save(tuple_model, tmp_path / name)
    with pytest.raises(UnsafeCheckpointError, match="--trust-checkpoint"):
        latentprobe.load_model(tmp_path / name)


def test_trust_is_recorded(tuple_model, tmp_path):
    torch.save(tuple_model, tmp_path / "m.pt")
    loaded = latentprobe.load_model(tmp_path / "m.pt", trust_checkpoint=True)
    assert loaded.trusted
    assert latentprobe.extract(loaded, X).provenance["trust_checkpoint"] is True
    safe = latentprobe.load_model(tmp_path / "m.pt", trust_checkpoint=True)
    torch.save(tuple_model.state_dict(), tmp_path / "sd.pt")
    safe = latentprobe.load_model(tmp_path / "sd.pt", arch=ARCH, arch_kwargs=KWARGS)
    assert latentprobe.extract(safe, X).provenance["trust_checkpoint"] is False


def test_zoo_checkpoint_needs_no_arch_and_names_its_dataset(tmp_path):
    torch.manual_seed(3)
    model = MLPVAE(input_dim=6, hidden_dim=8, latent_dim=2).eval()
    kwargs = {"input_dim": 6, "hidden_dim": 8, "latent_dim": 2}
    torch.save(
        zoo_checkpoint(model, "mlp-vae", kwargs, dataset="sklearn:digits"), tmp_path / "z.pt"
    )
    loaded = latentprobe.load_model(tmp_path / "z.pt")
    assert loaded.format == "zoo" and loaded.dataset == "sklearn:digits"
    np.testing.assert_array_equal(stats_of(loaded)[0], reference(model)[0])


def test_zoo_checkpoint_cannot_name_an_arbitrary_class(tmp_path):
    torch.save(
        {"latentprobe_zoo": {"arch": "os:system", "kwargs": {}}, "state_dict": {}},
        tmp_path / "z.pt",
    )
    with pytest.raises(CheckpointError, match="zoo architecture 'os:system'"):
        latentprobe.load_model(tmp_path / "z.pt")


def test_real_pythae_folder_is_rebuilt_through_pythae(tmp_path):
    pytest.importorskip("pythae")
    from pythae.models import VAE, VAEConfig

    torch.manual_seed(0)
    model = VAE(VAEConfig(input_dim=(6,), latent_dim=3)).eval()
    model.save(str(tmp_path / "pythae_vae"))
    loaded = latentprobe.load_model(tmp_path / "pythae_vae")
    with torch.no_grad():
        out = model.encoder(torch.from_numpy(X))
    mu, logvar = stats_of(loaded)
    np.testing.assert_array_equal(mu, out.embedding.double().numpy())
    np.testing.assert_array_equal(logvar, out.log_covariance.double().numpy())


def test_bundled_fixtures_load(tmp_path):
    fixtures = Path(__file__).resolve().parent.parent / "fixtures"
    for name in ("healthy", "partial", "collapsed"):
        path = fixtures / f"{name}.pt"
        assert path.stat().st_size < 1_000_000
        assert latentprobe.load_model(path).format == "zoo"


# ----------------------------------------------------------------------------- bad checkpoints


def test_missing_checkpoint():
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        latentprobe.load_model("nope.pt")


def test_corrupt_checkpoint(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"this is not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        latentprobe.load_model(tmp_path / "bad.pt", arch=ARCH)


def test_truncated_checkpoint(tuple_model, tmp_path):
    torch.save(tuple_model.state_dict(), tmp_path / "m.pt")
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        latentprobe.load_model(tmp_path / "cut.pt", arch=ARCH, arch_kwargs=KWARGS)


def test_truncated_safetensors(tuple_model, tmp_path):
    save_safetensors(tuple_model, tmp_path / "m.safetensors")
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "m.safetensors").write_bytes(data[:-20])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        latentprobe.load_model(tmp_path / "m.safetensors", arch=ARCH, arch_kwargs=KWARGS)


@pytest.mark.parametrize(
    "arch, message",
    [
        ("no_such_module:Model", "cannot import module 'no_such_module'"),
        ("models:NoSuchClass", "has no attribute 'NoSuchClass'"),
        ("models:not_a_class", "not a class"),
        ("missing_file.py:Model", "--arch file not found"),
        ("justaname", "module:Class"),
    ],
)
def test_bad_arch(arch, message, tuple_model, tmp_path):
    torch.save(tuple_model.state_dict(), tmp_path / "m.pt")
    with pytest.raises(ArchitectureError, match=message):
        latentprobe.load_model(tmp_path / "m.pt", arch=arch)


def test_weights_only_checkpoint_without_arch(tuple_model, tmp_path):
    torch.save(tuple_model.state_dict(), tmp_path / "m.pt")
    with pytest.raises(ArchitectureError, match="--arch"):
        latentprobe.load_model(tmp_path / "m.pt")


def test_key_mismatch_names_the_keys(tuple_model, tmp_path):
    sd = tuple_model.state_dict()
    sd["extra.weight"] = torch.zeros(2)
    del sd["net.0.bias"]
    torch.save(sd, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=r"missing: net\.0\.bias.*unexpected: extra\.weight"):
        latentprobe.load_model(tmp_path / "m.pt", arch=ARCH, arch_kwargs=KWARGS)


def test_shape_mismatch_names_the_keys(tuple_model, tmp_path):
    torch.save(tuple_model.state_dict(), tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match=r"shape: net\.2\.weight \(6, 16\) vs \(8, 16\)"):
        latentprobe.load_model(
            tmp_path / "m.pt", arch=ARCH, arch_kwargs={"input_dim": 6, "latent_dim": 4}
        )


def test_bad_constructor_arguments(tuple_model, tmp_path):
    torch.save(tuple_model.state_dict(), tmp_path / "m.pt")
    with pytest.raises(ArchitectureError, match="--arch-kwargs"):
        latentprobe.load_model(tmp_path / "m.pt", arch=ARCH, arch_kwargs={"depth": 3})


def test_pythae_custom_network_needs_trust(tmp_path):
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "model_config.json").write_text(
        json.dumps({"name": "VAEConfig", "latent_dim": 3, "uses_default_encoder": False})
    )
    torch.save({"model_state_dict": {}}, folder / "model.pt")
    (folder / "encoder.pkl").write_bytes(b"pickled code")
    pytest.importorskip("pythae")
    with pytest.raises(UnsafeCheckpointError, match="encoder.pkl"):
        latentprobe.load_model(folder)


def test_garbage_is_corrupt_not_unsafe(tmp_path):
    # b"n..." is an opcode the weights-only unpickler rejects; that is damage, not code
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt") as info:
        latentprobe.load_model(tmp_path / "bad.pt", arch=ARCH)
    assert not isinstance(info.value, UnsafeCheckpointError)


def test_unsafe_error_names_the_global(tuple_model, tmp_path):
    torch.save(tuple_model, tmp_path / "m.pt")
    with pytest.raises(UnsafeCheckpointError, match=r"models\.TupleVAE"):
        latentprobe.load_model(tmp_path / "m.pt")


def test_pythae_folder_with_a_custom_encoder_loads_only_with_trust(tmp_path):
    pytest.importorskip("pythae")
    from models import make_pythae_encoder
    from pythae.models import VAE, VAEConfig

    torch.manual_seed(0)
    model = VAE(VAEConfig(input_dim=(6,), latent_dim=3), encoder=make_pythae_encoder()).eval()
    model.save(str(tmp_path / "custom"))
    assert (tmp_path / "custom" / "encoder.pkl").exists()
    with pytest.raises(UnsafeCheckpointError, match="encoder.pkl"):
        latentprobe.load_model(tmp_path / "custom")
    loaded = latentprobe.load_model(tmp_path / "custom", trust_checkpoint=True)
    assert loaded.trusted
    with torch.no_grad():
        expected = model.encoder(torch.from_numpy(X)).embedding.double().numpy()
    np.testing.assert_array_equal(stats_of(loaded)[0], expected)


def test_harmless_contents_load_without_trust_and_a_namespace_builds_the_model(
    tuple_model, tmp_path
):
    """beta-TCVAE saves {'state_dict', 'args': argparse.Namespace}; Lightning hyperparameters
    hold pathlib paths; epochs and losses are numpy scalars. None of them runs code, and the
    Namespace's fields fill the constructor (issue 11)."""
    import argparse
    import pathlib

    sd = prefixed(tuple_model.state_dict(), "model.")
    args = argparse.Namespace(input_dim=6, latent_dim=3, beta=6.0, save=pathlib.Path("out"))
    extras = {"epoch": np.int64(7), "loss": np.float32(0.25), "dtype": np.dtype("float64")}
    torch.save({"state_dict": sd, "args": args, **extras}, tmp_path / "m.pth")
    loaded = latentprobe.load_model(tmp_path / "m.pth", arch="models:TupleVAE")
    assert not loaded.trusted
    np.testing.assert_array_equal(stats_of(loaded)[0], reference(tuple_model)[0])


class _Calls:
    """Pickles as a call of ``function(*args)``, as a hostile checkpoint would."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


@pytest.mark.parametrize(
    "payload, named",
    [
        (_Calls(__import__("os").system, "true"), "system"),
        (_Calls(np.load, "x.npy"), "numpy.load"),  # numpy scalars pass; numpy's functions not
        (_Calls(__import__("argparse").ArgumentParser), "argparse.ArgumentParser"),
        (_Calls(__import__("pathlib").Path.unlink, "x"), "getattr"),  # a method via getattr
    ],
)
def test_other_contents_beside_harmless_ones_are_still_refused(payload, named, tmp_path):
    import argparse

    obj = {"state_dict": {"w": torch.zeros(1)}, "args": argparse.Namespace(a=1), "x": payload}
    torch.save(obj, tmp_path / "m.pt")
    with pytest.raises(UnsafeCheckpointError, match=named.replace(".", r"\.")):
        latentprobe.load_model(tmp_path / "m.pt", arch="models:TupleVAE")


def test_a_state_dict_under_a_key_is_found_or_named(tuple_model, tmp_path):
    """{'epoch', 'model', 'optimizer'}: the only state dict is read; with two (a model and its
    EMA copy) the error names --state-dict-key, which picks one (issue 11)."""
    optimizer = torch.optim.Adam(tuple_model.parameters())
    tuple_model(torch.zeros(2, 6))[0].sum().backward()
    optimizer.step()
    sd = tuple_model.state_dict()
    torch.save({"epoch": 5, "model": sd, "optimizer": optimizer.state_dict()}, tmp_path / "a.pt")
    loaded = latentprobe.load_model(tmp_path / "a.pt", arch="models:TupleVAE")
    assert loaded.format == "state-dict-under-key" and loaded.weights_key == "model"
    assert loaded.training == {"epoch": 5}
    np.testing.assert_array_equal(stats_of(loaded)[0], reference(tuple_model)[0])
    shifted = {k: v + 1.0 for k, v in sd.items()}
    torch.save({"model": shifted, "ema": sd}, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match="'model', 'ema'.*--state-dict-key"):
        latentprobe.load_model(tmp_path / "b.pt", arch="models:TupleVAE")
    ema = latentprobe.load_model(tmp_path / "b.pt", arch="models:TupleVAE", state_dict_key="ema")
    assert ema.weights_key == "ema"
    np.testing.assert_array_equal(stats_of(ema)[0], reference(tuple_model)[0])
    with pytest.raises(CheckpointError, match="no key 'emma'.*--state-dict-key"):
        latentprobe.load_model(tmp_path / "b.pt", arch="models:TupleVAE", state_dict_key="emma")


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod.", "model._orig_mod.", "model.module."])
def test_wrapper_prefixes_are_stripped(prefix, tuple_model, tmp_path):
    """DDP's module., torch.compile's _orig_mod., and either inside Lightning's model."""
    torch.save(prefixed(tuple_model.state_dict(), prefix), tmp_path / "m.pt")
    loaded = latentprobe.load_model(tmp_path / "m.pt", arch="models:TupleVAE")
    np.testing.assert_array_equal(stats_of(loaded)[0], reference(tuple_model)[0])


def test_a_constructor_that_takes_sub_modules_gets_the_wrapper_advice(tmp_path):
    class TextVAE(torch.nn.Module):
        def __init__(self, encoder, decoder, args):
            super().__init__()

    torch.save({"w": torch.zeros(1)}, tmp_path / "m.pt")
    with pytest.raises(ArchitectureError, match="sub-modules.*small class.*--arch"):
        latentprobe.load_model(tmp_path / "m.pt", arch=TextVAE)


def test_two_sub_models_that_both_fit_are_named_not_guessed(tuple_model, tmp_path):
    """encoder.* and decoder.* of one shape both fit a model: loading the first in
    alphabetical order picked the decoder silently (review of issue 11)."""
    sd = tuple_model.state_dict()
    both = {**prefixed(sd, "encoder."), **prefixed({k: v + 1 for k, v in sd.items()}, "decoder.")}
    torch.save(both, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="'decoder', 'encoder'.*--state-dict-key"):
        latentprobe.load_model(tmp_path / "m.pt", arch="models:TupleVAE")
    loaded = latentprobe.load_model(
        tmp_path / "m.pt", arch="models:TupleVAE", state_dict_key="encoder"
    )
    np.testing.assert_array_equal(stats_of(loaded)[0], reference(tuple_model)[0])


class _ForgedDtype:
    """Pickles as a float64 dtype whose state adds a 100,000-element subarray."""

    def __reduce__(self):
        state = (3, "<", (np.dtype("f8"), (100000,)), None, None, 8, 1, 0)
        return (np.dtype, ("f8", False, True), state)


def test_a_forged_numpy_dtype_is_refused(tmp_path):
    torch.save({"w": torch.zeros(1), "dtype": _ForgedDtype()}, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="malformed numpy dtype"):
        latentprobe.load_model(tmp_path / "m.pt", arch="models:TupleVAE")
