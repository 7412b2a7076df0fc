"""Typed parameters: one small schema language for recipe sections and plugin parameters alike.

Only types TOML can express are allowed (int, float, bool, str and lists of them), so every parameter can be
written in a recipe, printed by ``kmlp show`` and checked without importing the plugin's code or keras.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kmlp.errors import Problem, did_you_mean


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: Default of a parameter the recipe must set.
REQUIRED: Any = _Required()

_SCALARS: dict[type, str] = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
_TOML_NAMES: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str"}


@dataclass(frozen=True)
class Param:
    """One parameter: its type, default, documentation and allowed range.

    ``type`` is ``int``, ``float``, ``bool``, ``str``, ``list[...]`` of one of those, or a tuple of such types
    when several are accepted (``(bool, str)`` for ``true | false | "auto"``). A default of ``None`` means
    "unset" (TOML has no null: leave the key out); ``REQUIRED`` means the recipe must give a value.
    """

    type: Any
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple[Any, ...] | None = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, value: Any) -> tuple[Any, str | None]:
        """Return ``(value, None)`` with ints widened to floats where a float is expected, or ``(value, why)``."""
        for accepted in _alternatives(self.type):
            ok, converted = _matches(accepted, value)
            if ok:
                break
        else:
            return value, f"expected {describe_type(self.type)}, found {_describe_value(value)}"
        if self.choices is not None and converted not in self.choices:
            return value, f"{_show(converted)} is not one of {', '.join(_show(c) for c in self.choices)}"
        for item in converted if isinstance(converted, list) else [converted]:
            why = self._check_range(item)
            if why:
                return value, why
        return converted, None

    def _check_range(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, found {value}"
        bounds = (
            (self.ge, lambda v, b: v >= b, ">="),
            (self.gt, lambda v, b: v > b, ">"),
            (self.le, lambda v, b: v <= b, "<="),
            (self.lt, lambda v, b: v < b, "<"),
        )
        for bound, holds, symbol in bounds:
            if bound is not None and not holds(value, bound):
                return f"must be {symbol} {bound:g}, found {value:g}"
        return None

    def toml_type(self) -> str:
        """The type as a plugin author would write it in a TOML comment or a ``kmlp show`` table."""
        return " | ".join(_toml_name(t) for t in _alternatives(self.type))


def validate(
    schema: Mapping[str, Param], values: Mapping[str, Any], prefix: str
) -> tuple[dict[str, Any], list[Problem]]:
    """Check ``values`` against ``schema``; return them with defaults filled in, and every problem found."""
    resolved: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, value in values.items():
        where = f"{prefix}.{key}" if prefix else key
        param = schema.get(key)
        if param is None:
            problems.append(Problem(where, "unknown key", did_you_mean(key, schema)))
            continue
        converted, why = param.check(value)
        if why:
            hint = did_you_mean(value, param.choices) if isinstance(value, str) and param.choices else None
            problems.append(Problem(where, why, hint))
        else:
            resolved[key] = converted
    for key, param in schema.items():
        if key in values:
            continue
        if param.required:
            where = f"{prefix}.{key}" if prefix else key
            problems.append(Problem(where, f"missing required key ({describe_type(param.type)})", param.doc or None))
        else:
            resolved[key] = param.default
    return resolved, problems


def describe_type(tp: Any) -> str:
    """``list[int]`` -> "a list of integers"; a tuple of types -> "an integer or a string"."""
    alternatives = _alternatives(tp)
    return " or ".join(_describe_one(t) for t in alternatives)


def _alternatives(tp: Any) -> tuple[Any, ...]:
    return tp if isinstance(tp, tuple) else (tp,)


def _describe_one(tp: Any) -> str:
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        return f"a list of {_SCALARS[item].split(' ', 1)[1]}s"
    return _SCALARS[tp]


def _toml_name(tp: Any) -> str:
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        return f"list[{_TOML_NAMES[item]}]"
    return _TOML_NAMES[tp]


def is_toml_type(tp: Any) -> bool:
    """Whether a recipe can express ``tp`` (checked by the plugin conformance kit)."""
    for t in _alternatives(tp):
        if typing.get_origin(t) is list:
            args = typing.get_args(t)
            if len(args) != 1 or args[0] not in _SCALARS:
                return False
        elif t not in _SCALARS:
            return False
    return True


def _matches(tp: Any, value: Any) -> tuple[bool, Any]:
    if typing.get_origin(tp) is list:
        if not isinstance(value, list):
            return False, value
        (item,) = typing.get_args(tp)
        converted = []
        for element in value:
            ok, c = _matches(item, element)
            if not ok:
                return False, value
            converted.append(c)
        return True, converted
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return True, float(value)
        return False, value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    return isinstance(value, tp), value


def _describe_value(value: Any) -> str:
    if isinstance(value, bool):
        kind = "a boolean"
    elif isinstance(value, int):
        kind = "an integer"
    elif isinstance(value, float):
        kind = "a number"
    elif isinstance(value, str):
        kind = "a string"
    elif isinstance(value, list):
        kind = "a list"
    elif isinstance(value, dict):
        return "a table"
    else:
        kind = type(value).__name__
    return f"{kind} ({_show(value)})"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
