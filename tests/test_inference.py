"""Using a trained model: `kmlp evaluate` and `kmlp predict`, safe loading, and every way an input can be wrong.

Models are trained and used on the backend under test here; tests/test_cross_backend.py uses them across backends.
"""

from __future__ import annotations

import csv
import json
import re
import zipfile

import numpy as np
import pytest
from conftest import BACKEND, SYNTHETIC_RECIPE, kmlp, run_json
from inprocess import invoke, invoke_json
from plugin_fixtures import make_distribution
from rich.console import Console

from kmlp.errors import KmlpError
from kmlp.plugins.builtins.small import load_synthetic
from kmlp.recipe.resolve import load
from kmlp.runtime.backend import BackendChoice

SYNTHETIC = {"train_samples": 512, "test_samples": 256, "input_shape": [16], "num_classes": 4, "noise": 0.8}
BARE_DATASET_ARGS = [f"dataset.{k}={json.dumps(v)}" for k, v in SYNTHETIC.items() if k != "num_classes"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One run of the synthetic recipe on the backend under test, and its test inputs as a .npy file."""
    from kmlp.train import run as training

    folder = tmp_path_factory.mktemp("trained")
    recipe_file = folder / "recipe.toml"
    recipe_file.write_text(SYNTHETIC_RECIPE + f'\n[output]\ndir = "{(folder / "runs").as_posix()}"\n')
    result = training.train(
        load(recipe_file, ["training.epochs=2"]),
        BackendChoice(BACKEND, "test"),
        "cpu:0",
        Console(quiet=True),
        quiet=True,
    )
    x_test, y_test = load_synthetic(seed=3, **SYNTHETIC).test
    np.save(folder / "x.npy", x_test)
    return {"run": result.run.path, "metrics": result.test_metrics, "x": folder / "x.npy", "y": y_test}


def _jit_default() -> bool:
    """What ``jit_compile="auto"`` resolves to on this backend (JAX: true; TF on CPU and torch: false)."""
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mse")
    return bool(model.jit_compile)


# --- evaluate ----------------------------------------------------------------------------------------------------


def test_evaluate_a_run_folder_reproduces_its_test_metrics(trained):
    result = run_json("evaluate", str(trained["run"]), "--quiet")
    assert result["metrics"]["accuracy"] == pytest.approx(trained["metrics"]["accuracy"], abs=1e-7)
    assert result["metrics"]["loss"] == pytest.approx(trained["metrics"]["loss"], rel=1e-5)
    assert result["examples"] == 256 and result["split"] == "test" and result["dataset"] == "synthetic"
    assert result["backend"] == BACKEND and result["device"] == "cpu:0"
    assert result["jit_compile"] == _jit_default()


def test_evaluate_prints_a_table(trained):
    done = invoke("evaluate", str(trained["run"]))
    assert done.returncode == 0, done.stderr
    assert "test metrics on synthetic (256 examples)" in done.stdout and "accuracy" in done.stdout


def test_evaluate_other_splits_of_a_run(trained):
    train = invoke_json("evaluate", str(trained["run"]), "--split", "train")
    assert train["examples"] == 512 and train["metrics"]["accuracy"] > 0.8
    done = invoke("evaluate", str(trained["run"]), "--split", "validation")
    assert done.returncode == 2 and "this run had no validation split" in done.stderr
    done = invoke("evaluate", str(trained["run"]), "--split", "dev")
    assert done.returncode == 2 and "unknown split 'dev'" in done.stderr


def test_evaluate_a_bare_model_file_needs_its_dataset(trained, tmp_path):
    bare = tmp_path / "model.keras"
    bare.write_bytes((trained["run"] / "model.keras").read_bytes())
    done = invoke("evaluate", str(bare))
    assert done.returncode == 2
    assert "is not in a run folder, so kmlp does not know its data" in done.stderr
    assert "--dataset NAME" in done.stderr
    result = invoke_json("evaluate", str(bare), "--dataset", "synthetic", "--seed", "3", *BARE_DATASET_ARGS)
    assert result["metrics"]["accuracy"] == pytest.approx(trained["metrics"]["accuracy"], abs=1e-7)
    assert result["run"] is None
    done = invoke("evaluate", str(bare), "--dataset", "digits")
    assert done.returncode == 2
    assert "dataset 'digits' has examples of shape (8, 8), but the model takes (16,)" in done.stderr
    done = invoke("evaluate", str(bare), "--dataset", "synthetic", "training.epochs=3")
    assert done.returncode == 2 and "only dataset.KEY=VALUE applies to a bare model file" in done.stderr


def test_evaluate_a_run_on_overridden_data(trained):
    """--set applies to the run's recipe: more test examples drawn the same way."""
    result = invoke_json("evaluate", str(trained["run"] / "model.keras"), "--set", "dataset.test_samples=512")
    assert result["examples"] == 512 and result["run"] == str(trained["run"])


def test_evaluate_missing_or_unfinished_targets(tmp_path):
    done = invoke("evaluate", str(tmp_path / "nowhere"))
    assert done.returncode == 2 and "does not exist" in done.stderr
    (tmp_path / "status.json").write_text('{"state": "failed"}')
    done = invoke("evaluate", str(tmp_path))
    assert done.returncode == 2 and "has no model.keras (the run is failed)" in done.stderr


# --- predict -----------------------------------------------------------------------------------------------------


def test_predict_writes_classes_and_softmax_probabilities(trained, tmp_path):
    out = tmp_path / "predictions.npz"
    result = invoke_json("predict", str(trained["run"]), str(trained["x"]), "--output", str(out))
    assert result["examples"] == 256 and result["output"] == str(out)
    with np.load(out) as saved:
        logits, probabilities, classes = saved["logits"], saved["probabilities"], saved["classes"]
        assert "class_names" not in saved  # synthetic data has none
    assert logits.shape == probabilities.shape == (256, 4) and classes.shape == (256,)
    assert logits.dtype == probabilities.dtype == np.float32 and classes.dtype == np.int64
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probabilities, expected / expected.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(classes, logits.argmax(axis=1))
    assert np.mean(classes == trained["y"]) == pytest.approx(trained["metrics"]["accuracy"], abs=1e-7)


def test_predict_default_output_and_csv(trained, tmp_path):
    x = tmp_path / "inputs.npy"
    x.write_bytes(trained["x"].read_bytes())
    done = invoke("predict", str(trained["run"]), str(x))
    assert done.returncode == 0, done.stderr
    assert "256 predictions written to" in done.stdout
    assert (tmp_path / "inputs.predictions.npz").is_file()
    done = invoke("predict", str(trained["run"]), str(x))
    assert done.returncode == 2 and "already exists" in done.stderr and "--overwrite" in done.stderr
    assert invoke("predict", str(trained["run"]), str(x), "--overwrite").returncode == 0
    table = tmp_path / "p.csv"
    assert invoke("predict", str(trained["run"]), str(x), "-o", str(table)).returncode == 0
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == 256 and list(rows[0]) == ["row", "class", "confidence", "prob_0", "prob_1", "prob_2", "prob_3"]
    first = rows[0]
    probabilities = [float(first[f"prob_{i}"]) for i in range(4)]
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
    assert int(first["class"]) == int(np.argmax(probabilities))
    done = invoke("predict", str(trained["run"]), str(x), "-o", str(tmp_path / "p.json"))
    assert done.returncode == 2 and "use a .npz or .csv file name" in done.stderr


def test_predict_csv_names_classes_when_the_dataset_has_them(tmp_path):
    from conftest import RECIPES

    done = invoke(
        "run", str(RECIPES / "digits_mlp.toml"), "training.epochs=1", f"output.dir={json.dumps(str(tmp_path))}"
    )
    assert done.returncode == 0, done.stderr
    (run,) = (tmp_path / "digits_mlp").iterdir()
    from sklearn.datasets import load_digits

    np.save(tmp_path / "digits.npy", (load_digits().images[:5] / 16.0).astype(np.float32))
    assert invoke("predict", str(run), str(tmp_path / "digits.npy"), "-o", str(tmp_path / "d.csv")).returncode == 0
    rows = list(csv.DictReader((tmp_path / "d.csv").open()))
    assert all(row["class_name"] == row["class"] for row in rows)  # the digits' names are "0".."9"
    assert invoke("predict", str(run), str(tmp_path / "digits.npy"), "-o", str(tmp_path / "d.npz")).returncode == 0
    with np.load(tmp_path / "d.npz") as saved:
        assert list(saved["class_names"]) == [str(d) for d in range(10)]


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (
            np.zeros((5, 8), np.float32),
            "has shape (5, 8), but the model expects examples of shape (16,) (an array of shape (N, 16))",
        ),
        (np.zeros((5, 4, 4), np.float32), "has shape (5, 4, 4), but the model expects examples of shape (16,)"),
        (np.zeros((5, 16), np.uint8), "has dtype uint8, but the model expects float32 inputs"),
        (np.array(["a"] * 16), "has dtype <U1, but the model expects float32 inputs"),
    ],
    ids=["features", "rank", "uint8", "strings"],
)
def test_predict_wrong_inputs_are_clear_errors(trained, tmp_path, array, message):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    done = invoke("predict", str(trained["run"]), str(path))
    assert done.returncode == 2, done.stderr
    assert f"error: {path} {message}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "bad.predictions.npz").exists()


