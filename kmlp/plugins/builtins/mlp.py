"""The built-in MLP, from Keras layers only so it runs on every backend."""

from __future__ import annotations

import math

import keras


def build_mlp(
    *,
    input_shape: tuple[int, ...],
    num_outputs: int,
    hidden_units: list[int],
    activation: str,
    dropout: float,
    batch_norm: bool,
) -> keras.Model:
    inputs = keras.Input(shape=input_shape, name="inputs")
    # An op node, not a Flatten layer: on eager PyTorch every layer call costs ~5 % of this MLP's step
    # (measured), and a reshape needs none of a layer's machinery.
    x = keras.ops.reshape(inputs, (-1, math.prod(input_shape))) if len(input_shape) > 1 else inputs
    for i, units in enumerate(hidden_units, start=1):
        if batch_norm:
            x = keras.layers.Dense(units, use_bias=False, name=f"dense_{i}")(x)
            x = keras.layers.BatchNormalization(name=f"batch_norm_{i}")(x)
            x = keras.layers.Activation(activation, name=f"{activation}_{i}")(x)
        else:  # one fused layer call per hidden layer: cheaper on eager backends
            x = keras.layers.Dense(units, activation=activation, name=f"dense_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    # Logits stay float32 under mixed precision, so the loss is computed at full precision.
    outputs = keras.layers.Dense(num_outputs, dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name="mlp")
