"""Experiment logs a recipe's ``[logging]`` section turns on: TensorBoard, MLflow, and the run's own plots.

TensorBoard event files are written with tensorboardX, a framework-free writer: Keras's own TensorBoard callback
needs TensorFlow's ``tf.summary`` even on JAX and PyTorch, and the ``tensorboard`` package's writer imports
TensorFlow whenever it is installed. MLflow goes through ``MlflowClient`` against an explicit tracking URI,
by default a SQLite database shared by every run under ``output.dir``, so ``mlflow ui`` can compare them.

The run folder stays the record: a logging service that fails mid-run costs a warning, never the run.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import keras
from rich.console import Console

from kmlp.errors import KmlpError
from kmlp.recipe.files import dump_toml
from kmlp.recipe.schema import Recipe
from kmlp.runs.folder import RunDir
from kmlp.runs.records import flatten
from kmlp.runtime.extras import EXTRAS, require

#: MLflow's name for each final state of a kmlp run.
_MLFLOW_STATES = {"completed": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}


class TensorBoardLog(keras.callbacks.Callback):
    """Per-epoch scalars in Keras's layout: ``tensorboard/train`` and ``tensorboard/validation``, tags
    ``epoch_<metric>``, plus the learning rate and, at the end, the test metrics under ``tensorboard/test``."""

    def __init__(self, folder: Path, recipe_text: str) -> None:
        super().__init__()
        self.folder = folder
        self.recipe_text = recipe_text
        self._writers: dict[str, Any] = {}
        self.last_epoch = 0

    def writer(self, split: str) -> Any:
        if split not in self._writers:
            from tensorboardX import SummaryWriter

            self._writers[split] = SummaryWriter(str(self.folder / split))
        return self._writers[split]

    def on_train_begin(self, logs=None):
        indented = "\n".join("    " + line for line in self.recipe_text.splitlines())
        self.writer("train").add_text("recipe", indented, 0)

    def on_epoch_end(self, epoch, logs=None):
        self.last_epoch = epoch
        for key, value in (logs or {}).items():
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            self.writer(split).add_scalar(f"epoch_{name}", float(value), epoch)
        learning_rate = getattr(self.model.optimizer, "learning_rate", None)
        if learning_rate is not None:
            value = float(keras.ops.convert_to_numpy(learning_rate))
            self.writer("train").add_scalar("epoch_learning_rate", value, epoch)
        for writer in self._writers.values():
            writer.flush()

    def end(self, state: str, test_metrics: dict[str, float] | None) -> None:
        for name, value in (test_metrics or {}).items():
            self.writer("test").add_scalar(f"epoch_{name}", value, self.last_epoch)
        for writer in self._writers.values():
            writer.close()


class MlflowLog(keras.callbacks.Callback):
    """One MLflow run per kmlp run: the resolved recipe as params, per-epoch metrics, test metrics, the run
    folder's files as artifacts, and the final state."""

    def __init__(self, recipe: Recipe, console: Console) -> None:
        super().__init__()
        require("mlflow")
        for name in ("mlflow", "alembic"):  # start-up chatter (database migrations) is not the user's business
            logging.getLogger(name).setLevel(logging.WARNING)
        from mlflow.tracking import MlflowClient

        settings = recipe["logging"]
        output = Path(recipe["output"]["dir"]).expanduser().resolve()
        self.uri = settings["mlflow_tracking_uri"] or f"sqlite:///{output / 'mlflow.db'}"
        self.console = console
        self.run_id: str | None = None
        self.recipe = recipe
        try:
            if not settings["mlflow_tracking_uri"]:
                output.mkdir(parents=True, exist_ok=True)
            self.client = MlflowClient(tracking_uri=self.uri)
            artifacts = None if settings["mlflow_tracking_uri"] else (output / "mlartifacts").as_uri()
            self.experiment_id = self._experiment(settings["mlflow_experiment"] or recipe.name, artifacts)
        except Exception as exc:  # MLflow raises many kinds for a bad URI or an unreachable server
            raise KmlpError(
                f"cannot use MLflow tracking at {self.uri}: {type(exc).__name__}: {exc}",
                "check logging.mlflow_tracking_uri, or set logging.mlflow = false",
            ) from exc

    def _experiment(self, name: str, artifact_location: str | None) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name, artifact_location=artifact_location)
        except Exception:  # another process created it first
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def start(self, run: RunDir, environment: dict[str, Any]) -> None:
        from mlflow.entities import Param

        self.run_folder = run.path
        tags = {
            "kmlp.run_dir": str(run.path.resolve()),
            "kmlp.backend": environment.get("backend"),
            "kmlp.device": environment.get("device"),
            "kmlp.keras": environment.get("keras"),
        }
        self.run_id = self.client.create_run(
            self.experiment_id, run_name=f"{self.recipe.name}/{run.path.name}", tags=tags
        ).info.run_id
        params = [Param(key, _text(value)) for key, value in flatten(self.recipe.to_dict()).items()]
        self._safely(self.client.log_batch, self.run_id, params=params)

    def on_epoch_end(self, epoch, logs=None):
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, epoch) for key, value in (logs or {}).items()]
        self._safely(self.client.log_batch, self.run_id, metrics=metrics)

    def end(self, state: str, test_metrics: dict[str, float] | None) -> None:
        from mlflow.entities import Metric

        if self.run_id is None:
            return
        now = int(time.time() * 1000)
        if test_metrics:
            metrics = [Metric(f"test_{key}", value, now, 0) for key, value in test_metrics.items()]
            self._safely(self.client.log_batch, self.run_id, metrics=metrics)
        for path in sorted(self.run_folder.iterdir()):
            if path.is_file() and path.suffix in (".toml", ".json", ".csv", ".png"):
                self._safely(self.client.log_artifact, self.run_id, str(path))
        self._safely(self.client.set_terminated, self.run_id, _MLFLOW_STATES.get(state, "FAILED"))

    def _safely(self, call, *args, **kwargs) -> None:
        if self.client is None:
            return
        try:
            call(*args, **kwargs)
        except Exception as exc:
            self.console.print(f"[yellow]warning:[/] MLflow logging stopped ({type(exc).__name__}: {exc})")
            self.client = None


