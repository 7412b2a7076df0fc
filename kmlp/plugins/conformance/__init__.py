"""The plugin conformance kit: named checks that tell a plugin author whether a package keeps kmlp's contract.

Modelled on scikit-learn's ``check_estimator``: every check has a name, a one-line doc, a group and one result
per plugin (and per backend, for runtime checks). ``kmlp plugins check`` runs them from the command line;
:mod:`kmlp.testing` turns them into pytest tests. Static checks import only the plugin's spec (never a backend);
runtime checks build, load, train and save for real, in one fresh process per installed backend.

Groups: ``api`` is the contract of the plugin API version (``kmlp.api.API_VERSION``) and changes only with it;
``extended`` is good practice and may gain checks in any kmlp release.
"""

from __future__ import annotations

# Importing the check modules fills the catalogue, in run order: static checks, then runtime ones.
from kmlp.plugins.conformance import architectures, datasets, static  # noqa: F401
from kmlp.plugins.conformance.base import (
    API,
    CATALOGUE,
    CHECK_GROUPS,
    EXTENDED,
    FAILED,
    PASSED,
    RUNTIME,
    SKIPPED,
    STATIC,
    XFAILED,
    XPASSED,
    Check,
    CheckFailed,
    CheckResult,
    select_checks,
)
from kmlp.plugins.conformance.runner import ExpectedFailures, Report, check_plugins, resolve_targets, run_here

__all__ = [
    "API",
    "CATALOGUE",
    "CHECK_GROUPS",
    "EXTENDED",
    "FAILED",
    "PASSED",
    "RUNTIME",
    "SKIPPED",
    "STATIC",
    "XFAILED",
    "XPASSED",
    "Check",
    "CheckFailed",
    "CheckResult",
    "ExpectedFailures",
    "Report",
    "check_plugins",
    "resolve_targets",
    "run_here",
    "select_checks",
]
