"""Real training on the backend under test: it learns, writes a complete run folder, and repeats exactly."""

from __future__ import annotations

import csv
import json
import tomllib

import numpy as np
import pytest
from conftest import BACKEND, kmlp, run_json
from rich.console import Console

from kmlp.errors import RunFailed
from kmlp.recipe.resolve import load
from kmlp.runtime.backend import BackendChoice


def train(path, *overrides):
    from kmlp.train import run as training

    recipe = load(path, overrides)
    return training.train(recipe, BackendChoice(BACKEND, "test"), "cpu:0", Console(quiet=True), quiet=True)


def test_synthetic_run_learns_and_writes_a_complete_run_folder(write_recipe, tmp_path):
    result = train(write_recipe(), "training.epochs=4", "training.validation_split=0.25")
    assert result.test_metrics["accuracy"] > 0.8  # chance is 0.25
    run = result.run.path
    assert run.parent == tmp_path / "runs" / "synth" and run.name.endswith(f"-{BACKEND}")
    assert {p.name for p in run.iterdir()} == {
        "status.json",
        "recipe.toml",
        "environment.json",
        "history.csv",
        "metrics.json",
        "model.keras",
        "confusion_matrix.json",
        "curves.png",
        "confusion_matrix.png",
    }
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "completed" and status["started"] <= status["updated"]
    saved = tomllib.loads((run / "recipe.toml").read_text())
    assert saved["runtime"]["backend"] == BACKEND and saved["training"]["epochs"] == 4
    assert saved["optimizer"]["beta_1"] == 0.9  # defaults are written out
    assert (
        load(run / "recipe.toml").to_dict()["training"]
        == load(write_recipe(), ["training.epochs=4", "training.validation_split=0.25"]).to_dict()["training"]
    )
    environment = json.loads((run / "environment.json").read_text())
    for key in ("kmlp", "keras", "backend", "backend_version", "device", "python", "jit_compile", "plugins"):
        assert environment[key] is not None, key
    assert environment["plugins"]["dataset"] == {"name": "synthetic", "distribution": "kmlp", "version": "0.1.0"}
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"] == result.test_metrics and metrics["epochs"] == 4
    confusion = json.loads((run / "confusion_matrix.json").read_text())
    matrix = np.array(confusion["matrix"])
    assert matrix.shape == (4, 4) and matrix.sum() == 256  # every test example counted once
    assert confusion["accuracy"] == pytest.approx(result.test_metrics["accuracy"], abs=1e-6)
    assert status["host"] and status["pid"]


def test_saved_model_loads_back_with_the_same_results(write_recipe):
    import keras

    from kmlp.plugins.builtins.small import load_synthetic
    from kmlp.recipe.resolve import load as load_recipe

    path = write_recipe()
    result = train(path, "training.epochs=2")
    model = keras.saving.load_model(result.run.path / "model.keras")
    params = load_recipe(path).params("dataset")
    x_test, y_test = load_synthetic(seed=3, **params).test
    accuracy = float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test))
    assert accuracy == pytest.approx(result.test_metrics["accuracy"], abs=1e-6)


def test_digits_learns(tmp_path):
    from conftest import RECIPES

    result = train(RECIPES / "digits_mlp.toml", "training.epochs=10", f"output.dir={json.dumps(str(tmp_path))}")
    assert result.test_metrics["accuracy"] > 0.85  # chance is 0.1


def test_one_hot_losses_train(write_recipe):
    result = train(
        write_recipe(),
        "loss.name=categorical_crossentropy",
        "loss.label_smoothing=0.1",
        'training.metrics=["accuracy", "categorical_accuracy"]',
    )
    assert result.test_metrics["categorical_accuracy"] > 0.6


def test_each_run_gets_a_new_folder(write_recipe):
    first = train(write_recipe(), "training.epochs=1").run.path
    second = train(write_recipe(), "training.epochs=1").run.path
    assert first != second and first.exists() and second.exists()
    assert (first / "model.keras").exists()