class ExperimentLogs:
    """Everything ``[logging]`` asks for, for one run. Created before the run folder (so a bad tracking URI
    writes nothing), started once it exists, and ended with the run's final state."""

    def __init__(self, recipe: Recipe, console: Console, *, quiet: bool = False) -> None:
        self.recipe = recipe
        self.console = console
        self.quiet = quiet
        settings = recipe["logging"]
        if settings["tensorboard"]:
            require("tensorboard")
        self.mlflow = MlflowLog(recipe, console) if settings["mlflow"] else None
        self.callbacks: list[keras.callbacks.Callback] = []
        self.run: RunDir | None = None

    def start(self, run: RunDir, environment: dict[str, Any]) -> None:
        self.run = run
        if self.recipe["logging"]["tensorboard"]:
            self.callbacks.append(TensorBoardLog(run.path / "tensorboard", dump_toml(self.recipe.to_dict())))
        if self.mlflow is not None:
            self.mlflow.start(run, environment)
            self.callbacks.append(self.mlflow)

    def end(self, state: str, test_metrics: dict[str, float] | None = None) -> None:
        """Close every log; a completed run first gets its plots, so MLflow stores them too."""
        if state == "completed" and self.recipe["logging"]["plots"] and self.run is not None:
            self._draw_plots()
        for callback in self.callbacks:
            callback.end(state, test_metrics)

    def _draw_plots(self) -> None:
        if EXTRAS["plots"].missing():
            if not self.quiet:
                self.console.print(
                    "plots skipped: matplotlib is not installed (pip install 'kmlp[plots]', "
                    "or set logging.plots = false)"
                )
            return
        from kmlp.runs import plots

        with contextlib.suppress(KmlpError):
            plots.draw_run(self.run.path)


def _text(value: Any) -> str:
    return str(value)[:6000]  # MLflow's limit on a param value
