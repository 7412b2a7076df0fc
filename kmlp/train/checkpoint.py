"""Resumable training: a checkpoint at every epoch end, and restoring it (stopping on a signal: ``signals``).

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
from pathlib import Path

import keras
import numpy as np

from kmlp.errors import KmlpError
from kmlp.runs.folder import RunDir, atomic_write_text
from kmlp.runtime.seeding import global_rng_state, set_global_rng_state

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
