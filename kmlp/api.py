"""The public plugin API: what a dataset or architecture plugin declares, and what its functions return.

A plugin's entry point names a *spec* object defined with this module. Importing this module (and, by
contract, a plugin's spec module) imports neither keras nor a backend, so kmlp can list and validate every
plugin cheaply. The function a spec points to is imported only when a run needs it::

    # my_plugin/specs.py
    from kmlp.api import ArchitectureSpec, Param

    WIDE_MLP = ArchitectureSpec(
        summary="An MLP with one wide hidden layer.",
        builder="my_plugin.models:build_wide_mlp",   # imported lazily; may import keras at top level
        params={"units": Param(int, 1024, "Width of the hidden layer.", ge=1)},
    )

``builder(input_shape=..., num_outputs=..., **params)`` returns an unbuilt-or-built ``keras.Model`` whose
outputs are logits. ``loader(seed=..., **params)`` returns a :class:`DatasetSplits`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kmlp.recipe.params import REQUIRED, Param

__all__ = [
    "API_VERSION",
    "REQUIRED",
    "ArchitectureSpec",
    "DatasetSpec",
    "DatasetSplits",
    "Param",
]

#: Bumped when the spec or function contracts change incompatibly; a plugin built for another version is
#: reported as broken instead of failing in the middle of a run.
API_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class _Spec:
    summary: str
    params: Mapping[str, Param] = field(default_factory=dict)
    #: Extra distributions the function needs at run time (``"scikit-learn"``), checked before it is called.
    requires: tuple[str, ...] = ()
    api_version: int = API_VERSION
    #: Values ``kmlp plugins check`` uses instead of the defaults: small, fast settings, and a value for every
    #: required parameter. Checked against ``params`` like a recipe section.
    check_params: Mapping[str, Any] = field(default_factory=dict)


def _import(target: Callable[..., Any] | str) -> Callable[..., Any]:
    """A callable as given, or the object a ``"module:attribute"`` string names (importing the module)."""
    if callable(target):
        return target
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True, kw_only=True)
class DatasetSpec(_Spec):
    """A dataset: ``loader(seed=..., **params) -> DatasetSplits``, given as a callable or ``"module:function"``."""

    loader: Callable[..., DatasetSplits] | str

    def function(self) -> Callable[..., DatasetSplits]:
        """The loader, importing its module if it was given as a string."""
        return _import(self.loader)

    def load(self, *, seed: int, **params: Any) -> DatasetSplits:
        return self.function()(seed=seed, **params)


@dataclass(frozen=True, kw_only=True)
class ArchitectureSpec(_Spec):
    """A model family: ``builder(input_shape=..., num_outputs=..., **params) -> keras.Model`` (logits out)."""

    builder: Callable[..., Any] | str
    #: The small input (no batch dimension) ``kmlp plugins check`` builds, trains and saves the model for.
    check_input_shape: tuple[int, ...] = (8, 8)

    def function(self) -> Callable[..., Any]:
        """The builder, importing its module, which also registers the custom layers a saved model needs."""
        return _import(self.builder)

    def build(self, *, input_shape: tuple[int, ...], num_outputs: int, **params: Any) -> Any:
        return self.function()(input_shape=input_shape, num_outputs=num_outputs, **params)


@dataclass
class DatasetSplits:
    """What a dataset loader returns.

    Each split is an ``(inputs, labels)`` pair of NumPy arrays with one row per example; labels are integer
    class ids in ``[0, num_classes)``. ``validation`` is optional: without it kmlp holds out
    ``training.validation_split`` of ``train``. ``input_shape`` excludes the batch dimension.
    """

    train: Any
    test: Any
    input_shape: tuple[int, ...]
    num_classes: int
    validation: Any = None
    class_names: tuple[str, ...] | None = None
