"""Evaluating a trained model on a dataset split and predicting on arrays, on whichever backend is active.

Imports keras: used only after :func:`kmlp.runtime.backend.activate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from kmlp.api import DatasetSplits
from kmlp.errors import KmlpError
from kmlp.inference.loading import label_encoding, load_model
from kmlp.inference.predictions import Predictions
from kmlp.inference.targets import Evaluation
from kmlp.plugins.registry import default_registry
from kmlp.train.batches import ArrayBatches, make_batches
from kmlp.train.data import load_data, load_splits


@dataclass(frozen=True)
class Evaluated:
    metrics: dict[str, float]
    examples: int
    jit_compile: bool


def run_evaluation(plan: Evaluation) -> Evaluated:
    """Load the model and the planned split (through the same checked loading as a run), then evaluate."""
    registry = default_registry()
    model = load_model(plan.located.model_file, architecture=plan.architecture)
    if plan.recipe is not None:
        data, _ = load_data(plan.recipe, registry)
        batches = getattr(make_batches(plan.recipe, data), plan.split)
        if batches is None:
            raise KmlpError(
                "this run had no validation split (its dataset has none and training.validation_split = 0)",
                "use --split test or --split train",
            )
    else:
        plugin = registry.lookup("dataset", plan.dataset)
        data = load_splits(plugin, plan.seed, plan.params, where=f"--dataset {plan.dataset}")
        batches = split_batches(data, plan.split, plan.batch_size, label_encoding(model))
    check_compatible(model, data.input_shape, data.num_classes, plan.dataset)
    return Evaluated(evaluate(model, batches), batches.num_samples, bool(model.jit_compile))


def check_compatible(model: keras.Model, input_shape: tuple[int, ...], num_classes: int, dataset: str) -> None:
    """The dataset's examples and classes fit the model, else a clear error instead of a shape error mid-way."""
    expected = tuple(model.inputs[0].shape[1:]) if len(model.inputs) == 1 else None
    outputs = model.outputs[0].shape[-1] if len(model.outputs) == 1 else None
    if expected is None or not _fits(tuple(input_shape), expected):
        raise KmlpError(
            f"dataset {dataset!r} has examples of shape {_shape(tuple(input_shape))}, but the model takes "
            f"{_shape(expected) if expected else f'{len(model.inputs)} inputs'}",
            "evaluate on the dataset (and parameters) the model was trained on",
        )
    if outputs != num_classes:
        raise KmlpError(
            f"dataset {dataset!r} has {num_classes} classes, but the model outputs {outputs}",
            "evaluate on the dataset (and parameters) the model was trained on",
        )


def split_batches(data: DatasetSplits, split: str, batch_size: int, labels: str) -> ArrayBatches:
    """One split of a dataset loaded without a recipe (a bare model file), batched for evaluation."""
    pair = getattr(data, split)
    if pair is None:
        raise KmlpError(
            f"the dataset has no {split} split",
            "a run folder knows the part of train it held out: evaluate the run folder instead",
        )
    x, y = (np.asarray(a) for a in pair)
    return ArrayBatches(x, y, batch_size, num_classes=data.num_classes if labels == "one_hot" else None)


def evaluate(model: keras.Model, batches: ArrayBatches) -> dict[str, float]:
    if not model.compiled:
        raise KmlpError(
            "the model was saved without its loss and metrics, so it cannot be evaluated",
            "kmlp predict works on it; models saved by `kmlp run` always carry them",
        )
    return {k: float(v) for k, v in model.evaluate(batches, verbose=0, return_dict=True).items()}


def prepare_inputs(x: np.ndarray, model: keras.Model, source: str) -> np.ndarray:
    """``x`` as a batch the model accepts: shape and dtype checked, one example given a batch axis."""
    if len(model.inputs) != 1:
        raise KmlpError(f"the model takes {len(model.inputs)} inputs; kmlp predict feeds one array")
    spec = model.inputs[0]
    expected = tuple(spec.shape[1:])
    if len(x.shape) == len(expected) and _fits(x.shape, expected):
        x = x[np.newaxis]  # one example
    if len(x.shape) != len(expected) + 1 or not _fits(x.shape[1:], expected):
        raise KmlpError(
            f"{source} has shape {tuple(x.shape)}, but the model expects examples of shape {_shape(expected)} "
            f"(an array of shape {_shape((None, *expected))})",
            "reshape the inputs the way the training data were shaped",
        )
    wanted = np.dtype(keras.backend.standardize_dtype(spec.dtype))
    if x.dtype.kind != wanted.kind and not (x.dtype.kind in "iu" and wanted.kind in "iu"):
        raise KmlpError(
            f"{source} has dtype {x.dtype}, but the model expects {wanted} inputs",
            "preprocess them as in training, e.g. scale uint8 pixels: x.astype('float32') / 255"
            if wanted.kind == "f"
            else f"convert them with x.astype('{wanted}')",
        )
    return x.astype(wanted, copy=False)


def _fits(shape: tuple[int, ...], expected: tuple[int | None, ...]) -> bool:
    return len(shape) == len(expected) and all(e is None or s == e for s, e in zip(shape, expected, strict=True))


def _shape(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def predict(model: keras.Model, x: np.ndarray, batch_size: int) -> Predictions:
    logits = keras.ops.convert_to_numpy(model.predict(x, batch_size=batch_size, verbose=0))
    return Predictions.from_logits(np.asarray(logits))
