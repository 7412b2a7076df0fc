"""Starter recipes for ``kmlp init``: every parameter of the chosen plugins at its default, each documented.

The text is generated from the same schemas that validate recipes (sections, plugin params, the catalog of
Keras optimizers and losses), so it cannot drift from what ``kmlp validate`` accepts; it is validated before
it is returned.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from typing import Any

from kmlp.errors import KmlpError, did_you_mean
from kmlp.plugins.registry import Registry, default_registry
from kmlp.recipe import catalog
from kmlp.recipe.files import toml_value
from kmlp.recipe.params import REQUIRED, Param
from kmlp.recipe.resolve import resolve
from kmlp.recipe.schema import SECTIONS

_SWEEP_EXAMPLE = """\
# [sweep]                            # `kmlp sweep FILE` searches these keys with Optuna
# trials = 20
# metric = "val_accuracy"
# sampler = "tpe"                    # tpe, random or grid
# pruner = "median"                  # none, median or hyperband
#
# [sweep.space]
# "optimizer.learning_rate" = { low = 1e-4, high = 0.1, log = true }
# "training.batch_size" = { choices = [16, 32, 64] }
"""


def render(
    dataset: str,
    architecture: str,
    optimizer: str = "adam",
    loss: str = "sparse_categorical_crossentropy",
    name: str | None = None,
    registry: Registry | None = None,
) -> str:
    """A commented recipe for these plugins; raises ``KmlpError`` for unknown names."""
    registry = registry or default_registry()
    dataset_plugin = registry.lookup("dataset", dataset)
    architecture_plugin = registry.lookup("architecture", architecture)
    optimizer = optimizer.lower()
    if optimizer not in catalog.OPTIMIZERS:
        raise KmlpError(f"unknown optimizer {optimizer!r}", did_you_mean(optimizer, catalog.OPTIMIZERS))
    if loss not in catalog.LOSSES:
        raise KmlpError(f"unknown loss {loss!r}", did_you_mean(loss, catalog.LOSSES))
    name = name or re.sub(r"[^A-Za-z0-9._-]+", "_", f"{dataset_plugin.entry.name}_{architecture_plugin.entry.name}")
    blocks = [
        f"# Recipe for {dataset_plugin.entry.name} + {architecture_plugin.entry.name}, written by `kmlp init`.\n"
        "# Every parameter is listed at its default; unset ones are commented out. Edit what you need, then\n"
        "# `kmlp validate FILE` checks it and `kmlp run FILE` trains it.\n",
        _section("recipe", SECTIONS["recipe"], {"name": name}),
        _section(
            "dataset", dataset_plugin.spec.params, {"name": dataset_plugin.entry.name}, dataset_plugin.spec.summary
        ),
        _section(
            "architecture",
            architecture_plugin.spec.params,
            {"name": architecture_plugin.entry.name},
            architecture_plugin.spec.summary,
        ),
        _section("optimizer", catalog.OPTIMIZERS[optimizer], {"name": optimizer}, "Any Keras optimizer by name."),
        _section("loss", catalog.LOSSES[loss].params, {"name": loss}),
        *(_section(s, SECTIONS[s]) for s in ("training", "runtime", "output", "logging")),
        _SWEEP_EXAMPLE,
    ]
    text = "\n".join(blocks)
    resolve(tomllib.loads(text), "kmlp init", registry, default_name=name)  # the starter must validate
    return text


def _section(title: str, schema: Mapping[str, Param], fixed: Mapping[str, Any] = (), about: str = "") -> str:
    lines = ([f"# {about}"] if about else []) + [f"[{title}]"]
    lines += [_line(key, value) for key, value in dict(fixed).items()]
    for key, param in schema.items():
        if key in dict(fixed):
            continue
        lines.append(f"# {_describe(param)}")
        if param.default is REQUIRED:
            lines.append(f"# {key} = ...  (required: set it)")
        elif param.default is None:
            lines.append(f"# {key} = ...")
        else:
            lines.append(_line(key, param.default))
    return "\n".join(lines) + "\n"


def _line(key: str, value: Any) -> str:
    return f"{key} = {toml_value(value)}"


def _describe(param: Param) -> str:
    details = [param.toml_type()]
    if param.choices:
        details.append("one of " + ", ".join(_show(c) for c in param.choices))
    for bound, symbol in ((param.ge, ">="), (param.gt, ">"), (param.le, "<="), (param.lt, "<")):
        if bound is not None:
            details.append(f"{symbol} {bound:g}")
    doc = param.doc.rstrip()
    return f"{doc} ({'; '.join(details)})" if doc else f"({'; '.join(details)})"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f'"{value}"' if isinstance(value, str) else str(value)
