"""Same recipe, same seed, three backends: do they reach the same test accuracy?

    python benchmarks/cross_backend_accuracy.py                      # Fashion-MNIST MLP, seed 0
    python benchmarks/cross_backend_accuracy.py --seeds 0 1 2 --json

Each backend trains in its own ``kmlp run`` process (a process holds one Keras backend). The data, batch order
and hyper-parameters are identical; the initial weights are not (each framework has its own random number
generator), so accuracies differ a little. Exits 1 when, for any seed, the spread (max - min) exceeds
``--tolerance`` percentage points. Runs are kept under ``--out`` (a new temporary folder by default).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BACKENDS = ("jax", "tensorflow", "torch")


def run(recipe: Path, backend: str, seed: int, out: Path) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kmlp",
            "run",
            str(recipe),
            "--backend",
            backend,
            "--json",
            "--set",
            f"recipe.seed={seed}",
            "--set",
            f"output.dir={json.dumps(str(out))}",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"kmlp run on {backend} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", type=Path, default=REPO / "recipes" / "fashion_mnist_mlp.toml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--tolerance", type=float, default=0.5, help="percentage points (default 0.5)")
    parser.add_argument("--out", type=Path, default=None, help="where the runs go (default: a new temp folder)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="kmlp-cross-backend-"))

    results = []
    for seed in args.seeds:
        runs = {backend: run(args.recipe, backend, seed, out) for backend in BACKENDS}
        accuracies = {backend: 100 * r["test"]["accuracy"] for backend, r in runs.items()}
        spread = max(accuracies.values()) - min(accuracies.values())
        results.append(
            {
                "seed": seed,
                "accuracy_percent": accuracies,
                "spread_points": spread,
                "train_seconds": {backend: r["train_seconds"] for backend, r in runs.items()},
                "runs": {backend: r["run"] for backend, r in runs.items()},
            }
        )
    worst = max(r["spread_points"] for r in results)
    if args.json:
        summary = {"recipe": str(args.recipe), "tolerance_points": args.tolerance, "results": results}
        print(json.dumps(summary, indent=2))
    else:
        print(f"recipe {args.recipe}   runs in {out}")
        print(f"{'seed':>4}  " + "  ".join(f"{b:>16}" for b in BACKENDS) + "   spread")
        for r in results:
            cells = "  ".join(f"{r['accuracy_percent'][b]:7.2f}% ({r['train_seconds'][b]:4.0f}s)" for b in BACKENDS)
            print(f"{r['seed']:>4}  {cells}   {r['spread_points']:.2f} pp")
        print(f"largest spread {worst:.2f} pp (tolerance {args.tolerance} pp)")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
