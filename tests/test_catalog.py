"""kmlp's table of Keras optimizers, losses and metrics must match the installed keras."""

from __future__ import annotations

import inspect

import keras
import pytest

from kmlp.recipe.catalog import LOSSES, METRICS, OPTIMIZERS

_NOT_RECIPE_ARGS = {"name", "kwargs"}
#: Where kmlp deliberately differs from Keras's default, and why.
_KMLP_DEFAULTS = {"from_logits": True}  # every kmlp architecture outputs logits


def _signature(cls) -> dict[str, object]:
    return {
        name: p.default
        for name, p in inspect.signature(cls).parameters.items()
        if name not in _NOT_RECIPE_ARGS and p.kind is p.POSITIONAL_OR_KEYWORD
    }


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_arguments_match_keras(name):
    cls = keras.optimizers.get(name).__class__
    expected = _signature(cls)
    documented = {key: param.default for key, param in OPTIMIZERS[name].items()}
    assert documented == expected


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_arguments_match_keras(name):
    cls = getattr(keras.losses, "".join(part.capitalize() for part in name.split("_")))
    expected = _signature(cls)
    for key, param in LOSSES[name].params.items():
        assert key in expected, key
        assert param.default == _KMLP_DEFAULTS.get(key, expected[key]), key


@pytest.mark.parametrize("name", sorted(METRICS))
def test_metric_names_resolve(name):
    if name == "accuracy":  # resolved by compile() from the loss
        return
    assert keras.metrics.get(name) is not None
