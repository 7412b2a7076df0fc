"""The data: the mnist1d package's own generator with the benchmark's settings, seeded, and nothing downloaded."""

from __future__ import annotations

import random

import numpy as np
import pytest

from kmlp.registry import load_dataset


@pytest.fixture(scope="module")
def benchmark():
    return load_dataset("mnist1d")


def test_benchmark_shapes_classes_and_dtypes(benchmark):
    (x, y), (x_test, y_test) = benchmark.train, benchmark.test
    assert (x.shape, x_test.shape, benchmark.input_shape, benchmark.num_classes) == ((4000, 40), (1000, 40), (40,), 10)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(np.concatenate([y, y_test])).tolist() == [500] * 10
    assert benchmark.class_names == tuple("0123456789")


def test_is_exactly_what_mnist1d_make_dataset_generates(benchmark):
    from mnist1d.data import get_dataset_args, make_dataset

    reference = make_dataset(get_dataset_args())  # the package's defaults: the paper's settings, seed 42
    np.testing.assert_array_equal(benchmark.train[0], reference["x"].astype(np.float32))
    np.testing.assert_array_equal(benchmark.test[1], reference["y_test"])


def test_same_data_seed_same_data_and_the_run_seed_does_not_matter(benchmark):
    again = load_dataset("mnist1d", seed=123)
    np.testing.assert_array_equal(again.train[0], benchmark.train[0])
    other = load_dataset("mnist1d", data_seed=7, num_samples=200)
    assert other.train[0].shape == (160, 40)
    assert not np.array_equal(other.train[0], load_dataset("mnist1d", num_samples=200).train[0])


def test_settings_reach_the_generator():
    data = load_dataset("mnist1d", num_samples=100, train_fraction=0.5, sequence_length=24, shuffle_sequence=True)
    assert data.train[0].shape == (50, 24) and data.test[0].shape == (50, 24) and data.input_shape == (24,)


def test_global_random_state_is_left_alone():
    """make_dataset reseeds the global RNGs; kmlp seeded them for the run, so the loader restores them."""
    random.seed(5)
    np.random.seed(5)
    python_state, numpy_state = random.getstate(), np.random.get_state()
    load_dataset("mnist1d", num_samples=50)
    assert random.getstate() == python_state
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), numpy_state, strict=True))
