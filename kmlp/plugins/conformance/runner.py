"""Run the checks: static ones in this process, runtime ones in one fresh process per backend.

One process holds one Keras backend, so each backend gets its own worker
(``python -m kmlp.plugins.conformance worker``), which writes one JSON line per finished check: if a plugin
crashes the interpreter, the checks that finished keep their results and the one that was running is reported as
the crash.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from kmlp.errors import KmlpError, did_you_mean
from kmlp.plugins.conformance.architectures import ArchitectureContext
from kmlp.plugins.conformance.base import (
    FAILED,
    RUNTIME,
    SKIPPED,
    STATIC,
    Check,
    CheckResult,
    apply_expectations,
    run_check,
    select_checks,
)
from kmlp.plugins.conformance.datasets import DatasetContext
from kmlp.plugins.conformance.static import SpecContext
from kmlp.plugins.registry import Registry
from kmlp.runtime.backend import BACKENDS, check_backend_name, is_installed, require_installed

#: ``{check: reason}`` for every plugin checked, or a function giving it per plugin entry (as scikit-learn's).
ExpectedFailures = Mapping[str, str] | Callable[[Any], Mapping[str, str]]
CONTEXT_TYPES: dict[str, type[SpecContext]] = {"dataset": DatasetContext, "architecture": ArchitectureContext}
WORKER_TIMEOUT_S = 3600


@dataclass
class Report:
    """Every result of one ``kmlp plugins check``."""

    plugins: list[str]
    backends: list[str]
    results: list[CheckResult]

    @property
    def ok(self) -> bool:
        return not any(r.failing for r in self.results)

    def counts(self) -> dict[str, int]:
        return dict(Counter(r.status for r in self.results))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "plugins": self.plugins,
            "backends": self.backends,
            "counts": self.counts(),
            "results": [r.to_dict() for r in self.results],
        }


def resolve_targets(targets: Iterable[str], registry: Registry) -> list[Any]:
    """Entries named by each target: a distribution (all its entries), ``distribution:name``, or a name.

    No target means every installed plugin that is not a kmlp built-in.
    """
    targets = list(targets)
    entries = registry.entries()
    if not targets:
        found = [e for e in entries if not e.builtin]
        if not found:
            raise KmlpError(
                "no third-party plugins are installed",
                "name what to check: a distribution, a plugin name or distribution:name (`kmlp plugins check kmlp` "
                "checks the built-ins)",
            )
        return found
    chosen: list[Any] = []
    for target in targets:
        wanted = canonicalize_name(target)
        dist, sep, name = target.rpartition(":")
        matches = [e for e in entries if canonicalize_name(e.distribution) == wanted]
        if sep:
            matches = [
                e for e in entries if e.name == name and canonicalize_name(e.distribution) == canonicalize_name(dist)
            ]
        elif not matches:
            matches = [e for e in entries if e.name == target]
        if not matches:
            known = sorted({e.name for e in entries} | {e.distribution for e in entries})
            raise KmlpError(
                f"no installed plugin or distribution {target!r}",
                did_you_mean(target, known) or "run `kmlp list` to see what is installed",
            )
        chosen += [e for e in matches if e not in chosen]
    return chosen


def expectations_for(expected: ExpectedFailures | None, entry: Any) -> dict[str, str]:
    if expected is None:
        return {}
    return dict(expected(entry) if callable(expected) else expected)


def installed_backends() -> list[str]:
    return [b for b in BACKENDS if is_installed(b)]


def choose_backends(requested: Iterable[str] | None) -> list[str]:
    """The requested backends (checked), or every installed one."""
    requested = list(requested or [])
    for name in requested:
        check_backend_name(name)
        require_installed(name)
    backends = requested or installed_backends()
    if not backends:
        raise KmlpError("no backend is installed", "pip install 'kmlp[jax]' (or torch, or tensorflow)")
    return list(dict.fromkeys(backends))


_CONTEXTS: dict[Any, SpecContext] = {}


def context_for(entry: Any, *, fresh: bool = False) -> SpecContext:
    """The context of ``entry`` in this process, shared by all its checks (``fresh`` starts a new one)."""
    if fresh or entry not in _CONTEXTS:
        _CONTEXTS[entry] = CONTEXT_TYPES[entry.kind](entry)
    return _CONTEXTS[entry]


def run_here(check: Check, entry: Any, backend: str | None = None) -> CheckResult:
    """Run one check in this process (runtime checks use the backend keras already has)."""
    if check.stage == RUNTIME and backend is None:
        import keras

        backend = keras.backend.backend()
    return run_check(check, context_for(entry), entry.qualified_name, entry.kind, backend)


def check_plugins(
    targets: Iterable[str] = (),
    *,
    backends: Iterable[str] | None = None,
    groups: Iterable[str] | None = None,
    checks: Iterable[str] | None = None,
    expected_failures: ExpectedFailures | None = None,
    registry: Registry | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Static checks here, then runtime checks in one fresh process per backend; see ``kmlp plugins check``."""
    registry = registry or Registry.discover()
    entries = resolve_targets(targets, registry)
    selected = select_checks(groups=groups, names=checks)
    chosen_backends = choose_backends(backends)
    say = progress or (lambda message: None)
    results: list[CheckResult] = []
    for entry in entries:
        say(f"static checks of {entry.qualified_name}")
        context = context_for(entry, fresh=True)
        for check in selected:
            if check.stage == STATIC and check.applies_to(entry.kind):
                results.append(run_check(check, context, entry.qualified_name, entry.kind, None))
    runtime = [c for c in selected if c.stage == RUNTIME]
    if any(c.applies_to(e.kind) for c in runtime for e in entries):
        for backend in chosen_backends:
            say(f"runtime checks on {backend} (a fresh process)")
            results += run_worker(backend, entries, runtime)
    expectations = {entry.qualified_name: expectations_for(expected_failures, entry) for entry in entries}
    results = [apply_expectations(r, expectations[r.plugin]) for r in results]
    return Report([e.qualified_name for e in entries], chosen_backends, results)


