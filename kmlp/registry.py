"""Compatibility: the registry moved to :mod:`kmlp.plugins.registry`; plugin tests for kmlp 0.1 import it here."""

from kmlp.plugins.registry import (  # noqa: F401
    Plugin,
    PluginEntry,
    Registry,
    create_model,
    default_registry,
    find_entries,
    load_dataset,
    validate_params,
)
