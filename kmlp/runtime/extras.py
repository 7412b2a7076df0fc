"""Optional dependencies: which extra provides what, and one clear error when it is missing.

Plots, experiment logs and sweeps each need a package a plain ``pip install kmlp`` does not bring. Checking is
``importlib.util.find_spec``: nothing is imported, so ``kmlp validate`` can report a missing extra quickly.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from kmlp.errors import KmlpError


@dataclass(frozen=True)
class Extra:
    """An optional feature: the modules it imports and the ``kmlp[extra]`` that installs them."""

    name: str
    modules: tuple[str, ...]
    purpose: str

    def missing(self) -> list[str]:
        return [m for m in self.modules if importlib.util.find_spec(m) is None]

    def hint(self) -> str:
        return f"install it with: pip install 'kmlp[{self.name}]'"


EXTRAS: dict[str, Extra] = {
    "plots": Extra("plots", ("matplotlib",), "plots"),
    "tensorboard": Extra("tensorboard", ("tensorboardX",), "TensorBoard event files"),
    "mlflow": Extra("mlflow", ("mlflow", "sqlalchemy", "alembic"), "MLflow tracking"),
    "sweep": Extra("sweep", ("optuna",), "sweeps"),
}


def missing_message(name: str) -> str | None:
    """Why the extra ``name`` cannot be used here, or ``None`` when everything it needs is installed."""
    extra = EXTRAS[name]
    missing = extra.missing()
    if not missing:
        return None
    return f"{extra.purpose} need {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed"


def require(name: str) -> None:
    """Raise a ``KmlpError`` naming the extra to install when ``name``'s packages are missing."""
    message = missing_message(name)
    if message:
        raise KmlpError(message, EXTRAS[name].hint())
