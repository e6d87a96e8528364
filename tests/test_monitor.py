"""The training-time monitor (latentprobe.Monitor) in a plain loop, and the Lightning
callback under a real Trainer whose logged figures match an offline analysis of the
checkpoints it saved."""

from __future__ import annotations

import csv
import importlib
import json
import struct
import time
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from latentprobe.cli.main import main
from models import GainEncoder

import latentprobe
from latentprobe import store, trajectory
from latentprobe.errors import OptionsError
from latentprobe.monitor import WALL_PER_MODELLED

mi = importlib.import_module("latentprobe.analyzers.mutual_information")


def test_a_plain_loop_gets_figures_and_a_trajectory(tmp_path):
    x = np.random.default_rng(0).normal(size=(600, 4)).astype(np.float32)
    monitor = latentprobe.Monitor(x, every=10, output=tmp_path / "t.h5", examples=300)
    model = GainEncoder().train()
    seen = []
    for step, gains in enumerate([[0.9] * 4] * 10 + [[0.9, 0.9, 0.0, 0.0]] * 11):
        with torch.no_grad():
            model.gain.copy_(torch.tensor(gains))
        found = monitor.update(model, step)
        seen.append(found is not None)
        assert model.training  # put back in the mode it was in
    assert seen.count(True) == 3  # steps 0, 10, 20
    series = store.read_trajectory_file(tmp_path / "t.h5")
    assert series.steps.tolist() == [0, 10, 20]
    assert series.collapse_step == [None, None, 10, 10]
    assert found["collapsed_units"] == 2 and found["active_units"] == 2
    assert found["mi_ci95_low"] <= found["mi"] <= found["mi_ci95_high"]
    assert series.n_examples.tolist() == [300, 300, 300]


def test_the_same_bytes_in_another_shape_are_other_held_out_examples(tmp_path):
    """The held-out hash covers dtype and shape: 300 x 4 values read as 300 x 2 x 2 are other
    inputs to an encoder, so a series of the one is not continued with the other."""
    x = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    flat = latentprobe.Monitor(x, examples=200).settings["held_out_sha256"]
    square = latentprobe.Monitor(x.reshape(300, 2, 2), examples=200).settings["held_out_sha256"]
    wider = latentprobe.Monitor(x.astype(np.float64), examples=200).settings["held_out_sha256"]
    assert len({flat, square, wider}) == 3
    assert flat == latentprobe.Monitor(x.copy(), examples=200).settings["held_out_sha256"]


def _gains(model, gains):
    with torch.no_grad():
        model.gain.copy_(torch.tensor(gains))
    return model


def test_a_resumed_run_continues_the_series_and_nothing_else_is_overwritten(tmp_path):
    x = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    out = tmp_path / "t.h5"
    first = latentprobe.Monitor(x, every=10, output=out, examples=200)
    for step in (0, 10, 20):
        first.update(_gains(GainEncoder(), [0.9] * 4), step)
    # training resumed from the checkpoint of step 10: steps 20 on are done again
    second = latentprobe.Monitor(x, every=10, output=out, examples=200)
    for step in (20, 30):
        second.update(_gains(GainEncoder(), [0.9, 0.9, 0.0, 0.0]), step)
    series = store.read_trajectory_file(out)
    assert series.steps.tolist() == [0, 10, 20, 30]
    assert series.counts["collapsed"].tolist() == [0, 0, 2, 2]  # step 20 from the new run
    assert series.collapse_step == [None, None, 20, 20]
    assert series.per_unit["kl"]["values"].shape == (4, 4)
    before = out.read_bytes()
    with pytest.raises(OptionsError, match="other seed, held_out_sha256"):
        latentprobe.Monitor(x, output=out, examples=200, seed=1)
    other = tmp_path / "notes.h5"
    other.write_bytes(b"not a trajectory")
    with pytest.raises(OptionsError, match="will not overwrite it"):
        latentprobe.Monitor(x, output=other)
    assert out.read_bytes() == before and other.read_bytes() == b"not a trajectory"
    tracked = tmp_path / "tracked.h5"  # a series, but not a Monitor's (track writes these)
    store.write_trajectory_file(tracked, trajectory.build(first.points))
    with pytest.raises(OptionsError, match="is not a Monitor's series"):
        latentprobe.Monitor(x, output=tracked, examples=200)


def test_an_update_leaves_the_training_loops_random_numbers_alone():
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    monitor = latentprobe.Monitor(x, max_points=100)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    monitor.update(GainEncoder(), 0)
    assert torch.equal(torch.rand(3), expected)


class _Linear(torch.nn.Module):
    def __init__(self, features: int, units: int, sleep: float = 0.0):
        super().__init__()
        self.layer, self.sleep = torch.nn.Linear(features, 2 * units), sleep

    def encode(self, x):
        time.sleep(self.sleep)
        return self.layer(x).chunk(2, dim=-1)