def test_a_wrong_input_in_a_fresh_process_is_one_message_and_exit_2(trained, tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((3, 17), np.float32))
    done = kmlp("predict", str(trained["run"]), str(tmp_path / "bad.npy"))
    assert done.returncode == 2
    assert f"error: {tmp_path / 'bad.npy'} has shape (3, 17), but the model expects" in done.stderr
    assert "Traceback" not in done.stderr


def test_input_files_are_read_without_pickle(tmp_path):
    from kmlp.inference.predictions import read_inputs

    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(KmlpError, match="cannot read .*allow_pickle=False"):
        read_inputs(tmp_path / "objects.npy")
    np.savez(tmp_path / "two.npz", a=np.zeros(3), b=np.ones(3))
    with pytest.raises(KmlpError, match="holds a, b; which are the inputs") as caught:
        read_inputs(tmp_path / "two.npz")
    assert "--key" in caught.value.hint
    np.testing.assert_array_equal(read_inputs(tmp_path / "two.npz", "b"), np.ones(3))
    np.savez(tmp_path / "x.npz", x=np.zeros(2), y=np.ones(2))
    np.testing.assert_array_equal(read_inputs(tmp_path / "x.npz"), np.zeros(2))
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(KmlpError, match="cannot read"):
        read_inputs(tmp_path / "junk.npy")
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(KmlpError, match="is not a .npy or .npz file"):
        read_inputs(tmp_path / "x.csv")


