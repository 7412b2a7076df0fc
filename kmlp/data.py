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
        multiple: int = 1,
        pad: bool = False,
    ) -> None:
        super().__init__()
        self.x, self.y = x, y
        self.indices = np.arange(len(x)) if indices is None else np.asarray(indices)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        #: When set, labels are one-hot encoded per batch (for categorical losses) instead of stored twice.
        self.num_classes = num_classes
        #: JAX's data parallelism splits every batch into equal parts, one per device. A last batch of another
        #: size is cut to a multiple of ``multiple`` (training: which examples are left out changes each epoch),
        #: or with ``pad`` filled up with rows of sample weight 0 (evaluation: each example counts once in the
        #: metrics; a mean loss is then divided by the padded count, at most ``multiple - 1`` rows too many).
        self.multiple = multiple
        self.pad = pad
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
        count = len(self.indices)
        if not self.pad:
            count -= count % self.batch_size % self.multiple
        return math.ceil(count / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        missing = -len(rows) % self.multiple
        if missing and not self.pad:
            rows = rows[: len(rows) - len(rows) % self.multiple]
        y = self.y[rows]
        if self.num_classes is not None:
            y = np.eye(self.num_classes, dtype=np.float32)[y]
        if not self.pad:
            return self.x[rows], y
        weights = np.ones(len(rows) + missing, dtype=np.float32)
        weights[len(rows) :] = 0.0
        filled = np.concatenate([rows, np.repeat(rows[:1], missing)])
        return self.x[filled], np.concatenate([y, np.repeat(y[:1], missing, axis=0)]), weights
