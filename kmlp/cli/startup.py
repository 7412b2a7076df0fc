"""Starting a backend for a command that needs keras: choose it, apply the device, print what was chosen.

Every command that imports keras goes through :func:`start_backend`, so ``--backend``/``--device`` mean the same
everywhere and are applied before keras is first imported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kmlp import __version__
from kmlp.console import escape, out
from kmlp.runtime.backend import BackendChoice, activate, choose_backend, parse_device


@dataclass(frozen=True)
class Started:
    choice: BackendChoice
    #: The device the framework actually uses, as recorded in a run's environment.json.
    device: str


def start_backend(
    backend: str | None,
    device: str | None,
    runtime: Mapping[str, Any],
    *,
    subject: str,
    quiet: bool,
    host_devices: int = 1,
    check: Callable[[str], None] | None = None,
    fixed: BackendChoice | None = None,
) -> Started:
    """Pick the backend (``--backend`` > ``KERAS_BACKEND`` > ``runtime.backend``) and device, then import keras.

    ``runtime`` is a recipe's ``[runtime]`` section (or ``{}``); ``subject`` names what the command works on, for
    the first line it prints; ``check(backend)`` runs after the choice and before any import. ``fixed``: a backend
    that is not a choice (a resumed run continues on the one it started on).
    """
    choice = fixed or choose_backend(backend, runtime.get("backend"))
    requested = parse_device(device or runtime.get("device") or "auto")
    if check is not None:
        check(choice.name)
    if not quiet:
        out.print(f"kmlp {__version__}  {escape(subject)}  backend [bold]{choice.name}[/] ({choice.source})")
    used = activate(choice.name, requested, host_devices)
    if not quiet:
        out.print(f"device {used}")
    return Started(choice, used)
