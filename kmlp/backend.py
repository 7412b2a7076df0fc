"""Compatibility: backend and device choice moved to :mod:`kmlp.runtime.backend`; plugin tests written for kmlp 0.1
import it here."""

from kmlp.runtime.backend import (  # noqa: F401
    BACKENDS,
    activate,
    apply,
    choose_backend,
    framework_devices,
    is_installed,
    parse_device,
)
