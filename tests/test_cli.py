"""The command line: real click invocations, exit codes, one-line errors, no half-written files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from latentprobe.cli.main import main
from models import (
    LengthsTokenVAE,
    NaNAfterVAE,
    SoftplusStdVAE,
    SpecsVAE,
    TokenVAE,
    TupleVAE,
)

from latentprobe.errors import (
    AnalysisError,
    ArchitectureError,
    CheckpointError,
    DataError,
    EncoderOutputError,
    OutputError,
    UnsafeCheckpointError,
)
from latentprobe.store import read_stats

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, exit_code, fragment, output=None):
    assert result.exit_code == exit_code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    if output is not None:
        assert not Path(output).exists()


def test_extract_zoo_fixture_needs_no_other_argument(tmp_path):
    result = run("extract", FIXTURES / "healthy.pt", "-o", "s.h5")
    assert result.exit_code == 0, result.stderr
    stats = read_stats("s.h5")
    assert stats.mu.shape == (1797, 4) and set(stats.labels) == {"digit"}
    assert stats.provenance["command_line"].startswith("latentprobe")


def test_extract_with_arch_and_options(tmp_path, tuple_model, data_npz):
    torch.save(
        {"state_dict": {f"model.{k}": v for k, v in tuple_model.state_dict().items()}}, "m.ckpt"
    )
    result = run(
        "extract",
        "m.ckpt",
        "--arch",
        "models:TupleVAE",
        "--arch-kwargs",
        '{"input_dim": 6, "latent_dim": 3}',
        "--data",
        data_npz,
        "-o",
        "s.h5",
        "--batch-size",
        7,
        "--prior-mean",
        "0.5",
        "--prior-logvar",
        "0,1,2",
        "--quiet",
    )
    assert result.exit_code == 0, result.stderr
    stats = read_stats("s.h5")
    assert stats.n_examples == 250
    np.testing.assert_array_equal(stats.prior.logvars, [[0.0, 1.0, 2.0]])
    assert stats.provenance["options"]["batch_size"] == 7


def test_formats_lists_everything():
    result = run("formats")
    assert result.exit_code == 0
    for name in (
        "state-dict",
        "lightning",
        "safetensors",
        "pythae-folder",
        "state-dict-under-key",
        "specs-folder",
        "diffusers-folder",
        "zoo",
        "pickled-module",
        "torchscript",
        "sklearn:digits",
        "logstd",
    ):
        assert name in result.stdout


def test_unsafe_checkpoint_has_its_own_exit_code(tuple_model, data_npz):
    torch.save(tuple_model, "whole.pt")
    result = run("extract", "whole.pt", "--data", data_npz, "-o", "s.h5")
    assert_one_line_error(result, UnsafeCheckpointError.exit_code, "--trust-checkpoint", "s.h5")
    trusted = run("extract", "whole.pt", "--data", data_npz, "-o", "s.h5", "--trust-checkpoint")
    assert trusted.exit_code == 0, trusted.stderr
    assert read_stats("s.h5").provenance["trust_checkpoint"] is True


def _nan_data():
    x = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)
    x[123, 0] = 1000.0
    np.save("nan.npy", x)
    torch.save(NaNAfterVAE().state_dict(), "nan.pt")
    return ["nan.pt", "--arch", "models:NaNAfterVAE", "--data", "nan.npy"]


def test_bad_inputs_give_one_line_errors(tuple_model, data_npz):
    torch.save(tuple_model.state_dict(), "m.pt")
    Path("bad.pt").write_bytes(b"not a checkpoint")
    np.savez("short.npz", x=np.zeros((10, 6), np.float32), y=np.zeros(9))
    np.savez("empty.npz", x=np.zeros((0, 6), np.float32))
    Path("broken.npy").write_bytes(b"broken")
    cases = [
        (["missing.pt", "--data", data_npz], CheckpointError, "checkpoint not found"),
        (["bad.pt", "--arch", "models:TupleVAE", "--data", data_npz], CheckpointError, "corrupt"),
        (["m.pt", "--arch", "nomodule:X", "--data", data_npz], ArchitectureError, "cannot import"),
        (
            ["m.pt", "--arch", "models:not_a_class", "--data", data_npz],
            ArchitectureError,
            "not a class",
        ),
        (
            [
                "m.pt",
                "--arch",
                "models:TupleVAE",
                "--arch-kwargs",
                '{"latent_dim": 5}',
                "--data",
                data_npz,
            ],
            CheckpointError,
            "shape: net.2.weight",
        ),
        (
            ["m.pt", "--arch", "models:TensorOnlyVAE", "--data", data_npz],
            EncoderOutputError,
            "expected (mu, logvar)",
        ),
        (_nan_data(), EncoderOutputError, "example 123"),
        (["m.pt", "--arch", "models:TupleVAE", "--data", "short.npz"], DataError, "same length"),
        (["m.pt", "--arch", "models:TupleVAE", "--data", "empty.npz"], DataError, "no examples"),
        (["m.pt", "--arch", "models:TupleVAE", "--data", "broken.npy"], DataError, "cannot read"),
    ]
    for args, error, fragment in cases:
        result = run("extract", *args, "-o", "s.h5")
        assert_one_line_error(result, error.exit_code, fragment, "s.h5")
        assert not list(Path(".").glob(".s.h5*"))


def test_missing_output_folder_and_existing_file(tuple_model, data_npz):
    result = run("extract", FIXTURES / "healthy.pt", "-o", "nowhere/s.h5")
    assert_one_line_error(result, OutputError.exit_code, "output folder does not exist")
    Path("s.h5").write_text("old")
    result = run("extract", FIXTURES / "healthy.pt", "-o", "s.h5")
    assert_one_line_error(result, OutputError.exit_code, "--force")
    assert Path("s.h5").read_text() == "old"


def test_debug_shows_the_traceback():
    result = run("extract", "missing.pt", "--data", "sklearn:digits", "--debug")
    assert result.exit_code != 0 and isinstance(result.exception, CheckpointError)


@pytest.mark.parametrize("arg", ["--arch-kwargs", "--input-shape"])
def test_malformed_option_values_are_usage_errors(arg):
    result = run("extract", FIXTURES / "healthy.pt", arg, "{not json")
    assert result.exit_code == 2 and "Traceback" not in result.stderr


def test_extract_help_mentions_the_core_options():
    text = run("extract", "--help").stdout
    for option in ("--arch", "--trust-checkpoint", "--param", "--data", "--batch-size", "--force"):
        assert option in text


# ----------------------------------------------------------------------------- analyze


@pytest.mark.parametrize(
    "name, verdict, informative",
    [
        ("healthy", "healthy", True),
        ("collapsed", "collapsed", False),
        ("partial", "partially_collapsed", True),
    ],
)
def test_analyze_fixtures(name, verdict, informative):
    result = run("analyze", FIXTURES / f"{name}.pt", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["verdict"] == verdict and doc["z_informative"] is informative
    assert Path(f"{name}.report.h5").exists()
    if name == "partial":
        assert doc["collapsed_units"] and doc["active_units"]


def test_analyze_a_stats_file_writes_report_and_plots():
    assert run("extract", FIXTURES / "partial.pt", "-o", "s.h5").exit_code == 0
    result = run(
        "analyze", "s.h5", "-o", "r.h5", "--plots", "figs", "--seed", "3", "--permutations", "10"
    )
    assert result.exit_code == 0, result.stderr
    assert "verdict: partially_collapsed" in result.stdout and "I(x;z) =" in result.stdout
    assert Path("figs/units.png").stat().st_size > 1000
    assert Path("figs/kl_histogram.png").stat().st_size > 1000
    again = run("analyze", "s.h5", "-o", "r2.h5", "--seed", "3", "--json", "--permutations", "10")
    first = run("analyze", "s.h5", "-o", "r3.h5", "--seed", "3", "--json", "--permutations", "10")
    assert again.stdout == first.stdout  # the seed fixes every number


def test_analyze_refuses_to_overwrite():
    Path("r.h5").write_text("keep")
    result = run("analyze", FIXTURES / "healthy.pt", "-o", "r.h5")
    assert_one_line_error(result, OutputError.exit_code, "--force")
    assert Path("r.h5").read_text() == "keep"


def _fake_stats(path, mu, logvar, version=1, fmt="latentprobe-stats"):
    with h5py.File(path, "w") as f:
        f["encoder/mu"], f["encoder/logvar"] = mu, logvar
        f.attrs["latentprobe_format"] = fmt
        f.attrs["schema_version"] = version


def test_analyze_bad_inputs():
    with h5py.File("foreign.h5", "w") as f:
        f["x"] = np.zeros(3)
    _fake_stats("newer.h5", np.zeros((3, 2)), np.zeros((3, 2)), version=7)
    _fake_stats("shapes.h5", np.zeros((3, 2)), np.zeros((3, 4)))
    _fake_stats("empty.h5", np.zeros((0, 2)), np.zeros((0, 2)))
    nan = np.zeros((3, 2))
    nan[1, 1] = np.nan
    _fake_stats("nan.h5", np.zeros((3, 2)), nan)
    assert run("extract", FIXTURES / "healthy.pt", "-o", "good.h5").exit_code == 0
    data = Path("good.h5").read_bytes()
    Path("cut.h5").write_bytes(data[: len(data) // 3])
    cases = [
        (["foreign.h5"], "not written by latentprobe"),
        (["newer.h5"], "newer"),
        (["shapes.h5"], "same shape (N, D), got (3, 2) and (3, 4)"),
        (["empty.h5"], "no examples"),
        (["nan.h5"], "not finite at example 1, unit 1"),
        (["cut.h5"], "truncated or corrupt"),
        (["good.h5", "--only", "mutual_informaton"], "unknown analysis 'mutual_informaton'"),
    ]
    for args, fragment in cases:
        result = run("analyze", *args, "-o", "out.h5")
        assert result.exit_code != 0
        assert_one_line_error(result, result.exit_code, fragment, "out.h5")


def test_tiny_stats_files_are_valid():
    for n in (1, 2):
        rng = np.random.default_rng(n)
        _fake_stats(f"n{n}.h5", rng.normal(size=(n, 3)), rng.normal(size=(n, 3)))
        result = run("analyze", f"n{n}.h5", "--json", "-o", f"r{n}.h5")
        assert result.exit_code == 0, result.stderr
        doc = json.loads(result.stdout)
        assert doc["n_examples"] == n
        assert doc["analyses"]["mutual_information"]["nats"] is not None


# ----------------------------------------------------------------------------- probes


def test_analyze_reports_probes_with_the_documented_keys():
    result = run(
        "analyze", FIXTURES / "healthy.pt", "--json", "--permutations", "20", "--plots", "figs"
    )
    assert result.exit_code == 0, result.stderr
    probe = json.loads(result.stdout)["analyses"]["probes"]["label_sets"]["digit"]
    for key in (
        "accuracy",
        "mean_accuracy",
        "chance",
        "p_value",
        "accuracy_ci95",
        "selectivity",
        "mi_lower_bound_nats",
        "mdl_bits",
        "compression",
        "per_unit_accuracy",
        "per_unit_p_holm",
    ):
        assert key in probe
    assert len(probe["per_unit_accuracy"]) == 4
    assert probe["x_accuracy"] > 0.9  # the inputs were at hand: the reference ran
    assert Path("figs/probes_digit.png").stat().st_size > 1000
    text = run("analyze", "healthy.report.h5", "-o", "again.h5", "--permutations", "20").stdout
    assert "probe digit: accuracy" in text


def test_labels_file_and_its_errors():
    assert run("extract", FIXTURES / "partial.pt", "-o", "s.h5").exit_code == 0
    np.save("parity.npy", np.arange(1797) % 2)
    result = run(
        "analyze",
        "s.h5",
        "--labels",
        "parity.npy",
        "--json",
        "--only",
        "probes",
        "--permutations",
        "10",
        "-o",
        "r.h5",
    )
    assert result.exit_code == 0, result.stderr
    label_sets = json.loads(result.stdout)["analyses"]["probes"]["label_sets"]
    assert set(label_sets) == {"digit", "parity"}
    np.save("short.npy", np.arange(10) % 2)
    result = run("analyze", "s.h5", "--labels", "short.npy", "-o", "r2.h5")
    assert_one_line_error(result, result.exit_code, "10 entries", "r2.h5")


def test_probes_without_labels_is_a_clear_error():
    _fake_stats("nolabels.h5", np.zeros((20, 2)), np.zeros((20, 2)))
    result = run("analyze", "nolabels.h5", "--only", "probes", "-o", "r.h5")
    assert_one_line_error(result, AnalysisError.exit_code, "'probes' needs labels", "r.h5")
    assert run("analyze", "nolabels.h5", "-o", "r.h5").exit_code == 0  # skipped by default


def test_mixture_prior_file_and_warning_lines():
    assert run("extract", FIXTURES / "healthy.pt", "-o", "s.h5").exit_code == 0
    np.savez(
        "prior.npz", weights=[0.5, 0.5], means=[[-1.0] * 4, [1.0] * 4], logvars=np.zeros((2, 4))
    )
    result = run(
        "analyze", "s.h5", "--prior-file", "prior.npz", "--json", "--skip", "probes", "-o", "r.h5"
    )
    assert result.exit_code == 0, result.stderr
    with h5py.File("r.h5") as f:
        assert f["prior/weights"].shape == (2,)
        assert not f["analyses/kl_divergence"].attrs["exact"]
    Path("bad_prior.npz").write_bytes(b"nope")
    bad = run("analyze", "s.h5", "--prior-file", "bad_prior.npz", "-o", "r2.h5")
    assert_one_line_error(bad, bad.exit_code, "prior file", "r2.h5")
    _fake_stats("far.h5", np.arange(40.0)[:, None] * 100, np.zeros((40, 1)))
    near = run("analyze", "far.h5", "-o", "r3.h5", "--skip", "probes")
    assert near.exit_code == 0
    assert any(line.startswith("warning: I(x;z)") for line in near.stderr.splitlines())


def test_encode_function_param_and_input_shape_options(tuple_model, data_npz):
    torch.save(tuple_model.state_dict(), "m.pt")
    base = ["extract", "m.pt", "--arch", "models:TupleVAE", "--data", data_npz, "--quiet"]
    assert run(*base, "-o", "a.h5").exit_code == 0
    result = run(*base, "-o", "b.h5", "--encode", "models:encode_with_function")
    assert result.exit_code == 0, result.stderr
    np.testing.assert_array_equal(read_stats("a.h5").mu, read_stats("b.h5").mu)
    logstd = run(*base, "-o", "c.h5", "--param", "logstd")
    assert logstd.exit_code == 0
    np.testing.assert_allclose(read_stats("c.h5").logvar, 2 * read_stats("a.h5").logvar, rtol=1e-6)
    from models import ImageVAE

    torch.save(ImageVAE().state_dict(), "img.pt")
    image = ["extract", "img.pt", "--arch", "models:ImageVAE", "--data", data_npz]
    assert run(*image, "-o", "d.h5", "--input-shape", "1,2,3").exit_code == 0
    flat = run(*image, "-o", "e.h5")  # forgot --input-shape: the model's own error, one line
    assert_one_line_error(flat, EncoderOutputError.exit_code, "expected (batch, 1, 2, 3)", "e.h5")
    assert "--input-shape" in flat.stderr


def test_torch_dataset_source_with_workers(tuple_model):
    Path("workerdata.py").write_text(
        "import torch\n"
        "class D(torch.utils.data.Dataset):\n"
        "    def __len__(self): return 50\n"
        "    def __getitem__(self, i): return torch.full((6,), float(i)), i % 3\n"
        "def load():\n    return D()\n"
    )
    torch.save(tuple_model.state_dict(), "m.pt")
    result = run(
        "extract",
        "m.pt",
        "--arch",
        "models:TupleVAE",
        "--data",
        "workerdata:load",
        "--num-workers",
        "2",
        "--batch-size",
        "8",
        "-o",
        "s.h5",
    )
    assert result.exit_code == 0, result.stderr
    stats = read_stats("s.h5")
    assert stats.n_examples == 50 and stats.labels["y"].tolist() == [i % 3 for i in range(50)]


def test_inputs_are_read_only_when_an_analysis_uses_them(monkeypatch):
    """The probes and the decoder's analyses use x; the others do not."""
    import latentprobe.workflow as workflow

    calls = []
    real = workflow.collect_inputs
    monkeypatch.setattr(workflow, "collect_inputs", lambda s, n: calls.append(1) or real(s, n))
    skipped = "probes,distortion,log_likelihood"
    skip = run("analyze", FIXTURES / "healthy.pt", "--skip", skipped, "-o", "a.h5")
    assert skip.exit_code == 0 and calls == []
    probed = run(
        "analyze", FIXTURES / "healthy.pt", "--only", "probes", "--permutations", "5", "-o", "b.h5"
    )
    assert probed.exit_code == 0 and calls == [1]


