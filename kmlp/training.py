"""Training: build the model a recipe describes, fit, evaluate and save it, with Keras APIs only.

This module imports keras at the top, so it is imported only after :func:`kmlp.backend.activate` has fixed the
backend and device. Nothing here names TensorFlow, PyTorch or JAX.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from rich.console import Console

from kmlp import __version__, catalog, checkpoint, confusion, distribute
from kmlp.api import DatasetSplits
from kmlp.backend import (
    BackendChoice,
    enable_determinism,
    installed_version,
    seed_everything,
    steps_per_execution,
)
from kmlp.data import ArrayBatches, StreamBatches, stream_batches
from kmlp.errors import KmlpError, RunFailed
from kmlp.progress import RichProgress
from kmlp.recipe import Recipe, dump_toml
from kmlp.registry import Plugin, Registry, default_registry
from kmlp.runs import RunDir, atomic_write, atomic_write_json, atomic_write_text
from kmlp.tracking import ExperimentLogs


@dataclass
class Batches:
    """The splits a run trains, validates and tests on."""

    train: ArrayBatches | StreamBatches
    validation: ArrayBatches | StreamBatches | None
    test: ArrayBatches | StreamBatches


@dataclass
class RunResult:
    run: RunDir
    test_metrics: dict[str, float]
    history: dict[str, list[float]]
    train_seconds: float


def load_data(recipe: Recipe, registry: Registry) -> tuple[DatasetSplits, Plugin]:
    plugin = registry.lookup("dataset", recipe["dataset"]["name"])
    try:
        data = plugin.spec.load(seed=recipe.seed, **recipe.plugin_params("dataset"))
    except KmlpError as exc:  # name the recipe whose [dataset] settings failed, as recipe errors do
        raise KmlpError(f"{recipe.source}: [dataset] {plugin.entry.name}: {exc.message}", exc.hint) from exc
    if not isinstance(data, DatasetSplits):
        raise KmlpError(
            f"dataset {plugin.entry.name!r} ({plugin.entry.distribution}) returned {type(data).__name__}, "
            "not kmlp.api.DatasetSplits",
            "this is a bug in the plugin; `kmlp plugins check` shows which part of the contract it breaks",
        )
    return data, plugin


def make_batches(recipe: Recipe, data: DatasetSplits, multiple: int = 1) -> Batches:
    """Batch every split; hold out ``training.validation_split`` of train when the dataset has no validation.

    ``multiple``: batch sizes a data-parallel engine needs (see ``ArrayBatches``).
    """
    training = recipe["training"]
    batch_size = training["batch_size"]
    one_hot = data.num_classes if catalog.LOSSES[recipe["loss"]["name"]].labels == "one_hot" else None
    evaluated = {"num_classes": one_hot, "multiple": multiple, "pad": multiple > 1}
    if isinstance(data.train[0], np.memmap):  # a dataset streamed from disk (the npy dataset)
        return Batches(*stream_batches(training, data, recipe.seed, one_hot, multiple))
    x, y = _arrays(data.train, "train")
    indices = np.arange(len(x))
    validation = None
    if data.validation is not None:
        vx, vy = _arrays(data.validation, "validation")
        validation = ArrayBatches(vx, vy, batch_size, **evaluated)
    elif training["validation_split"] > 0:
        held_out = max(1, round(len(x) * training["validation_split"]))
        order = np.random.default_rng([recipe.seed, 1]).permutation(len(x))
        indices = np.sort(order[held_out:])
        validation = ArrayBatches(x, y, batch_size, indices=np.sort(order[:held_out]), **evaluated)
    train = ArrayBatches(
        x,
        y,
        batch_size,
        indices=indices,
        shuffle=training["shuffle"],
        seed=recipe.seed,
        num_classes=one_hot,
        multiple=multiple,
    )
    tx, ty = _arrays(data.test, "test")
    return Batches(train, validation, ArrayBatches(tx, ty, batch_size, **evaluated))


def _arrays(split: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(split, tuple | list) and len(split) == 2:
        return np.asarray(split[0]), np.asarray(split[1])
    raise KmlpError(f"the dataset's {name} split is not an (inputs, labels) pair of arrays")


def build_model(
    recipe: Recipe,
    data: DatasetSplits,
    registry: Registry,
    distribution: distribute.Distribution | None = None,
) -> tuple[keras.Model, Plugin]:
    """The architecture, compiled with the recipe's optimizer, loss and metrics.

    Inside the distribution's scope: on TensorFlow, variables are mirrored only if created there.
    """
    distribution = distribution or distribute.Distribution()
    with distribution.scope():
        return _build_model(recipe, data, registry, distributed=bool(distribution.devices))


def _build_model(
    recipe: Recipe, data: DatasetSplits, registry: Registry, distributed: bool
) -> tuple[keras.Model, Plugin]:
    keras.config.set_dtype_policy(recipe["runtime"]["precision"])
    plugin = registry.lookup("architecture", recipe["architecture"]["name"])
    model = plugin.spec.build(
        input_shape=tuple(data.input_shape), num_outputs=data.num_classes, **recipe.plugin_params("architecture")
    )
    if not isinstance(model, keras.Model):
        raise KmlpError(
            f"architecture {plugin.entry.name!r} ({plugin.entry.distribution}) returned {type(model).__name__}, "
            "not a keras.Model",
            "this is a bug in the plugin; `kmlp plugins check` shows which part of the contract it breaks",
        )
    training = recipe["training"]
    model.compile(
        optimizer=keras.optimizers.deserialize(
            {"class_name": recipe["optimizer"]["name"], "config": recipe.params("optimizer")}
        ),
        loss=keras.losses.deserialize(
            {"class_name": _class_name(recipe["loss"]["name"]), "config": recipe.params("loss")}
        ),
        weighted_metrics=list(training["metrics"]),  # honour the weight-0 rows that pad a batch (ArrayBatches)
        jit_compile=training["jit_compile"],
        steps_per_execution=steps_per_execution(training["steps_per_execution"], keras.backend.backend(), distributed),
    )
    return model, plugin


def _class_name(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


class _EpochOrder(keras.callbacks.Callback):
    """Tell the training batches which epoch starts, so their order depends on the epoch alone."""

    def __init__(self, batches: ArrayBatches) -> None:
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)


class _StopOnNaN(keras.callbacks.TerminateOnNaN):
    """``TerminateOnNaN`` that remembers where the loss went bad, for the run's error message."""

    async_safe = True  # checked off the training thread, so no step waits for its loss (see RichProgress)

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0
        self.bad_step: tuple[int, int, float] | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            # Run off the training thread, this can see a later step before fit stops: report the first.
            self.bad_step = self.bad_step or (self.epoch + 1, batch + 1, float(loss))
            self.model.stop_training = True


