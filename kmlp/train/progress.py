"""Live training progress with Rich: an epoch bar and a step bar on a terminal, one plain line per epoch elsewhere.

Reading a metric forces the backend to finish the step, so the step bar reads logs at most every
``refresh_seconds``; between reads a batch costs a counter increment.
"""

from __future__ import annotations

import time
from typing import Any

import keras
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def format_logs(logs: dict[str, Any] | None) -> str:
    return "  ".join(f"{k} {float(v):.4f}" for k, v in (logs or {}).items())


class RichProgress(keras.callbacks.Callback):
    """Epoch and step progress; ``quiet`` prints nothing, a non-terminal gets one line per finished epoch."""

    #: Keras may call ``on_train_batch_end`` from a worker thread (JAX, torch), so the training loop does not wait
    #: for each step's logs to reach the host: without this a batch-end callback costs a device sync per step.
    #: Rich's ``Progress.update`` takes a lock.
    async_safe = True

    def __init__(self, console: Console, *, epochs: int, steps: int, quiet: bool = False, refresh_seconds: float = 0.2):
        super().__init__()
        self.console = console
        self.epochs = epochs
        self.steps = steps
        self.quiet = quiet
        self.refresh_seconds = refresh_seconds
        self.live = console.is_terminal and not quiet
        self._progress: Progress | None = None
        self._last_refresh = 0.0
        self._epoch_started = 0.0

    def on_train_begin(self, logs=None):
        if not self.live:
            return
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=self.console,
            transient=True,
        )
        self._progress.start()
        self._epoch_task = self._progress.add_task("epoch", total=self.epochs, metrics="")
        self._step_task = self._progress.add_task("step", total=self.steps, metrics="")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.perf_counter()
        if self._progress:
            self._progress.update(self._epoch_task, completed=epoch)
            self._progress.reset(self._step_task, total=self.steps, metrics="")

    def on_train_batch_end(self, batch, logs=None):
        if not self._progress:
            return
        now = time.perf_counter()
        if now - self._last_refresh < self.refresh_seconds:
            return
        self._last_refresh = now
        self._progress.update(self._step_task, completed=batch + 1, metrics=format_logs(logs))

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._epoch_started
        if self._progress:
            self._progress.update(self._epoch_task, completed=epoch + 1)
            self._progress.update(self._step_task, completed=self.steps)
        if not self.quiet:
            self.console.print(
                f"epoch {epoch + 1}/{self.epochs}  {format_logs(logs)}  ({seconds:.1f}s)", highlight=False
            )

    def on_train_end(self, logs=None):
        if self._progress:
            self._progress.stop()
            self._progress = None


class EpochTimer(keras.callbacks.Callback):
    """Seconds each epoch spent training, validation excluded (``kmlp bench`` and the benchmark references).

    Samples per epoch are counted as steps x batch size, by every contender alike. An epoch's clock stops at
    validation's start, or at the epoch's end without validation; reading the epoch's loss first makes an
    asynchronous backend (JAX) finish the epoch's last step.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self.steps = 0
        self.first_step_at: float | None = None
        self._started: float | None = None

    def on_train_begin(self, logs=None):
        self.steps = self.params.get("steps") or 0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        if self.first_step_at is None:
            self.first_step_at = time.time()

    def _stop(self, logs) -> None:
        if self._started is not None:
            float((logs or {}).get("loss", 0.0))
            self.seconds.append(time.perf_counter() - self._started)
            self._started = None

    def on_test_begin(self, logs=None):
        self._stop(None)

    def on_epoch_end(self, epoch, logs=None):
        self._stop(logs)