def test_one_example_is_predicted_as_a_batch_of_one(trained, tmp_path):
    np.save(tmp_path / "one.npy", np.load(trained["x"])[0])
    result = invoke_json("predict", str(trained["run"]), str(tmp_path / "one.npy"))
    assert result["examples"] == 1


# --- safe loading --------------------------------------------------------------------------------------------------


def test_a_lambda_layer_is_refused_by_safe_mode(tmp_path):
    import keras

    from kmlp.inference.loading import load_model

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Lambda(lambda t: t * 2)(inputs)))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(KmlpError) as caught:
        load_model(tmp_path / "lambda.keras")
    assert caught.value.message == (
        f"{tmp_path / 'lambda.keras'} contains Python code (a Lambda layer or function), which kmlp never runs on "
        "load: Keras's safe mode refused it"
    )
    assert "rebuild the model from registered layers" in caught.value.hint
    np.save(tmp_path / "x.npy", np.zeros((1, 4), np.float32))
    done = invoke("predict", str(tmp_path / "lambda.keras"), str(tmp_path / "x.npy"))
    assert done.returncode == 2 and "Keras's safe mode refused it" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"garbage", "{path} is not a .keras model file: File is not a zip file"),
        (None, "{path} is not a .keras model file: it has no config.json"),
        ("{not json", "{path} is damaged: its config.json is not JSON"),
        ('{"class_name": "Functional", "config": {"layers": "nonsense"}}', "cannot load {path}: Could not locate"),
    ],
    ids=["not-zip", "no-config", "bad-json", "bad-config"],
)
def test_damaged_model_files_are_clear_errors(tmp_path, content, message):
    from kmlp.inference.loading import load_model

    path = tmp_path / "model.keras"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("metadata.json", "{}")
            if content is not None:
                archive.writestr("config.json", content)
    with pytest.raises(KmlpError, match="^" + re.escape(message.format(path=path))):
        load_model(path)


