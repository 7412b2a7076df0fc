"""The run's ``environment.json``: what a reader needs to repeat it (versions, backend, device, plugins, settings)."""

from __future__ import annotations

import platform
import sys
from typing import Any

import keras
import numpy as np

from kmlp import __version__
from kmlp.api import DatasetSplits
from kmlp.plugins.registry import Plugin
from kmlp.runtime.backend import BackendChoice, installed_version


def environment(
    choice: BackendChoice,
    device: str,
    model: keras.Model,
    plugins: list[Plugin],
    data: DatasetSplits,
    distribution: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a reader needs to repeat the run: versions, backend, device, plugins and resolved settings."""
    return {
        "kmlp": __version__,
        "keras": keras.__version__,
        "backend": choice.name,
        "backend_source": choice.source,
        "backend_version": installed_version(choice.name),
        "device": device,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "command": sys.argv,
        "jit_compile": bool(model.jit_compile),
        "steps_per_execution": int(model.steps_per_execution),
        "dtype_policy": keras.config.dtype_policy().name,
        "plugins": {
            p.entry.kind: {
                "name": p.entry.name,
                "distribution": p.entry.distribution,
                "version": p.entry.version,
            }
            for p in plugins
        },
        "data": {
            "input_shape": list(data.input_shape),
            "num_classes": data.num_classes,
            "class_names": list(data.class_names) if data.class_names else None,
        },
        "distribution": distribution or {"strategy": "none", "devices": []},
    }
