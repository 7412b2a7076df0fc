"""Command-line overrides: ``section.key=value`` applied to a raw recipe before it is validated."""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from kmlp.errors import KmlpError


def parse_override(text: str) -> tuple[list[str], Any]:
    """``section.key=value`` -> (["section", "key"], value). The value is read as TOML, else kept as text."""
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) < 2 or not all(re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in parts):
        raise KmlpError(
            f"invalid override {text!r}",
            "write section.key=value, e.g. --set training.epochs=2 or --set architecture.hidden_units=[256,128]",
        )
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError as exc:
        if re.search(r"[\[\]{}\"']", raw):  # looks like a TOML value that failed to parse: don't guess
            raise KmlpError(
                f"invalid value in override {text!r}", 'write the value as TOML, e.g. [1, 2] or "text"'
            ) from exc
        value = raw  # a bare word such as `dataset.name=mnist`
    return parts, value


def apply_overrides(raw: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``section.key=value`` set; checked later exactly like the file."""
    result = copy.deepcopy(dict(raw))
    for text in overrides:
        parts, value = parse_override(text)
        node = result
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise KmlpError(f"cannot override {text!r}: {'.'.join(parts[: i + 1])} is not a table")
            node = child
        node[parts[-1]] = value
    return result
