"""Batching: every split of a dataset as seeded, per-epoch shuffled batches that every backend reads the same way.

The order of epoch ``e`` depends only on ``(seed, e)``, so three backends see the same batches and a resumed run
continues with exactly the batches an uninterrupted one would have seen. Arrays are held once; a batch is
gathered by index, and a validation hold-out is a set of indices, not a copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from kmlp.api import DatasetSplits
from kmlp.errors import KmlpError
from kmlp.recipe import catalog
from kmlp.recipe.schema import Recipe


class _EpochBatches(keras.utils.PyDataset):
    """What both batch kinds share: the epoch their order is drawn for, and labels one-hot encoded per batch."""

    def __init__(self, batch_size: int, shuffle: bool, seed: int, num_classes: int | None) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        #: When set, labels are one-hot encoded per batch (for categorical losses) instead of stored twice.
        self.num_classes = num_classes
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` (called at each epoch start, and when a run resumes)."""
        self.epoch = epoch

    def on_epoch_end(self) -> None:
        self.set_epoch(self.epoch + 1)

    def _labels(self, y: np.ndarray) -> np.ndarray:
        return y if self.num_classes is None else np.eye(self.num_classes, dtype=np.float32)[y]


class ArrayBatches(_EpochBatches):
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
        super().__init__(batch_size, shuffle, seed, num_classes)
        self.x, self.y = x, y
        self.indices = np.arange(len(x)) if indices is None else np.asarray(indices)
        #: JAX's data parallelism splits every batch into equal parts, one per device. A last batch of another
        #: size is cut to a multiple of ``multiple`` (training: which examples are left out changes each epoch),
        #: or with ``pad`` filled up with rows of sample weight 0 (evaluation: each example counts once in the
        #: metrics; a mean loss is then divided by the padded count, at most ``multiple - 1`` rows too many).
        self.multiple = multiple
        self.pad = pad
        self._order = self._order_for(0)

    def _order_for(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return self.indices
        return self.indices[np.random.default_rng([self.seed, epoch]).permutation(len(self.indices))]

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            super().set_epoch(epoch)
            self._order = self._order_for(epoch)

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
        y = self._labels(self.y[rows])
        if not self.pad:
            return self.x[rows], y
        weights = np.ones(len(rows) + missing, dtype=np.float32)
        weights[len(rows) :] = 0.0
        filled = np.concatenate([rows, np.repeat(rows[:1], missing)])
        return self.x[filled], np.concatenate([y, np.repeat(y[:1], missing, axis=0)]), weights


class StreamBatches(_EpochBatches):
    """Batches read from a ``.npy`` file on disk, a chunk at a time, for data larger than memory.

    ``x`` is the array ``np.load(path, mmap_mode="r")`` returns: it gives the file, dtype, shape and where the
    data starts. Rows ``[start, stop)`` are cut into chunks of whole batches, about ``chunk_bytes`` each; an epoch
    visits the chunks in a seeded order and each chunk's rows in a seeded order (``(seed, epoch)``, like
    :class:`ArrayBatches`), so reads are large and sequential. Each chunk is read with ``np.fromfile`` rather than
    through the mapping: pages of a mapping stay resident (and count in RSS) after use, a plain read's buffer is
    freed with the chunk. At most one chunk is held, so memory stays flat however large the file is. Labels
    (``y``) are small and held in memory.
    """

    def __init__(
        self,
        x: np.memmap,
        y: np.ndarray,
        batch_size: int,
        *,
        start: int = 0,
        stop: int | None = None,
        shuffle: bool = False,
        seed: int = 0,
        num_classes: int | None = None,
        chunk_bytes: int = 32 * 2**20,
    ) -> None:
        super().__init__(batch_size, shuffle, seed, num_classes)
        self.x, self.y = x, np.asarray(y)
        self.start, self.stop = start, len(x) if stop is None else stop
        self.row_shape = x.shape[1:]
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * x.dtype.itemsize
        self.chunk_rows = batch_size * max(1, chunk_bytes // (self.row_bytes * batch_size))
        self._chunks = math.ceil(self.num_samples / self.chunk_rows)
        self._cached: tuple[int, np.ndarray, np.ndarray] | None = None

    @property
    def num_samples(self) -> int:
        return self.stop - self.start

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def _rng(self, *salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, *salt])

    def _chunk(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """The chunk at ``position`` in this epoch's order, rows permuted, read from disk once."""
        key = self.epoch * self._chunks + position
        if self._cached is None or self._cached[0] != key:
            # The last chunk may be short; it stays last so every earlier position holds whole batches.
            full = self.num_samples // self.chunk_rows
            chunk = self._rng().permutation(full)[position] if self.shuffle and position < full else position
            first = self.start + chunk * self.chunk_rows
            rows = min(self.chunk_rows, self.stop - first)
            x = np.fromfile(
                self.x.filename,
                self.x.dtype,
                rows * self.row_bytes // self.x.dtype.itemsize,
                offset=self.x.offset + first * self.row_bytes,
            ).reshape(rows, *self.row_shape)
            y = self.y[first : first + rows]
            if self.shuffle:
                order = self._rng(chunk).permutation(rows)
                x, y = x[order], y[order]
            self._cached = (key, x, y)
        return self._cached[1], self._cached[2]

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        per_chunk = self.chunk_rows // self.batch_size
        x, y = self._chunk(index // per_chunk)
        within = (index % per_chunk) * self.batch_size
        return x[within : within + self.batch_size], self._labels(y[within : within + self.batch_size])


def stream_batches(
    training: dict[str, Any], data: Any, seed: int, num_classes: int | None, multiple: int
) -> tuple[StreamBatches, StreamBatches | None, keras.utils.PyDataset]:
    """Train, validation and test batches for a dataset whose train inputs are memory-mapped.

    A validation hold-out is the *last* ``validation_split`` of the train rows: a random one would scatter reads
    over the whole file.
    """
    if multiple > 1:
        raise KmlpError(
            "a streamed dataset cannot be split over several devices yet",
            'set distribution.strategy = "none", or load it into memory (dataset.stream = false)',
        )
    x, y = data.train
    batch_size = training["batch_size"]
    stop, validation = len(x), None
    if data.validation is None and training["validation_split"] > 0:
        stop = len(x) - max(1, round(len(x) * training["validation_split"]))
        validation = StreamBatches(x, y, batch_size, start=stop, num_classes=num_classes)
    elif data.validation is not None:
        validation = _batches_for(data.validation, batch_size, num_classes)
    train = StreamBatches(x, y, batch_size, stop=stop, shuffle=training["shuffle"], seed=seed, num_classes=num_classes)
    return train, validation, _batches_for(data.test, batch_size, num_classes)


def _batches_for(split: Any, batch_size: int, num_classes: int | None) -> keras.utils.PyDataset:
    x, y = split
    if isinstance(x, np.memmap):
        return StreamBatches(x, y, batch_size, num_classes=num_classes)
    return ArrayBatches(np.asarray(x), np.asarray(y), batch_size, num_classes=num_classes)


@dataclass
class Batches:
    """The splits a run trains, validates and tests on."""

    train: ArrayBatches | StreamBatches
    validation: ArrayBatches | StreamBatches | None
    test: ArrayBatches | StreamBatches


def make_batches(recipe: Recipe, data: DatasetSplits, multiple: int = 1) -> Batches:
    """Batch every split; hold out ``training.validation_split`` of train when the dataset has no validation.

    ``multiple``: batch sizes a data-parallel engine needs (see ``ArrayBatches``).
    """
    training = recipe["training"]
    batch_size = training["batch_size"]
    one_hot = data.num_classes if catalog.LOSSES[recipe["loss"]["name"]].labels == "one_hot" else None
    evaluated = {"num_classes": one_hot, "multiple": multiple, "pad": multiple > 1}
    if isinstance(data.train[0], np.memmap):  # a dataset streamed from disk (the npy dataset)
        return Batches(*stream_batches(training, data, recipe.seed, one_hot, multiple))
    x, y = _arrays(data.train, "train")
    indices = np.arange(len(x))
    validation = None
    if data.validation is not None:
        vx, vy = _arrays(data.validation, "validation")
        validation = ArrayBatches(vx, vy, batch_size, **evaluated)
    elif training["validation_split"] > 0:
        held_out = max(1, round(len(x) * training["validation_split"]))
        order = np.random.default_rng([recipe.seed, 1]).permutation(len(x))
        indices = np.sort(order[held_out:])
        validation = ArrayBatches(x, y, batch_size, indices=np.sort(order[:held_out]), **evaluated)
    train = ArrayBatches(
        x,
        y,
        batch_size,
        indices=indices,
        shuffle=training["shuffle"],
        seed=recipe.seed,
        num_classes=one_hot,
        multiple=multiple,
    )
    tx, ty = _arrays(data.test, "test")
    return Batches(train, validation, ArrayBatches(tx, ty, batch_size, **evaluated))


def _arrays(split: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(split, tuple | list) and len(split) == 2:
        return np.asarray(split[0]), np.asarray(split[1])
    raise KmlpError(f"the dataset's {name} split is not an (inputs, labels) pair of arrays")
