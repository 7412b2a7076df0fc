"""How a run ends, recorded in its folder: whatever stops a run is written to ``status.json`` before it propagates.

:func:`recorded` wraps the part of a run after its folder exists. A signal leaves it ``interrupted`` with the
resume command, a user error (a ``KmlpError``) ``failed`` with the message, and any other exception ``failed``
with ``traceback.txt`` and a hint (out of memory gets its own).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from kmlp.errors import KmlpError, RunFailed
from kmlp.runs.folder import RunDir, atomic_write_text
from kmlp.train import checkpoint
from kmlp.train.logs import ExperimentLogs
from kmlp.train.signals import StopOnSignal, StopRequested

#: What out-of-memory errors say on each framework (MemoryError aside).
_OOM_WORDS = ("out of memory", "resource_exhausted", "resource exhausted", "oom when allocating")


def checkpointed(run: RunDir) -> int:
    """Epochs saved in the run's newest checkpoint: where a resume would start."""
    found = checkpoint.latest(run.checkpoint_dir)
    return found[0] if found else 0


@contextmanager
def recorded(run: RunDir, stopper: StopOnSignal, logs: ExperimentLogs) -> Iterator[None]:
    """Record in the run's status (and close the experiment logs) whatever ends the block other than success."""
    try:
        yield
    except StopRequested:
        interrupted = stopper.interrupted(run, checkpointed(run))
        logs.end("interrupted")
        raise interrupted from None
    except KeyboardInterrupt:
        run.set_status("interrupted", epochs_finished=checkpointed(run), resume=checkpoint.resume_command(run))
        logs.end("interrupted")
        raise
    except KmlpError as exc:
        run.set_status("failed", error=exc.message, epochs_finished=checkpointed(run))
        logs.end("failed")
        raise
    except Exception as exc:
        failure = failed(run, exc)
        logs.end("failed")
        raise failure from exc


def failed(run: RunDir, exc: Exception) -> RunFailed:
    """Mark the run failed with the error and its traceback (in ``traceback.txt``); what the user should see."""
    error = f"{type(exc).__name__}: {exc}".strip()
    first_line = error.splitlines()[0][:300]
    atomic_write_text(run.path / "traceback.txt", "".join(traceback.format_exception(exc)))
    good = checkpointed(run)
    run.set_status("failed", error=first_line, epochs_finished=good)
    resume = f"; `{checkpoint.resume_command(run)}` continues after epoch {good}" if good else ""
    if isinstance(exc, MemoryError) or any(word in error.lower() for word in _OOM_WORDS):
        return RunFailed(
            f"training ran out of memory ({first_line})",
            "use a smaller batch (--set training.batch_size=...), a smaller model, or run on the CPU with "
            f"--device cpu{resume}",
        )
    return RunFailed(
        f"training failed: {first_line}",
        f"the full traceback is in {run.path / 'traceback.txt'}{resume}",
    )
