"""Generate MNIST-1D with the ``mnist1d`` package's own ``make_dataset``, never its downloader.

``make_dataset`` seeds and draws from the *global* ``random`` and ``numpy.random`` state. kmlp seeds that state
for the run (weights, shuffling, dropout) before it loads data, so the loader saves it and puts it back: the same
recipe seed gives the same run whatever the data seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from kmlp.api import DatasetSplits

CLASS_NAMES = tuple(str(digit) for digit in range(10))


@contextmanager
def _global_rng_preserved() -> Iterator[None]:
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def generate(
    *,
    data_seed: int,
    num_samples: int,
    train_fraction: float,
    sequence_length: int,
    shuffle_sequence: bool,
    corr_noise_scale: float,
    iid_noise_scale: float,
) -> dict[str, np.ndarray]:
    """The ``mnist1d`` dataset dict (``x``, ``y``, ``x_test``, ``y_test``, ...) for these settings."""
    from mnist1d.data import get_dataset_args, make_dataset  # imports matplotlib and scipy: only when loading

    args = get_dataset_args()
    args.seed = data_seed
    args.num_samples = num_samples
    args.train_split = train_fraction
    args.final_seq_length = sequence_length
    args.shuffle_seq = shuffle_sequence
    args.corr_noise_scale = corr_noise_scale
    args.iid_noise_scale = iid_noise_scale
    with _global_rng_preserved():
        return make_dataset(args)


def load_mnist1d(*, seed: int, **settings) -> DatasetSplits:
    """kmlp's loader. ``seed`` (the run's) is unused: the data depend on ``data_seed`` alone."""
    data = generate(**settings)
    x_train, x_test = data["x"].astype(np.float32), data["x_test"].astype(np.float32)
    return DatasetSplits(
        train=(x_train, data["y"].astype(np.int64)),
        test=(x_test, data["y_test"].astype(np.int64)),
        input_shape=tuple(x_train.shape[1:]),
        num_classes=len(CLASS_NAMES),
        class_names=CLASS_NAMES,
    )
