"""Specs of the built-in architectures. Imports no keras: builders import it when a run calls them."""

from __future__ import annotations

from kmlp.api import ArchitectureSpec, Param

ACTIVATIONS = (
    "relu",
    "gelu",
    "silu",
    "swish",
    "tanh",
    "sigmoid",
    "elu",
    "selu",
    "leaky_relu",
    "softplus",
    "mish",
)

MLP = ArchitectureSpec(
    summary="Multi-layer perceptron: flatten, dense hidden layers, logits. Defaults give the classic 784-128-64-10.",
    builder="kmlp.plugins.builtins.mlp:build_mlp",
    params={
        "hidden_units": Param(list[int], [128, 64], "Width of each hidden layer, input to output.", ge=1),
        "activation": Param(str, "relu", "Activation after each hidden layer.", choices=ACTIVATIONS),
        "dropout": Param(float, 0.0, "Dropout rate after each hidden layer.", ge=0, lt=1),
        "batch_norm": Param(bool, False, "Batch normalisation before each activation."),
    },
)
