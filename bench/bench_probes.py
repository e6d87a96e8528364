"""Benchmark: the default probe suite at N = 10,000, D = 32, 10 classes.

    python bench/bench_probes.py [--n 10000] [--d 32] [--repeats 3] [--jobs 2]

Default suite: linear and MLP probes on samples (2 per example) and on posterior means,
5 stratified folds, a 100-permutation test, per-unit probes (with the permutations Holm's
correction needs), the reference probes on x and on prior draws, the control task and the
MDL code length. Synthetic data: x (64 features) from 10 class centres plus noise, a linear
encoder to 32 units. Prints the median wall time of `probes()` and, for comparison, the
same suite with one joblib worker.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from latentprobe.analyzers import ProbesOptions, probes


def synthetic(n: int, d: int, classes: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.normal(size=(classes, 64))[y] + rng.normal(size=(n, 64)) * 1.5
    mu = x @ rng.normal(size=(64, d)) / 8
    logvar = np.full((n, d), -1.0)
    return x, mu, logvar, y


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    x, mu, logvar, y = synthetic(args.n, args.d)
    print(f"N = {args.n:,}, D = {args.d}, 10 classes, x of 64 features; median of {args.repeats}")
    for jobs in (args.jobs, 1):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = probes(mu, logvar, {"y": y}, x=x, options=ProbesOptions(n_jobs=jobs))
            times.append(time.perf_counter() - start)
        r = result.label_sets["y"]
        print(
            f"default probe suite, {jobs} joblib worker(s): {statistics.median(times):.1f} s "
            f"(runs: {', '.join(f'{t:.1f}' for t in times)}; target < 60 s)"
        )
    print(
        f"  accuracy {r.accuracy:.3f} on samples, {r.mean_accuracy:.3f} on means, MLP "
        f"{r.mlp_accuracy:.3f}, x {r.x_accuracy:.3f}, prior {r.prior_accuracy:.3f}, chance "
        f"{r.chance:.3f}; p = {r.p_value:.4f}; I(z;y) >= {r.mi_lower_bound_nats:.3f} nats; "
        f"selectivity {r.selectivity:.3f}; compression {r.compression:.2f}x"
    )


if __name__ == "__main__":
    main()
