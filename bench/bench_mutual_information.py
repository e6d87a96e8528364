"""Benchmark: full-dataset I(x;z) against the broadcast estimator public VAE code uses.

    python bench/bench_mutual_information.py [--n 20000] [--d 32] [--repeats 3]

Baseline: a faithful re-implementation of the full-dataset estimator found in public VAE
code (vae-pretraining-encoder's calc_mi, beta-TCVAE's elbo_decomposition): for each batch of
B sampled z it builds the (B, N, D) tensor of per-unit log densities, sums over units and
takes a log-sum-exp over all N components. It runs here in float64 on the same z as
latentprobe, so both compute the same paired estimate and must agree to 1e-6 relative.

Floor: one (N x 2D) @ (2D x N) matrix product plus an in-place log-sum-exp over its N x N
result, the least work any exact full-dataset estimator must do.

Also: peak memory of latentprobe's estimator at N = 100,000 (fresh process, VmHWM), and
`latentprobe analyze` end to end on each fixture (fresh process per run). All MI figures
are in nats; times are medians.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from latentprobe.analyzers import mutual_information
from latentprobe.gaussian import LOG_2PI, log_mixture_density, log_normal_diag

ROOT = Path(__file__).resolve().parent.parent
BATCH = 100


def posteriors(n: int, d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Four informative units (spread means, small variances); the rest near the prior."""
    rng = np.random.default_rng(seed)
    informative = np.arange(d) < 4
    mu = rng.normal(size=(n, d)) * np.where(informative, 1.0, 0.05)
    logvar = np.where(informative, rng.uniform(-4, -1, (n, d)), rng.uniform(-0.1, 0, (n, d)))
    return torch.from_numpy(mu), torch.from_numpy(logvar)


def draws(mu, logvar, seed: int = 0) -> torch.Tensor:
    eps = np.random.default_rng(seed).standard_normal(mu.shape)
    return mu + torch.exp(0.5 * logvar) * torch.from_numpy(eps)


def broadcast_log_q(z, mu, logvar, batch: int = BATCH) -> torch.Tensor:
    """log q(z) the way public code computes it: a (B, N, D) tensor per batch of z."""
    n = mu.shape[0]
    var = torch.exp(logvar)
    out = []
    for start in range(0, z.shape[0], batch):
        zb = z[start : start + batch].unsqueeze(1)  # (B, 1, D)
        dev = zb - mu.unsqueeze(0)  # (B, N, D)
        log_density = -0.5 * (dev**2 / var.unsqueeze(0) + logvar.unsqueeze(0) + LOG_2PI)
        out.append(torch.logsumexp(log_density.sum(-1), dim=1) - math.log(n))
    return torch.cat(out)


def paired_mi(z, mu, logvar, log_q) -> float:
    return float((log_normal_diag(z, mu, logvar).sum(1) - log_q).mean())


def floor_time(mu, logvar, z) -> float:
    precision = torch.exp(-logvar)
    weights = torch.cat([-0.5 * precision, mu * precision], 1).T.contiguous()
    features = torch.cat([z * z, z], 1)
    start = time.perf_counter()
    block = features @ weights
    top = block.max(dim=1, keepdim=True).values
    block.sub_(top).exp_()
    (top.squeeze(1) + block.sum(1).log()).sum()
    elapsed = time.perf_counter() - start
    del block
    return elapsed


