"""The custom layers of MLP-Mixer and ResMLP, from ``keras.layers`` and ``keras.ops`` only.

Each is registered under the package name ``kmlp_mixer`` and returns every constructor argument from
``get_config``, so a saved ``model.keras`` loads again, on any backend, in a process that imported this module.
Sub-layers are created in ``build`` with the parent's dtype policy, so mixed precision survives a reload.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

PACKAGE = "kmlp_mixer"


def _swap_tokens_and_channels(x: Any) -> Any:
    """(batch, tokens, channels) <-> (batch, channels, tokens): a Dense then mixes across tokens."""
    return ops.transpose(x, (0, 2, 1))


@keras.saving.register_keras_serializable(package=PACKAGE)
class MlpBlock(layers.Layer):
    """Dense -> GELU -> Dense over the last axis, back to its width: the MLP of every mixer."""

    def __init__(self, hidden_units: int, dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hidden_units = hidden_units
        self.dropout = dropout

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.hidden = layers.Dense(self.hidden_units, activation="gelu", dtype=self.dtype_policy, name="hidden")
        self.hidden.build(input_shape)
        self.project = layers.Dense(input_shape[-1], dtype=self.dtype_policy, name="project")
        self.project.build((*input_shape[:-1], self.hidden_units))
        self.drop = layers.Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")

    def call(self, x: Any, training: bool | None = None) -> Any:
        x = self.drop(self.hidden(x), training=training)
        return self.drop(self.project(x), training=training)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "hidden_units": self.hidden_units, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MixerBlock(layers.Layer):
    """One MLP-Mixer block: an MLP across tokens, then one across channels, each after a LayerNorm, each residual."""

    def __init__(self, tokens_mlp_dim: int, channels_mlp_dim: int, dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tokens_mlp_dim = tokens_mlp_dim
        self.channels_mlp_dim = channels_mlp_dim
        self.dropout = dropout

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        batch, tokens, channels = input_shape
        policy = self.dtype_policy
        self.norm_tokens = layers.LayerNormalization(epsilon=1e-6, dtype=policy, name="norm_tokens")
        self.norm_tokens.build(input_shape)
        self.token_mixing = MlpBlock(self.tokens_mlp_dim, self.dropout, dtype=policy, name="token_mixing")
        self.token_mixing.build((batch, channels, tokens))
        self.norm_channels = layers.LayerNormalization(epsilon=1e-6, dtype=policy, name="norm_channels")
        self.norm_channels.build(input_shape)
        self.channel_mixing = MlpBlock(self.channels_mlp_dim, self.dropout, dtype=policy, name="channel_mixing")
        self.channel_mixing.build(input_shape)

    def call(self, x: Any, training: bool | None = None) -> Any:
        mixed = self.token_mixing(_swap_tokens_and_channels(self.norm_tokens(x)), training=training)
        x = x + _swap_tokens_and_channels(mixed)
        return x + self.channel_mixing(self.norm_channels(x), training=training)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "tokens_mlp_dim": self.tokens_mlp_dim,
            "channels_mlp_dim": self.channels_mlp_dim,
            "dropout": self.dropout,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class Affine(layers.Layer):
    """ResMLP's Aff: ``alpha * x + beta`` per channel. No batch statistics, so training and inference agree."""

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.alpha = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="alpha")
        self.beta = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="beta")

    def call(self, x: Any) -> Any:
        return x * self.alpha + self.beta


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResMLPBlock(layers.Layer):
    """One ResMLP block: a linear layer across patches, then an MLP across channels, each between Affine layers
    and scaled per channel by a learned LayerScale before its residual sum."""

    def __init__(self, mlp_ratio: int = 4, layerscale_init: float = 0.1, dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlp_ratio = mlp_ratio
        self.layerscale_init = layerscale_init
        self.dropout = dropout

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        batch, tokens, channels = input_shape
        policy = self.dtype_policy
        self.pre_tokens = Affine(dtype=policy, name="pre_tokens")
        self.pre_tokens.build(input_shape)
        self.token_linear = layers.Dense(tokens, dtype=policy, name="token_linear")
        self.token_linear.build((batch, channels, tokens))
        self.pre_channels = Affine(dtype=policy, name="pre_channels")
        self.pre_channels.build(input_shape)
        self.channel_mlp = MlpBlock(self.mlp_ratio * channels, self.dropout, dtype=policy, name="channel_mlp")
        self.channel_mlp.build(input_shape)
        scale = keras.initializers.Constant(self.layerscale_init)
        self.scale_tokens = self.add_weight(shape=(channels,), initializer=scale, name="scale_tokens")
        self.scale_channels = self.add_weight(shape=(channels,), initializer=scale, name="scale_channels")

    def call(self, x: Any, training: bool | None = None) -> Any:
        mixed = self.token_linear(_swap_tokens_and_channels(self.pre_tokens(x)))
        x = x + self.scale_tokens * _swap_tokens_and_channels(mixed)
        return x + self.scale_channels * self.channel_mlp(self.pre_channels(x), training=training)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "mlp_ratio": self.mlp_ratio,
            "layerscale_init": self.layerscale_init,
            "dropout": self.dropout,
        }
