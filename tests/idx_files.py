"""Write small IDX files like the real MNIST ones, so the loaders are tested everywhere."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from kmlp.plugins.builtins.idx import SPLIT_FILES


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_dataset(directory: Path, train: int = 30, test: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """Four gzipped IDX files with random 28x28 images and labels 0..9; returns the arrays written."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", train), ("test", test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        image_file, label_file = SPLIT_FILES[split]
        (directory / f"{image_file}.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (directory / f"{label_file}.gz").write_bytes(gzip.compress(idx_bytes(labels)))
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images, labels
    return arrays