def run_worker(backend: str, entries: list[Any], checks: list[Check]) -> list[CheckResult]:
    """Runtime checks of ``entries`` in a fresh process on ``backend``; a crash or timeout becomes a result."""
    planned = [(e, c) for e in entries for c in checks if c.applies_to(e.kind)]
    job = {
        "backend": backend,
        "entries": [[e.kind, e.qualified_name] for e in entries],
        "checks": [c.name for c in checks],
    }
    with tempfile.TemporaryDirectory(prefix="kmlp-check-") as tmp:
        results_file = Path(tmp) / "results.jsonl"
        command = [sys.executable, "-m", "kmlp.plugins.conformance", "worker", json.dumps(job), str(results_file)]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S, env=dict(os.environ)
            )
            failure = None if done.returncode == 0 else _crash_reason(done.returncode, done.stderr)
        except subprocess.TimeoutExpired:
            failure = f"the check process did not finish within {WORKER_TIMEOUT_S} s"
        lines = results_file.read_text().splitlines() if results_file.exists() else []
    results = [CheckResult(**json.loads(line)) for line in lines if line.strip()]
    finished = {(r.plugin, r.check) for r in results}
    missing = [(e, c) for e, c in planned if (e.qualified_name, c.name) not in finished]
    for i, (entry, check) in enumerate(missing):
        status, reason = (FAILED, failure or "not run") if i == 0 else (SKIPPED, "not run: the check process ended")
        results.append(CheckResult(entry.qualified_name, entry.kind, check.name, check.group, backend, status, reason))
    return results


def _crash_reason(code: int, stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    tail = " | ".join(lines[-3:]) if lines else "no output"
    return f"the check process ended with exit code {code} while running this check: {tail}"


def worker(job: dict[str, Any], results_file: Path) -> None:
    """Body of the per-backend process: fix the backend, then run each check and append its result."""
    from kmlp.runtime.backend import apply, parse_device

    backend = job["backend"]
    apply(backend, parse_device("cpu"))
    registry = Registry.discover()
    checks = select_checks(names=job["checks"])
    with results_file.open("a") as out:
        for kind, qualified in job["entries"]:
            dist, _, name = qualified.rpartition(":")
            (entry,) = [
                e
                for e in registry.entries(kind)
                if e.name == name and canonicalize_name(e.distribution) == canonicalize_name(dist)
            ]
            context = context_for(entry, fresh=True)
            for check in checks:
                if check.applies_to(kind):
                    result = run_check(check, context, qualified, kind, backend)
                    out.write(json.dumps(result.to_dict()) + "\n")
                    out.flush()


def reload_and_predict(backend: str, architecture: str, model_path: Path, inputs: Path, outputs: Path) -> None:
    """Body of the reload process: only the plugin is imported, then the model is loaded and asked to predict."""
    import numpy as np

    from kmlp.runtime.backend import apply, parse_device

    apply(backend, parse_device("cpu"))
    from kmlp.inference.loading import load_model

    model = load_model(model_path, architecture=architecture)
    np.save(outputs, np.asarray(model.predict(np.load(inputs), verbose=0)))
