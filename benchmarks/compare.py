"""kmlp against the plain PyTorch loop and hand-written Keras, side by side, as ratios.

    python benchmarks/compare.py                         # Fashion-MNIST MLP recipe, 3 epochs, all backends
    python benchmarks/compare.py --repeat 3 --json       # 3 interleaved rounds, medians, JSON
    python benchmarks/compare.py --tiny                  # a few hundred generated samples: proves it runs (CI)

Every contender is a fresh process with the same thread setting (kmlp.runtime.threads.thread_env/pin_threads): kmlp
(``python -m kmlp.bench``, the recipe as ``kmlp run`` trains it, live progress bar included), hand-written Keras
on each backend and the plain PyTorch loop (benchmarks/references.py). One round runs them all, one after the
other; ``--repeat`` rounds interleave, so load on a shared machine hits every contender alike. Speed is
steady-state samples/s (median over the epochs after the first); the table states kmlp's speed as a ratio to
the torch loop and to hand-written Keras on the same backend. Timings are never asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from kmlp.bench import ChildResult, Contender, Row, default_threads, interleave, kmlp_argv, usable_backends
from kmlp.runtime.backend import is_installed

HERE = Path(__file__).resolve().parent
TINY_RECIPE = """
[recipe]
name = "tiny_mlp"
[dataset]
name = "synthetic"
train_samples = 384
test_samples = 128
input_shape = [784]
num_classes = 10
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
epochs = 2
batch_size = 64
"""


def reference_argv(which: str, recipe: str, epochs: int, threads: int, overrides: list[str]) -> list[str]:
    argv = [sys.executable, str(HERE / "references.py"), which, recipe, "--threads", str(threads)]
    argv += ["--epochs", str(epochs)]
    for item in overrides:
        argv += ["--set", item]
    return argv


def measure(
    recipe: str, backends: list[str], epochs: int, repeat: int, threads: int, overrides: list[str], log=print
) -> dict:
    """Run every contender ``repeat`` times, interleaved, and return rows and ratios as plain data."""
    usable, missing = usable_backends(backends)
    contenders: list[Contender] = []
    if is_installed("torch"):
        contenders.append(
            Contender("torch loop", "torch", reference_argv("torch-loop", recipe, epochs, threads, overrides))
        )
    else:
        missing["torch loop"] = "needs torch: pip install torch"
    for b in usable:
        contenders.append(Contender(f"keras {b}", b, reference_argv("hand-keras", recipe, epochs, threads, overrides)))
        contenders.append(Contender(f"kmlp {b}", b, kmlp_argv(recipe, b, epochs, threads, overrides)))

    def progress(round_: int, contender: Contender, result: ChildResult) -> None:
        log(f"round {round_}/{repeat}  {contender.name:16} {result.wall_seconds:6.1f}s")

    rows = {row.name: row for row in interleave(contenders, repeat, threads, progress)}
    return {"rows": rows, "missing": missing, "ratios": ratios(rows, usable)}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def ratios(rows: dict[str, Row], backends: list[str]) -> dict[str, dict[str, float | None]]:
    """kmlp's steady samples/s against the torch loop and hand Keras, per backend (median-of-rounds figures),
    plus the same ratio computed within each round and then medianed (less sensitive to load drift)."""
    loop = rows.get("torch loop")
    out = {}
    for b in backends:
        mine, hand = rows[f"kmlp {b}"], rows[f"keras {b}"]
        per_round = [
            _ratio(m["samples_per_second"], h["samples_per_second"])
            for m, h in zip(mine.rounds, hand.rounds, strict=True)
        ]
        per_round_loop = (
            [
                _ratio(m["samples_per_second"], t["samples_per_second"])
                for m, t in zip(mine.rounds, loop.rounds, strict=True)
            ]
            if loop
            else []
        )
        out[b] = {
            "vs_torch_loop": statistics.median(r for r in per_round_loop if r) if any(per_round_loop) else None,
            "vs_hand_keras": statistics.median(r for r in per_round if r) if any(per_round) else None,
            "hand_keras_vs_torch_loop": _ratio(hand.samples_per_second, loop.samples_per_second if loop else None),
            "first_epoch_vs_hand_keras": _ratio(mine.first_epoch_seconds, hand.first_epoch_seconds),
        }
    return out


def print_table(result: dict, recipe: str, threads: int, repeat: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=140)
    table = Table(title=f"{recipe}: threads {threads}, median of {repeat} round(s), load {os.getloadavg()[0]:.2f}")
    for column in ("contender", "1st epoch s", "samples/s", "RSS MB", "test acc", "x torch loop", "x hand keras"):
        table.add_column(column, justify="left" if column == "contender" else "right", no_wrap=True)
    loop = result["rows"].get("torch loop")
    for name, row in result["rows"].items():
        speed = row.samples_per_second
        if name.startswith("kmlp "):
            r = result["ratios"][row.backend]
            vs_loop, vs_hand = r["vs_torch_loop"], r["vs_hand_keras"]
        else:
            vs_loop = _ratio(speed, loop.samples_per_second) if loop else None
            vs_hand = None
        table.add_row(
            name,
            f"{row.first_epoch_seconds:.2f}",
            f"{speed:,.0f}" if speed else "-",
            f"{row.peak_rss_mb:.0f}",
            f"{row.test_accuracy:.4f}" if row.test_accuracy is not None else "-",
            f"{vs_loop:.2f}" if vs_loop else "-",
            f"{vs_hand:.2f}" if vs_hand else "-",
        )
    for name, why in result["missing"].items():
        table.add_row(name, why, "", "", "", "", "")
    console.print(table)
    for row in result["rows"].values():
        console.print(f"{row.name}: {row.settings.get('threads')}", highlight=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="fashion_mnist_mlp", help="a recipe file or built-in name")
    parser.add_argument("--tiny", action="store_true", help="a few hundred generated samples, 2 epochs (CI)")
    parser.add_argument("--backends", default="jax,torch,tensorflow")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; speed is the median after the first")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override key=value")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    recipe, epochs = args.recipe, args.epochs
    if args.tiny:
        tiny = Path(tempfile.mkdtemp(prefix="kmlp-compare-")) / "tiny_mlp.toml"
        tiny.write_text(TINY_RECIPE)
        recipe, epochs = str(tiny), 2
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    result = measure(recipe, backends, epochs, args.repeat, args.threads, args.overrides, log)
    if args.json:
        summary = {
            "recipe": recipe,
            "threads": args.threads,
            "load_average": os.getloadavg(),
            "rows": {name: row.to_dict() for name, row in result["rows"].items()},
            "ratios": result["ratios"],
            "missing": result["missing"],
        }
        print(json.dumps(summary, indent=2))
    else:
        print_table(result, recipe, args.threads, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
