"""A loader with known faults."""

import numpy as np

from kmlp.api import DatasetSplits


def load_noisy(*, seed, size, mode):
    def split():
        x = np.random.rand(size, 5)  # global RNG, float64, 5 features where 4 are declared
        y = np.random.randint(0, 4, size=size)  # class 3 does not exist: num_classes is 3
        return x, y

    return DatasetSplits(train=split(), test=split(), input_shape=(4,), num_classes=3)
