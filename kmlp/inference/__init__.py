"""Using a trained model: ``targets`` (what a command works on, checked without keras), ``loading`` (a ``.keras``
file, safely, on any backend), ``evaluate`` (metrics and predictions) and ``predictions`` (input and output files).

``load_model`` is importable from here, for plugin tests: ``from kmlp.inference import load_model``.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Lazily: kmlp.inference.targets and .predictions must stay importable without keras.
    if name == "load_model":
        from kmlp.inference.loading import load_model

        return load_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
