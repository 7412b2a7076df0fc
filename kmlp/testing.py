"""Test a plugin from its own pytest suite: one test per conformance check, like scikit-learn's checks.

::

    # a plugin's tests/test_conformance.py
    from kmlp.testing import parametrize_plugin_checks

    @parametrize_plugin_checks("kmlp-mixer", expected_failures={"mixed_precision_logits": "bf16 unsupported"})
    def test_kmlp_conformance(plugin, check):
        check(plugin)

Static checks never import a backend. Runtime checks run in the test process, on the backend keras uses there
(``KERAS_BACKEND``): run the suite once per backend, as kmlp's own tox environments do. A check listed in
``expected_failures`` is marked ``xfail(strict=True)``: once it passes, the test fails until the entry goes.
:func:`check_plugin` is the one-call form (runtime checks in a fresh process per installed backend).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from kmlp.plugins.conformance import (
    FAILED,
    SKIPPED,
    Check,
    ExpectedFailures,
    Report,
    check_plugins,
    run_here,
    select_checks,
)
from kmlp.plugins.conformance.runner import expectations_for, resolve_targets
from kmlp.plugins.registry import PluginEntry, Registry

__all__ = ["PluginCheck", "check_plugin", "parametrize_plugin_checks", "plugin_checks"]


class PluginCheck:
    """One check as a pytest callable: ``check(plugin)`` returns, fails with the reason, or skips."""

    def __init__(self, check: Check) -> None:
        self.check = check

    @property
    def name(self) -> str:
        return self.check.name

    def __call__(self, plugin: PluginEntry) -> None:
        import pytest

        result = run_here(self.check, plugin)
        if result.status == FAILED:
            pytest.fail(f"{plugin.qualified_name} {self.name}: {result.reason}", pytrace=False)
        if result.status == SKIPPED:
            pytest.skip(f"{self.name}: {result.reason}")

    def __repr__(self) -> str:
        return f"PluginCheck({self.name})"


def plugin_checks(
    targets: str | Iterable[str],
    *,
    groups: Iterable[str] | None = None,
    checks: Iterable[str] | None = None,
    expected_failures: ExpectedFailures | None = None,
    registry: Registry | None = None,
) -> Iterator[tuple[PluginEntry, PluginCheck, str | None]]:
    """``(plugin, check, reason it is expected to fail or None)`` for each check of each targeted plugin.

    A target is a distribution (every plugin it provides), a plugin name, or ``distribution:name``.
    """
    targets = [targets] if isinstance(targets, str) else list(targets)
    entries = resolve_targets(targets, registry or Registry.discover())
    selected = select_checks(groups=groups, names=checks)
    for entry in entries:
        expected = expectations_for(expected_failures, entry)
        for check in selected:
            if check.applies_to(entry.kind):
                yield entry, PluginCheck(check), expected.get(check.name)


def parametrize_plugin_checks(
    targets: str | Iterable[str],
    *,
    groups: Iterable[str] | None = None,
    checks: Iterable[str] | None = None,
    expected_failures: ExpectedFailures | None = None,
    strict: bool = True,
) -> Any:
    """``pytest.mark.parametrize("plugin, check", ...)`` with one test per check, ids ``<name>-<check>``."""
    import pytest

    params = []
    for entry, check, reason in plugin_checks(
        targets, groups=groups, checks=checks, expected_failures=expected_failures
    ):
        marks = [pytest.mark.xfail(reason=reason, strict=strict)] if reason is not None else []
        params.append(pytest.param(entry, check, id=f"{entry.name}-{check.name}", marks=marks))
    return pytest.mark.parametrize(("plugin", "check"), params)


def check_plugin(
    targets: str | Iterable[str],
    *,
    backends: Iterable[str] | None = None,
    groups: Iterable[str] | None = None,
    checks: Iterable[str] | None = None,
    expected_failures: ExpectedFailures | None = None,
) -> Report:
    """Run every check, the runtime ones in a fresh process per backend; raise ``AssertionError`` on a failure."""
    targets = [targets] if isinstance(targets, str) else list(targets)
    report = check_plugins(
        targets, backends=backends, groups=groups, checks=checks, expected_failures=expected_failures
    )
    if not report.ok:
        failures = [f"{r.plugin} {r.check} [{r.backend or 'static'}]: {r.reason}" for r in report.results if r.failing]
        raise AssertionError("conformance checks failed:\n  " + "\n  ".join(failures))
    return report
