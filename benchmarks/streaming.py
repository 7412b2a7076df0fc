"""Training on a .npy dataset several times larger than the memory it may use: RSS stays flat.

    python benchmarks/streaming.py                  # 1.5 GB of generated data in /tmp, 1 epoch on JAX
    python benchmarks/streaming.py --gb 0.05 --backend torch

Writes a seeded synthetic classification set (784 float32 features, 10 classes) as .npy files, trains the
``npy`` dataset (``stream = true``) with an MLP in a ``python -m kmlp.bench`` child, samples the child's resident
memory (VmRSS) twice a second and reports its peak (``VmHWM``) against the backend's own baseline and the file
size. The memory cap it checks: peak RSS <= baseline + ``--cap-mb`` (default 512 MB; the default data is 3 times that).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kmlp.bench import default_threads
from kmlp.runtime.threads import thread_env

FEATURES, CLASSES = 784, 10


def write_dataset(folder: Path, gigabytes: float, seed: int = 0) -> dict[str, Path]:
    """Write train (``gigabytes`` of inputs) and a small test split, a block at a time (never all in memory)."""
    rows = int(gigabytes * 2**30 / (FEATURES * 4))
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLASSES, FEATURES)).astype(np.float32)
    paths = {name: folder / f"{name}.npy" for name in ("train_x", "train_y", "test_x", "test_y")}
    for split, count in (("train", rows), ("test", 2048)):
        x = np.lib.format.open_memmap(paths[f"{split}_x"], mode="w+", dtype=np.float32, shape=(count, FEATURES))
        y = rng.integers(0, CLASSES, count)
        for start in range(0, count, 65536):
            block = y[start : start + 65536]
            x[start : start + len(block)] = centres[block] + 2.0 * rng.standard_normal(
                (len(block), FEATURES), np.float32
            )
        x.flush()
        del x
        np.save(paths[f"{split}_y"], y)
    return paths


RECIPE = """
[recipe]
name = "streaming"
[dataset]
name = "npy"
train_x = {train_x}
train_y = {train_y}
test_x = {test_x}
test_y = {test_y}
stream = true
[architecture]
name = "mlp"
hidden_units = [128, 64]
[optimizer]
name = "sgd"
learning_rate = 0.01
[loss]
name = "sparse_categorical_crossentropy"
from_logits = true
[training]
epochs = {epochs}
batch_size = 256
"""


def vm_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=1.5, help="size of the train inputs in GiB (default 1.5)")
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND") or "jax")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--cap-mb", type=float, default=512, help="allowed peak RSS above the backend baseline")
    parser.add_argument("--dir", type=Path, default=None, help="where the data goes (default: a temp folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="kmlp-streaming-"))
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    paths = write_dataset(folder, args.gb)
    data_mb = sum(p.stat().st_size for p in paths.values()) / 2**20
    written = time.perf_counter() - started
    recipe = folder / "streaming.toml"
    recipe.write_text(RECIPE.format(epochs=args.epochs, **{k: json.dumps(str(v)) for k, v in paths.items()}))

    threads = default_threads()
    argv = [sys.executable, "-m", "kmlp.bench", str(recipe), "--backend", args.backend, "--threads", str(threads)]
    with tempfile.TemporaryFile("w+") as stdout:
        child = subprocess.Popen(argv, stdout=stdout, env={**os.environ, **thread_env(threads)})
        samples: list[tuple[float, float]] = []
        while True:
            pid, status, _ = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            rss = vm_rss_mb(child.pid)
            if rss:
                samples.append((time.perf_counter() - started, rss))
            time.sleep(0.5)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"the training child failed (exit {os.waitstatus_to_exitcode(status)})")
        stdout.seek(0)
        report = json.loads(stdout.read().strip().splitlines()[-1])
    peak = report["peak_rss_mb"]  # the child's VmHWM: ru_maxrss would start at this process's peak (vfork)
    baseline = report["baseline_rss_mb"]
    result = {
        "backend": args.backend,
        "data_mb": round(data_mb),
        "write_seconds": round(written, 1),
        "baseline_rss_mb": round(baseline),
        "peak_rss_mb": round(peak),
        "cap_mb": args.cap_mb,
        "within_cap": peak <= baseline + args.cap_mb,
        "rss_samples_mb": [round(r) for _, r in samples],
        "epoch_seconds": report["epoch_seconds"],
        "samples_per_second_last_epoch": report["samples"] / report["epoch_seconds"][-1],
        "test_accuracy": report["test_accuracy"],
        "data_dir": str(folder),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        rss = [r for _, r in samples]
        print(f"data {data_mb:,.0f} MB on disk ({folder}), written in {written:.0f}s; backend {args.backend}")
        print(f"RSS: backend baseline {baseline:,.0f} MB, peak {peak:,.0f} MB (cap baseline + {args.cap_mb:.0f} MB)")
        if rss:
            print(f"RSS while training (sampled every 0.5 s): min {min(rss):,.0f} MB, max {max(rss):,.0f} MB")
        seconds = [round(s, 1) for s in report["epoch_seconds"]]
        print(f"epoch seconds {seconds}  test accuracy {report['test_accuracy']:.4f}")
        print("within cap" if result["within_cap"] else "OVER CAP")
    return 0 if result["within_cap"] else 1


if __name__ == "__main__":
    sys.exit(main())
