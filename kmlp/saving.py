"""Load a saved ``model.keras`` whose architecture comes from a plugin.

Keras finds a custom layer only if the module that registers it (``@keras.saving.register_keras_serializable``)
was imported before loading. kmlp imports the architecture's builder module first, so a model any plugin built
loads wherever that plugin is installed, in a process that never built it. Imports keras: use after the backend
is chosen.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras

from kmlp.registry import Registry, default_registry


def import_architecture(name: str, registry: Registry | None = None) -> None:
    """Import the builder module of architecture ``name`` (or ``distribution:name``), registering its layers."""
    (registry or default_registry()).lookup("architecture", name).spec.function()


def recorded_architecture(model_path: Path) -> str | None:
    """``distribution:name`` of the architecture a kmlp run recorded next to its model, if there is one."""
    try:
        recorded = json.loads((model_path.parent / "environment.json").read_text())["plugins"]["architecture"]
        return f"{recorded['distribution']}:{recorded['name']}"
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_model(
    path: str | Path, *, architecture: str | None = None, compile: bool = True, registry: Registry | None = None
) -> keras.Model:
    """``keras.saving.load_model`` after importing the architecture plugin's custom layers.

    ``architecture`` defaults to the one recorded in the run folder the model was saved in.
    """
    path = Path(path)
    architecture = architecture or recorded_architecture(path)
    if architecture is not None:
        import_architecture(architecture, registry)
    return keras.saving.load_model(path, compile=compile)
