"""Byte-mutation fuzz of the file readers: stats files, reports, checkpoints, data files
(.npz, .npy, .pt, .h5), label files and prior files.

Each mutant is a small valid file (written by latentprobe, numpy, torch or h5py) with a few
random bytes flipped; its reader (``read_stats``, ``Report.read``, ``load_model``,
``open_data`` and its batches, ``read_labels_file``, ``read_prior_file``) must either
succeed or raise a ``LatentprobeError`` (a one-line error on the command line), never
anything else. Seeded: the same ``--seed`` gives the same mutants. The test suite runs 200
mutants of each (tests/test_hostile_inputs.py); this script runs as many as asked:

    python bench/fuzz_inputs.py --mutants 5000
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

import latentprobe
from latentprobe import data
from latentprobe.analyzers.probes import ProbesOptions
from latentprobe.errors import LatentprobeError
from latentprobe.zoo import MLPVAE, zoo_checkpoint


def write_stats(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(40, 3)), 0.1 * rng.normal(size=(40, 3))
    stats = latentprobe.EncoderStats(mu, logvar, {"y": np.arange(40) % 2})
    return latentprobe.write_stats(stats, folder / "seed.stats.h5")


def write_report(folder: Path) -> Path:
    stats = latentprobe.read_stats(write_stats(folder))
    options = {"probes": ProbesOptions(permutations=5, mlp=False)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny N: the estimators warn about their ceilings
        report = latentprobe.analyze(stats, options=options, seed=0)
    return report.write(folder / "seed.report.h5")


def write_checkpoint(folder: Path) -> Path:
    torch.manual_seed(0)
    kwargs = {"input_dim": 8, "hidden_dim": 4, "latent_dim": 2}
    model = MLPVAE(**kwargs)
    torch.save(zoo_checkpoint(model, "mlp-vae", kwargs, "sklearn:digits"), folder / "seed.pt")
    return folder / "seed.pt"


X = np.random.default_rng(0).random((30, 4)).astype(np.float32)
Y = np.arange(30) % 3


def write_npz(folder: Path) -> Path:
    np.savez(folder / "seed.npz", x=X, y=Y)
    return folder / "seed.npz"


def write_npy(folder: Path) -> Path:
    np.save(folder / "seed.npy", X)
    return folder / "seed.npy"


def write_pt(folder: Path) -> Path:
    torch.save((torch.from_numpy(X), torch.from_numpy(Y)), folder / "seed.pt")
    return folder / "seed.pt"


def write_h5(folder: Path) -> Path:
    with h5py.File(folder / "seed.h5", "w") as f:
        f["x"], f["y"] = X, Y
    return folder / "seed.h5"


def write_labels(folder: Path) -> Path:
    np.savez(folder / "seed.npz", y=Y, parity=Y % 2)
    return folder / "seed.npz"


def write_prior(folder: Path) -> Path:
    np.savez(folder / "seed.npz", weights=[0.5, 0.5], means=np.eye(2, 4), logvars=np.zeros((2, 4)))
    return folder / "seed.npz"


def read_data(path: Path) -> None:
    for _ in data.open_data(path).iter_batches(8, 0):
        pass


@dataclass(frozen=True)
class Target:
    """A file kind: how to write a valid one, and the reader that must not crash on it."""

    write: Callable[[Path], Path]
    read: Callable[[Path], object]


TARGETS = {
    "stats": Target(write_stats, latentprobe.read_stats),
    "report": Target(write_report, lambda path: latentprobe.Report.read(path)),
    "checkpoint": Target(write_checkpoint, latentprobe.load_model),
    "data-npz": Target(write_npz, read_data),
    "data-npy": Target(write_npy, read_data),
    "data-pt": Target(write_pt, read_data),
    "data-h5": Target(write_h5, read_data),
    "labels": Target(write_labels, data.read_labels_file),
    "prior": Target(write_prior, data.read_prior_file),
}


def mutate(data: bytes, rng: np.random.Generator, most: int = 4) -> bytes:
    """``data`` with 1 to ``most`` random bytes changed (each XOR a nonzero byte)."""
    mutant = bytearray(data)
    for position in rng.integers(0, len(data), size=rng.integers(1, most + 1)):
        mutant[position] ^= int(rng.integers(1, 256))
    return bytes(mutant)


@dataclass
class Outcome:
    """How the mutants of one target fared; ``crashes`` lists (mutant, exception)."""

    read: int = 0
    refused: int = 0
    crashes: list[tuple[int, str]] = field(default_factory=list)


def fuzz(name: str, mutants: int, seed: int, folder: Path) -> Outcome:
    """Read ``mutants`` mutants of target ``name``'s valid file (written in ``folder``)."""
    target = TARGETS[name]
    original = target.write(folder)
    target.read(original)  # the unmutated file reads, or the target tests nothing
    data, rng, outcome = original.read_bytes(), np.random.default_rng(seed), Outcome()
    mutant_path = original.with_name(f"mutant{''.join(original.suffixes)}")
    for i in range(mutants):
        mutant_path.write_bytes(mutate(data, rng))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                target.read(mutant_path)
            outcome.read += 1
        except LatentprobeError:
            outcome.refused += 1
        except Exception as e:  # noqa: BLE001 - what the fuzz looks for: any other exception
            outcome.crashes.append((i, f"{type(e).__name__}: {e}"))
    return outcome


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=int, default=5000, help="mutants per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    args = parser.parse_args(argv)
    crashed = 0
    for name in args.targets:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            outcome = fuzz(name, args.mutants, args.seed, Path(folder))
            seconds = time.perf_counter() - start
        print(
            f"{name:10} {args.mutants} mutants in {seconds:.1f} s: {outcome.read} read, "
            f"{outcome.refused} refused, {len(outcome.crashes)} crashed"
        )
        for i, error in outcome.crashes[:20]:
            print(f"    mutant {i}: {' '.join(error.split())[:200]}")
        crashed += len(outcome.crashes)
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
