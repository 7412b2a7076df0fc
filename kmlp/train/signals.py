"""Stopping cleanly on Ctrl-C (SIGINT) or SIGTERM: after the current batch, with the unfinished epoch dropped.

This module imports keras: import it only after the backend is fixed.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import keras

from kmlp.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, KmlpError
from kmlp.runs.folder import RunDir
from kmlp.train.checkpoint import resume_command


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
