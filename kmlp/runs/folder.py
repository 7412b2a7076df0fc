"""The run directory: a new folder per run, files written atomically, and a status file that says where it stands.

Layout of ``<output.dir>/<recipe name>/<YYYYmmdd-HHMMSS>-<backend>/``::

    status.json        running | completed | failed | interrupted, with timestamps and any error
    recipe.toml        the resolved recipe: defaults filled in, overrides applied, backend recorded
    environment.json   versions, backend, device, plugins and the settings chosen for this machine
    history.csv        one row per finished epoch (Keras's CSVLogger)
    metrics.json       final test metrics
    model.keras        the trained model
    checkpoint/        the newest epoch-end checkpoint, for ``kmlp resume`` (deleted once the run completes)
    traceback.txt      where training failed with an unexpected error

Nothing here ever overwrites or deletes an earlier run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kmlp.errors import KmlpError

STATES = ("running", "completed", "failed", "interrupted")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary name beside ``path``, then rename it into place.

    A crash leaves either the previous file or the new one, never half of one. The temporary name keeps the
    final suffix (Keras insists on ``.keras``/``.h5``).
    """
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def now_iso() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunDir:
    """One run's folder and the files in it."""

    path: Path

    status_file = property(lambda self: self.path / "status.json")
    recipe_file = property(lambda self: self.path / "recipe.toml")
    environment_file = property(lambda self: self.path / "environment.json")
    history_file = property(lambda self: self.path / "history.csv")
    metrics_file = property(lambda self: self.path / "metrics.json")
    model_file = property(lambda self: self.path / "model.keras")
    checkpoint_dir = property(lambda self: self.path / "checkpoint")

    @classmethod
    def create(cls, output_dir: str | Path, recipe_name: str, backend: str) -> RunDir:
        """A new, empty folder ``<output_dir>/<recipe_name>/<timestamp>-<backend>[-N]``; never reuses one."""
        root = Path(output_dir).expanduser()
        parent = root / recipe_name
        if parent.resolve().parent != root.resolve():  # recipe names are validated; this is a second guard
            raise KmlpError(f"recipe name {recipe_name!r} would leave the output directory {root}")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise KmlpError(
                f"cannot create runs under {root}: {exc.strerror or exc}",
                "choose a writable directory with --set output.dir=PATH",
            ) from exc
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for attempt in range(1000):
            path = parent / (f"{stamp}-{backend}" + (f"-{attempt}" if attempt else ""))
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise KmlpError(
                    f"cannot create a run folder in {parent}: {exc.strerror or exc}",
                    "choose a writable directory with --set output.dir=PATH",
                ) from exc
            return cls(path)
        raise KmlpError(f"could not find a free run folder name in {parent}")

    def read_status(self) -> dict[str, Any]:
        try:
            return json.loads(self.status_file.read_text())
        except (OSError, ValueError):
            return {}

    def set_status(self, state: str, **fields: Any) -> None:
        """Record the run's state; earlier fields (start time, pid) are kept."""
        assert state in STATES, state
        status = {**self.read_status(), **fields, "state": state, "updated": now_iso()}
        status.setdefault("started", status["updated"])
        atomic_write_json(self.status_file, status)