def floor_time_blocked(mu, logvar, z, rows: int = 256, tile_bytes: int = 4 * 2**20) -> float:
    """``floor_time`` in tiles of ``rows`` points x components (the whole (M x N) product may
    not fit in memory; tall tiles keep the GEMM efficient): the product and an exp-sum per
    tile, with no merging of the tiles' sums (less work than any exact estimator)."""
    precision = torch.exp(-logvar)
    weights = torch.cat([-0.5 * precision, mu * precision], 1).T.contiguous()
    features = torch.cat([z * z, z], 1)
    cols = max(1, tile_bytes // (8 * rows))
    start = time.perf_counter()
    for first in range(0, z.shape[0], rows):
        for c0 in range(0, mu.shape[0], cols):
            block = features[first : first + rows] @ weights[:, c0 : c0 + cols]
            top = block.max(dim=1, keepdim=True).values
            block.sub_(top).exp_().sum(1)
    return time.perf_counter() - start


def timed(fn, repeats: int):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, value


def peak_memory_mb(n: int, d: int) -> tuple[float, float]:
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "import bench_mutual_information as b, time; "
        "from latentprobe.analyzers import mutual_information; "
        f"mu, lv = b.posteriors({n}, {d}); t = time.perf_counter(); "
        "mutual_information(mu, lv, draws_per_example=1, per_unit=False); "
        "print(time.perf_counter() - t, b.peak_rss_mb())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, mb = out.stdout.split()
    return float(seconds), float(mb)


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def analyze_fixture(name: str, out: Path, *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            shutil.which("latentprobe") or "latentprobe",
            "analyze",
            str(ROOT / "fixtures" / f"{name}.pt"),
            "-o",
            str(out),
            "--force",
            "--json",
            *extra,
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def _fmt(times) -> str:
    return ", ".join(f"{t:.3f}" for t in times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--baseline-repeats",
        type=int,
        default=1,
        help="the broadcast baseline takes minutes at N = 20,000",
    )
    parser.add_argument("--memory-n", type=int, default=100_000)
    args = parser.parse_args()
    mu, logvar = posteriors(args.n, args.d)
    z = draws(mu, logvar)
    print(
        f"N = {args.n:,}, D = {args.d}, S = 1, float64, {torch.get_num_threads()} threads, "
        f"median of {args.repeats}"
    )

    ours_t, ours_runs, ours_q = timed(lambda: log_mixture_density(z, mu, logvar), args.repeats)
    base_t, base_runs, base_q = timed(lambda: broadcast_log_q(z, mu, logvar), args.baseline_repeats)
    floor_runs = [floor_time(mu, logvar, z) for _ in range(args.repeats)]
    floor_t = statistics.median(floor_runs)
    ours_mi, base_mi = paired_mi(z, mu, logvar, ours_q), paired_mi(z, mu, logvar, base_q)
    worst = float(((ours_q - base_q).abs() / base_q.abs()).max())
    print(
        f"broadcast (B={BATCH}, N, D) estimator : {base_t:8.3f} s   I = {base_mi:.9f} nats"
        f"   (runs: {_fmt(base_runs)})"
    )
    print(
        f"latentprobe chunked GEMM + LSE      : {ours_t:8.3f} s   I = {ours_mi:.9f} nats"
        f"   (runs: {_fmt(ours_runs)})"
    )
    print(f"speed-up over broadcast             : {base_t / ours_t:8.1f}x  (target >= 10x)")
    print(
        f"relative difference of I            : {abs(ours_mi - base_mi) / abs(base_mi):.1e}"
        f"   (largest per-point log q(z): {worst:.1e}; target <= 1e-6)"
    )
    print(f"floor: one N x N GEMM + LSE         : {floor_t:8.3f} s   (runs: {_fmt(floor_runs)})")
    print(f"latentprobe / floor                 : {ours_t / floor_t:8.2f}x  (target <= 1.5x)")
    full_t, _, result = timed(
        lambda: mutual_information(mu, logvar, draws_per_example=1, per_unit=False), args.repeats
    )
    print(
        f"mutual_information(), whole call    : {full_t:8.3f} s   "
        f"I = {result.nats:.4f} +- {result.stderr:.4f} nats"
    )

    seconds, mb = peak_memory_mb(args.memory_n, args.d)
    print(
        f"N = {args.memory_n:,}: mutual_information() {seconds:.1f} s, peak RSS {mb:.0f} MB "
        "(target < 2 GB)"
    )
    for name in ("healthy", "partial", "collapsed"):
        out = Path(f"/tmp/latentprobe-bench-{name}.report.h5")
        for label, extra in (("all analyses", ()), ("--skip probes", ("--skip", "probes"))):
            runs = [analyze_fixture(name, out, *extra) for _ in range(args.repeats)]
            print(
                f"latentprobe analyze fixtures/{name}.pt, {label}: "
                f"{statistics.median(runs):.2f} s (fresh process, imports included)"
            )


if __name__ == "__main__":
    main()
