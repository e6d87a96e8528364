"""Benchmark: how the stats file is written, against the alternatives considered.

    python bench/bench_store.py [--n 100000] [--units 20] [--repeats 7]

Writes the posterior means and log-variances of N examples (float32, as an encoder returns
them; means ~ N(0, 1), log-variances ~ N(-2, 0.5)) in batches of 1,024 rows. Compared, on
the same arrays, interleaved, medians: latentprobe's StatsWriter (plain chunked datasets),
and h5py's own gzip (level 4, with shuffle) and lzf filters on the same chunking. Prints the
time of each, its ratio to the plain write, and the file size.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from latentprobe.store import StatsWriter, _chunk_rows

BATCH = 1024


def arrays(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(n, d)).astype(np.float32)
    logvar = rng.normal(-2.0, 0.5, size=(n, d)).astype(np.float32)
    return mu, logvar


def write_plain(path: Path, mu, logvar) -> None:
    with h5py.File(path, "w") as f:
        writer = StatsWriter(f)
        for start in range(0, len(mu), BATCH):
            writer.append(mu[start : start + BATCH], logvar[start : start + BATCH], {})


def write_filtered(path: Path, mu, logvar, **filters) -> None:
    d = mu.shape[1]
    chunks = (_chunk_rows((d,), mu.dtype), d)
    with h5py.File(path, "w") as f:
        sets = [
            f.create_dataset(
                name, (0, d), maxshape=(None, d), dtype=mu.dtype, chunks=chunks, **filters
            )
            for name in ("encoder/mu", "encoder/logvar")
        ]
        for start in range(0, len(mu), BATCH):
            for ds, values in zip(sets, (mu, logvar), strict=True):
                block = values[start : start + BATCH]
                ds.resize(ds.shape[0] + len(block), axis=0)
                ds[-len(block) :] = block


WRITERS = {
    "latentprobe (plain)": write_plain,
    "h5py gzip 4 + shuffle": lambda p, m, v: write_filtered(
        p, m, v, compression="gzip", compression_opts=4, shuffle=True
    ),
    "h5py lzf": lambda p, m, v: write_filtered(p, m, v, compression="lzf"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    mu, logvar = arrays(args.n, args.units)
    times = {name: [] for name in WRITERS}
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for name, write in WRITERS.items():
                path = Path(tmp) / f"{len(sizes)}.h5"
                start = time.perf_counter()
                write(path, mu, logvar)
                times[name].append(time.perf_counter() - start)
                sizes[name] = path.stat().st_size
                path.unlink()
    plain = statistics.median(times["latentprobe (plain)"])
    print(f"N = {args.n:,} x {args.units} float32 (mu and logvar), median of {args.repeats}")
    for name, runs in times.items():
        t = statistics.median(runs)
        print(f"{name:24} {t:.3f} s  {t / plain:5.2f}x  {sizes[name] / 2**20:6.2f} MiB")


if __name__ == "__main__":
    main()