def test_a_std_read_as_a_log_variance_is_flagged_and_the_right_param_gives_the_rate(
    data_npz,
):
    """Issue 11: a softplus std read with the default --param logvar gave plausible, wrong
    numbers silently; now a one-line warning names --param, and with --param std the rate
    equals a direct computation from the model."""
    torch.manual_seed(0)
    model = SoftplusStdVAE().eval()
    torch.save(model.state_dict(), "m.pt")
    common = ["m.pt", "--arch", "models:SoftplusStdVAE", "--data", data_npz, "--skip", "probes"]
    wrong = run("analyze", *common, "--json", "-o", "wrong.h5")
    assert wrong.exit_code == 0, wrong.stderr
    warned = [line for line in wrong.stderr.splitlines() if "check --param" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: ")
    right = run("analyze", *common, "--param", "std", "-o", "right.h5", "--quiet")
    assert right.exit_code == 0 and "check --param" not in right.stderr + right.stdout
    assert "read as sigma (--param std)" in right.stdout
    x = torch.from_numpy(np.load(data_npz)["x"])
    with torch.no_grad():
        mu, std = model.encode(x)
    rate = (0.5 * (std**2 + mu**2 - 1) - torch.log(std)).sum(1).mean().item()
    with h5py.File("right.h5") as f:
        assert f["analyses/kl_divergence"].attrs["total_rate"] == pytest.approx(rate, rel=1e-5)


def test_a_lightning_checkpoint_says_where_in_training_it_was_saved(tuple_model, data_npz):
    """A stale last.ckpt is a common mistake: its epoch and global step are in the header
    and the provenance (issue 11)."""
    sd = {f"model.{k}": v for k, v in tuple_model.state_dict().items()}
    torch.save({"state_dict": sd, "epoch": 3, "global_step": np.int64(1200)}, "last.ckpt")
    result = run(
        "analyze",
        "last.ckpt",
        "--arch",
        "models:TupleVAE",
        "--data",
        data_npz,
        "--skip",
        "probes",
        "-o",
        "r.h5",
        "--quiet",
    )
    assert result.exit_code == 0, result.stderr
    assert "3 latent units; epoch 3, global step 1,200; all figures in nats" in result.stdout
    assert read_stats("r.h5").provenance["checkpoint_training"] == {
        "epoch": 3,
        "global_step": 1200,
    }


def encoded(model, data_npz) -> tuple[np.ndarray, np.ndarray]:
    """(mu, logvar) of ``model.encode`` on the data file's x, computed directly."""
    x = torch.from_numpy(np.load(data_npz)["x"])
    with torch.no_grad():
        return tuple(t.numpy() for t in model.encode(x))


def test_state_dict_key_picks_the_weights(tuple_model, data_npz):
    sd = tuple_model.state_dict()
    torch.save({"model": {k: v + 1 for k, v in sd.items()}, "ema": sd}, "two.pt")
    common = ["two.pt", "--arch", "models:TupleVAE", "--data", data_npz, "-o", "s.h5"]
    assert_one_line_error(run("extract", *common), 4, "--state-dict-key", "s.h5")
    result = run("extract", *common, "--state-dict-key", "ema", "--quiet")
    assert result.exit_code == 0, result.stderr
    np.testing.assert_allclose(read_stats("s.h5").mu, encoded(tuple_model, data_npz)[0], rtol=1e-6)


def test_encode_method_names_the_method_that_gives_the_posterior(tuple_model, data_npz):
    torch.save(tuple_model.state_dict(), "m.pt")
    common = ["m.pt", "--arch", "models:SampleOnlyEncodeVAE", "--data", data_npz, "-o", "s.h5"]
    assert_one_line_error(run("extract", *common), 6, "encoder returned Tensor", "s.h5")
    result = run("extract", *common, "--encode-method", "encode_stats", "--quiet")
    assert result.exit_code == 0, result.stderr
    expected = encoded(tuple_model, data_npz)[1]
    np.testing.assert_allclose(read_stats("s.h5").logvar, expected, rtol=1e-6)
    wrong = run("extract", *common[:-1], "t.h5", "--encode-method", "decode")
    assert_one_line_error(wrong, 5, "no public method 'decode'", "t.h5")


@pytest.mark.parametrize("config", ["json", "yaml"])
def test_a_factory_function_with_arguments_from_a_config_file(config, data_npz):
    """Issue 11: --arch names a factory function; --arch-kwargs @file reads JSON or YAML."""
    torch.manual_seed(3)
    model = TupleVAE(input_dim=6, latent_dim=2).eval()
    torch.save(model.state_dict(), "m.pt")
    text = '{"latent_dim": 2}' if config == "json" else "latent_dim: 2\n"
    Path(f"c.{config}").write_text(text)
    result = run(
        "extract",
        "m.pt",
        "--arch",
        "models:build_tuple_vae",
        "--arch-kwargs",
        f"@c.{config}",
        "--data",
        data_npz,
        "-o",
        "s.h5",
        "--quiet",
    )
    assert result.exit_code == 0, result.stderr
    assert read_stats("s.h5").mu.shape == (250, 2)


def test_a_config_file_that_is_not_a_mapping_is_a_usage_error(data_npz):
    Path("c.yaml").write_text("- 1\n- 2\n")
    result = run(
        "extract",
        "m.pt",
        "--arch",
        "models:TupleVAE",
        "--arch-kwargs",
        "@c.yaml",
        "--data",
        data_npz,
        "-o",
        "s.h5",
    )
    assert result.exit_code == 2 and "c.yaml must hold a mapping" in result.stderr


def test_a_disentangling_vae_folder_reads_its_specs(data_npz):
    torch.manual_seed(4)
    model = SpecsVAE(img_size=(1, 2, 3), latent_dim=4).eval()
    Path("run").mkdir()
    torch.save(model.state_dict(), "run/model.pt")
    specs = {"img_size": [1, 2, 3], "latent_dim": 4, "model_type": "Burgess", "lr": 5e-4}
    Path("run/specs.json").write_text(json.dumps(specs))
    result = run("extract", "run", "--arch", "models:SpecsVAE", "--data", data_npz, "-o", "s.h5")
    assert result.exit_code == 0, result.stderr
    stats = read_stats("s.h5")
    np.testing.assert_allclose(stats.mu, encoded(model, data_npz)[0], rtol=1e-6)
    assert stats.provenance["checkpoint_format"] == "specs-folder"


def test_token_ids_reach_an_embedding_as_integers_and_are_not_probed_as_numbers():
    """Issue 11: token ids stay int64 (nn.Embedding needs them); the x reference probe and
    the control task are left out with a note instead of treating ids as numbers."""
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 20, size=(120, 7))
    np.savez("text.npz", x=tokens, y=tokens[:, 0] % 2)
    torch.manual_seed(0)
    model = TokenVAE().eval()
    torch.save(model.state_dict(), "t.pt")
    common = ["t.pt", "--arch", "models:TokenVAE", "--data", "text.npz"]
    result = run("analyze", *common, "--permutations", "20", "--json", "-o", "r.h5")
    assert result.exit_code == 0, result.stderr
    with torch.no_grad():
        expected = model.encode(torch.from_numpy(tokens))[0].numpy()
    np.testing.assert_allclose(read_stats("r.h5").mu, expected, rtol=1e-6)
    probes = json.loads(result.stdout)["analyses"]["probes"]["label_sets"]["y"]
    assert any("token ids" in note for note in probes["notes"])
    assert probes["x_accuracy"] is None or math.isnan(probes["x_accuracy"])