def test_nan_loss_fails_the_run_and_says_where(write_recipe):
    with pytest.raises(RunFailed, match=r"loss became (nan|inf) at epoch 1, step \d+") as caught:
        train(write_recipe(), "optimizer.name=sgd", "optimizer.learning_rate=1e30")
    assert "learning_rate" in caught.value.hint


def test_cli_run_repeats_exactly_with_the_same_seed(write_recipe):
    path = str(write_recipe())
    first = run_json("run", path, "training.epochs=2")
    second = run_json("run", path, "training.epochs=2")
    assert first["test"] == second["test"]
    assert first["run"] != second["run"]
    assert first["backend"] == BACKEND and first["device"] == "cpu:0"


def test_cli_run_prints_progress_and_a_summary(write_recipe):
    done = kmlp("run", str(write_recipe()), "--set", "training.epochs=2")
    assert done.returncode == 0, done.stderr
    assert "epoch 1/2" in done.stdout and "epoch 2/2" in done.stdout
    assert "test metrics" in done.stdout and "accuracy" in done.stdout


def test_loaders_get_every_parameter_with_unset_ones_as_none():
    """The plugin contract: every declared parameter is passed; `path` left unset arrives as None."""
    from conftest import RECIPES

    from kmlp.plugins.registry import default_registry
    from kmlp.train.data import load_data

    recipe = load(RECIPES / "fashion_mnist_mlp.toml", ["dataset.train_size=64", "dataset.test_size=32"])
    data, _ = load_data(recipe, default_registry())
    assert data.train[0].shape == (64, 28, 28) and data.test[0].shape == (32, 28, 28)


def test_batches_are_trained_in_the_order_array_batches_gives(write_recipe, monkeypatch):
    """Keras's fit(shuffle=True) would reorder a PyDataset's batches with Python's RNG, whose state differs per
    backend; kmlp's order must come from (seed, epoch) alone, so the model sees batch 0, 1, 2, ... each epoch."""
    from kmlp.train.batches import ArrayBatches

    fetched: list[tuple[int, int]] = []
    original = ArrayBatches.__getitem__

    def logged(self, index):
        if self.shuffle:  # the training batches
            fetched.append((self.epoch, index))
        return original(self, index)

    monkeypatch.setattr(ArrayBatches, "__getitem__", logged)
    train(write_recipe(), "training.epochs=2")
    steps = 512 // 32
    for epoch in (0, 1):
        in_epoch = [index for e, index in fetched if e == epoch]
        assert in_epoch[-steps:] == list(range(steps)), in_epoch  # prefetching may restart, never reorder


def test_kmlp_run_of_a_saved_recipe_repeats_the_run_exactly(write_recipe):
    """A run folder holds everything needed to repeat it: the resolved recipe (seed, every default, the backend)
    and the versions it ran with. Running its recipe.toml again gives the same metrics, epoch by epoch."""
    from pathlib import Path

    first = run_json("run", str(write_recipe()), "training.epochs=2", "training.validation_split=0.25")
    first_run = Path(first["run"])
    second = run_json("run", str(first_run / "recipe.toml"))
    second_run = Path(second["run"])
    assert second_run != first_run and second_run.parent == first_run.parent
    assert second["test"] == first["test"]
    assert (second_run / "history.csv").read_text() == (first_run / "history.csv").read_text()
    assert (second_run / "recipe.toml").read_text() == (first_run / "recipe.toml").read_text()
    saved = tomllib.loads((first_run / "recipe.toml").read_text())
    assert saved["recipe"]["seed"] == 3 and saved["runtime"]["backend"] == BACKEND
    environment = json.loads((first_run / "environment.json").read_text())
    assert {"kmlp", "keras", "backend", "backend_version", "python", "numpy", "device", "dtype_policy"} <= set(
        environment
    )
    assert environment["backend"] == BACKEND and environment["backend_version"]
