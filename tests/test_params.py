"""The parameter schema shared by recipe sections and plugins."""

from __future__ import annotations

import pytest

from kmlp.errors import did_you_mean
from kmlp.recipe.params import REQUIRED, Param, describe_type, is_toml_type, validate


@pytest.mark.parametrize(
    ("param", "value", "expected"),
    [
        (Param(int, 1), 3, 3),
        (Param(float, 1.0), 2, 2.0),  # ints widen to floats
        (Param(bool, False), True, True),
        (Param(list[int], []), [1, 2], [1, 2]),
        (Param(list[float], []), [1, 2.5], [1.0, 2.5]),
        (Param((bool, str), "auto", choices=(True, False, "auto")), "auto", "auto"),
        (Param((bool, str), "auto", choices=(True, False, "auto")), False, False),
    ],
)
def test_accepted_values(param, value, expected):
    converted, why = param.check(value)
    assert why is None
    assert converted == expected
    assert type(converted) is type(expected)


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        (Param(int, 1), True, "expected an integer, found a boolean (true)"),  # TOML booleans are not ints
        (Param(int, 1), 1.5, "expected an integer, found a number (1.5)"),
        (Param(float, 1.0), "0.1", 'expected a number, found a string ("0.1")'),
        (Param(str, ""), 3, "expected a string, found an integer (3)"),
        (Param(list[int], []), [1, "2"], "expected a list of integers, found a list"),
        (Param(list[int], []), 5, "expected a list of integers, found an integer (5)"),
        (Param(int, 1, ge=1), 0, "must be >= 1, found 0"),
        (Param(float, 0.1, gt=0), 0.0, "must be > 0, found 0"),
        (Param(float, 0.0, ge=0, lt=1), 1.0, "must be < 1, found 1"),
        (Param(list[int], [], ge=1), [4, 0], "must be >= 1, found 0"),
        (Param(float, 1.0), float("nan"), "must be a finite number, found nan"),
        (Param(str, "a", choices=("a", "b")), "c", '"c" is not one of "a", "b"'),
        (Param(str, ""), {"a": 1}, "expected a string, found a table"),
    ],
)
def test_rejected_values(param, value, message):
    _, why = param.check(value)
    assert why is not None and why.startswith(message)


def test_validate_fills_defaults_and_reports_every_problem():
    schema = {"units": Param(int, 8, ge=1), "name": Param(str), "rate": Param(float, None)}
    resolved, problems = validate(schema, {"units": 0, "unitz": 3}, "arch")
    assert resolved == {"rate": None}
    assert [(p.key, p.message, p.hint) for p in problems] == [
        ("arch.units", "must be >= 1, found 0", None),
        ("arch.unitz", "unknown key", "did you mean 'units'?"),
        ("arch.name", "missing required key (a string)", None),
    ]
    assert schema["name"].default is REQUIRED


def test_choice_typo_gets_a_suggestion():
    _, problems = validate({"act": Param(str, "relu", choices=("relu", "gelu"))}, {"act": "rleu"}, "a")
    assert problems[0].hint == "did you mean 'relu'?"


def test_did_you_mean_is_silent_when_nothing_is_close():
    assert did_you_mean("zzz", ["epochs", "batch_size"]) is None
    assert did_you_mean("epoch", ["epochs", "batch_size"]) == "did you mean 'epochs'?"


def test_type_descriptions_and_toml_check():
    assert describe_type(list[float]) == "a list of numbers"
    assert describe_type((bool, str)) == "a boolean or a string"
    assert Param((int, str), "auto").toml_type() == "int | str"
    assert is_toml_type(list[str]) and is_toml_type((bool, str))
    assert not is_toml_type(dict) and not is_toml_type(list[dict]) and not is_toml_type(tuple)
