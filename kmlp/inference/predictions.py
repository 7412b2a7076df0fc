"""Prediction files: reading input arrays and writing classes and probabilities, with NumPy alone.

No keras here, so ``kmlp predict`` checks its input and output files before a backend starts.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kmlp.errors import KmlpError
from kmlp.runs.folder import atomic_write

FORMATS = (".npz", ".csv")


@dataclass
class Predictions:
    logits: np.ndarray
    #: Softmax of the logits (every kmlp architecture outputs logits), computed in float64.
    probabilities: np.ndarray
    classes: np.ndarray

    @classmethod
    def from_logits(cls, logits: np.ndarray) -> Predictions:
        if logits.ndim != 2:
            raise KmlpError(f"the model outputs shape {logits.shape}; kmlp predict expects (N, classes) logits")
        logits = logits.astype(np.float32)
        exp = np.exp(logits.astype(np.float64) - logits.max(axis=1, keepdims=True))
        probabilities = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
        return cls(logits, probabilities, logits.argmax(axis=1).astype(np.int64))


def read_inputs(path: Path, key: str | None = None) -> np.ndarray:
    """The array in a ``.npy`` file, or one array of a ``.npz`` (``key``, else ``x``, else its only array).

    Never unpickles: an input file, like a model file, cannot execute code.
    """
    if not path.is_file():
        raise KmlpError(f"input {path} does not exist")
    if path.suffix not in (".npy", ".npz"):
        raise KmlpError(f"input {path} is not a .npy or .npz file", "save inputs with numpy.save or numpy.savez")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded:
            return _pick_array(path, loaded, key)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise KmlpError(f"cannot read {path}: {exc}", "inputs must be numeric arrays saved with numpy") from exc


def _pick_array(path: Path, loaded: Any, key: str | None) -> np.ndarray:
    names = list(loaded.keys())
    if key is None:
        key = "x" if "x" in names else names[0] if len(names) == 1 else None
    if key not in names:
        raise KmlpError(
            f"{path} holds {', '.join(names) or 'no arrays'}; which are the inputs?",
            "choose one with --key NAME",
        )
    return loaded[key]


def check_destination(path: Path, overwrite: bool) -> None:
    if path.suffix not in FORMATS:
        raise KmlpError(f"cannot write predictions as {path.name}", "use a .npz or .csv file name")
    if path.exists() and not overwrite:
        raise KmlpError(f"{path} already exists", "choose another --output, or pass --overwrite")


def write(path: Path, predictions: Predictions, class_names: list[str] | None) -> None:
    """``.npz``: arrays ``classes``, ``probabilities``, ``logits`` (and ``class_names``); ``.csv``: one row per
    example with its class, class name, confidence and every class's probability. Written atomically."""
    names = class_names if class_names and len(class_names) == predictions.probabilities.shape[1] else None
    if path.suffix == ".csv":
        atomic_write(path, lambda tmp: tmp.write_text(_csv(predictions, names), encoding="utf-8"))
        return
    arrays = {"classes": predictions.classes, "probabilities": predictions.probabilities, "logits": predictions.logits}
    if names:
        arrays["class_names"] = np.array(names)
    atomic_write(path, lambda tmp: np.savez(tmp, **arrays))


def _csv(predictions: Predictions, names: list[str] | None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = [f"prob_{i}" for i in range(predictions.probabilities.shape[1])]
    writer.writerow(["row", "class", *(["class_name"] if names else []), "confidence", *columns])
    for row, (label, probabilities) in enumerate(zip(predictions.classes, predictions.probabilities, strict=True)):
        name = [names[label]] if names else []
        writer.writerow([row, int(label), *name, f"{probabilities[label]:.6g}", *(f"{p:.6g}" for p in probabilities)])
    return buffer.getvalue()
