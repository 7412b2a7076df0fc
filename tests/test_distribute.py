"""Data-parallel training: the recipe section, batches that split evenly, and real 2-device runs on the CPU.

The 2-device runs go through the real CLI in a fresh process, because the CPU is split into devices before the
framework starts (JAX: an XLA flag; TensorFlow: logical devices). JAX and TensorFlow each run on 2 devices;
PyTorch, which has no engine in Keras 3.15, must refuse clearly. Each tox env tests its own backend's behaviour.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import BACKEND, kmlp, run_json

from kmlp.errors import KmlpError, RecipeError
from kmlp.recipe.resolve import load
from kmlp.runtime.distribution import SUPPORTED_BACKENDS
from kmlp.train.batches import ArrayBatches

TWO_DEVICES = ["--set", 'distribution.strategy="data_parallel"', "--set", "distribution.devices=2"]


# --- the recipe ----------------------------------------------------------------------------------------------------


def test_distribution_section_defaults_and_checks(write_recipe):
    path = write_recipe()
    assert load(path)["distribution"] == {"strategy": "none", "devices": None}
    assert load(path, ['distribution.strategy="data_parallel"'])["distribution"]["devices"] is None
    with pytest.raises(RecipeError) as caught:
        load(path, ["distribution.devices=2"])
    assert "distribution.devices: has no effect without a strategy" in caught.value.message
    with pytest.raises(RecipeError) as caught:
        load(path, ['distribution.strategy="data_parallel"', "distribution.devices=3"])
    assert "training.batch_size: 32 cannot be split evenly over distribution.devices = 3" in caught.value.message
    assert "the batch size is global: use a multiple of 3" in caught.value.message
    with pytest.raises(RecipeError, match="distribution.strategy"):
        load(path, ['distribution.strategy="model_parallel"'])


# --- batches a data-parallel engine can split -------------------------------------------------------------------


def test_training_batches_drop_the_rows_that_do_not_split_evenly():
    x, y = np.arange(11, dtype=np.float32)[:, None], np.arange(11)
    batches = ArrayBatches(x, y, 4, shuffle=True, seed=0, multiple=2)
    sizes = [len(batches[i][0]) for i in range(len(batches))]
    assert sizes == [4, 4, 2]  # 11 rows: the last batch of 3 loses one row, a different one each epoch
    left_out = []
    for epoch in range(4):
        batches.set_epoch(epoch)
        seen = np.concatenate([batches[i][1] for i in range(len(batches))])
        left_out.append(set(range(11)) - set(seen))
    assert all(len(rows) == 1 for rows in left_out) and len(set(map(frozenset, left_out))) > 1
    assert len(ArrayBatches(x[:9], y[:9], 4, multiple=2)) == 2  # a last batch of 1 disappears


def test_evaluation_batches_pad_with_weight_zero_so_every_example_counts_once():
    x, y = np.arange(11, dtype=np.float32)[:, None], np.arange(11)
    batches = ArrayBatches(x, y, 4, multiple=2, pad=True)
    assert len(batches) == 3
    *_, (bx, by, weights) = (batches[i] for i in range(3))
    assert len(bx) == len(by) == len(weights) == 4  # 3 rows + 1 padding row
    np.testing.assert_array_equal(weights, [1, 1, 1, 0])
    np.testing.assert_array_equal(by[:3], [8, 9, 10])
    total = sum(batches[i][2].sum() for i in range(3))
    assert total == 11
    plain = ArrayBatches(x, y, 4)
    assert len(plain[2]) == 2 and len(plain[2][0]) == 3  # without a multiple nothing changes


# --- real runs on two devices ---------------------------------------------------------------------------------


def test_data_parallel_on_two_cpu_devices_matches_one_device(write_recipe, tmp_path):
    """Same recipe, seed and global batch on 1 and 2 devices: the same mean gradient each step, so the same model.

    Only the order of floating-point sums differs (per-device partial sums, then an all-reduce): measured weight
    differences are ~1e-7. Test accuracy may then differ only where an example sits on a decision boundary, so the
    tolerance is one test example in 256; the loss within 1e-4 relative.
    """
    path = str(write_recipe())
    if BACKEND not in SUPPORTED_BACKENDS:
        done = kmlp("run", path, *TWO_DEVICES)
        assert done.returncode == 2
        assert f'distribution.strategy = "data_parallel" is not supported on the {BACKEND} backend' in done.stderr
        assert "data-parallel training runs on jax and tensorflow" in done.stderr
        assert not (tmp_path / "runs").exists()
        return
    single = run_json("run", path)
    double = run_json("run", path, *TWO_DEVICES)
    environment = json.loads((Path(double["run"]) / "environment.json").read_text())
    assert environment["distribution"] == {
        "strategy": "data_parallel",
        "devices": ["cpu:0", "cpu:1"],
        "variables_checked": 4,  # both Dense layers' kernel and bias
        "replicas_per_variable": 2,
    }
    assert json.loads((Path(single["run"]) / "environment.json").read_text())["distribution"] == {
        "strategy": "none",
        "devices": [],
    }
    assert abs(double["test"]["accuracy"] - single["test"]["accuracy"]) <= 1 / 256
    assert double["test"]["loss"] == pytest.approx(single["test"]["loss"], rel=1e-4)
    # The model trained on two devices is an ordinary model file: evaluated on one device, same metrics.
    evaluated = run_json("evaluate", double["run"])
    assert evaluated["metrics"]["accuracy"] == pytest.approx(double["test"]["accuracy"], abs=1e-7)


def test_uneven_batches_on_two_devices_count_every_test_example(write_recipe, tmp_path):
    """515 training and 257 test examples: the last batches do not split over 2 devices (JAX needs them to)."""
    if BACKEND not in SUPPORTED_BACKENDS:
        done = kmlp("run", str(write_recipe()), *TWO_DEVICES)
        assert done.returncode == 2 and "is not supported on the torch backend" in done.stderr
        return
    path = str(write_recipe())
    sizes = ["dataset.train_samples=515", "dataset.test_samples=257", "training.validation_split=0.1"]
    double = run_json("run", path, *TWO_DEVICES, *sizes)
    correct = double["test"]["accuracy"] * 257
    assert correct == pytest.approx(round(correct), abs=1e-3)  # a whole number of the 257 examples
    evaluated = run_json("evaluate", double["run"])  # one device, no padding
    assert evaluated["examples"] == 257
    assert evaluated["metrics"]["accuracy"] == pytest.approx(double["test"]["accuracy"], abs=1e-7)


def test_more_devices_than_the_backend_sees(write_recipe):
    """In this process the backend has already started with one CPU device, so it cannot be split any more."""
    from kmlp.runtime import distribution as distribute

    if BACKEND not in SUPPORTED_BACKENDS:
        with pytest.raises(KmlpError, match="not supported on the torch backend"):
            distribute.start(BACKEND, {"strategy": "data_parallel", "devices": 2}, 32)
        return
    with pytest.raises(KmlpError) as caught:
        distribute.start(BACKEND, {"strategy": "data_parallel", "devices": 2}, 32)
    assert caught.value.message == f"distribution.devices = 2, but the {BACKEND} backend sees 1 device(s): cpu:0"
    assert distribute.start(BACKEND, {"strategy": "none", "devices": None}, 32).devices == ()


def test_data_parallel_on_every_local_device_when_devices_is_unset(write_recipe, tmp_path):
    """Unset ``devices`` means all the backend sees: here, the one CPU."""
    args = ["run", str(write_recipe()), "--set", 'distribution.strategy="data_parallel"', "training.epochs=1"]
    if BACKEND not in SUPPORTED_BACKENDS:
        done = kmlp(*args)
        assert done.returncode == 2 and "is not supported on the torch backend" in done.stderr
        return
    done = run_json(*args)
    environment = json.loads((Path(done["run"]) / "environment.json").read_text())
    assert environment["distribution"]["devices"] == ["cpu:0"]


def test_data_parallel_tensorflow_takes_one_step_per_call():
    """MirroredStrategy breaks inside its graph loop with several steps per call; "auto" means 1 there."""
    from kmlp.train.model import steps_per_execution

    assert steps_per_execution("auto", "tensorflow", distributed=True) == 1
    assert steps_per_execution("auto", "tensorflow", distributed=False) == 16
    assert steps_per_execution("auto", "jax", distributed=True) == 16
    assert steps_per_execution("auto", "torch", distributed=False) == 1
    assert steps_per_execution(4, "jax", distributed=False) == 4
    with pytest.raises(KmlpError, match="does not work with data-parallel training on tensorflow") as caught:
        steps_per_execution(8, "tensorflow", distributed=True)
    assert 'steps_per_execution = "auto"' in caught.value.hint
