"""Mixed precision as a recipe option: trains on the backend under test, logits stay float32, survives saving."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import BACKEND
from inprocess import invoke_json
from rich.console import Console

from kmlp.plugins.builtins.small import load_synthetic
from kmlp.recipe.resolve import load
from kmlp.runtime.backend import BackendChoice

COMPUTE_DTYPES = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}


@pytest.fixture(autouse=True)
def _restore_global_policy():
    """build_model sets Keras's process-wide dtype policy; later tests in this process build float32 models."""
    import keras

    yield
    keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("policy", sorted(COMPUTE_DTYPES))
def test_mixed_precision_trains_keeps_logits_float32_and_survives_saving(write_recipe, policy):
    import keras

    from kmlp.inference.loading import load_model
    from kmlp.train import run as training

    recipe = load(write_recipe(), [f'runtime.precision="{policy}"', "training.epochs=4"])
    result = training.train(recipe, BackendChoice(BACKEND, "test"), "cpu:0", Console(quiet=True), quiet=True)
    assert result.test_metrics["accuracy"] > 0.8  # chance is 0.25
    environment = json.loads(result.run.environment_file.read_text())
    assert environment["dtype_policy"] == policy

    model = load_model(result.run.model_file)
    hidden, logits = model.get_layer("dense_1"), model.get_layer("logits")
    assert hidden.dtype_policy.name == policy
    assert hidden.compute_dtype == COMPUTE_DTYPES[policy] and hidden.kernel.dtype == "float32"
    assert logits.dtype_policy.name == "float32" and logits.compute_dtype == "float32"
    x_test, y_test = load_synthetic(seed=3, **recipe.params("dataset")).test
    outputs = model.predict(x_test, verbose=0)
    assert keras.backend.standardize_dtype(outputs.dtype) == "float32"
    assert np.all(np.isfinite(outputs))
    assert float(np.mean(outputs.argmax(axis=1) == y_test)) == pytest.approx(result.test_metrics["accuracy"], abs=1e-7)
    # float16 needs loss scaling against underflowing gradients: Keras wraps the optimizer itself.
    scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (policy == "mixed_float16")
    evaluated = invoke_json("evaluate", str(result.run.path))
    assert evaluated["metrics"]["accuracy"] == pytest.approx(result.test_metrics["accuracy"], abs=1e-7)
