"""The test-set confusion matrix of a classifier, saved as data so plots can be drawn again without keras.

Predictions come from ``model.predict`` (NumPy out on every backend) and the counting is NumPy, so this is the
same on TensorFlow, PyTorch and JAX.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kmlp.runs.folder import atomic_write_json

FILE_NAME = "confusion_matrix.json"


def count(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """``matrix[true, predicted]``: how many test examples of each class went to each prediction."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def save(run_path: Path, model: Any, test_batches: Any, labels: np.ndarray, class_names: Any) -> Path:
    """Predict the test split, count, and write ``confusion_matrix.json`` (atomically) into the run folder."""
    labels = np.asarray(labels)
    if labels.ndim > 1:  # one-hot
        labels = labels.argmax(axis=-1)
    # Data-parallel evaluation pads the last batch (sample weight 0) so it splits over devices: drop those rows.
    logits = np.asarray(model.predict(test_batches, verbose=0))[: len(labels)]
    num_classes = logits.shape[-1]
    matrix = count(labels.astype(np.int64), logits.argmax(axis=-1), num_classes)
    names = [str(n) for n in class_names] if class_names else [str(i) for i in range(num_classes)]
    path = run_path / FILE_NAME
    atomic_write_json(
        path,
        {
            "labels": names,
            "matrix": matrix.tolist(),
            "rows": "true class",
            "columns": "predicted class",
            "accuracy": float(np.trace(matrix) / max(1, matrix.sum())),
        },
    )
    return path
