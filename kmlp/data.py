"""Feeding in-memory arrays to Keras: seeded, per-epoch shuffled batches that every backend reads the same way.

The order of epoch ``e`` depends only on ``(seed, e)``, so three backends see the same batches and a resumed run
continues with exactly the batches an uninterrupted one would have seen. Arrays are held once; a batch is
gathered by index, and a validation hold-out is a set of indices, not a copy.
"""

from __future__ import annotations

import math

import keras
import numpy as np


class ArrayBatches(keras.utils.PyDataset):
    """Batches of ``(x[i], y[i])`` over ``indices``, reshuffled each epoch from ``(seed, epoch)``."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        *,
        indices: np.ndarray | None = None,
        shuffle: bool = False,
        seed: int = 0,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.x, self.y = x, y
        self.indices = np.arange(len(x)) if indices is None else np.asarray(indices)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        #: When set, labels are one-hot encoded per batch (for categorical losses) instead of stored twice.
        self.num_classes = num_classes
        self.epoch = 0
        self._order = self._order_for(0)

    def _order_for(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return self.indices
        return self.indices[np.random.default_rng([self.seed, epoch]).permutation(len(self.indices))]

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` (called at each epoch start, and when a run resumes)."""
        if epoch != self.epoch:
            self.epoch = epoch
            self._order = self._order_for(epoch)

    def on_epoch_end(self) -> None:
        self.set_epoch(self.epoch + 1)

    @property
    def num_samples(self) -> int:
        return len(self.indices)

    def __len__(self) -> int:
        return math.ceil(len(self.indices) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        y = self.y[rows]
        if self.num_classes is not None:
            y = np.eye(self.num_classes, dtype=np.float32)[y]
        return self.x[rows], y
