"""``kmlp bench``: train a recipe on each backend in a fresh process and measure it the same way every time.

A process holds one Keras backend for life, so each measurement is a child process (``python -m kmlp.bench``)
that pins its thread count, trains the recipe with :class:`kmlp.train.progress.EpochTimer`, and prints one JSON line.
The child reports its peak RSS (``VmHWM``; see :func:`memory_mb`), else the parent takes ``ru_maxrss`` from
``os.wait4``.
Backends run interleaved, round after round (``repeat``), so a load spike on a shared machine hits every
contender alike; figures are medians over rounds. This module imports no keras: the CLI lists it cheaply.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kmlp.errors import KmlpError
from kmlp.runtime.backend import BACKENDS, check_backend_name, is_installed
from kmlp.runtime.threads import thread_env


def memory_mb(field: str = "VmHWM") -> float:
    """This process's peak (``VmHWM``) or current (``VmRSS``) resident memory in MiB.

    Read from /proc on Linux because ``ru_maxrss`` of a child started with vfork (what ``subprocess`` uses)
    begins at the *parent's* peak: exec records the parent's high-water mark as the child's. Elsewhere
    ``ru_maxrss`` of this process is the best there is.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


@dataclass
class ChildResult:
    """What one measured child process reports, plus what the parent saw of it."""

    report: dict[str, Any]
    peak_rss_mb: float
    wall_seconds: float


def run_child(argv: list[str], env: dict[str, str], what: str) -> ChildResult:
    """Run ``argv`` (a Python child printing a JSON line last) and return its report and peak RSS."""
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        started = time.time()
        child = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env={**os.environ, **env})
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.time() - started
        stdout.seek(0)
        stderr.seek(0)
        lines = stdout.read().strip().splitlines()
        if child.returncode != 0 or not lines:
            tail = "\n".join(stderr.read().strip().splitlines()[-15:])
            raise KmlpError(f"{what} failed (exit {child.returncode}):\n{tail}", "run it alone to see the full output")
    report = json.loads(lines[-1])
    report["process_started"] = started
    if "peak_rss_mb" in report:  # the child's own high-water mark (see memory_mb)
        return ChildResult(report, report["peak_rss_mb"], wall)
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in KiB on Linux, bytes on macOS
    return ChildResult(report, usage.ru_maxrss * scale / 2**20, wall)


def steady_samples_per_second(epoch_seconds: list[float], samples: int) -> float | None:
    """Median samples/s over the epochs after the first (which includes compiling); None with one epoch."""
    later = epoch_seconds[1:]
    return samples / statistics.median(later) if later else None


@dataclass
class Row:
    """One contender's figures: medians over the rounds."""

    name: str
    backend: str
    first_epoch_seconds: float
    samples_per_second: float | None
    peak_rss_mb: float
    test_accuracy: float | None
    settings: dict[str, Any] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(name: str, backend: str, results: list[ChildResult]) -> Row:
    rounds = []
    for r in results:
        rep = r.report
        rounds.append(
            {
                "epoch_seconds": rep["epoch_seconds"],
                "samples_per_second": steady_samples_per_second(rep["epoch_seconds"], rep["samples"]),
                "peak_rss_mb": round(r.peak_rss_mb, 1),
                "wall_seconds": round(r.wall_seconds, 2),
                **(
                    {"first_step_seconds": rep["first_step_at"] - rep["process_started"]}
                    if "first_step_at" in rep
                    else {}
                ),
                **{k: rep[k] for k in ("import_seconds", "baseline_rss_mb", "data_mb") if k in rep},
            }
        )
    speeds = [r["samples_per_second"] for r in rounds if r["samples_per_second"] is not None]
    last = results[-1].report
    return Row(
        name=name,
        backend=backend,
        first_epoch_seconds=statistics.median(r["epoch_seconds"][0] for r in rounds),
        samples_per_second=statistics.median(speeds) if speeds else None,
        peak_rss_mb=statistics.median(r["peak_rss_mb"] for r in rounds),
        test_accuracy=last.get("test_accuracy"),
        settings=last.get("settings", {}),
        rounds=rounds,
    )


def kmlp_argv(recipe: str, backend: str, epochs: int | None, threads: int, overrides: list[str]) -> list[str]:
    argv = [sys.executable, "-m", "kmlp.bench", recipe, "--backend", backend, "--threads", str(threads)]
    if epochs is not None:
        argv += ["--epochs", str(epochs)]
    for item in overrides:
        argv += ["--set", item]
    return argv


