"""How cost grows: samples/s at batch 32, 64, 256, 1024 and with a 4x wider MLP, per backend, against the plain
PyTorch loop and against this CPU's arithmetic ceiling.

    python benchmarks/scaling.py                     # Fashion-MNIST (20,000 train images), 3 epochs per run
    python benchmarks/scaling.py --threads 2 --json

Each configuration runs kmlp on every backend and the torch loop (benchmarks/references.py), each in a fresh
process with the same threads. The ceiling is FLOPs per trained sample (forward 2 x weights, backward twice that:
6 x weights) over the CPU's peak FP32 rate, cores x GHz x FLOPs per cycle per core, as given by ``--flops-per-cycle``
(default 32: two 256-bit FMA pipes x 8 floats x 2, the rate of AVX2 and of Zen 4's AVX-512, whose 512-bit
instructions issue as two 256-bit halves; a CPU with two full 512-bit FMA units does 64).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import reference_argv

from kmlp.bench import default_threads, kmlp_argv, run_child, summarise
from kmlp.runtime.backend import is_installed
from kmlp.runtime.threads import thread_env

CONFIGS = {
    "batch 32": ["training.batch_size=32"],
    "batch 64": ["training.batch_size=64"],
    "batch 256": ["training.batch_size=256"],
    "batch 1024": ["training.batch_size=1024"],
    "4x wide, batch 64": ["training.batch_size=64", "architecture.hidden_units=[512, 256]"],
}


def weights(sizes: list[int]) -> int:
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def cpu_ghz() -> float:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("cpu MHz"):
            return float(line.split(":")[1]) / 1000
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="fashion_mnist_mlp")
    parser.add_argument("--backends", default="jax,torch,tensorflow")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--flops-per-cycle", type=int, default=32, help="FP32 FLOPs per cycle per core")
    parser.add_argument("--set", dest="overrides", action="append", default=["dataset.train_size=20000"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if is_installed(b)]
    peak = args.threads * cpu_ghz() * 1e9 * args.flops_per_cycle
    results = []
    for config, extra in CONFIGS.items():
        overrides = [*args.overrides, *extra]
        wide = any("hidden_units" in o for o in extra)
        flops = 6 * weights([784, *([512, 256] if wide else [128, 64]), 10])
        row = {"config": config, "flops_per_sample": flops, "ceiling_samples_per_second": peak / flops}
        runs = [
            ("torch loop", "torch", reference_argv("torch-loop", args.recipe, args.epochs, args.threads, overrides))
        ]
        runs += [(f"kmlp {b}", b, kmlp_argv(args.recipe, b, args.epochs, args.threads, overrides)) for b in backends]
        for name, backend, argv in runs:
            env = {**thread_env(args.threads), "KERAS_BACKEND": backend}
            speed = summarise(name, backend, [run_child(argv, env, f"{name} ({config})")]).samples_per_second
            row[name] = speed
            print(f"{config:20} {name:16} {speed:10,.0f} samples/s", file=sys.stderr)
        results.append(row)
    if args.json:
        print(json.dumps({"threads": args.threads, "peak_flops": peak, "results": results}, indent=2))
        return 0
    names = ["torch loop", *(f"kmlp {b}" for b in backends)]
    print(
        f"threads {args.threads}, peak {peak / 1e9:.0f} GFLOP/s ({args.threads} x {cpu_ghz():.2f} GHz x "
        f"{args.flops_per_cycle} FLOPs/cycle), load {os.getloadavg()[0]:.2f}"
    )
    print(f"{'config':20} {'ceiling':>10} " + " ".join(f"{n:>16}" for n in names))
    for r in results:
        cells = " ".join(
            f"{r[n]:9,.0f} {r[n] / r['torch loop']:4.2f}x" if r.get(n) and r.get("torch loop") else f"{'-':>16}"
            for n in names
        )
        print(f"{r['config']:20} {r['ceiling_samples_per_second']:10,.0f} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
