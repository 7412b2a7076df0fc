"""Reading run folders back: what ``kmlp runs``, ``compare``, ``plot`` and ``sweep`` show about past runs.

Only the files a run writes (``status.json``, ``recipe.toml``, ``environment.json``, ``history.csv``,
``metrics.json``) are read, with the standard library: no keras, so listing a thousand runs is quick. A folder
that is half written (a crash, a run still going) is shown with what it has.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import os
import socket
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from kmlp.errors import KmlpError
from kmlp.errors import did_you_mean
from kmlp.runs.folder import RunDir

#: What a run whose status says ``running`` is shown as when the process that wrote it is gone.
CRASHED = "crashed"
_LOWER_IS_BETTER = ("loss", "error", "crossentropy", "hinge", "divergence")


def lower_is_better(metric: str) -> bool:
    return any(word in metric.lower() for word in _LOWER_IS_BETTER)


@dataclass
class RunRecord:
    """One run folder as read from disk; ``id`` is its path relative to the folder that was searched."""

    path: Path
    id: str
    status: dict[str, Any] = field(repr=False)

    @classmethod
    def read(cls, path: Path, root: Path | None = None) -> RunRecord:
        run = RunDir(path)
        try:
            run_id = path.resolve().relative_to(root.resolve()).as_posix() if root else str(path)
        except ValueError:
            run_id = str(path)
        return cls(path, run_id, run.read_status())

    @cached_property
    def recipe(self) -> dict[str, Any]:
        return _read(RunDir(self.path).recipe_file, tomllib.loads) or {}

    @cached_property
    def environment(self) -> dict[str, Any]:
        return _read(RunDir(self.path).environment_file, json.loads) or {}

    @cached_property
    def metrics(self) -> dict[str, Any]:
        return _read(RunDir(self.path).metrics_file, json.loads) or {}

    @cached_property
    def history(self) -> dict[str, list[float]]:
        return read_history(RunDir(self.path).history_file)

    @property
    def name(self) -> str:
        return self.recipe.get("recipe", {}).get("name") or self.path.parent.name

    @property
    def backend(self) -> str | None:
        return self.environment.get("backend") or self.recipe.get("runtime", {}).get("backend")

    @property
    def device(self) -> str | None:
        return self.environment.get("device")

    @property
    def state(self) -> str:
        """The recorded state, except that a ``running`` run whose process is gone reads ``crashed``."""
        state = self.status.get("state", "unknown")
        if state == "running" and not process_alive(self.status.get("pid"), self.status.get("host")):
            return CRASHED
        if state == "completed" and self.status.get("pruned_after_epoch"):
            return "pruned"  # a sweep stopped it early; its folder is complete
        return state

    @property
    def started(self) -> datetime | None:
        return _parse_time(self.status.get("started"))

    @property
    def duration(self) -> float | None:
        """Seconds from start to the last status update (to now, for a run still going)."""
        start, end = self.started, _parse_time(self.status.get("updated"))
        if start is None:
            return None
        if self.state == "running":
            end = datetime.now(start.tzinfo)
        return (end - start).total_seconds() if end else None

    @property
    def epochs(self) -> int:
        return len(next(iter(self.history.values()), []))

    @property
    def test(self) -> dict[str, float]:
        return self.metrics.get("test", {})

    @property
    def headline(self) -> str:
        """The metric a run is judged by: the recipe's first metric on validation when there is one, else train."""
        metrics = self.recipe.get("training", {}).get("metrics") or []
        base = metrics[0] if metrics else "loss"
        for name in (f"val_{base}", base, "val_loss", "loss"):
            if self.history.get(name):
                return name
        return f"val_{base}"

    def best(self, metric: str | None = None) -> dict[str, Any] | None:
        """The best epoch of ``metric`` (default: the headline): ``{"metric", "value", "epoch"}`` (1-based)."""
        metric = metric or self.headline
        values = self.history.get(metric)
        if not values:
            return None
        pick = min if lower_is_better(metric) else max
        epoch = pick(range(len(values)), key=values.__getitem__)
        return {"metric": metric, "value": values[epoch], "epoch": epoch + 1}

    def final(self) -> dict[str, Any] | None:
        """The test value of the headline metric when the run finished, else its value at the last epoch."""
        base = self.headline.removeprefix("val_")
        if base in self.test:
            return {"metric": f"test {base}", "value": self.test[base]}
        values = self.history.get(self.headline)
        return {"metric": f"last {self.headline}", "value": values[-1]} if values else None

    def last_epoch(self) -> dict[str, float]:
        return {k: v[-1] for k, v in self.history.items() if v}

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": str(self.path),
            "name": self.name,
            "backend": self.backend,
            "device": self.device,
            "status": self.state,
            "error": self.status.get("error"),
            "started": self.status.get("started"),
            "updated": self.status.get("updated"),
            "duration_seconds": self.duration,
            "epochs": self.epochs,
            "best": self.best(),
            "final": self.final(),
            "last_epoch": self.last_epoch(),
            "test": self.test,
        }


