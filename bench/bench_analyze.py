"""Benchmark: `latentprobe analyze --skip probes` as a whole process at the sizes researchers
have, split by stage, against a floor and the broadcast estimator measured in the same run.

    python bench/bench_analyze.py [--sizes 20000x32,60000x32,...] [--repeats 1] [--no-broadcast]

For each N x D (synthetic posteriors: four informative units, the rest near the prior; see
bench_mutual_information.posteriors) a stats file is written once, then:
- whole: wall time of the `latentprobe analyze STATS --skip probes --json` process (imports,
  reading, every analysis, the report) and its peak RSS (GNU time);
- stages, in a fresh process: reading the stats, KL and active units, the joint I(x;z)
  (mutual_information without the per-unit terms), the per-unit marginal densities (the bulk
  of the per-unit terms and TC), at the default points;
- floor: a float64 GEMM of the joint term's shape (points x 2D @ 2D x N) plus a log-sum-exp
  over each tile of 256 points x 4 MiB (no merging of tiles): less work than any exact estimate
  at those points does;
- broadcast: the (B, N, D) estimator of public VAE code, joint term only, at every point
  (N = 20,000, D = 32 unless --no-broadcast), against the whole latentprobe process.
Figures in seconds (medians over --repeats), memory in MB.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SIZES = (
    "20000x32,60000x32,200000x32,1000000x32,20000x256,60000x256,200000x256,"
    "20000x1024,60000x1024,10000x4096,20000x4096"
)

STAGES = r"""
import json, sys, time
sys.path.insert(0, {here!r})
import latentprobe
from latentprobe.analyzers.mutual_information import mutual_information, point_budget
from latentprobe.gaussian import log_mixture_density_per_unit
import bench_mutual_information as b
import torch

t = time.perf_counter(); stats = latentprobe.read_stats({path!r}); read = time.perf_counter() - t
t = time.perf_counter(); latentprobe.analyze(stats, only=["kl_divergence", "active_units"])
kl_au = time.perf_counter() - t
mu, lv = torch.from_numpy(stats.mu), torch.from_numpy(stats.logvar)
t = time.perf_counter(); mutual_information(mu, lv, per_unit=False); joint = time.perf_counter() - t
points, unit_points = point_budget(*mu.shape, 2)
rows = unit_points // 2
z = b.draws(mu[:rows].repeat_interleave(2, 0), lv[:rows].repeat_interleave(2, 0))
t = time.perf_counter(); log_mixture_density_per_unit(z, mu, lv); units = time.perf_counter() - t
rows = points // 2
z = b.draws(mu[:rows].repeat_interleave(2, 0), lv[:rows].repeat_interleave(2, 0))
floor = b.floor_time_blocked(mu, lv, z)
print(json.dumps(dict(read=read, kl_au=kl_au, joint=joint, units=units, floor=floor,
                      points=points, unit_points=unit_points)))
"""


def write_stats(n: int, d: int, path: Path) -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); import bench_mutual_information as b; "
        f"import latentprobe; mu, lv = b.posteriors({n}, {d}); "
        f"latentprobe.write_stats(latentprobe.EncoderStats(mu.numpy(), lv.numpy()), {str(path)!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def whole_process(stats: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of `latentprobe analyze --skip probes`."""
    cli = Path(sys.executable).parent / "latentprobe"
    args = ["/usr/bin/time", "-f", "%e %M", str(cli), "analyze", str(stats), "--skip", "probes"]
    done = subprocess.run(
        [*args, "--json", "--quiet", "-o", str(out), "--force"],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, kb = done.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kb) / 1024


def stages(stats: Path) -> dict:
    code = STAGES.format(here=str(HERE), path=str(stats))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def broadcast_seconds(n: int, d: int) -> float:
    sys.path.insert(0, str(HERE))
    import bench_mutual_information as b

    mu, lv = b.posteriors(n, d)
    z = b.draws(mu.repeat_interleave(2, 0), lv.repeat_interleave(2, 0))
    start = time.perf_counter()
    b.broadcast_log_q(z, mu, lv)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default=DEFAULT_SIZES)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-broadcast", action="store_true")
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    header = (
        f"{'N':>9} {'D':>5} {'points':>7} {'unit pts':>8} {'whole s':>8} {'RSS MB':>7} "
        f"{'read':>6} {'KL+AU':>6} {'joint':>6} {'units':>6} {'floor':>6} {'joint/floor':>11}"
    )
    print(header)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n, d in sizes:
            stats = Path(tmp) / f"s{n}x{d}.h5"
            write_stats(n, d, stats)
            wholes = [whole_process(stats, Path(tmp) / "r.h5") for _ in range(args.repeats)]
            whole = statistics.median(w[0] for w in wholes)
            rss = max(w[1] for w in wholes)
            s = stages(stats)
            rows[(n, d)] = whole
            print(
                f"{n:>9,} {d:>5} {s['points']:>7,} {s['unit_points']:>8,} {whole:>8.1f} "
                f"{rss:>7.0f} {s['read']:>6.2f} {s['kl_au']:>6.2f} {s['joint']:>6.2f} "
                f"{s['units']:>6.2f} {s['floor']:>6.2f} {s['joint'] / s['floor']:>11.2f}",
                flush=True,
            )
            stats.unlink()
    if not args.no_broadcast and (20_000, 32) in rows:
        seconds = broadcast_seconds(20_000, 32)
        print(
            f"broadcast (B, N, D) estimator, joint term only, N = 20,000, D = 32, all 40,000 "
            f"points: {seconds:.1f} s; whole latentprobe process: {rows[(20_000, 32)]:.1f} s "
            f"({seconds / rows[(20_000, 32)]:.1f}x faster; target >= 10x)"
        )


if __name__ == "__main__":
    main()