def test_pixels_stay_floats_and_an_integer_misfit_names_the_cause(tuple_model):
    """8-bit pixels reach a float encoder as float32; 64-bit integers fed to it give an
    error that says they were passed as token ids."""
    np.save("pixels.npy", np.random.default_rng(1).integers(0, 255, (30, 6), dtype=np.uint8))
    np.save("wide.npy", np.random.default_rng(1).integers(0, 255, (30, 6), dtype=np.int64))
    torch.save(tuple_model.state_dict(), "m.pt")
    ok = run("extract", "m.pt", "--arch", "models:TupleVAE", "--data", "pixels.npy", "-o", "a.h5")
    assert ok.exit_code == 0, ok.stderr
    bad = run("extract", "m.pt", "--arch", "models:TupleVAE", "--data", "wide.npy", "-o", "b.h5")
    assert_one_line_error(bad, 6, "passed as int64 token ids", "b.h5")


def test_arrays_beside_x_reach_the_encoder(tmp_path):
    """Issue 11: padded token sequences with their lengths; encode(x, lengths) gets both, an
    --encode function gets the batch as a mapping; without the option the error names it."""
    rng = np.random.default_rng(2)
    lengths = rng.integers(1, 9, size=60)
    tokens = rng.integers(1, 20, size=(60, 8)) * (np.arange(8)[None, :] < lengths[:, None])
    np.savez("seq.npz", x=tokens, lengths=lengths, y=lengths % 2)
    torch.manual_seed(0)
    model = LengthsTokenVAE().eval()
    torch.save(model.state_dict(), "t.pt")
    common = ["t.pt", "--arch", "models:LengthsTokenVAE", "--data", "seq.npz"]
    missing = run("extract", *common, "-o", "a.h5")
    assert_one_line_error(missing, 6, "--encoder-inputs", "a.h5")
    with torch.no_grad():
        expected = model.encode(torch.from_numpy(tokens), torch.from_numpy(lengths))[0].numpy()
    ways = ([], ["--encode", "models:encode_batch_mapping"], ["--encode-method", "encode"])
    for number, extra in enumerate(ways):
        out = f"s{number}.h5"
        result = run("extract", *common, "--encoder-inputs", "lengths", *extra, "-o", out)
        assert result.exit_code == 0, result.stderr
        np.testing.assert_allclose(read_stats(out).mu, expected, rtol=1e-6)
    assert set(read_stats("s0.h5").labels) == {"y"}  # lengths are an input, not a label set
    wrong = run("extract", *common, "--encoder-inputs", "mask", "-o", "b.h5")
    assert_one_line_error(wrong, 7, "no array 'mask'", "b.h5")


def test_arrays_beside_x_need_an_npz(tuple_model):
    np.save("x.npy", np.zeros((5, 6), np.float32))
    torch.save(tuple_model.state_dict(), "m.pt")
    args = ["m.pt", "--arch", "models:TupleVAE", "--data", "x.npy", "--encoder-inputs", "a"]
    assert_one_line_error(run("extract", *args, "-o", "s.h5"), 7, "from an .npz", "s.h5")
