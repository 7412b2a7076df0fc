"""What every conformance check shares: the catalogue, the result of one check, and how a check fails.

A check is a function of a *context* (one plugin entry, in one process) that returns when the plugin keeps
that part of the contract and raises :class:`CheckFailed` with a readable reason when it does not. Work several
checks need (importing the spec, loading the data, building the model) is done once by the context; when it
fails, the check that owns that step fails with the reason and the checks that need it are skipped.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kmlp.errors import KmlpError

#: Check groups. ``api`` is the contract of plugin API version ``kmlp.api.API_VERSION``: it gains or changes
#: checks only when that version changes, so a plugin's CI that selects it stays green across kmlp releases.
#: ``extended`` holds good practice and may grow in any release.
API = "api"
EXTENDED = "extended"
CHECK_GROUPS: tuple[str, ...] = (API, EXTENDED)

#: Where a check runs: ``static`` ones import only the spec (no backend); ``runtime`` ones run once per backend.
STATIC = "static"
RUNTIME = "runtime"

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"
#: Failed, and listed in ``expected_failures``.
XFAILED = "xfailed"
#: Passed although listed in ``expected_failures``: a failure, so stale entries get removed.
XPASSED = "xpassed"
FAILING_STATUSES = frozenset({FAILED, XPASSED})

#: Frames inside these are never where a plugin's bug is.
_LIBRARY_PARTS = frozenset({"keras", "jax", "jaxlib", "torch", "tensorflow", "numpy", "importlib"})
_KIT_FILES = (str(Path(__file__).parent), str(Path(__file__).parents[1] / "api.py"))


class CheckFailed(AssertionError):
    """The plugin breaks this part of the contract; the message says how, in words its author can act on."""


class Unavailable(Exception):
    """A step that check ``owner`` covers failed, so a check that needs its result cannot run."""

    def __init__(self, owner: str, reason: str) -> None:
        super().__init__(reason)
        self.owner = owner
        self.reason = reason


@dataclass(frozen=True)
class Check:
    """One named check: what it applies to, where it runs, and its group."""

    name: str
    function: Callable[[Any], None]
    stage: str
    group: str
    #: ``"dataset"``, ``"architecture"``, or ``None`` for both.
    kind: str | None

    @property
    def doc(self) -> str:
        return (self.function.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")

    def applies_to(self, kind: str) -> bool:
        return self.kind in (None, kind)


#: Every check, in the order they run (static checks first; within a stage, in definition order).
CATALOGUE: dict[str, Check] = {}


def check(*, stage: str, group: str, kind: str | None = None) -> Callable[[Callable[[Any], None]], Callable]:
    """Register a check function under its own name."""

    def register(function: Callable[[Any], None]) -> Callable[[Any], None]:
        assert function.__name__ not in CATALOGUE, f"two checks named {function.__name__}"
        CATALOGUE[function.__name__] = Check(function.__name__, function, stage, group, kind)
        return function

    return register


def prerequisite(owner: str) -> Callable[[Callable[[Any], Any]], property]:
    """A context property computed once; if it fails, check ``owner`` fails and checks that use it are skipped."""

    def decorate(method: Callable[[Any], Any]) -> property:
        slot = f"_{method.__name__}_outcome"

        @functools.wraps(method)
        def get(self: Any) -> Any:
            if slot not in self.__dict__:
                try:
                    self.__dict__[slot] = (method(self), None)
                except Unavailable as exc:
                    self.__dict__[slot] = (None, exc)
                except CheckFailed as exc:
                    self.__dict__[slot] = (None, Unavailable(owner, str(exc)))
                except Exception as exc:  # the plugin's code failed in some way: that is the finding
                    self.__dict__[slot] = (None, Unavailable(owner, describe_exception(exc)))
            value, error = self.__dict__[slot]
            if error is not None:
                raise error
            return value

        return property(get)

    return decorate


def needs(*steps: Any) -> None:
    """Spell out that a check only needs ``steps`` to succeed: reading a context property runs its step."""


@dataclass
class CheckResult:
    """The outcome of one check for one plugin entry on one backend (``None`` for static checks)."""

    plugin: str
    kind: str
    check: str
    group: str
    backend: str | None
    status: str
    reason: str = ""
    seconds: float = 0.0

    @property
    def failing(self) -> bool:
        return self.status in FAILING_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_check(check: Check, context: Any, plugin: str, kind: str, backend: str | None) -> CheckResult:
    """Run one check on a context; never raises for anything the plugin does."""
    started = time.perf_counter()
    try:
        check.function(context)
    except Unavailable as exc:
        if exc.owner == check.name:
            status, reason = FAILED, exc.reason
        else:
            status, reason = SKIPPED, f"needs {exc.owner}, which failed"
    except CheckFailed as exc:
        status, reason = FAILED, str(exc)
    except Exception as exc:  # the plugin's code raised inside the check
        status, reason = FAILED, describe_exception(exc)
    else:
        status, reason = PASSED, ""
    return CheckResult(plugin, kind, check.name, check.group, backend, status, reason, time.perf_counter() - started)


def apply_expectations(result: CheckResult, expected: dict[str, str]) -> CheckResult:
    """Turn a failure listed in ``expected`` ({check: reason}) into ``xfailed``, and a pass into ``xpassed``."""
    if result.check not in expected:
        return result
    why = expected[result.check]
    if result.status == FAILED:
        result.status, result.reason = XFAILED, f"{result.reason} (expected: {why})"
    elif result.status == PASSED:
        result.status = XPASSED
        result.reason = f"expected to fail ({why}) but passed: remove it from expected_failures"
    return result


def select_checks(
    kind: str | None = None, groups: Iterable[str] | None = None, names: Iterable[str] | None = None
) -> list[Check]:
    """Checks in catalogue order, filtered by kind, group and name."""
    groups = set(groups or CHECK_GROUPS)
    names = set(names) if names else None
    return [
        c
        for c in CATALOGUE.values()
        if (kind is None or c.applies_to(kind)) and c.group in groups and (names is None or c.name in names)
    ]


def describe_exception(exc: BaseException) -> str:
    """``TypeError: ... (at plugin/models.py:12)``: the message and the innermost frame outside the libraries."""
    text = f"{type(exc).__name__}: {exc}".strip()
    if isinstance(exc, KmlpError) and exc.hint:
        text += f" (hint: {exc.hint})"
    frames = traceback.extract_tb(exc.__traceback__)
    own = [
        f for f in frames if not _LIBRARY_PARTS & set(Path(f.filename).parts) and not f.filename.startswith(_KIT_FILES)
    ]
    if own:
        frame = own[-1]
        text += f" (at {_short_path(frame.filename)}:{frame.lineno})"
    return text


def _short_path(filename: str) -> str:
    parts = Path(filename).parts
    return str(Path(*parts[-2:])) if len(parts) >= 2 else filename
