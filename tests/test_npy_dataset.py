"""The ``npy`` dataset: .npy files streamed from disk a chunk at a time (or loaded), on the backend under test."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BACKEND
from rich.console import Console

from kmlp.errors import KmlpError
from kmlp.recipe.resolve import load
from kmlp.runtime.backend import BackendChoice

RECIPE = """
[recipe]
name = "npy"
seed = 1
[dataset]
name = "npy"
train_x = "{d}/train_x.npy"
train_y = "{d}/train_y.npy"
test_x = "{d}/test_x.npy"
test_y = "{d}/test_y.npy"
[architecture]
name = "mlp"
hidden_units = [32]
[optimizer]
name = "adam"
learning_rate = 0.01
[training]
epochs = 3
batch_size = 32
validation_split = 0.1
"""


@pytest.fixture
def npy_files(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 12)).astype(np.float32)
    for split, count in (("train", 600), ("test", 200)):
        y = rng.integers(0, 4, count)
        np.save(tmp_path / f"{split}_x.npy", centres[y] + 0.6 * rng.standard_normal((count, 12), np.float32))
        np.save(tmp_path / f"{split}_y.npy", y)
    return tmp_path


def _train(path, *overrides):
    from kmlp.train import run as training

    recipe = load(path, overrides)
    return training.train(recipe, BackendChoice(BACKEND, "test"), "cpu:0", Console(quiet=True), quiet=True)


def test_streamed_npy_dataset_trains(npy_files, write_recipe):
    from kmlp.plugins.registry import default_registry
    from kmlp.train.batches import StreamBatches, make_batches
    from kmlp.train.data import load_data

    path = write_recipe(RECIPE.format(d=npy_files.as_posix()))
    recipe = load(path)
    data, _ = load_data(recipe, default_registry())
    assert isinstance(data.train[0], np.memmap)  # streamed: not read into memory
    batches = make_batches(recipe, data)
    assert isinstance(batches.train, StreamBatches) and batches.train.num_samples == 540
    assert batches.validation.start == 540  # the last 10 % of rows
    result = _train(path)
    assert result.test_metrics["accuracy"] > 0.8  # chance is 0.25
    assert len(result.history["val_loss"]) == 3


def test_in_memory_npy_dataset_uses_array_batches(npy_files, write_recipe):
    from kmlp.plugins.registry import default_registry
    from kmlp.train.batches import ArrayBatches, make_batches
    from kmlp.train.data import load_data

    recipe = load(write_recipe(RECIPE.format(d=npy_files.as_posix())), ["dataset.stream=false"])
    data, _ = load_data(recipe, default_registry())
    assert not isinstance(data.train[0], np.memmap)
    assert isinstance(make_batches(recipe, data).train, ArrayBatches)


def test_stream_batches_visit_every_row_once_per_epoch_in_a_seeded_order(tmp_path):
    from kmlp.train.batches import StreamBatches

    x = np.arange(800, dtype=np.float32).reshape(200, 4)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    y = np.arange(200)
    # Chunks of 4 batches of 16 rows (64 rows): three full chunks and one of 8 rows.
    batches = StreamBatches(mapped, y, 16, shuffle=True, seed=5, chunk_bytes=4 * 16 * 16)
    assert batches.chunk_rows == 64 and len(batches) == 13

    def epoch(n):
        batches.set_epoch(n)
        parts = [batches[i] for i in range(len(batches))]
        assert [len(p[1]) for p in parts] == [16] * 12 + [8]  # whole batches, the short one last
        xs, ys = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        np.testing.assert_array_equal(xs[:, 0] / 4, ys)  # rows stay paired with their labels
        assert len(batches._cached[1]) <= batches.chunk_rows  # one chunk held, never the file
        return ys

    first, second = epoch(0), epoch(1)
    assert sorted(first) == list(range(200)) and sorted(second) == list(range(200))
    assert list(first) != list(second) and list(first) != list(range(200))
    np.testing.assert_array_equal(epoch(0), first)  # the order depends on (seed, epoch) alone


def test_npy_dataset_errors_name_the_file(npy_files):
    from kmlp.plugins.builtins.npyfiles import load_npy

    files = {f"{s}_{a}": str(npy_files / f"{s}_{a}.npy") for s in ("train", "test") for a in ("x", "y")}
    with pytest.raises(KmlpError, match="test_y file '/nowhere/y.npy' not found"):
        load_npy(seed=0, **{**files, "test_y": "/nowhere/y.npy"}, stream=True, num_classes=None)
    np.save(npy_files / "bad_y.npy", np.zeros(5, dtype=np.int64))
    with pytest.raises(KmlpError, match=r"one label per row of train_x \(600 rows\)"):
        load_npy(seed=0, **{**files, "train_y": str(npy_files / "bad_y.npy")}, stream=True, num_classes=None)
    with pytest.raises(KmlpError, match="labels go up to 3, but num_classes is 2"):
        load_npy(seed=0, **files, stream=True, num_classes=2)
