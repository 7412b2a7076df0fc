"""One sweep trial, in its own process: ``kmlp run`` with a callback that reports each epoch to the sweep.

The sweep process starts ``python -m kmlp.sweeps.trial SPEC`` for every trial, so each trial imports keras fresh
with the backend and device applied exactly as ``kmlp run`` applies them. It talks to its parent over two
pipes: JSON lines out on the file descriptor named by ``KMLP_SWEEP_FD`` (one per epoch, then the result), and
``prune``/``continue`` replies in on stdin. When stdin closes, the sweep is gone (killed, even with SIGKILL):
the trial interrupts itself, so no orphan trains on and the run folder reads ``interrupted``.

Exit codes are kmlp's: 0 done, 1 the run failed, 2 a user error (the sweep stops), 130 interrupted.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
from typing import Any, TextIO

from kmlp.errors import EXIT_INTERRUPTED, KmlpError

FD_ENV = "KMLP_SWEEP_FD"


class _Replies:
    """Lines from the parent on stdin; ``None`` once stdin is closed. Closing mid-trial interrupts the trial."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.finished = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            self.lines.put(line.strip())
        self.lines.put(None)
        if not self.finished.is_set():
            os.kill(os.getpid(), signal.SIGINT)  # the sweep died: stop training, mark the run interrupted


def _reporter(metric: str, channel: TextIO, replies: _Replies, prune: bool) -> Any:
    import keras

    class Reporter(keras.callbacks.Callback):
        """Send ``metric`` after every epoch; stop training when the sweep says the trial is pruned."""

        def __init__(self) -> None:
            super().__init__()
            self.value: float | None = None
            self.pruned_after: int | None = None

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            if metric not in logs:
                raise KmlpError(
                    f"sweep.metric {metric!r} is not among this run's per-epoch values: {', '.join(sorted(logs))}",
                    "pick one of those; val_* values need a validation split (training.validation_split > 0)",
                )
            self.value = float(logs[metric])
            _send(channel, {"event": "epoch", "epoch": epoch, "value": self.value})
            if not prune:
                return
            reply = replies.lines.get()
            if reply is None:
                raise KeyboardInterrupt
            if reply == "prune":
                self.pruned_after = epoch + 1
                self.model.stop_training = True

    return Reporter()


def _send(channel: TextIO, message: dict[str, Any]) -> None:
    try:
        channel.write(json.dumps(message) + "\n")
        channel.flush()
    except BrokenPipeError:
        raise KeyboardInterrupt from None  # the sweep is gone


def run(spec: dict[str, Any], channel: TextIO, replies: _Replies) -> None:
    from rich.console import Console

    from kmlp.recipe.resolve import load
    from kmlp.runtime.backend import activate, choose_backend, parse_device

    recipe = load(spec["recipe"], spec["overrides"])
    choice = choose_backend(spec.get("backend"), recipe["runtime"]["backend"])
    device = activate(choice.name, parse_device(spec.get("device") or recipe["runtime"]["device"]))
    from kmlp.train.run import train  # imports keras, now that the backend is fixed

    reporter = _reporter(spec["metric"], channel, replies, spec["prune"])
    console = Console(stderr=True, highlight=False)
    result = train(recipe, choice, device, console, quiet=True, callbacks=[reporter])
    replies.finished.set()
    if reporter.pruned_after is not None:
        result.run.set_status("completed", pruned_after_epoch=reporter.pruned_after)
    _send(
        channel,
        {
            "event": "result",
            "run": str(result.run.path),
            "value": reporter.value,
            "pruned": reporter.pruned_after is not None,
            "epochs": len(next(iter(result.history.values()), [])),
            "test": result.test_metrics,
            "backend": choice.name,
            "device": device,
        },
    )


def main() -> None:
    spec = json.loads(sys.argv[1])
    channel = os.fdopen(int(os.environ[FD_ENV]), "w", encoding="utf-8")
    replies = _Replies()
    try:
        run(spec, channel, replies)
    except KmlpError as error:
        from kmlp.console import print_error

        print_error(error)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
