"""Benchmark: `latentprobe extract` against a bare torch.inference_mode() loop.

    python bench/bench_extract.py [--n 100000] [--repeats 5]

Both sides encode the same rows of a 784-feature .npy file (MNIST-sized, uniform noise) with
the same small MLP encoder, the 784-400-(2x20) encoder of Kingma & Welling's MNIST VAE, at the
same batch size. The bare loop loads the file with np.load and keeps the outputs in memory;
extract loads the checkpoint, streams the file batch by batch, hashes it and the checkpoint
(for provenance, on a second thread while torch computes with one thread fewer), checks
every value is finite and appends mu/logvar to a plain HDF5 file that it renames into place.
Wall times are medians over interleaved repeats; peak memory (VmHWM) is measured in fresh
subprocesses at N and 10*N rows.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

BATCH = 1024
FEATURES = 784


class BenchEncoder(nn.Module):
    def __init__(self, input_dim: int = FEATURES, hidden: int = 400, latent: int = 20):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(input_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent)
        )

    def encode(self, x):
        return self.net(x).chunk(2, dim=-1)


def make_data(folder: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    data = folder / f"x{n}.npy"
    x = np.lib.format.open_memmap(data, mode="w+", dtype=np.float32, shape=(n, FEATURES))
    for start in range(0, n, 50_000):
        stop = min(n, start + 50_000)
        x[start:stop] = rng.random((stop - start, FEATURES), dtype=np.float32)
    x.flush()
    return data


def make_checkpoint(folder: Path) -> Path:
    torch.manual_seed(0)
    ckpt = folder / "encoder.pt"
    torch.save(BenchEncoder().state_dict(), ckpt)
    return ckpt


def bare_loop(model: nn.Module, data: Path) -> float:
    start = time.perf_counter()
    x = np.load(data)
    mus, logvars = [], []
    with torch.inference_mode():
        for i in range(0, len(x), BATCH):
            mu, logvar = model.encode(torch.from_numpy(x[i : i + BATCH]))
            mus.append(mu.numpy())
            logvars.append(logvar.numpy())
    np.concatenate(mus), np.concatenate(logvars)
    return time.perf_counter() - start


def latentprobe_extract(data: Path, ckpt: Path, out: Path) -> float:
    import latentprobe

    start = time.perf_counter()
    loaded = latentprobe.load_model(ckpt, arch=f"{Path(__file__).resolve()}:BenchEncoder")
    latentprobe.extract_to_file(loaded, data, out, force=True, batch_size=BATCH)
    return time.perf_counter() - start


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; unlike ru_maxrss it restarts at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_peak_rss(data: Path, ckpt: Path, out: Path) -> float:
    """Run one extraction in a fresh process; its peak RSS in MB."""
    code = (
        f"import sys, pathlib as p; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "import bench_extract as b; "
        f"b.latentprobe_extract(p.Path({str(data)!r}), p.Path({str(ckpt)!r}), "
        f"p.Path({str(out)!r})); "
        "print(b.peak_rss_mb())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data, ckpt = make_data(folder, args.n), make_checkpoint(folder)
        model = BenchEncoder()
        model.load_state_dict(torch.load(ckpt, weights_only=True))
        model.eval()
        bare_loop(model, data)  # warm-up, and puts the file in the page cache
        latentprobe_extract(data, ckpt, folder / "s.h5")
        bare, ours = [], []
        for _ in range(args.repeats):  # interleaved, so drift hits both sides alike
            bare.append(bare_loop(model, data))
            ours.append(latentprobe_extract(data, ckpt, folder / "s.h5"))
        b, o = statistics.median(bare), statistics.median(ours)
        print(
            f"N = {args.n:,} rows x {FEATURES} features, batch {BATCH}, "
            f"{torch.get_num_threads()} torch threads, median of {args.repeats}"
        )
        print(f"bare loop (np.load + inference_mode) : {b:.3f} s  (runs: {_fmt(bare)})")
        print(f"latentprobe extract                  : {o:.3f} s  (runs: {_fmt(ours)})")
        print(f"ratio extract / bare                 : {o / b:.2f}x  (target <= 1.2x)")
        digest_time = statistics.median(_time_sha256(data) for _ in range(args.repeats))
        print(
            f"SHA-256 of the data file alone       : {digest_time:.3f} s on one core "
            "(provenance; inside extract it runs beside the encoder)"
        )
        shared = b + digest_time / torch.get_num_threads()
        print(
            f"bare + hash spread over the cores    : {shared:.3f} s  ({shared / b:.2f}x; what "
            "extract costs if the hash takes its share of every core and nothing else is added)"
        )
        rss_n = child_peak_rss(data, ckpt, folder / "m1.h5")
        data.unlink()
        big = make_data(folder, 10 * args.n)
        rss_10n = child_peak_rss(big, ckpt, folder / "m10.h5")
        print(f"peak RSS, extract of N rows          : {rss_n:.0f} MB")
        print(f"peak RSS, extract of 10N rows        : {rss_10n:.0f} MB")
        print(
            f"difference                           : {rss_10n - rss_n:+.0f} MB  "
            "(target within 100 MB)"
        )


def _time_sha256(path: Path) -> float:
    from latentprobe.data import sha256_file

    start = time.perf_counter()
    sha256_file(path)
    return time.perf_counter() - start


def _fmt(times: list[float]) -> str:
    return ", ".join(f"{t:.3f}" for t in times)


if __name__ == "__main__":
    main()