def usable_backends(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """The installed backends among ``names``, and for each missing one the line that says how to get it."""
    for name in names:
        check_backend_name(name, "--backends")
    missing = {n: f"not installed: pip install 'kmlp[{n}]'" for n in names if not is_installed(n)}
    return [n for n in names if n not in missing], missing


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class Contender:
    """One thing to measure: a child process command (printing a JSON report last) on one backend."""

    name: str
    backend: str
    argv: list[str]


def interleave(
    contenders: list[Contender],
    repeat: int,
    threads: int,
    on_result: Callable[[int, Contender, ChildResult], None] | None = None,
) -> list[Row]:
    """Run every contender once per round, round after round, each in a fresh process with the same thread cap,
    so a load spike on a shared machine hits them alike; one row of medians per contender. ``on_result`` gets
    (round from 1, contender, result) as each finishes."""
    results: dict[str, list[ChildResult]] = {c.name: [] for c in contenders}
    for round_ in range(1, repeat + 1):
        for contender in contenders:
            env = {**thread_env(threads), "KERAS_BACKEND": contender.backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
            result = run_child(contender.argv, env, contender.name)
            results[contender.name].append(result)
            if on_result:
                on_result(round_, contender, result)
    return [summarise(c.name, c.backend, results[c.name]) for c in contenders]


def bench(
    recipe: str,
    backends: list[str],
    *,
    epochs: int | None = None,
    repeat: int = 1,
    threads: int | None = None,
    overrides: list[str] = (),  # type: ignore[assignment]
    on_result: Callable[[int, Contender, ChildResult], None] | None = None,
) -> tuple[list[Row], dict[str, str], int]:
    """Measure ``recipe`` on each usable backend ``repeat`` times, interleaved; return rows, missing, threads."""
    threads = threads or default_threads()
    usable, missing = usable_backends(backends)
    if not usable:
        raise KmlpError(
            f"none of the requested backends is installed ({', '.join(backends)})",
            "install one, e.g. pip install 'kmlp[jax]'",
        )
    contenders = [Contender(f"kmlp {b}", b, kmlp_argv(recipe, b, epochs, threads, list(overrides))) for b in usable]
    return interleave(contenders, repeat, threads, on_result), missing, threads


# --- the child process -----------------------------------------------------------------------------------------


def _child(recipe_arg: str, backend: str, epochs: int | None, threads: int, overrides: list[str]) -> dict[str, Any]:
    """Train the recipe once on ``backend`` with a live (invisible) progress bar, as ``kmlp run`` would."""
    from rich.console import Console

    from kmlp.recipe.resolve import load
    from kmlp.runtime.backend import DeviceRequest, activate
    from kmlp.runtime.threads import pin_threads

    extra = [*overrides, "output.save_model=false", "logging.plots=false"]
    if epochs is not None:
        extra.append(f"training.epochs={epochs}")
    with tempfile.TemporaryDirectory(prefix="kmlp-bench-") as out:
        recipe = load(recipe_arg, [*extra, f"output.dir={json.dumps(out)}"])
        started = time.perf_counter()
        device = activate(backend, DeviceRequest("cpu"))
        pinned = pin_threads(backend, threads)
        baseline_rss_mb = memory_mb("VmRSS")  # the backend loaded, no data yet
        from kmlp.runtime.backend import BackendChoice
        from kmlp.train.progress import EpochTimer
        from kmlp.train.run import train

        import_seconds = time.perf_counter() - started
        timer = EpochTimer()
        # A terminal console writing to /dev/null: the live progress bar runs (and costs what it costs).
        with open(os.devnull, "w") as sink:
            console = Console(file=sink, force_terminal=True, width=120)
            result = train(recipe, BackendChoice(backend, "kmlp bench"), device, console, callbacks=[timer])
        environment = json.loads(result.run.environment_file.read_text())
    return {
        "epoch_seconds": timer.seconds,
        "samples": timer.steps * recipe["training"]["batch_size"],
        "test_accuracy": result.test_metrics.get("accuracy"),
        "first_step_at": timer.first_step_at,
        "import_seconds": import_seconds,
        "baseline_rss_mb": baseline_rss_mb,
        "peak_rss_mb": memory_mb(),
        "settings": {
            "jit_compile": environment["jit_compile"],
            "steps_per_execution": environment["steps_per_execution"],
            "threads": pinned,
            "batch_size": recipe["training"]["batch_size"],
        },
    }


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m kmlp.bench", description="One measured kmlp training run.")
    parser.add_argument("recipe")
    parser.add_argument("--backend", required=True, choices=BACKENDS)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    report = _child(args.recipe, args.backend, args.epochs, args.threads, args.overrides)
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
