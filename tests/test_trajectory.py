"""Trajectories (latentprobe.trajectory, latentprobe track): a synthetic series whose units
are switched off at known steps, the ordering of checkpoints, and resuming after a kill."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from latentprobe.cli.main import main

from latentprobe import store, trajectory

TESTS = Path(__file__).resolve().parent
#: Gains of the four units at steps 0, 100, ..., 400 (0: the unit is exactly the prior).
GAINS = {
    0: [0.9, 0.9, 0.9, 0.9],
    100: [0.9, 0.9, 0.0, 0.0],
    200: [0.9, 0.9, 0.0, 0.9],
    300: [0.9, 0.0, 0.0, 0.0],
    400: [0.9, 0.0, 0.0, 0.0],
}
#: unit 0 never collapses; unit 3 collapses at 100, comes back at 200, collapses for good at 300
COLLAPSED_AT = [None, 300, 100, 300]


def _series(folder: Path) -> Path:
    """Lightning-style checkpoints, saved in shuffled order under shuffled names."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    np.save(folder.parent / "x.npy", rng.normal(size=(400, 4)).astype(np.float32))
    for i, step in enumerate([300, 0, 400, 100, 200]):
        state = {"model.gain": torch.tensor(GAINS[step])}
        ckpt = {"state_dict": state, "global_step": step, "epoch": step // 100}
        torch.save(ckpt, folder / f"run-{i}.ckpt")  # names do not give the order
    return folder


def _track(folder: Path, output: str, *extra: str) -> list[str]:
    return [
        "track",
        str(folder),
        "--arch",
        "models:GainEncoder",
        "--data",
        str(folder.parent / "x.npy"),
        "--skip",
        "probes",
        "--max-points",
        "400",
        "-o",
        output,
        *extra,
    ]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    root = tmp_path_factory.mktemp("track")
    folder = _series(root / "ckpts")
    out = CliRunner().invoke(main, _track(folder, str(root / "t.h5")))
    assert out.exit_code == 0, out.output
    return root, out.output


def test_the_collapse_step_of_each_unit_is_found_exactly(tracked):
    root, output = tracked
    with h5py.File(root / "t.h5") as f:
        assert f["step"][()].tolist() == [0, 100, 200, 300, 400]  # by global_step
        assert f["checkpoints/epoch"][()].tolist() == [0, 1, 2, 3, 4]
        status = f["per_unit/status"].asstr()[()]
        assert status.shape == (5, 4)
        expected = [-1 if s is None else s for s in COLLAPSED_AT]
        assert f["derived/collapse_step"][()].tolist() == expected
        assert f["counts/collapsed"][()].tolist() == [0, 2, 1, 3, 3]
        # I(x;z) falls as units switch off: 4, 2, 3, 1, 1 informative units
        mi = f["estimates/mi/value"][()]
        assert np.argmax(mi) == 0 and mi[3] < mi[2] < mi[0]
        assert f["estimates/mi/value"].attrs["units"] == "nats"
        kl = f["per_unit/kl"][()]
        np.testing.assert_allclose(kl[:, 2][1:], 0.0, atol=1e-12)  # exactly the prior
    assert (
        "unit 1 at training step 300, unit 2 at training step 100, unit 3 at training step 300"
        in output
    )
    assert "I(x;z) peaked at training step 0" in output
    assert not list(root.glob(".t.h5.partial"))  # the partial series is gone


def test_show_reads_the_trajectory_back(tracked):
    root, output = tracked
    out = CliRunner().invoke(main, ["show", str(root / "t.h5")])
    assert out.exit_code == 0, out.output
    assert "unit 2 at training step 100" in out.output and "command: latentprobe" in out.output
    document = json.loads(CliRunner().invoke(main, ["show", str(root / "t.h5"), "--json"]).output)
    assert document["steps"] == [0, 100, 200, 300, 400]
    assert document["collapse_step"] == COLLAPSED_AT
    assert document["provenance"]["latentprobe_version"]
    series = store.read_trajectory_file(root / "t.h5")
    assert series.collapse_step == COLLAPSED_AT and series.peak_step == 0
    assert series.status.shape == (5, 4) and series.per_unit["kl"]["title"] == "KL"
    refused = CliRunner().invoke(main, ["export", str(root / "t.h5")])
    assert refused.exit_code == 8 and "is a trajectory" in refused.output
    assert refused.output.count("\n") == 1


def test_the_trajectory_figures(tracked, tmp_path):
    from matplotlib.figure import Figure

    from latentprobe.outputs import trajectory_figures

    root, _ = tracked
    series = store.read_trajectory_file(root / "t.h5")
    drawers = trajectory_figures.drawers(series)
    assert set(drawers) == {"trajectory", "unit_kl"}
    fig = Figure()
    drawers["trajectory"](fig)
    mi_axis, rate_axis, counts_axis = fig.axes
    assert mi_axis.get_shared_x_axes().joined(mi_axis, counts_axis)
    (mi_line, ceiling) = mi_axis.lines
    assert mi_line.get_xdata().tolist() == [0, 100, 200, 300, 400]
    np.testing.assert_allclose(ceiling.get_ydata(), np.log(400))
    assert len(mi_axis.collections) == 1  # the 95% band
    counts = {ln.get_label(): ln.get_ydata().tolist() for ln in counts_axis.lines}
    assert counts["collapsed"] == [0, 2, 1, 3, 3]
    fig = Figure()
    drawers["unit_kl"](fig)
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (4, 5)  # unit x step
    crossed = ax.collections[0].get_offsets().tolist()
    assert sorted(map(tuple, crossed)) == sorted(
        (t, u) for t in range(5) for u in range(4) if series.status[t, u] == "collapsed"
    )
    out = CliRunner().invoke(
        main, ["plot", str(root / "t.h5"), "-o", str(tmp_path), "--format", "svg"]
    )
    assert out.exit_code == 0, out.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trajectory.svg", "unit_kl.svg"]


def test_the_trajectory_opens_in_xarray_on_a_step_dimension(tracked):
    xarray = pytest.importorskip("xarray")
    root, _ = tracked
    with xarray.open_dataset(root / "t.h5", engine="h5netcdf", group="per_unit") as ds:
        assert ds["kl"].dims == ("step", "unit") and ds.sizes["step"] == 5
    with xarray.open_dataset(root / "t.h5", engine="h5netcdf") as ds:
        assert ds["step"].values.tolist() == [0, 100, 200, 300, 400]  # the scale: the steps


@pytest.mark.parametrize(
    "name, step, epoch",
    [
        ("epoch=3-step=1000.ckpt", 1000, 3),
        ("epoch=12.ckpt", None, 12),
        ("ckpt_0500.pt", 500, None),
        ("last.ckpt", None, None),
    ],
)
def test_numbers_in_names(name, step, epoch):
    assert trajectory.numbers_in_name(Path(name)) == (step, epoch)


def _point(name, step=None, epoch=None):
    return trajectory.Point(Path(name), step, epoch, "", None)


def test_ordering_by_step_then_name_and_the_overrides(tmp_path):
    points = [
        _point("epoch=3-step=1000.ckpt", 1000, 3),
        _point("epoch=0-step=10.ckpt", 10, 0),
        _point("last.ckpt"),
        _point("epoch=1-step=200.ckpt", 200, 1),
    ]
    by_step = [p.path.name for p in trajectory.ordered(points)]
    assert by_step == [
        "epoch=0-step=10.ckpt",
        "epoch=1-step=200.ckpt",
        "epoch=3-step=1000.ckpt",
        "last.ckpt",  # no step: last
    ]
    assert [p.path.name for p in trajectory.ordered(points, "given")] == [
        p.path.name for p in points
    ]
    assert trajectory.ordered(points, "names")[0].path.name == "epoch=0-step=10.ckpt"


def test_collapse_steps_against_a_loop():
    rng = np.random.default_rng(1)
    status = rng.choice(["active", "collapsed"], size=(12, 9))
    steps = np.arange(12) * 10
    found = trajectory.collapse_steps(steps, status)
    for unit in range(9):
        column = list(status[:, unit])
        expected = None
        for t in range(12):
            if all(s == "collapsed" for s in column[t:]):
                expected = int(steps[t])
                break
        assert found[unit] == expected


KILL_AFTER_ONE = """
import sys, os
sys.path.insert(0, {tests!r})
import latentprobe.workflow as workflow
from latentprobe.report import Report
original = Report.write
def write_then_die(self, path, **kw):
    out = original(self, path, **kw)
    if len(os.listdir(os.path.dirname(path))) >= 2:
        os.kill(os.getpid(), 9)  # SIGKILL once two checkpoints are done
    return out
Report.write = write_then_die
from latentprobe.cli.main import main
main({args!r})
"""


def test_a_run_killed_midway_resumes_to_the_same_file(tmp_path, monkeypatch):
    folder = _series(tmp_path / "ckpts")
    monkeypatch.chdir(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            KILL_AFTER_ONE.format(tests=str(TESTS), args=_track(folder, "r.h5")),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp_path / "r.h5").exists()
    kept = list((tmp_path / ".r.h5.partial").glob("*.report.h5"))
    assert len(kept) == 2
    cli = Path(sys.executable).parent / "latentprobe"
    for output in ("r.h5", "w.h5"):  # resumed, then a whole run
        done = subprocess.run(
            [str(cli), *_track(folder, output)], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr
    assert not (tmp_path / ".r.h5.partial").exists()
    assert _contents(tmp_path / "r.h5") == _contents(tmp_path / "w.h5")


def _contents(path: Path) -> dict:
    """Every dataset of the file (references and the provenance's times aside)."""
    out = {}
    with h5py.File(path) as f:

        def keep(name, obj):
            if isinstance(obj, h5py.Dataset):
                value = obj[()]
                out[name] = (
                    value.tolist() if value.dtype.kind != "O" else [str(v) for v in value.ravel()]
                )

        f.visititems(keep)
    return json.loads(json.dumps(out, default=str))


def _analyze_one(folder: Path):
    from latentprobe import workflow
    from latentprobe.workflow import DataSpec, ModelSpec

    def analyze_one(path):
        model = ModelSpec(Path(path), arch="models:GainEncoder")
        return workflow.analyze_source(
            path, model=model, data_spec=DataSpec(str(folder.parent / "x.npy")), skip=("probes",)
        )

    return analyze_one


def test_a_restarted_series_analyses_only_what_was_not_done(tmp_path):
    from latentprobe import workflow

    folder = _series(tmp_path / "ckpts")
    analyze_one, calls = _analyze_one(folder), []

    def failing_after_two(path):
        if len(calls) == 2:
            raise KeyboardInterrupt  # stopped midway
        calls.append(path)
        return analyze_one(path)

    with pytest.raises(KeyboardInterrupt):
        workflow.track([folder], tmp_path / "t.h5", failing_after_two, arguments="a")
    again = []
    counted = lambda path: again.append(path) or analyze_one(path)  # noqa: E731
    series = workflow.track([folder], tmp_path / "t.h5", counted, arguments="a")
    assert len(again) == 3 and not set(again) & set(calls)  # the two kept were not redone
    assert series.collapse_step == COLLAPSED_AT
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        workflow.track([folder], tmp_path / "u.h5", failing_after_two, arguments="a")
    other = []
    workflow.track(  # the same output, other arguments: nothing kept applies
        [folder], tmp_path / "u.h5", lambda p: other.append(p) or analyze_one(p), arguments="b"
    )
    assert len(other) == 5


def test_a_copy_of_a_checkpoint_is_left_out_with_a_warning(tmp_path):
    import shutil

    from latentprobe import workflow

    folder = _series(tmp_path / "ckpts")
    shutil.copy(folder / "run-2.ckpt", folder / "last.ckpt")  # Lightning's last.ckpt
    with pytest.warns(UserWarning, match="same bytes"):
        series = workflow.track([folder], tmp_path / "t.h5", _analyze_one(folder), jobs=2)
    assert series.steps.tolist() == [0, 100, 200, 300, 400]


def test_a_series_without_the_mutual_information_summarises(tmp_path):
    from latentprobe import workflow
    from latentprobe.workflow import DataSpec, ModelSpec

    folder = _series(tmp_path / "ckpts")

    def kl_only(path):
        model = ModelSpec(Path(path), arch="models:GainEncoder")
        data = DataSpec(str(folder.parent / "x.npy"))
        return workflow.analyze_source(path, model=model, data_spec=data, only=("kl_divergence",))

    series = workflow.track([folder / "run-1.ckpt"], tmp_path / "t.h5", kl_only)
    assert series.peak_step is None
    assert trajectory.summary_lines(series)[0].startswith("trajectory: 1 checkpoints")


def test_checkpoints_in_parallel_give_the_same_series(tmp_path):
    from latentprobe import workflow

    folder = _series(tmp_path / "ckpts")
    one = workflow.track([folder], tmp_path / "a.h5", _analyze_one(folder), jobs=1)
    two = workflow.track([folder], tmp_path / "b.h5", _analyze_one(folder), jobs=2)
    assert one.steps.tolist() == two.steps.tolist()
    np.testing.assert_array_equal(one.estimates["mi"]["value"], two.estimates["mi"]["value"])
    np.testing.assert_array_equal(one.per_unit["kl"]["values"], two.per_unit["kl"]["values"])


def test_the_data_is_read_and_hashed_once_for_the_series(tmp_path, monkeypatch):
    from latentprobe import data

    folder = _series(tmp_path / "ckpts")
    x = folder.parent / "x.npz"
    np.savez(x, x=np.load(folder.parent / "x.npy"))
    opened, hashed = [], []
    open_data, sha256_file = data.open_data, data.sha256_file
    monkeypatch.setattr(
        data, "open_data", lambda spec, **kw: opened.append(spec) or open_data(spec, **kw)
    )
    monkeypatch.setattr(
        data, "sha256_file", lambda path: hashed.append(Path(path)) or sha256_file(path)
    )
    args = _track(folder, str(tmp_path / "t.h5"))
    args[args.index("--data") + 1] = str(x)
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    assert [str(s) for s in opened if not isinstance(s, data.DataSource)] == [str(x)]
    assert hashed.count(x) == 1
    assert len(hashed) == 1 + 5  # the data, then each checkpoint once
    series = store.read_trajectory_file(tmp_path / "t.h5")
    assert series.provenance["data_sha256"] == {str(x): sha256_file(x)}


def _reported(step=None, epoch=None):
    """A report whose provenance records this training step and epoch."""
    from models import GainEncoder

    from latentprobe import analyze, extract

    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    stats = extract(GainEncoder(), x)
    training = {k: v for k, v in (("global_step", step), ("epoch", epoch)) if v is not None}
    provenance = {**stats.provenance, "checkpoint_training": training}
    stats = dataclasses.replace(stats, provenance=provenance)
    return analyze(stats, only=("kl_divergence",))


def test_the_axis_is_steps_epochs_or_positions_never_a_mix(tmp_path):
    report_of = {
        (10, 0): _reported(10, 0),
        (20, 1): _reported(20, 1),
        (None, 2): _reported(None, 2),
        (None, None): _reported(),
    }

    def series(*keys):
        points = [
            trajectory.Point.of(Path(f"{'abc'[i]}.ckpt"), report_of[k]) for i, k in enumerate(keys)
        ]
        return trajectory.build(trajectory.ordered(points))

    steps = series((20, 1), (10, 0))
    assert (steps.axis, steps.steps.tolist()) == ("step", [10, 20])
    epochs = series((20, 1), (None, 2))  # one records no step: the epochs, for all
    assert (epochs.axis, epochs.steps.tolist()) == ("epoch", [1, 2])
    with pytest.warns(UserWarning, match="1 of 3 checkpoints record no training step"):
        mixed = series((20, 1), (None, None), (10, 0))
    assert (mixed.axis, mixed.steps.tolist()) == ("position", [0, 1, 2])
    assert mixed.paths[-1] == "b.ckpt"  # the one without a step, last
    assert trajectory.summary_lines(mixed)[0].startswith(
        "trajectory: 3 checkpoints, checkpoint 0 to 2"
    )
    store.write_trajectory_file(tmp_path / "t.h5", mixed)
    assert store.read_trajectory_file(tmp_path / "t.h5").axis == "position"
    with h5py.File(tmp_path / "t.h5", "r+") as f:
        f["step"].attrs["axis"] = "wallclock"
    with pytest.raises(store.StatsFileError, match="counts 'wallclock'"):
        store.read_trajectory_file(tmp_path / "t.h5")
