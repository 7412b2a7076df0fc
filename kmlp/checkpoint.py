"""Resumable training: a checkpoint at every epoch end, restoring it, and stopping cleanly on Ctrl-C or SIGTERM.

A resumed run must end with the weights an uninterrupted one would have had. So a checkpoint holds everything the
next epoch depends on: the weights and the optimizer's variables (``iterations`` drives a learning-rate schedule)
as Keras's ``save_weights`` writes them, the dropout ``SeedGenerator`` states (model variables that
``save_weights`` leaves out), the framework's global random state (PyTorch's unseeded dropout draws from it), and
the number of finished epochs. The order of the training data depends only on ``(seed, epoch)``, so the epoch
number restores it. Keras's ``BackupAndRestore`` keeps only the first two and writes them in place, where a kill
mid-write leaves a mix of two epochs; here each checkpoint is written to a temporary folder and renamed into place.

This module imports keras: import it only after the backend is fixed.
"""

from __future__ import annotations

import json
import shlex
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import keras
import numpy as np

from kmlp.backend import global_rng_state, set_global_rng_state
from kmlp.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, KmlpError
from kmlp.runs import RunDir, atomic_write_text

_PREFIX = "epoch-"


def random_variables(model: keras.Model) -> list[keras.Variable]:
    """Model variables ``save_weights`` leaves out: the ``SeedGenerator`` states of dropout and other random layers."""
    saved = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in saved]


def latest(folder: Path) -> tuple[int, Path] | None:
    """The newest complete checkpoint in ``folder`` as ``(finished epochs, path)``; ``None`` when there is none."""
    found = []
    for path in folder.glob(f"{_PREFIX}*") if folder.is_dir() else ():
        number = path.name.removeprefix(_PREFIX)
        if number.isdigit() and (path / "state.json").is_file():
            found.append((int(number), path))
    return max(found) if found else None


class EpochCheckpoint(keras.callbacks.Callback):
    """Save the training state at the end of every complete epoch, keeping only the newest checkpoint.

    An epoch cut short (``stop_training`` set during it, as on a NaN loss) is not saved, so the last good
    checkpoint survives. ``global_rng`` (from :func:`restore`) is put back when training begins: PyTorch's
    ``fit`` draws from the global generator while it sets up, which an uninterrupted run did before epoch 1.
    """

    def __init__(self, folder: Path, backend: str, global_rng: dict[str, np.ndarray] | None = None) -> None:
        super().__init__()
        self.folder = folder
        self.backend = backend
        self.global_rng = global_rng

    def on_train_begin(self, logs=None):
        if self.global_rng:
            set_global_rng_state(self.backend, self.global_rng)

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:
            return
        save(self.model, self.folder, epoch + 1, self.backend)


def save(model: keras.Model, folder: Path, finished: int, backend: str) -> Path:
    """Write checkpoint ``epoch-<finished>`` atomically (a folder renamed into place) and drop older ones."""
    folder.mkdir(exist_ok=True)
    final = folder / f"{_PREFIX}{finished}"
    partial = folder / f".{_PREFIX}{finished}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    model.save_weights(partial / "model.weights.h5")
    arrays = {f"variable_{i}": keras.ops.convert_to_numpy(v.value) for i, v in enumerate(random_variables(model))}
    arrays.update({f"global_{k}": v for k, v in global_rng_state(backend).items()})
    np.savez(partial / "random_state.npz", **arrays)
    atomic_write_text(partial / "state.json", json.dumps({"epochs_finished": finished}) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    for path in folder.iterdir():
        if path != final:
            shutil.rmtree(path, ignore_errors=True)
    return final


def restore(model: keras.Model, folder: Path) -> tuple[int, dict[str, np.ndarray]]:
    """Load the newest checkpoint into a freshly built and compiled ``model``.

    Returns the number of finished epochs and the framework's global random state, for ``EpochCheckpoint``.
    """
    found = latest(folder)
    if found is None:
        return 0, {}
    finished, path = found
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(path / "model.weights.h5")
        with np.load(path / "random_state.npz", allow_pickle=False) as arrays:
            extra = random_variables(model)
            if sum(k.startswith("variable_") for k in arrays.files) != len(extra):
                raise ValueError("the model's random layers differ from the checkpoint's")
            for i, variable in enumerate(extra):
                variable.assign(arrays[f"variable_{i}"])
            rng = {k.removeprefix("global_"): arrays[k] for k in arrays.files if k.startswith("global_")}
    except (OSError, ValueError, KeyError) as exc:
        raise KmlpError(
            f"the checkpoint {path} does not fit this run's model: {exc}",
            "the recipe or the plugin changed since the run started; start a new run instead",
        ) from exc
    return finished, rng


def truncate_history(path: Path, epochs: int) -> None:
    """Keep the header and the first ``epochs`` rows of ``history.csv``: rows of an epoch that has no checkpoint
    (the process died between the two writes) would otherwise appear twice."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    atomic_write_text(path, "".join(lines[: 1 + epochs] if epochs else []))


def resume_command(run: RunDir) -> str:
    return f"kmlp resume {shlex.quote(str(run.path))}"


class Interrupted(KmlpError):
    """Training stopped on SIGINT or SIGTERM at a safe point; the run can be resumed."""

    def __init__(self, message: str, hint: str, exit_code: int) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code


class StopRequested(Exception):
    """Raised between two batches to leave ``fit`` after a signal, without recording the unfinished epoch."""


_EXIT_CODES = {signal.SIGINT: EXIT_INTERRUPTED, signal.SIGTERM: EXIT_TERMINATED}


class StopOnSignal(keras.callbacks.Callback):
    """Turn SIGINT/SIGTERM into a stop after the current batch.

    The handler only sets a flag (a signal can arrive in the middle of a framework call); the callback acts on
    it at the end of the batch. The unfinished epoch is dropped: the run resumes from the last epoch-end
    checkpoint, which is what makes a resumed run exact.
    """

    def __init__(self) -> None:
        super().__init__()
        self.received: signal.Signals | None = None
        self.epoch = 0

    def _handle(self, signum, frame) -> None:
        self.received = signal.Signals(signum)

    @contextmanager
    def installed(self) -> Iterator[StopOnSignal]:
        """Catch SIGINT and SIGTERM while the block runs (main thread only: Python delivers signals there)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self._handle) for sig in _EXIT_CODES}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self._check()

    def on_train_batch_end(self, batch, logs=None):
        self._check()

    def _check(self) -> None:
        if self.received is not None:
            raise StopRequested

    def interrupted(self, run: RunDir, finished: int) -> Interrupted:
        """Record the stop in ``status.json`` and describe it for the user."""
        assert self.received is not None
        name = self.received.name
        command = resume_command(run)
        run.set_status("interrupted", signal=name, epochs_finished=finished, resume=command)
        saved = f"epochs 1-{finished} are saved" if finished else "no epoch had finished, so nothing is saved"
        return Interrupted(
            f"{name} received: training stopped during epoch {self.epoch + 1}; {saved} in {run.path}",
            f"resume with: {command}",
            _EXIT_CODES[self.received],
        )
