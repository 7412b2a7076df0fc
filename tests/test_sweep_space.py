"""The [sweep] section is checked like the rest of a recipe: every key and candidate value, before any trial."""

from __future__ import annotations

import pytest
from conftest import RECIPES, kmlp

from kmlp.errors import RecipeError
from kmlp.recipe.files import read_toml
from kmlp.recipe.resolve import load, resolve
from kmlp.sweeps import space

BASE = read_toml(RECIPES / "digits_mlp.toml")


def sweep(space_table: dict, **settings) -> dict:
    return resolve({**BASE, "sweep": {"space": space_table, **settings}}, "test.toml")["sweep"]


def problems(space_table: dict, **settings) -> list[str]:
    with pytest.raises(RecipeError) as caught:
        sweep(space_table, **settings)
    return [str(p) for p in caught.value.problems]


def test_dotted_and_nested_keys_are_the_same_space():
    dotted = sweep({"optimizer.learning_rate": {"low": 1e-4, "high": 0.1, "log": True}})
    nested = sweep({"optimizer": {"learning_rate": {"low": 1e-4, "high": 0.1, "log": True}}})
    assert dotted == nested
    (dim,) = space.dimensions(dotted)
    assert (dim.key, dim.low, dim.high, dim.log, dim.integer) == ("optimizer.learning_rate", 1e-4, 0.1, True, False)


def test_integer_keys_get_integer_ranges_and_grids():
    (dim,) = space.dimensions(sweep({"training.batch_size": {"low": 16, "high": 64, "step": 16}}, sampler="grid"))
    assert dim.integer and dim.grid() == [16, 32, 48, 64]
    (rate,) = space.dimensions(sweep({"architecture.dropout": {"low": 0, "high": 0.4, "step": 0.1}}))
    assert not rate.integer and rate.grid() == [0.0, 0.1, 0.2, 0.3, 0.4]


@pytest.mark.parametrize(
    ("table", "settings", "expected"),
    [
        ({"optimizer.learning_rat": {"choices": [0.1]}}, {}, "did you mean 'learning_rate'"),
        ({"trainig.epochs": {"choices": [1]}}, {}, "unknown section (did you mean 'training'"),
        ({"training.epochs": {"low": 0, "high": 3}}, {}, "0: must be >= 1"),
        ({"architecture.hidden_units": {"choices": [32]}}, {}, "32: expected a list of integers"),
        ({"training.metrics": {"low": 1, "high": 2}}, {}, "a range needs a numeric key"),
        ({"optimizer.learning_rate": {"low": 0, "high": 1, "log": True}}, {}, "a log range needs low > 0"),
        ({"optimizer.learning_rate": {"low": 1, "high": 0.1}}, {}, "must be less than high"),
        (
            {"optimizer.learning_rate": {"low": 1e-3, "high": 0.1}},
            {"sampler": "grid"},
            "a grid needs choices or a step",
        ),
        ({"optimizer.name": {"choices": ["adam", "sgdd"]}}, {}, "unknown optimizer 'sgdd'"),
        ({"architecture.name": {"choices": ["mlpp"]}}, {}, "mlpp"),
        ({"optimizer.learning_rate": {"choice": [0.1]}}, {}, "did you mean 'choices'"),
        ({"optimizer.learning_rate": 0.1}, {}, "expected a table"),
        ({"learning_rate": {"choices": [0.1]}}, {}, "expected section.key"),
        ({"optimizer.learning_rate": {"choices": [0.1]}}, {"sampler": "bayes"}, "sweep.sampler"),
        ({"optimizer.learning_rate": {"choices": [0.1]}}, {"trails": 3}, "did you mean 'trials'"),
    ],
)
def test_bad_sweeps_are_recipe_problems(table, settings, expected):
    found = problems(table, **settings)
    assert any(expected in p for p in found), found


def test_a_sweep_needs_a_space():
    assert any("sweep.space: missing" in p for p in problems({}))


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("val_loss", "minimize"),
        ("val_accuracy", "maximize"),
        ("loss", "minimize"),
        ("val_mean_absolute_error", "minimize"),
    ],
)
def test_auto_direction(metric, direction):
    assert space.direction(sweep({"optimizer.learning_rate": {"choices": [0.1]}}, metric=metric)) == direction


def test_kmlp_run_and_validate_accept_a_sweep_recipe_and_sweep_needs_one(tmp_path):
    assert "sweep" in load("digits_sweep").sections
    assert kmlp("validate", "digits_sweep").returncode == 0
    done = kmlp("sweep", "digits_mlp")
    assert done.returncode == 2 and "has no [sweep] section" in done.stderr and "[sweep.space]" in done.stderr