def test_only_keras_files_are_loaded(tmp_path):
    from kmlp.inference.loading import load_model

    (tmp_path / "model.h5").write_bytes(b"")
    with pytest.raises(KmlpError, match=r"model.h5 is not a .keras model file") as caught:
        load_model(tmp_path / "model.h5")
    assert "Keras 3 .keras files" in caught.value.hint


LAYERS_MODULE = """
import keras

@keras.saving.register_keras_serializable(package="kmlp_demo")
class Doubler(keras.layers.Layer):
    def call(self, x):
        return x * 2

def build(*, input_shape, num_outputs):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.Dense(num_outputs)(Doubler()(inputs)))
"""
SPEC_MODULE = """
from kmlp.api import ArchitectureSpec
DOUBLER = ArchitectureSpec(summary="Doubles, then a dense layer.", builder="kmlp_demo_layers:build")
"""


def test_custom_layers_come_from_an_installed_plugin_or_are_named(tmp_path, monkeypatch):
    """The file names ``kmlp_demo>Doubler``: kmlp imports the installed plugin's builder module to register it,
    and when no plugin provides it, says what to install. Nothing the file names is imported otherwise."""
    import sys

    import keras

    from kmlp.inference.loading import load_model
    from kmlp.plugins.registry import Registry

    site = tmp_path / "site"
    make_distribution(
        site,
        "kmlp-demo",
        "0.1",
        {"kmlp.architectures": {"doubler": "kmlp_demo_spec:DOUBLER"}},
        {"kmlp_demo_spec": SPEC_MODULE, "kmlp_demo_layers": LAYERS_MODULE},
    )
    monkeypatch.syspath_prepend(str(site))
    import kmlp_demo_layers

    kmlp_demo_layers.build(input_shape=(3,), num_outputs=2).save(tmp_path / "custom.keras")

    def forget_the_layer():
        keras.saving.get_custom_objects().pop("kmlp_demo>Doubler")
        sys.modules.pop("kmlp_demo_layers")

    forget_the_layer()
    without_plugin = Registry.discover(builtins_only=True)
    with pytest.raises(KmlpError) as caught:
        load_model(tmp_path / "custom.keras", registry=without_plugin)
    assert (
        caught.value.message
        == f"{tmp_path / 'custom.keras'} uses custom layers that no installed plugin provides: kmlp_demo>Doubler"
    )
    assert caught.value.hint == "install the plugin that defines them (package kmlp-demo): pip install kmlp-demo"

    model = load_model(tmp_path / "custom.keras", registry=Registry.discover())
    assert type(model.layers[1]).__name__ == "Doubler"
    forget_the_layer()
    model = load_model(str(tmp_path / "custom.keras"), architecture="doubler", registry=Registry.discover())  # str ok
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.layers[1](np.ones((1, 3), np.float32))), np.full((1, 3), 2.0)
    )


@pytest.mark.filterwarnings("ignore:Model doesn't support `jit_compile=True`:UserWarning")  # TF, in the trap
def test_compile_settings_follow_the_loading_backend(trained, tmp_path):
    """Keras restores ``jit_compile`` as the saving backend resolved it (JAX: true, which would turn torch.compile
    on under torch); kmlp recompiles with this backend's own "auto"."""
    import keras

    from kmlp.inference.loading import load_model

    foreign = not _jit_default()  # what another backend would have saved
    source = trained["run"] / "model.keras"
    path = tmp_path / "foreign.keras"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                config["compile_config"]["jit_compile"] = foreign
                config["compile_config"]["steps_per_execution"] = 4
                data = json.dumps(config).encode()
            copy.writestr(item, data)
    trap = keras.saving.load_model(path)
    assert trap.steps_per_execution == 4
    if BACKEND != "tensorflow":  # TF refuses XLA once op determinism is on, as training in this process made it
        assert trap.jit_compile == foreign
    model = load_model(path)
    assert model.jit_compile == _jit_default() and model.steps_per_execution == 1
    assert [m.name for m in model.metrics] == ["loss", "compile_metrics"] and model.compiled
