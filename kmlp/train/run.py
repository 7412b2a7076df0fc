"""A run end to end: prepare (data, model), open the run folder, fit with kmlp's callbacks, evaluate and save.

This package imports keras at the top, so it is imported only after :func:`kmlp.runtime.backend.activate` has
fixed the backend and device. Nothing here names TensorFlow, PyTorch or JAX.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
from rich.console import Console

from kmlp.api import DatasetSplits
from kmlp.errors import RunFailed
from kmlp.plugins.registry import Plugin, Registry, default_registry
from kmlp.recipe.files import dump_toml
from kmlp.recipe.schema import Recipe
from kmlp.runs import confusion
from kmlp.runs.folder import RunDir, atomic_write, atomic_write_json, atomic_write_text
from kmlp.runtime import distribution as distribute
from kmlp.runtime.backend import BackendChoice
from kmlp.runtime.seeding import enable_determinism, seed_everything
from kmlp.train import checkpoint
from kmlp.train.batches import Batches, make_batches
from kmlp.train.callbacks import EpochOrder, StopOnNaN
from kmlp.train.data import load_data
from kmlp.train.environment import environment
from kmlp.train.logs import ExperimentLogs
from kmlp.train.model import build_model
from kmlp.train.outcome import checkpointed, recorded
from kmlp.train.progress import RichProgress
from kmlp.train.signals import StopOnSignal


@dataclass
class RunResult:
    run: RunDir
    test_metrics: dict[str, float]
    history: dict[str, list[float]]
    train_seconds: float


@dataclass
class Prepared:
    """Everything a run needs before its folder exists: a bad dataset or architecture fails here, writing nothing."""

    data: DatasetSplits
    batches: Batches
    model: keras.Model
    distribution: distribute.Distribution
    plugins: list[Plugin]
    env: dict[str, Any]


def prepare(recipe: Recipe, choice: BackendChoice, device: str, registry: Registry) -> Prepared:
    """Seed, load the data, start the distribution, batch, and build the compiled model."""
    seed_everything(choice.name, recipe.seed)
    if recipe["runtime"]["deterministic"]:
        enable_determinism(choice.name)
    data, dataset_plugin = load_data(recipe, registry)
    distribution = distribute.start(choice.name, recipe["distribution"], recipe["training"]["batch_size"])
    batches = make_batches(recipe, data, distribution.batch_multiple)
    model, architecture_plugin = build_model(recipe, data, registry, distribution)
    placement = distribution.check(model.weights)
    plugins = [dataset_plugin, architecture_plugin]
    env = environment(choice, device, model, plugins, data, {**distribution.describe(), **placement})
    return Prepared(data, batches, model, distribution, plugins, env)


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
    """Run a recipe end to end. ``callbacks`` are added to Keras's (sweeps report through them).

    ``resume``: continue that run folder (its recipe is ``recipe``) from its newest checkpoint instead.
    """
    prepared = prepare(recipe, choice, device, registry or default_registry())
    logs = ExperimentLogs(recipe, console, quiet=quiet)  # a bad tracking URI fails before the folder exists
    stopper = StopOnSignal()
    # From before the folder says "running" to the end: a signal in between is acted on at the next safe point,
    # instead of leaving a folder that says "running" with nobody running it. One that comes once training is
    # over lets the run finish evaluating and saving (seconds) and complete.
    with stopper.installed():
        run, finished, global_rng = _open_run(recipe, choice, prepared, resume)
        with recorded(run, stopper, logs):
            logs.start(run, prepared.env)
            if not quiet:
                console.print(f"run folder: {run.path}", highlight=False)
                if resume is not None:
                    console.print(f"resuming after epoch {finished}", highlight=False)
            nan_guard = StopOnNaN()
            progress = RichProgress(
                console, epochs=recipe["training"]["epochs"], steps=len(prepared.batches.train), quiet=quiet
            )
            extra = [nan_guard, stopper, *_run_callbacks(run, choice, global_rng), progress, *logs.callbacks]
            started = time.perf_counter()
            history = _fit(prepared, progress, recipe, finished, [*extra, *callbacks])
            train_seconds = time.perf_counter() - started
            _raise_if_diverged(nan_guard, run)
            test_metrics = _finish(recipe, run, prepared, finished + len(history.epoch), train_seconds)
        shutil.rmtree(run.checkpoint_dir, ignore_errors=True)  # the run is complete: nothing to resume
        logs.end("completed", test_metrics)  # plots and artifacts: still under the signal handler
    return RunResult(run, test_metrics, {k: [float(x) for x in v] for k, v in history.history.items()}, train_seconds)


def _run_callbacks(run: RunDir, choice: BackendChoice, global_rng: dict[str, Any]) -> list[keras.callbacks.Callback]:
    """The history row of each epoch, then its checkpoint (in that order: see ``checkpoint.truncate_history``)."""
    return [
        keras.callbacks.CSVLogger(str(run.history_file), append=True),
        checkpoint.EpochCheckpoint(run.checkpoint_dir, choice.name, global_rng),
    ]


def _open_run(
    recipe: Recipe, choice: BackendChoice, prepared: Prepared, resume: RunDir | None
) -> tuple[RunDir, int, dict[str, Any]]:
    """A new run folder, or the resumed one with its model restored; the epochs already done and saved RNG state."""
    if resume is None:
        run = RunDir.create(recipe["output"]["dir"], recipe.name, choice.name)
        run.set_status("running", pid=os.getpid(), host=socket.gethostname())
        saved = recipe.to_dict()
        saved["runtime"]["backend"] = choice.name
        atomic_write_text(run.recipe_file, dump_toml(saved))
        atomic_write_json(run.environment_file, prepared.env)
        return run, 0, {}
    with prepared.distribution.scope():
        finished, global_rng = checkpoint.restore(prepared.model, resume.checkpoint_dir)
    checkpoint.truncate_history(resume.history_file, finished)
    resumes = resume.read_status().get("resumes", 0) + 1
    resume.set_status("running", pid=os.getpid(), host=socket.gethostname(), resumes=resumes, error=None)
    return resume, finished, global_rng


def _fit(
    prepared: Prepared,
    progress: RichProgress,
    recipe: Recipe,
    initial_epoch: int,
    callbacks: list[keras.callbacks.Callback],
) -> keras.callbacks.History:
    batches = prepared.batches
    try:
        return prepared.model.fit(
            batches.train,
            validation_data=batches.validation,
            verbose=0,
            shuffle=False,  # ArrayBatches shuffles by (seed, epoch); Keras would reorder batches with Python's RNG
            epochs=recipe["training"]["epochs"],
            initial_epoch=initial_epoch,
            callbacks=[EpochOrder(batches.train), *callbacks],
        )
    except BaseException:
        progress.on_train_end()  # fit skips its callbacks' train end when it raises: close the live display
        raise


def _raise_if_diverged(nan_guard: StopOnNaN, run: RunDir) -> None:
    if not nan_guard.bad_step:
        return
    epoch, step, loss = nan_guard.bad_step
    good = checkpointed(run)
    kept = f"; the checkpoint of epoch {good} is kept in {run.checkpoint_dir}" if good else ""
    raise RunFailed(
        f"loss became {loss} at epoch {epoch}, step {step}; training stopped",
        f"lower optimizer.learning_rate, or add optimizer.clipnorm{kept}",
    )


def _finish(recipe: Recipe, run: RunDir, prepared: Prepared, epochs: int, train_seconds: float) -> dict[str, float]:
    """Evaluate on the test split, then write metrics, the confusion matrix and the model; mark the run completed."""
    model, test = prepared.model, prepared.batches.test
    test_metrics = {k: float(v) for k, v in model.evaluate(test, verbose=0, return_dict=True).items()}
    atomic_write_json(
        run.metrics_file, {"test": test_metrics, "epochs": epochs, "train_seconds": round(train_seconds, 3)}
    )
    confusion.save(run.path, model, test, prepared.data.test[1], prepared.data.class_names)
    if recipe["output"]["save_model"]:
        atomic_write(run.model_file, lambda tmp: model.save(tmp))
    run.set_status("completed")
    return test_metrics
