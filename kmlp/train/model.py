"""The model a recipe describes: the architecture plugin's network, compiled with the recipe's optimizer, loss,
metrics and speed settings. Keras APIs only; imported once the backend is fixed."""

from __future__ import annotations

import keras

from kmlp.api import DatasetSplits
from kmlp.errors import KmlpError
from kmlp.plugins.registry import Plugin, Registry
from kmlp.recipe.schema import Recipe
from kmlp.runtime import distribution as distribute


def build_model(
    recipe: Recipe,
    data: DatasetSplits,
    registry: Registry,
    distribution: distribute.Distribution | None = None,
) -> tuple[keras.Model, Plugin]:
    """The architecture, compiled with the recipe's optimizer, loss and metrics.

    Inside the distribution's scope: on TensorFlow, variables are mirrored only if created there.
    """
    distribution = distribution or distribute.Distribution()
    with distribution.scope():
        return _build_model(recipe, data, registry, distributed=bool(distribution.devices))


def _build_model(
    recipe: Recipe, data: DatasetSplits, registry: Registry, distributed: bool
) -> tuple[keras.Model, Plugin]:
    keras.config.set_dtype_policy(recipe["runtime"]["precision"])
    plugin = registry.lookup("architecture", recipe["architecture"]["name"])
    model = plugin.spec.build(
        input_shape=tuple(data.input_shape), num_outputs=data.num_classes, **recipe.plugin_params("architecture")
    )
    if not isinstance(model, keras.Model):
        raise KmlpError(
            f"architecture {plugin.entry.name!r} ({plugin.entry.distribution}) returned {type(model).__name__}, "
            "not a keras.Model",
            "this is a bug in the plugin; `kmlp plugins check` shows which part of the contract it breaks",
        )
    training = recipe["training"]
    model.compile(
        optimizer=keras.optimizers.deserialize(
            {"class_name": recipe["optimizer"]["name"], "config": recipe.params("optimizer")}
        ),
        loss=keras.losses.deserialize(
            {"class_name": _class_name(recipe["loss"]["name"]), "config": recipe.params("loss")}
        ),
        weighted_metrics=list(training["metrics"]),  # honour the weight-0 rows that pad a batch (ArrayBatches)
        jit_compile=training["jit_compile"],
        steps_per_execution=steps_per_execution(training["steps_per_execution"], keras.backend.backend(), distributed),
    )
    return model, plugin


def _class_name(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


#: What ``training.steps_per_execution = "auto"`` means per backend, chosen by measurement (docs/performance.md):
#: running several steps per call into the compiled function saves per-step dispatch on JAX and TensorFlow;
#: Keras's torch backend refuses more than 1.
_STEPS_PER_EXECUTION = {"jax": 16, "tensorflow": 16, "torch": 1}


def steps_per_execution(setting: int | str, backend: str, distributed: bool) -> int:
    """The recipe's ``training.steps_per_execution`` ("auto" or a count) for this backend.

    TensorFlow's ``MirroredStrategy`` fails inside its graph loop ("You must feed a value for placeholder") when
    several steps run per call on a Python data generator, so a data-parallel TensorFlow run takes one step per call.
    """
    if backend == "tensorflow" and distributed:
        if setting not in ("auto", 1):
            raise KmlpError(
                f"training.steps_per_execution = {setting} does not work with data-parallel training on tensorflow",
                'use steps_per_execution = "auto" (one step per call there) or 1',
            )
        return 1
    return _STEPS_PER_EXECUTION.get(backend, 1) if setting == "auto" else int(setting)
