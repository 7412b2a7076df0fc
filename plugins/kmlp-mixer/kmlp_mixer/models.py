"""Builders kmlp calls: ``build_mlp_mixer`` and ``build_resmlp`` (logits out, Keras functional models)."""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

from kmlp.errors import KmlpError
from kmlp_mixer.layers import Affine, MixerBlock, ResMLPBlock


def patch_embedding(inputs: Any, input_shape: tuple[int, ...], patch_size: int, hidden_dim: int) -> Any:
    """Cut the input into non-overlapping patches and project each to ``hidden_dim``: (batch, tokens, hidden_dim).

    A strided convolution with kernel = stride = patch_size is exactly a shared linear map of each patch. Rank 1
    inputs are signals, rank 2 grey images, rank 3 images with channels last.
    """
    if not 1 <= len(input_shape) <= 3:
        raise KmlpError(f"input_shape {input_shape} is not a signal (L,), a grey image (H, W) or an image (H, W, C)")
    spatial = input_shape[:2] if len(input_shape) == 3 else input_shape
    if min(spatial) < patch_size:
        raise KmlpError(
            f"input_shape {input_shape} is smaller than architecture.patch_size = {patch_size}",
            f"use a patch_size of at most {min(spatial)}",
        )
    x = inputs if len(input_shape) == 3 else layers.Reshape((*input_shape, 1), name="add_channel")(inputs)
    conv = layers.Conv1D if len(input_shape) == 1 else layers.Conv2D
    x = conv(hidden_dim, patch_size, strides=patch_size, name="patch_embedding")(x)
    return layers.Reshape((-1, hidden_dim), name="tokens")(x)


def _head(x: Any, num_outputs: int) -> Any:
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    # Logits stay float32 under mixed precision, so the loss is computed at full precision.
    return layers.Dense(num_outputs, dtype="float32", name="logits")(x)


def build_mlp_mixer(
    *,
    input_shape: tuple[int, ...],
    num_outputs: int,
    patch_size: int,
    hidden_dim: int,
    depth: int,
    tokens_mlp_dim: int,
    channels_mlp_dim: int,
    dropout: float,
) -> keras.Model:
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = patch_embedding(inputs, input_shape, patch_size, hidden_dim)
    for i in range(depth):
        x = MixerBlock(tokens_mlp_dim, channels_mlp_dim, dropout, name=f"mixer_block_{i}")(x)
    x = layers.LayerNormalization(epsilon=1e-6, name="norm")(x)
    return keras.Model(inputs, _head(x, num_outputs), name="mlp_mixer")


def build_resmlp(
    *,
    input_shape: tuple[int, ...],
    num_outputs: int,
    patch_size: int,
    hidden_dim: int,
    depth: int,
    mlp_ratio: int,
    layerscale_init: float,
    dropout: float,
) -> keras.Model:
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = patch_embedding(inputs, input_shape, patch_size, hidden_dim)
    for i in range(depth):
        x = ResMLPBlock(mlp_ratio, layerscale_init, dropout, name=f"resmlp_block_{i}")(x)
    x = Affine(name="affine")(x)
    return keras.Model(inputs, _head(x, num_outputs), name="resmlp")
