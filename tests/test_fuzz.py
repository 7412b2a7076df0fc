"""Fuzzing the recipe loader with Hypothesis: whatever the text, data or overrides, loading either gives a valid
recipe or raises ``KmlpError`` (``RecipeError`` for what is in the recipe) — never another exception, which the
command line would show as a traceback."""

from __future__ import annotations

import copy
import math
import string
import tomllib

import pytest
from conftest import RECIPES
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kmlp.errors import KmlpError
from kmlp.recipe.files import dump_toml
from kmlp.recipe.overrides import apply_overrides
from kmlp.recipe.resolve import load, resolve
from kmlp.recipe.schema import SECTIONS, Recipe

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

#: Keys the loader knows, so generated recipes reach deep into validation instead of stopping at "unknown key".
KEYS = sorted(
    {key for schema in SECTIONS.values() for key in schema}
    | {"name", "hidden_units", "dropout", "noise", "input_shape", "num_classes", "learning_rate", "momentum"}
    | {"train_samples", "test_samples", "from_logits", "path", "parameters", "trials", "metric"}
)
SECTION_NAMES = [*SECTIONS, "dataset", "architecture", "optimizer", "loss", "sweep"]
NAMES = ["synthetic", "digits", "mnist", "mlp", "adam", "sgd", "sparse_categorical_crossentropy", "os:system", ""]

scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(NAMES),
    st.integers(min_value=0, max_value=100),
    st.floats(min_value=0, max_value=1),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner),
    max_leaves=8,
)
sections = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), values, max_size=6)
raw_recipes = st.dictionaries(st.sampled_from(SECTION_NAMES) | st.text(max_size=8), sections | values, max_size=8)

#: Pieces of TOML, so random text is often nearly valid.
TOML_PIECES = [
    "[dataset]\n",
    "[architecture]\n",
    "[training]\n",
    "[[x]]\n",
    'name = "synthetic"\n',
    'name = "mlp"\n',
    "epochs = ",
    "= ",
    "1",
    "-1",
    "1e400",
    "nan",
    "inf",
    '"',
    "'''",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\n",
    "hidden_units = [",
    "a.b.c = 1\n",
    "\\u0000",
    "1979-05-27T07:32:00Z",
    "true",
]
toml_texts = st.lists(st.sampled_from(TOML_PIECES) | st.text(alphabet=string.printable, max_size=6), max_size=20).map(
    "".join
)
overrides = st.lists(
    st.builds(
        lambda key, value: f"{key}={value}",
        st.lists(st.sampled_from([*SECTION_NAMES, *KEYS]) | st.text(max_size=5), min_size=0, max_size=3).map(".".join),
        st.sampled_from(["1", "-1", "0.5", "[1, 2]", "[", "x y", '"s"', "true", "{a = 1}", "nan", ""])
        | st.text(max_size=8),
    )
    | st.text(max_size=12),
    max_size=3,
)


@st.composite
def mutated_recipes(draw) -> dict:
    """A valid recipe (the built-in sweep, which has every section) with a few keys set to random values."""
    raw = copy.deepcopy(tomllib.loads((RECIPES / "digits_sweep.toml").read_text()))
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(sorted(raw)))
        key = draw(st.sampled_from(sorted(raw[section])) | st.sampled_from(KEYS))
        raw[section][key] = draw(values)
    return raw


def _check(recipe: Recipe) -> None:
    """What a valid recipe promises the code that runs it."""
    assert recipe["training"]["epochs"] >= 1 and recipe["training"]["batch_size"] >= 1
    assert 0 <= recipe["training"]["validation_split"] < 1
    assert isinstance(recipe.name, str) and "/" not in recipe.name and ".." not in recipe.name
    lr = recipe["optimizer"].get("learning_rate")
    assert lr is None or (lr > 0 and math.isfinite(lr))
    saved = tomllib.loads(dump_toml(recipe.to_dict()))  # what a run writes as recipe.toml, and resume reads
    assert resolve(saved, "recipe.toml").to_dict() == recipe.to_dict()


@FUZZ
@given(toml_texts)
def test_any_recipe_text_loads_or_is_a_clear_error(tmp_path, text):
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    try:
        recipe = load(path)
    except KmlpError:
        return
    _check(recipe)


@FUZZ
@given(raw_recipes)
def test_any_recipe_data_resolves_or_is_a_recipe_error(raw):
    try:
        recipe = resolve(raw, "fuzz.toml")
    except KmlpError:
        return
    _check(recipe)


@FUZZ
@given(mutated_recipes())
def test_a_valid_recipe_with_random_values_resolves_or_is_a_recipe_error(raw):
    try:
        recipe = resolve(raw, "fuzz.toml")
    except KmlpError:
        event("refused")
        return
    event("valid")
    _check(recipe)


@FUZZ
@given(overrides)
def test_any_overrides_apply_or_are_a_clear_error(tmp_path, texts):
    path = tmp_path / "base.toml"
    path.write_text('[dataset]\nname = "synthetic"\n[architecture]\nname = "mlp"\n')
    try:
        recipe = load(path, texts)
    except KmlpError:
        return
    _check(recipe)


@pytest.mark.parametrize(
    "raw",
    [
        {"dataset": {"name": "synthetic"}, "architecture": {"name": "mlp"}, "optimizer": {"learning_rate": math.nan}},
        {"dataset": {"name": "synthetic"}, "architecture": {"name": "mlp"}, "optimizer": {"learning_rate": math.inf}},
    ],
    ids=["nan", "inf"],
)
def test_non_finite_numbers_are_refused(raw):
    with pytest.raises(KmlpError):
        resolve(raw, "fuzz.toml")


def test_apply_overrides_keeps_the_original():
    raw = {"training": {"epochs": 3}}
    apply_overrides(raw, ["training.epochs=5"])
    assert raw == {"training": {"epochs": 3}}