def read_history(path: Path) -> dict[str, list[float]]:
    """``history.csv`` (Keras's CSVLogger) as columns of floats, without the epoch column."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError:
        return {}
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            if key == "epoch" or key is None:
                continue
            try:
                columns.setdefault(key, []).append(float(value))
            except (TypeError, ValueError):
                columns.setdefault(key, []).append(float("nan"))
    return columns


#: States a run can be resumed from (a crashed run is one whose process died while it read ``running``).
RESUMABLE = ("interrupted", "failed", CRASHED)


def resumable(path: Path) -> Path:
    """``path`` if it is a run folder that ``kmlp resume`` can continue; else a ``KmlpError`` saying why not."""
    run = RunDir(path)
    if not path.is_dir() or not run.status_file.is_file() or not run.recipe_file.is_file():
        raise KmlpError(
            f"{path} is not a run folder (it needs status.json and recipe.toml)",
            "pass a folder that `kmlp runs` lists, e.g. runs/<recipe>/<timestamp>-<backend>",
        )
    state = RunRecord.read(path).state
    if state == "completed":
        raise KmlpError(f"the run in {path} is already completed", "start a new run of its recipe.toml instead")
    if state not in RESUMABLE:
        pid = run.read_status().get("pid")
        raise KmlpError(
            f"the run in {path} is {state}" + (f" (process {pid})" if state == "running" else ""),
            "only an interrupted, crashed or failed run can be resumed; stop it first",
        )
    return path


def find_runs(root: str | Path, pattern: str = "*") -> list[RunRecord]:
    """Every run folder under ``root`` (any depth, so sweep trials are included) whose id or recipe name
    matches the shell-style ``pattern``, newest first."""
    root = Path(root).expanduser()
    if not root.is_dir():
        return []
    records = [RunRecord.read(status.parent, root) for status in root.rglob("status.json")]
    matching = [r for r in records if _matches(r, pattern)]
    return sorted(matching, key=lambda r: (r.status.get("started") or "", r.id), reverse=True)


def _matches(record: RunRecord, pattern: str) -> bool:
    return (
        pattern in ("", "*")
        or fnmatch.fnmatch(record.id, pattern)
        or fnmatch.fnmatch(record.id, f"{pattern.rstrip('/')}/*")
        or fnmatch.fnmatch(record.name, pattern)
    )


def select_runs(arguments: list[str], root: str | Path) -> list[RunRecord]:
    """Runs named on the command line: a run folder's path, its id under ``root``, or a pattern (all matches)."""
    root = Path(root).expanduser()
    selected: dict[Path, RunRecord] = {}
    everything: list[RunRecord] | None = None
    for argument in arguments:
        for candidate in (Path(argument).expanduser(), root / argument):
            if RunDir(candidate).status_file.exists():
                record = RunRecord.read(candidate, root)
                selected.setdefault(candidate.resolve(), record)
                break
        else:
            everything = find_runs(root) if everything is None else everything
            matched = [r for r in everything if _matches(r, argument)]
            if not matched:
                known = [r.id for r in everything] + sorted({r.name for r in everything})
                suggestion = did_you_mean(argument, known)
                raise KmlpError(
                    f"no run folder or run under {root} matches {argument!r}",
                    suggestion or f"`kmlp runs --dir {root}` lists the runs there",
                )
            for record in reversed(matched):  # oldest first reads naturally in a comparison
                selected.setdefault(record.path.resolve(), record)
    return list(selected.values())


def recipe_differences(records: list[RunRecord]) -> dict[str, list[Any]]:
    """Dotted recipe keys (and the environment keys that matter for speed and numbers) whose values differ."""
    environment_keys = ("keras", "backend_version", "device", "jit_compile", "steps_per_execution", "dtype_policy")
    flat = []
    for record in records:
        values = flatten(record.recipe)
        values.update({f"environment.{k}": record.environment.get(k) for k in environment_keys})
        flat.append(values)
    keys = sorted({k for values in flat for k in values}, key=lambda k: (k.startswith("environment."), k))
    return {key: [v.get(key) for v in flat] for key in keys if len({json.dumps(v.get(key)) for v in flat}) > 1}


def flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables as dotted keys: ``{"training": {"epochs": 3}}`` -> ``{"training.epochs": 3}``."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _read(path: Path, parse) -> Any:
    try:
        return parse(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _parse_time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def process_alive(pid: Any, host: str | None = None) -> bool:
    """Whether process ``pid`` (which wrote a ``running`` status or claimed a sweep trial) still exists.

    Always assumed for another host, or when the pid is unknown."""
    if not isinstance(pid, int):
        return True
    if host and host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