def environment(
    choice: BackendChoice,
    device: str,
    model: keras.Model,
    plugins: list[Plugin],
    data: DatasetSplits,
    distribution: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a reader needs to repeat the run: versions, backend, device, plugins and resolved settings."""
    return {
        "kmlp": __version__,
        "keras": keras.__version__,
        "backend": choice.name,
        "backend_source": choice.source,
        "backend_version": installed_version(choice.name),
        "device": device,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "command": sys.argv,
        "jit_compile": bool(model.jit_compile),
        "steps_per_execution": int(model.steps_per_execution),
        "dtype_policy": keras.config.dtype_policy().name,
        "plugins": {
            p.entry.kind: {
                "name": p.entry.name,
                "distribution": p.entry.distribution,
                "version": p.entry.version,
            }
            for p in plugins
        },
        "data": {
            "input_shape": list(data.input_shape),
            "num_classes": data.num_classes,
            "class_names": list(data.class_names) if data.class_names else None,
        },
        "distribution": distribution or {"strategy": "none", "devices": []},
    }


def train(
    recipe: Recipe,
    choice: BackendChoice,
    device: str,
    console: Console,
    *,
    quiet: bool = False,
    registry: Registry | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    resume: RunDir | None = None,
) -> RunResult:
    """Run a recipe end to end. Data and model are prepared before the run folder exists, so a bad dataset
    or architecture leaves nothing behind. ``callbacks`` are added to Keras's (sweeps report through them).

    ``resume``: continue that run folder (its recipe is ``recipe``) from its newest checkpoint instead.
    """
    registry = registry or default_registry()
    seed_everything(choice.name, recipe.seed)
    if recipe["runtime"]["deterministic"]:
        enable_determinism(choice.name)
    data, dataset_plugin = load_data(recipe, registry)
    distribution = distribute.start(choice.name, recipe["distribution"], recipe["training"]["batch_size"])
    batches = make_batches(recipe, data, distribution.batch_multiple)
    model, architecture_plugin = build_model(recipe, data, registry, distribution)
    placement = distribution.check(model.weights)
    logs = ExperimentLogs(recipe, console, quiet=quiet)
    env = environment(
        choice, device, model, [dataset_plugin, architecture_plugin], data, {**distribution.describe(), **placement}
    )

    stopper = checkpoint.StopOnSignal()
    # From before the folder says "running" to the end: a signal in between is acted on at the next safe point,
    # instead of leaving a folder that says "running" with nobody running it. One that comes once training is
    # over lets the run finish evaluating and saving (seconds) and complete.
    with stopper.installed():
        run, finished, global_rng = _open_run(recipe, choice, model, distribution, env, resume)
        epochs = recipe["training"]["epochs"]
        nan_guard = _StopOnNaN()
        progress = RichProgress(console, epochs=epochs, steps=len(batches.train), quiet=quiet)
        try:  # until the run is completed: whatever stops it is recorded in its status
            logs.start(run, env)
            if not quiet:
                console.print(f"run folder: {run.path}", highlight=False)
                if resume is not None:
                    console.print(f"resuming after epoch {finished}", highlight=False)
            callbacks = [
                _EpochOrder(batches.train),
                nan_guard,
                stopper,
                keras.callbacks.CSVLogger(str(run.history_file), append=True),
                # after the history row: see truncate_history
                checkpoint.EpochCheckpoint(run.checkpoint_dir, choice.name, global_rng),
                progress,
                *logs.callbacks,
                *callbacks,
            ]
            started = time.perf_counter()
            history = _fit(model, batches, progress, epochs=epochs, initial_epoch=finished, callbacks=callbacks)
            train_seconds = time.perf_counter() - started
            if nan_guard.bad_step:
                epoch, step, loss = nan_guard.bad_step
                good = _checkpointed(run)
                kept = f"; the checkpoint of epoch {good} is kept in {run.checkpoint_dir}" if good else ""
                raise RunFailed(
                    f"loss became {loss} at epoch {epoch}, step {step}; training stopped",
                    f"lower optimizer.learning_rate, or add optimizer.clipnorm{kept}",
                )
            test_metrics = {k: float(v) for k, v in model.evaluate(batches.test, verbose=0, return_dict=True).items()}
            metrics = {
                "test": test_metrics,
                "epochs": finished + len(history.epoch),
                "train_seconds": round(train_seconds, 3),
            }
            atomic_write_json(run.metrics_file, metrics)
            confusion.save(run.path, model, batches.test, data.test[1], data.class_names)
            if recipe["output"]["save_model"]:
                atomic_write(run.model_file, lambda tmp: model.save(tmp))
            run.set_status("completed")
        except checkpoint.StopRequested:
            interrupted = stopper.interrupted(run, _checkpointed(run))
            logs.end("interrupted")
            raise interrupted from None
        except KeyboardInterrupt:
            run.set_status("interrupted", epochs_finished=_checkpointed(run), resume=checkpoint.resume_command(run))
            logs.end("interrupted")
            raise
        except KmlpError as exc:
            run.set_status("failed", error=exc.message, epochs_finished=_checkpointed(run))
            logs.end("failed")
            raise
        except Exception as exc:
            failure = _failed(run, exc)
            logs.end("failed")
            raise failure from exc
        shutil.rmtree(run.checkpoint_dir, ignore_errors=True)  # the run is complete: nothing to resume
        logs.end("completed", test_metrics)  # plots and artifacts: still under the signal handler
    return RunResult(run, test_metrics, {k: [float(x) for x in v] for k, v in history.history.items()}, train_seconds)


def _open_run(
    recipe: Recipe,
    choice: BackendChoice,
    model: keras.Model,
    distribution: distribute.Distribution,
    env: dict[str, Any],
    resume: RunDir | None,
) -> tuple[RunDir, int, dict[str, Any]]:
    """A new run folder, or the resumed one with its model restored; the epochs already done and saved RNG state."""
    if resume is None:
        run = RunDir.create(recipe["output"]["dir"], recipe.name, choice.name)
        run.set_status("running", pid=os.getpid(), host=socket.gethostname())
        saved = recipe.to_dict()
        saved["runtime"]["backend"] = choice.name
        atomic_write_text(run.recipe_file, dump_toml(saved))
        atomic_write_json(run.environment_file, env)
        return run, 0, {}
    with distribution.scope():
        finished, global_rng = checkpoint.restore(model, resume.checkpoint_dir)
    checkpoint.truncate_history(resume.history_file, finished)
    resumes = resume.read_status().get("resumes", 0) + 1
    resume.set_status("running", pid=os.getpid(), host=socket.gethostname(), resumes=resumes, error=None)
    return resume, finished, global_rng


def _fit(model: keras.Model, batches: Batches, progress: RichProgress, **settings: Any) -> keras.callbacks.History:
    try:
        return model.fit(
            batches.train,
            validation_data=batches.validation,
            verbose=0,
            shuffle=False,  # ArrayBatches shuffles by (seed, epoch); Keras would reorder batches with Python's RNG
            **settings,
        )
    except BaseException:
        progress.on_train_end()  # fit skips its callbacks' train end when it raises: close the live display
        raise


def _checkpointed(run: RunDir) -> int:
    """Epochs saved in the run's newest checkpoint: where a resume would start."""
    found = checkpoint.latest(run.checkpoint_dir)
    return found[0] if found else 0


#: What out-of-memory errors say on each framework (MemoryError aside).
_OOM_WORDS = ("out of memory", "resource_exhausted", "resource exhausted", "oom when allocating")


def _failed(run: RunDir, exc: Exception) -> RunFailed:
    """Mark the run failed with the error and its traceback (in ``traceback.txt``); what the user should see."""
    error = f"{type(exc).__name__}: {exc}".strip()
    first_line = error.splitlines()[0][:300]
    atomic_write_text(run.path / "traceback.txt", "".join(traceback.format_exception(exc)))
    good = _checkpointed(run)
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
