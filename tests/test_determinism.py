"""The same seed gives the same report: two fresh processes (one of them next to processes
that keep every core busy) write byte-identical JSON and equal HDF5 datasets and attributes,
provenance times aside; another seed changes the draws."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

HEALTHY = Path(__file__).resolve().parent.parent / "fixtures" / "healthy.pt"
TIMES = ("created_utc", "provenance", "analysis_provenance", "provenance.created_utc")


def _analyze(folder: Path, name: str, seed: int) -> str:
    """Run in folder/name, so that the two command lines are the same."""
    (folder / name).mkdir()
    cli = Path(sys.executable).parent / "latentprobe"
    args = [str(cli), "analyze", str(HEALTHY), "--json", "--seed", str(seed)]
    args += ["--permutations", "5", "-o", "r.h5"]
    done = subprocess.run(args, cwd=folder / name, capture_output=True, text=True, check=True)
    return done.stdout


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def _contents(path: Path) -> dict:
    """Every dataset and attribute of the file, provenance times left out."""
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: out.update(_item(f, name, obj)))
        out.update({f"/@{k}": v for k, v in f.attrs.items() if k not in TIMES})
    return out


def _named(f: h5py.File, key: str, value):
    """Object references (the dimension scales' attributes) as the names they point to:
    references hold addresses within their own file."""
    if key == "DIMENSION_LIST":
        return [[f[ref].name for ref in refs] for refs in value]
    if key == "REFERENCE_LIST":
        return sorted((f[entry[0]].name, int(entry[1])) for entry in value)
    return value


def _item(f: h5py.File, name: str, obj) -> dict:
    found = {f"{name}@{k}": _named(f, k, v) for k, v in obj.attrs.items()}
    if isinstance(obj, h5py.Dataset):
        found[name] = obj[()]
    return found


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    return a == b or (a != a and b != b)


def test_the_same_seed_gives_the_same_report_even_under_load(tmp_path):
    quiet = _analyze(tmp_path, "a", seed=7)
    spinners = [multiprocessing.Process(target=_spin, args=(60,)) for _ in range(3)]
    for spinner in spinners:
        spinner.start()
    try:
        loaded = _analyze(tmp_path, "b", seed=7)
    finally:
        for spinner in spinners:
            spinner.terminate()
    assert quiet == loaded
    a, b = _contents(tmp_path / "a" / "r.h5"), _contents(tmp_path / "b" / "r.h5")
    assert a.keys() == b.keys()
    assert [k for k in a if not _same(a[k], b[k])] == []


def test_another_seed_changes_the_draws_not_the_verdict(tmp_path):
    first, other = json.loads(_analyze(tmp_path, "a", 7)), json.loads(_analyze(tmp_path, "b", 8))
    mi_a, mi_b = first["analyses"]["mutual_information"], other["analyses"]["mutual_information"]
    assert mi_a["nats"] != mi_b["nats"]
    assert abs(mi_a["nats"] - mi_b["nats"]) < 4 * np.hypot(mi_a["stderr"], mi_b["stderr"])
    assert first["verdict"] == other["verdict"]
    assert [u["status"] for u in first["per_unit"]] == [u["status"] for u in other["per_unit"]]


CLUSTER_FITS = """
from sklearn.datasets import load_digits
from latentprobe.analyzers.probes.information import cluster
x = load_digits().data
print(len({cluster(x, 100, seed=7).cluster_centers_.tobytes() for _ in range(12)}))
"""


def test_the_control_task_clusters_are_the_same_with_many_openmp_threads():
    """scikit-learn's k-means adds its threads' partial sums in the order they finish: with
    OMP_NUM_THREADS=8 its centres on the digits changed in each of 12 fits (a machine with
    more cores, or a user's setting); the control task's labels followed."""
    env = {**os.environ, "OMP_NUM_THREADS": "8"}
    done = subprocess.run(
        [sys.executable, "-c", CLUSTER_FITS], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "1"
