"""Runtime checks of an architecture plugin: build, predict, train and save on the backend of this process.

The checks import keras inside their functions: the catalogue of checks is read by processes (``kmlp plugins
check``, pytest collection) that must not fix a backend.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from kmlp.plugins.conformance.base import API, EXTENDED, RUNTIME, CheckFailed, check, needs, prerequisite
from kmlp.plugins.conformance.static import SpecContext, require_signature

ARCHITECTURE = "architecture"
NUM_OUTPUTS = 3
BATCH = 4
#: Predictions of a reloaded model may differ from the original by float rounding, no more.
RELOAD_TOLERANCE = 1e-6
RELOAD_TIMEOUT_S = 600


class ArchitectureContext(SpecContext):
    """An architecture entry, built once for ``check_input_shape`` with ``check_params``."""

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.spec.check_input_shape)

    @functools.cached_property
    def inputs(self) -> np.ndarray:
        return np.random.default_rng(0).normal(size=(BATCH, *self.input_shape)).astype(np.float32)

    @property
    def labels(self) -> np.ndarray:
        return np.arange(BATCH) % NUM_OUTPUTS

    def build(self) -> Any:
        return self.spec.function()(input_shape=self.input_shape, num_outputs=NUM_OUTPUTS, **self.params)

    @prerequisite("builds_model")
    def model(self) -> Any:
        import keras

        model = self.build()
        if not isinstance(model, keras.Model):
            raise CheckFailed(f"the builder returned a {type(model).__name__}, not a keras.Model")
        if len(model.outputs) != 1:
            raise CheckFailed(f"the model has {len(model.outputs)} outputs; kmlp trains models with one")
        shape = tuple(model.outputs[0].shape)
        if shape != (None, NUM_OUTPUTS):
            raise CheckFailed(
                f"asked for num_outputs={NUM_OUTPUTS}, the model's output has shape {shape}; expected "
                f"(None, {NUM_OUTPUTS}): one logit per class"
            )
        return model

    @prerequisite("trains_one_step")
    def trained(self) -> Any:
        """A freshly built model after one compiled training step (the model checks keep theirs untrained)."""
        import keras

        needs(self.model)  # a model that does not build is reported once, by builds_model
        model = self.build()
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
        before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
        if not before:
            raise CheckFailed("the model has no trainable weights")
        loss = float(np.asarray(model.train_on_batch(self.inputs, self.labels)).ravel()[0])
        if not np.isfinite(loss):
            raise CheckFailed(f"one training step gave loss {loss}")
        after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
        if all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)):
            raise CheckFailed("one training step changed no weight: are the layers connected to the output?")
        return model


@check(stage=RUNTIME, group=API, kind=ARCHITECTURE)
def builder_signature(ctx: ArchitectureContext) -> None:
    """The builder accepts input_shape, num_outputs and every declared parameter as keyword arguments."""
    arguments = ", ".join(["input_shape", "num_outputs", *ctx.params])
    require_signature(
        ctx.spec.function(),
        f"builder as builder({arguments})",
        input_shape=ctx.input_shape,
        num_outputs=NUM_OUTPUTS,
        **ctx.params,
    )


@check(stage=RUNTIME, group=API, kind=ARCHITECTURE)
def builds_model(ctx: ArchitectureContext) -> None:
    """The builder returns a keras.Model for check_input_shape with one output of shape (batch, num_outputs)."""
    needs(ctx.model)


@check(stage=RUNTIME, group=API, kind=ARCHITECTURE)
def predicts_logits(ctx: ArchitectureContext) -> None:
    """Predictions for a batch have shape (batch, num_outputs), are finite, and are logits, not probabilities."""
    out = np.asarray(ctx.model.predict(ctx.inputs, verbose=0))
    if out.shape != (BATCH, NUM_OUTPUTS):
        raise CheckFailed(f"predict on {BATCH} inputs gave shape {out.shape}, not ({BATCH}, {NUM_OUTPUTS})")
    if not np.isfinite(out).all():
        raise CheckFailed("predictions hold NaN or infinite values")
    if (out >= 0).all() and np.allclose(out.sum(axis=1), 1.0, atol=1e-4):
        raise CheckFailed(
            "outputs look like probabilities (each row sums to 1): kmlp trains on logits, so drop the final softmax"
        )


@check(stage=RUNTIME, group=API, kind=ARCHITECTURE)
def trains_one_step(ctx: ArchitectureContext) -> None:
    """Compiled with Adam and sparse cross-entropy, one training step gives a finite loss and changes weights."""
    needs(ctx.trained)


@check(stage=RUNTIME, group=API, kind=ARCHITECTURE)
def saved_model_reloads(ctx: ArchitectureContext) -> None:
    """The trained model saved as .keras loads in a new process that imports only the plugin, and predicts the same."""
    import keras

    model = ctx.trained
    expected = np.asarray(model.predict(ctx.inputs, verbose=0))
    with tempfile.TemporaryDirectory(prefix="kmlp-check-") as tmp:
        folder = Path(tmp)
        model.save(folder / "model.keras")
        np.save(folder / "inputs.npy", ctx.inputs)
        command = [sys.executable, "-m", "kmlp.plugins.conformance", "reload", keras.backend.backend()]
        command += [ctx.entry.qualified_name, str(folder / "model.keras"), str(folder / "inputs.npy")]
        command += [str(folder / "outputs.npy")]
        done = subprocess.run(command, capture_output=True, text=True, timeout=RELOAD_TIMEOUT_S, env=dict(os.environ))
        if done.returncode != 0:
            error = _last_error(done.stderr)
            hint = ""
            if "Could not locate" in error or "register_keras_serializable" in error:
                hint = (
                    "; register custom layers with @keras.saving.register_keras_serializable(package=...) and "
                    "a full get_config, in the builder's module or one it imports"
                )
            raise CheckFailed(f"a new process could not load the saved model: {error}{hint}")
        got = np.load(folder / "outputs.npy")
    if got.shape != expected.shape:
        raise CheckFailed(f"the reloaded model predicts shape {got.shape}, the original {expected.shape}")
    difference = float(np.max(np.abs(got - expected)))
    if not difference <= RELOAD_TOLERANCE * max(1.0, float(np.max(np.abs(expected)))):
        raise CheckFailed(f"the reloaded model's predictions differ by up to {difference:.3g}: are all weights saved?")


@check(stage=RUNTIME, group=EXTENDED, kind=ARCHITECTURE)
def batch_independent_predictions(ctx: ArchitectureContext) -> None:
    """In inference, an example's prediction does not depend on the rest of its batch."""
    together = np.asarray(ctx.model.predict(ctx.inputs, verbose=0))
    alone = np.asarray(ctx.model.predict(ctx.inputs[:1], verbose=0))
    if not np.allclose(together[:1], alone, rtol=1e-4, atol=1e-5):
        raise CheckFailed(
            "predicting an example alone differs from predicting it in a batch: a layer mixes examples at inference"
        )


@check(stage=RUNTIME, group=EXTENDED, kind=ARCHITECTURE)
def mixed_precision_logits(ctx: ArchitectureContext) -> None:
    """Under runtime.precision = "mixed_bfloat16" the model builds and its logits stay float32 and finite."""
    import keras

    needs(ctx.model)  # a model that does not build is reported once, by builds_model
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = ctx.build()
        out = model(ctx.inputs, training=False)
    finally:
        keras.config.set_dtype_policy(policy)
    dtype = keras.backend.standardize_dtype(out.dtype)
    if dtype != "float32":
        raise CheckFailed(f"under mixed_bfloat16 the logits are {dtype}: give the last layer dtype='float32'")
    if not np.isfinite(keras.ops.convert_to_numpy(out)).all():
        raise CheckFailed("under mixed_bfloat16 the logits hold NaN or infinite values")


def _last_error(stderr: str) -> str:
    """The exception line of a traceback (or the last line), trimmed: Keras appends whole configs to some."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith(" ") and ("Error" in line or "Exception" in line)]
    text = (errors or lines or ["no output"])[-1]
    return text if len(text) <= 400 else text[:400] + " ..."
