"""Loaders of the small, fully offline built-in datasets: ``digits`` and ``synthetic``."""

from __future__ import annotations

import math

import numpy as np

from kmlp.api import DatasetSplits
from kmlp.errors import KmlpError


def load_digits(*, seed: int, test_fraction: float, scale: bool) -> DatasetSplits:
    """scikit-learn's bundled copy of the UCI 8x8 digits, split by a seeded shuffle."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as exc:
        raise KmlpError(
            "the digits dataset needs scikit-learn, which is not installed",
            "pip install 'kmlp[datasets]' (or pip install scikit-learn)",
        ) from exc
    bunch = sklearn_digits()
    x = bunch.images.astype(np.float32)
    if scale:
        x /= 16.0
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return DatasetSplits(
        train=(x[train], y[train]),
        test=(x[test], y[test]),
        input_shape=(8, 8),
        num_classes=10,
        class_names=tuple(str(d) for d in range(10)),
    )


def load_synthetic(
    *,
    seed: int,
    train_samples: int,
    test_samples: int,
    input_shape: list[int],
    num_classes: int,
    noise: float,
) -> DatasetSplits:
    """Gaussian blobs: class ``k`` is centred on a fixed random unit-scale point; learnable for small noise."""
    if not input_shape or any(d < 1 for d in input_shape):
        raise KmlpError(f"dataset.input_shape must be a non-empty list of positive sizes, found {input_shape}")
    rng = np.random.default_rng(seed)
    features = math.prod(input_shape)
    centres = rng.normal(0.0, 1.0, size=(num_classes, features)).astype(np.float32)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, num_classes, size=n)
        x = centres[y] + rng.normal(0.0, noise, size=(n, features)).astype(np.float32)
        return x.reshape(n, *input_shape), y.astype(np.int64)

    return DatasetSplits(
        train=split(train_samples),
        test=split(test_samples),
        input_shape=tuple(input_shape),
        num_classes=num_classes,
    )
