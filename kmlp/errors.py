"""Errors a user can fix, kept apart from internal bugs so the CLI can print them without a traceback, and the
"did you mean" suggestion every such error uses."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: Exit codes, documented in the README.
EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C), as shells report it
EXIT_TERMINATED = 143  # SIGTERM


class KmlpError(Exception):
    """A problem the user caused and can fix: the CLI prints ``message`` and ``hint`` and exits non-zero."""

    exit_code = EXIT_USER_ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class RunFailed(KmlpError):
    """Training started but could not finish (NaN loss, out of memory, ...); the run is marked failed."""

    exit_code = EXIT_RUN_FAILED


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a recipe, located by its dotted key (``training.epochs``)."""

    key: str
    message: str
    hint: str | None = None
    #: Where the offending value came from when not the recipe file itself (``--set``).
    origin: str | None = None

    def __str__(self) -> str:
        text = f"{self.key}: {self.message}" if self.key else self.message
        return f"{text} ({self.hint})" if self.hint else text


class RecipeError(KmlpError):
    """Every problem found in one recipe, reported together so the user fixes them in one pass."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{p.origin or source}: {p}" for p in problems]
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"invalid recipe ({len(problems)} {noun}):\n  " + "\n  ".join(lines))


def did_you_mean(word: Any, candidates: Iterable[Any] | None) -> str | None:
    """A "did you mean" hint from the closest candidates, or ``None`` when nothing is close."""
    names = [str(c) for c in candidates or ()]
    matches = difflib.get_close_matches(str(word), names, n=3, cutoff=0.6)
    if not matches:
        return None
    return "did you mean " + " or ".join(repr(m) for m in matches) + "?"
