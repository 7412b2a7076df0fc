"""Loading a run's dataset through its plugin, with the contract checked: the one path ``run`` and ``evaluate`` share.

Imports no keras itself, but loaders may (a download goes through ``keras.datasets``): call it once the backend is
fixed.
"""

from __future__ import annotations

from typing import Any

from kmlp.api import DatasetSplits
from kmlp.errors import KmlpError
from kmlp.plugins.registry import Plugin, Registry
from kmlp.recipe.schema import Recipe


def load_data(recipe: Recipe, registry: Registry) -> tuple[DatasetSplits, Plugin]:
    """The recipe's dataset, loaded with its seed and parameters; errors name the recipe file."""
    plugin = registry.lookup("dataset", recipe["dataset"]["name"])
    return load_splits(plugin, recipe.seed, recipe.plugin_params("dataset"), where=recipe.source), plugin


def load_splits(plugin: Plugin, seed: int, params: dict[str, Any], *, where: str) -> DatasetSplits:
    """Call a dataset plugin's loader and check that it kept the contract (it returned ``DatasetSplits``)."""
    try:
        data = plugin.spec.load(seed=seed, **params)
    except KmlpError as exc:  # name what asked for the [dataset] settings that failed, as recipe errors do
        raise KmlpError(f"{where}: [dataset] {plugin.entry.name}: {exc.message}", exc.hint) from exc
    if not isinstance(data, DatasetSplits):
        raise KmlpError(
            f"dataset {plugin.entry.name!r} ({plugin.entry.distribution}) returned {type(data).__name__}, "
            "not kmlp.api.DatasetSplits",
            "this is a bug in the plugin; `kmlp plugins check` shows which part of the contract it breaks",
        )
    return data
