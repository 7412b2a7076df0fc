"""Runtime checks of a dataset plugin, run in a process whose backend is fixed: the data it really returns."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from kmlp.api import DatasetSplits
from kmlp.plugins.conformance.base import API, EXTENDED, RUNTIME, CheckFailed, check, needs, prerequisite
from kmlp.plugins.conformance.static import SpecContext, require_signature

DATASET = "dataset"
#: The seed the checks load with; ``same_seed_same_data`` loads with it again.
SEED = 0


class DatasetContext(SpecContext):
    """A dataset entry, and its data loaded once with ``check_params``."""

    def load(self) -> Any:
        return self.spec.function()(seed=SEED, **self.params)

    @prerequisite("returns_splits")
    def splits(self) -> DatasetSplits:
        data = self.load()
        if not isinstance(data, DatasetSplits):
            raise CheckFailed(f"the loader returned a {type(data).__name__}, not a kmlp.api.DatasetSplits")
        for name, split in _named_splits(data).items():
            if not (isinstance(split, tuple | list) and len(split) == 2) or not all(
                isinstance(a, np.ndarray) for a in split
            ):
                raise CheckFailed(f"{name} is {_describe(split)}, not an (inputs, labels) pair of NumPy arrays")
        shape = data.input_shape
        if not isinstance(shape, tuple | list) or not all(isinstance(d, int) and d > 0 for d in shape):
            raise CheckFailed(f"input_shape is {shape!r}, not a tuple of positive ints (without the batch axis)")
        if not isinstance(data.num_classes, int) or data.num_classes < 2:
            raise CheckFailed(f"num_classes is {data.num_classes!r}, not an int >= 2")
        return data

    def arrays(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {name: (split[0], split[1]) for name, split in _named_splits(self.splits).items()}


def _named_splits(data: DatasetSplits) -> dict[str, Any]:
    named = {"train": data.train, "test": data.test}
    if data.validation is not None:
        named["validation"] = data.validation
    return named


def _describe(value: Any) -> str:
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)} ({', '.join(type(v).__name__ for v in value)})"
    return f"a {type(value).__name__}"


@check(stage=RUNTIME, group=API, kind=DATASET)
def loader_signature(ctx: DatasetContext) -> None:
    """The loader accepts ``seed`` and every declared parameter as keyword arguments, as kmlp calls it."""
    call = f"loader as loader(seed=..., {', '.join(ctx.params)})"
    require_signature(ctx.spec.function(), call, seed=SEED, **ctx.params)


@check(stage=RUNTIME, group=API, kind=DATASET)
def returns_splits(ctx: DatasetContext) -> None:
    """The loader returns a DatasetSplits: train and test (inputs, labels) array pairs, input_shape, num_classes."""
    needs(ctx.splits)


@check(stage=RUNTIME, group=API, kind=DATASET)
def declared_shapes(ctx: DatasetContext) -> None:
    """Every split's inputs have the declared input_shape, one label per example, and at least one example."""
    expected = tuple(ctx.splits.input_shape)
    for name, (x, y) in ctx.arrays().items():
        if tuple(x.shape[1:]) != expected:
            raise CheckFailed(f"{name} inputs have shape {x.shape}; input_shape {expected} promises (N, *{expected})")
        if y.shape != (len(x),):
            raise CheckFailed(f"{name} labels have shape {y.shape}; expected ({len(x)},), one class id per example")
        if len(x) == 0:
            raise CheckFailed(f"{name} is empty")


@check(stage=RUNTIME, group=API, kind=DATASET)
def dtypes(ctx: DatasetContext) -> None:
    """Inputs are real numbers (float, int or bool arrays) and labels are integer class ids."""
    for name, (x, y) in ctx.arrays().items():
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer) or x.dtype == bool):
            raise CheckFailed(f"{name} inputs have dtype {x.dtype}; expected floats, ints or bools")
        if not np.issubdtype(y.dtype, np.integer):
            raise CheckFailed(f"{name} labels have dtype {y.dtype}; expected integer class ids")


@check(stage=RUNTIME, group=API, kind=DATASET)
def labels_in_range(ctx: DatasetContext) -> None:
    """Labels lie in [0, num_classes), and class_names, when given, names each class once."""
    classes = ctx.splits.num_classes
    for name, (_, y) in ctx.arrays().items():
        if len(y) and (y.min() < 0 or y.max() >= classes):
            raise CheckFailed(
                f"{name} labels span {y.min()}..{y.max()}, outside [0, {classes}) for num_classes={classes}"
            )
    names = ctx.splits.class_names
    if names is not None and len(names) != classes:
        raise CheckFailed(f"{len(names)} class_names for num_classes={classes}")


@check(stage=RUNTIME, group=API, kind=DATASET)
def finite_inputs(ctx: DatasetContext) -> None:
    """No input is NaN or infinite (one would turn the loss into NaN)."""
    for name, (x, _) in ctx.arrays().items():
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            raise CheckFailed(f"{name} inputs hold {int((~np.isfinite(x)).sum())} NaN or infinite values")


@check(stage=RUNTIME, group=API, kind=DATASET)
def same_seed_same_data(ctx: DatasetContext) -> None:
    """Loading again with the same seed gives exactly the same arrays (so a run can be repeated)."""
    first = ctx.arrays()
    again = DatasetContext(ctx.entry).arrays()
    for name, (x, y) in first.items():
        if name not in again:
            raise CheckFailed(f"the second load has no {name} split")
        for what, a, b in (("inputs", x, again[name][0]), ("labels", y, again[name][1])):
            if a.shape != b.shape or not np.array_equal(a, b, equal_nan=np.issubdtype(a.dtype, np.floating)):
                raise CheckFailed(f"{name} {what} differ between two loads with seed={SEED}")


@check(stage=RUNTIME, group=EXTENDED, kind=DATASET)
def leaves_global_rng_alone(ctx: DatasetContext) -> None:
    """Loading leaves Python's and NumPy's global random state as it found it (kmlp seeded it for the run)."""
    needs(ctx.splits)  # a loader that fails is reported once, by returns_splits
    python_state, numpy_state = random.getstate(), np.random.get_state()
    ctx.load()
    changed = []
    if random.getstate() != python_state:
        changed.append("random")
    after = np.random.get_state()
    if not all(np.array_equal(a, b) for a, b in zip(after, numpy_state, strict=True)):
        changed.append("numpy.random")
    random.setstate(python_state)
    np.random.set_state(numpy_state)
    if changed:
        raise CheckFailed(
            f"loading changes the global {' and '.join(changed)} state, which kmlp seeded for weights and "
            "shuffling: draw from np.random.default_rng(seed), or save and restore the global state"
        )


@check(stage=RUNTIME, group=EXTENDED, kind=DATASET)
def every_class_in_train(ctx: DatasetContext) -> None:
    """The train split holds at least one example of every class."""
    _, y = ctx.arrays()["train"]
    missing = sorted(set(range(ctx.splits.num_classes)) - {int(v) for v in np.unique(y)})
    if missing:
        raise CheckFailed(f"train has no example of class(es) {missing[:10]}")


@check(stage=RUNTIME, group=EXTENDED, kind=DATASET)
def float_inputs_are_float32(ctx: DatasetContext) -> None:
    """Floating-point inputs are float32 (float64 doubles memory and is cast on every batch anyway)."""
    for name, (x, _) in ctx.arrays().items():
        if np.issubdtype(x.dtype, np.floating) and x.dtype != np.float32:
            raise CheckFailed(f"{name} inputs are {x.dtype}; cast them with .astype(np.float32)")
