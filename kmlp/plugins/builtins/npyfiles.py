"""The ``npy`` dataset: arrays saved with ``np.save``, streamed from disk or loaded into memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kmlp.api import DatasetSplits
from kmlp.errors import KmlpError


def _open(path: str, what: str, mmap: bool) -> np.ndarray:
    file = Path(path).expanduser()
    if not file.is_file():
        raise KmlpError(f"dataset npy: {what} file {str(file)!r} not found", f"set dataset.{what} to an existing .npy")
    try:
        return np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:
        raise KmlpError(f"dataset npy: {what} file {str(file)!r} is not a .npy array: {exc}") from exc


def _split(x_path: str, y_path: str, name: str, stream: bool) -> tuple[np.ndarray, np.ndarray]:
    x = _open(x_path, f"{name}_x", stream)
    y = _open(y_path, f"{name}_y", False)  # labels are small: always in memory
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise KmlpError(
            f"dataset npy: {name}_y must be a 1-D integer array with one label per row of {name}_x "
            f"({len(x)} rows); found shape {y.shape}, dtype {y.dtype}"
        )
    return x, y


def load_npy(
    *,
    seed: int,
    train_x: str,
    train_y: str,
    test_x: str,
    test_y: str,
    stream: bool,
    num_classes: int | None,
) -> DatasetSplits:
    """Inputs stay memory-mapped when ``stream`` (training then reads them a chunk at a time, see
    kmlp.train.batches.StreamBatches); labels are read whole."""
    del seed  # the files fix the data; shuffling is seeded by the run
    train = _split(train_x, train_y, "train", stream)
    test = _split(test_x, test_y, "test", stream)
    if train[0].shape[1:] != test[0].shape[1:]:
        raise KmlpError(f"dataset npy: train rows have shape {train[0].shape[1:]}, test rows {test[0].shape[1:]}")
    found = int(max(train[1].max(initial=0), test[1].max(initial=0))) + 1
    if num_classes is not None and found > num_classes:
        raise KmlpError(f"dataset npy: labels go up to {found - 1}, but num_classes is {num_classes}")
    return DatasetSplits(train=train, test=test, input_shape=train[0].shape[1:], num_classes=num_classes or found)