def test_the_time_budget_sets_the_evaluation_points(tmp_path):
    x = np.random.default_rng(0).normal(size=(4000, 8)).astype(np.float32)
    model = _Linear(8, 32)
    used = {}
    for budget in (0.2, 2.0):
        monitor = latentprobe.Monitor(x, examples=4000, budget=budget)
        options = monitor.points_for(32)
        # the cost model's work for the points fits the budget (half each), overheads counted
        joint = options.max_points * 4000 * mi.joint_pair_ns(32) / 1e9
        unit = options.per_unit_max_points * 4000 * 32 * mi.UNIT_TRIPLE_NS / 1e9
        assert joint * WALL_PER_MODELLED["joint"] <= budget / 2 * 1.001
        assert unit * WALL_PER_MODELLED["per_unit"] <= budget / 2 * 1.001
        monitor.update(model, 0)
        monitor.update(model, 1)
        results = [p.report.results["mutual_information"] for p in monitor.points]
        assert {r.n_points for r in results} == {options.max_points}  # the same every call
        assert {r.n_points_per_unit for r in results} == {options.per_unit_max_points}
        used[budget] = (options.max_points, options.per_unit_max_points, results[0].stderr)
    assert used[0.2][0] < used[2.0][0] and used[0.2][1] < used[2.0][1]
    assert used[0.2][2] > used[2.0][2]  # fewer points, a wider interval
    again = latentprobe.Monitor(x, examples=4000, budget=2.0)
    again.update(model, 0)
    assert again.points[0].report.results["mutual_information"].stderr == used[2.0][2]


def test_an_update_far_over_its_budget_warns_once():
    x = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    monitor = latentprobe.Monitor(x, budget=0.05)
    slow = _Linear(4, 2, sleep=0.2)
    with pytest.warns(UserWarning, match="over twice its budget of 0.05 s"):
        monitor.update(slow, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monitor.update(slow, 1)  # said once


def test_the_monitor_refuses_bad_arguments():
    with pytest.raises(OptionsError, match="every"):
        latentprobe.Monitor(np.zeros((10, 3)), every=0)
    with pytest.raises(OptionsError, match="budget"):
        latentprobe.Monitor(np.zeros((10, 3)), budget=0)
    with pytest.raises(OptionsError, match="held-out inputs"):
        latentprobe.Monitor(np.zeros(10))


def test_the_lightning_callback_logs_what_an_offline_analysis_finds(tmp_path):
    L = pytest.importorskip("lightning")
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
    from lightning_models import LitVAEWithValidation
    from sklearn.datasets import load_digits

    x = (load_digits().data / 16.0).astype(np.float32)
    train, held_out = x[:1400], x[1400:]
    np.save(tmp_path / "held_out.npy", held_out)
    loader = lambda a, shuffle: torch.utils.data.DataLoader(  # noqa: E731
        torch.utils.data.TensorDataset(torch.as_tensor(a)), batch_size=100, shuffle=shuffle
    )
    torch.manual_seed(0)
    callback = latentprobe.LatentprobeCallback(held_out, output=tmp_path / "t.h5", examples=397)
    saved = ModelCheckpoint(dirpath=tmp_path / "ckpts", save_top_k=-1, every_n_epochs=1)
    trainer = L.Trainer(
        max_epochs=3,
        accelerator="cpu",
        devices=1,
        logger=[
            CSVLogger(tmp_path / "logs", name="run"),
            TensorBoardLogger(tmp_path / "tb", name="run"),
        ],
        callbacks=[callback, saved],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(LitVAEWithValidation(), loader(train, True), loader(held_out, False))
    metrics = list(csv.DictReader(open(next((tmp_path / "logs").rglob("metrics.csv")))))
    logged = [float(r["latentprobe/mi"]) for r in metrics if r.get("latentprobe/mi")]
    assert len(logged) == 3  # one per epoch: at least three epochs, not fast_dev_run
    events = _tensorboard_scalars(next((tmp_path / "tb").rglob("events.out.tfevents.*")))
    np.testing.assert_allclose(events["latentprobe/mi"], logged, rtol=1e-6)
    assert set(events) >= {f"latentprobe/{k}" for k in ("rate", "active_units", "mi_ci95_low")}
    checkpoints = sorted((tmp_path / "ckpts").glob("*.ckpt"), key=lambda p: p.stat().st_mtime)
    assert len(checkpoints) == 3
    series = store.read_trajectory_file(tmp_path / "t.h5")
    for value, ckpt, low, high in zip(
        logged,
        checkpoints,
        series.estimates["mi"]["low"],
        series.estimates["mi"]["high"],
        strict=True,
    ):
        out = CliRunner().invoke(
            main,
            [
                "analyze",
                str(ckpt),
                "--arch",
                "lightning_models:LitVAEWithValidation",
                "--data",
                str(tmp_path / "held_out.npy"),
                "--only",
                "mutual_information",
                "--max-points",
                "1000",
                "--json",
                "-o",
                str(tmp_path / f"{ckpt.stem}.h5"),
            ],
        )
        assert out.exit_code == 0, out.output
        offline = json.loads(out.stdout)
        mi = offline["analyses"]["mutual_information"]
        # the same examples and seed: the two estimates agree within both intervals
        assert mi["ci95_low"] <= value <= mi["ci95_high"]
        assert low <= mi["nats"] <= high


def _tensorboard_scalars(path) -> dict[str, list[float]]:
    """The scalars of a TensorBoard event file by tag, in order: TFRecord framing (a
    little-endian uint64 length, its CRC, the bytes, their CRC) around Event protobufs."""
    from tensorboardX.proto import event_pb2

    found: dict[str, list[float]] = {}
    data, at = path.read_bytes(), 0
    while at < len(data):
        (length,) = struct.unpack_from("<Q", data, at)
        event = event_pb2.Event.FromString(data[at + 12 : at + 12 + length])
        at += 12 + length + 4
        for value in event.summary.value:
            found.setdefault(value.tag, []).append(value.simple_value)
    return found
