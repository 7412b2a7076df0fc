"""Experiment logs on the backend under test: TensorBoard event files and MLflow runs, read back with each
tool's own reader and checked against the run folder's history.csv."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import BACKEND, SYNTHETIC_RECIPE, kmlp
from rich.console import Console

from kmlp.errors import KmlpError, RunFailed
from kmlp.recipe.resolve import load
from kmlp.runs.records import read_history
from kmlp.runtime.backend import BackendChoice


def train(path, *overrides):
    from kmlp.train import run as training

    return training.train(
        load(path, overrides), BackendChoice(BACKEND, "test"), "cpu:0", Console(quiet=True), quiet=True
    )


@pytest.fixture
def recipe(write_recipe):
    return write_recipe(SYNTHETIC_RECIPE + "validation_split = 0.25\n")


#: TensorBoard's own reader, in a fresh process (it imports TensorFlow when it is installed).
READ_EVENTS = """
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
found = {}
for split in ("train", "validation", "test"):
    events = EventAccumulator(sys.argv[1] + "/" + split)
    events.Reload()
    found[split] = {t: [(e.step, e.value) for e in events.Scalars(t)] for t in events.Tags()["scalars"]}
print(json.dumps(found))
"""


def test_tensorboard_event_files_hold_every_epoch(recipe):
    result = train(recipe, "logging.tensorboard=true")
    folder = result.run.path / "tensorboard"
    done = subprocess.run([sys.executable, "-c", READ_EVENTS, str(folder)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    scalars = json.loads(done.stdout.strip().splitlines()[-1])
    history = read_history(result.run.history_file)
    for split, prefix in (("train", ""), ("validation", "val_")):
        for name in ("loss", "accuracy"):
            logged = scalars[split][f"epoch_{name}"]
            assert [step for step, _ in logged] == [0, 1, 2]
            assert [value for _, value in logged] == pytest.approx(history[prefix + name], rel=1e-6)
    assert [v for _, v in scalars["train"]["epoch_learning_rate"]] == pytest.approx([0.01] * 3)
    assert scalars["test"]["epoch_accuracy"] == [[2, pytest.approx(result.test_metrics["accuracy"], rel=1e-6)]]


def test_mlflow_run_holds_params_metrics_artifacts_and_state(recipe, tmp_path):
    from mlflow.tracking import MlflowClient

    result = train(recipe, "logging.mlflow=true")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("synth")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["kmlp.run_dir"] == str(result.run.path.resolve())
    assert run.data.tags["kmlp.backend"] == BACKEND
    assert run.data.params["training.epochs"] == "3" and run.data.params["optimizer.name"] == "adam"
    history = read_history(result.run.history_file)
    logged = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [m.step for m in logged] == [0, 1, 2]
    assert [m.value for m in logged] == pytest.approx(history["val_accuracy"], rel=1e-6)
    assert run.data.metrics["test_accuracy"] == pytest.approx(result.test_metrics["accuracy"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"recipe.toml", "history.csv", "metrics.json", "curves.png", "confusion_matrix.png"} <= artifacts
    assert (tmp_path / "runs" / "mlartifacts").is_dir()  # beside the database, not in the working directory

    with pytest.raises(RunFailed):
        train(recipe, "logging.mlflow=true", "optimizer.name=sgd", "optimizer.learning_rate=1e30")
    states = sorted(r.info.status for r in client.search_runs([experiment.experiment_id]))
    assert states == ["FAILED", "FINISHED"]


def test_an_unusable_tracking_uri_is_a_user_error_before_the_run_folder(recipe, tmp_path):
    with pytest.raises(KmlpError, match="cannot use MLflow tracking at nosuch://") as caught:
        train(recipe, "logging.mlflow=true", 'logging.mlflow_tracking_uri="nosuch://nowhere"')
    assert "mlflow_tracking_uri" in caught.value.hint
    assert not (tmp_path / "runs" / "synth").exists()


@pytest.mark.parametrize(
    ("switch", "module", "extra"), [("tensorboard", "tensorboardX", "tensorboard"), ("mlflow", "mlflow", "mlflow")]
)
def test_a_switch_whose_extra_is_missing_is_a_recipe_problem(recipe, switch, module, extra):
    code = (
        f"import sys\nsys.modules[{module!r}] = None\nfrom kmlp.cli import main\n"
        f"sys.argv = ['kmlp', 'validate', {str(recipe)!r}, 'logging.{switch}=true']\nmain()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"logging.{switch}:" in done.stderr and f"pip install 'kmlp[{extra}]'" in done.stderr


def test_logging_is_off_by_default(recipe):
    result = train(recipe)
    assert not (result.run.path / "tensorboard").exists()
    assert kmlp("validate", str(recipe), "logging.tensorboard=true").returncode == 0
