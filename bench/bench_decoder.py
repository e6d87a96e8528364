"""Benchmark: the IWAE bound (analyzers.log_likelihood) against a bare decoder loop.

    python bench/bench_decoder.py [--n 10000] [--samples 1000] [--repeats 3]

The decoder is the 784-400-784 MLP of Kingma & Welling's MNIST VAE (latent 20), Bernoulli
logits, on N examples of 784 binary features. Both sides push the same N * K latent rows
through the decoder in calls of the same size (4,096 rows). The bare loop only draws z and
runs the decoder under inference_mode; latentprobe also samples q(z|x) from a generator,
scores x under the Bernoulli, evaluates log p(z) and log q(z|x) and keeps a running
log-sum-exp. The overhead is (latentprobe - bare) / bare, the decoder's share bare /
latentprobe. Two more loops beside the bare decoder: one sums torch's softplus of the logits
(the floor of any Bernoulli scoring on logits with torch's kernels), one scores x with
torch's binary_cross_entropy_with_logits (what a hand-written IWAE pays for scoring x
alone). Wall times are medians of interleaved repeats. Peak memory (VmHWM) is measured in
fresh subprocesses at N, 2N (flat in N expected) and at K/10 (bounded in K).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from latentprobe.analyzers import log_likelihood
from latentprobe.decoders import Likelihood, make_decoder

FEATURES, HIDDEN, LATENT, ROWS = 784, 400, 20, 4096


class BenchVAE(nn.Module):
    likelihood = "bernoulli"

    def __init__(self):
        super().__init__()
        self.decoder = nn.Sequential(
            nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, FEATURES)
        )

    def decode(self, z):
        return self.decoder(z)


def inputs(n: int):
    rng = np.random.default_rng(0)
    x = (rng.random((n, FEATURES)) < 0.2).astype(np.float32)
    mu = rng.normal(size=(n, LATENT)) * 0.8
    logvar = np.full((n, LATENT), -1.5)
    return x, mu, logvar


def model() -> BenchVAE:
    torch.manual_seed(0)
    return BenchVAE().eval()


def bare(vae: BenchVAE, n: int, k: int) -> float:
    """Draw z and run the decoder on N * K rows, ROWS at a time."""
    total, start = n * k, time.perf_counter()
    with torch.inference_mode():
        for done in range(0, total, ROWS):
            z = torch.randn(min(ROWS, total - done), LATENT)
            vae.decode(z)
    return time.perf_counter() - start


def scored(vae: BenchVAE, n: int, k: int) -> float:
    """The bare loop, also scoring x under the Bernoulli with torch's own
    binary_cross_entropy_with_logits: the least any IWAE computes per row."""
    x = torch.as_tensor(inputs(n)[0])
    total, start = n * k, time.perf_counter()
    with torch.inference_mode():
        for done in range(0, total, ROWS):
            rows = min(ROWS, total - done)
            logits = vae.decode(torch.randn(rows, LATENT))
            target = x[(done + torch.arange(rows)) // k]
            F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(1)
    return time.perf_counter() - start


def softplus_floor(vae: BenchVAE, n: int, k: int) -> float:
    """The bare loop plus torch's softplus summed per row: the transcendental part of any
    Bernoulli scoring on logits (the x term, sum_j x_j l_j, left out), a floor for it."""
    total, start = n * k, time.perf_counter()
    with torch.inference_mode():
        for done in range(0, total, ROWS):
            F.softplus(vae.decode(torch.randn(min(ROWS, total - done), LATENT))).sum(1)
    return time.perf_counter() - start


def latentprobe_iwae(vae: BenchVAE, n: int, k: int) -> float:
    x, mu, logvar = inputs(n)
    decoder = make_decoder(vae, latent_shape=(LATENT,), likelihood=Likelihood("bernoulli"))
    start = time.perf_counter()
    log_likelihood(mu, logvar, x, decoder.log_likelihood, samples=k, rows_per_call=ROWS)
    return time.perf_counter() - start


def peak_mib(n: int, k: int) -> float:
    """The peak resident memory of a fresh process that runs the IWAE bound once."""
    code = (
        "import resource, sys; sys.path.insert(0, 'bench'); import bench_decoder as b; "
        f"b.latentprobe_iwae(b.model(), {n}, {k}); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="Also measure peak memory.")
    args = parser.parse_args()
    n, k, vae = args.n, args.samples, model()
    runs = {
        "bare decoder loop": bare,
        "decoder + softplus": softplus_floor,
        "decoder + torch BCE": scored,
        "latentprobe IWAE": latentprobe_iwae,
    }
    times = {name: [] for name in runs}
    for _ in range(args.repeats):  # interleaved
        for name, run in runs.items():
            times[name].append(run(vae, n, k))
    floor = statistics.median(times["bare decoder loop"])
    print(f"IWAE, N = {n:,}, K = {k:,}, 784-400-784 decoder, {torch.get_num_threads()} threads")
    print(f"{'':24}{'median s':>10}{'ms/example':>12}{'x bare':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:24}{median:10.2f}{1000 * median / n:12.3f}{median / floor:8.3f}")
    total = statistics.median(times["latentprobe IWAE"])
    print(f"latentprobe's own work: {100 * (total - floor) / floor:.1f}% of the decoder's time")
    scoring = statistics.median(times["decoder + torch BCE"])
    print(
        f"a plain loop scoring x with torch's BCE (no sampling of q, no weights): "
        f"{100 * (scoring - floor) / floor:.1f}% over the bare decoder"
    )
    softplus = statistics.median(times["decoder + softplus"])
    print(
        f"torch's softplus alone (the floor of Bernoulli scoring on logits): "
        f"{100 * (softplus - floor) / floor:.1f}% over the bare decoder"
    )
    if args.memory:
        print(f"peak memory (VmHWM, fresh process): N = {n:,}, K = {k:,}: {peak_mib(n, k):.0f} MiB")
        print(f"  N = {2 * n:,}: {peak_mib(2 * n, k):.0f} MiB")
        print(f"  K = {k // 10:,}: {peak_mib(n, k // 10):.0f} MiB")


if __name__ == "__main__":
    main()
