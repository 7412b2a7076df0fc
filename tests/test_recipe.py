"""Recipes: parsing, every class of validation error, overrides, and the shipped recipes."""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError

import pytest
from conftest import RECIPES, REPO

from kmlp.errors import KmlpError, RecipeError
from kmlp.plugins.registry import Registry, find_entries
from kmlp.recipe.files import read_toml
from kmlp.recipe.overrides import apply_overrides, parse_override
from kmlp.recipe.resolve import load, resolve

MINIMAL = {"dataset": {"name": "synthetic"}, "architecture": {"name": "mlp"}}


def problems_of(raw, overridden=()) -> list[str]:
    """Problems against kmlp's built-ins alone, so installed plugins do not change the messages."""
    with pytest.raises(RecipeError) as caught:
        resolve(raw, "r.toml", Registry.discover(builtins_only=True), overridden=overridden)
    return [str(p) for p in caught.value.problems]


def test_minimal_recipe_gets_every_default():
    recipe = resolve(MINIMAL, "r.toml", default_name="minimal")
    assert recipe.name == "minimal"
    assert recipe.seed == 0
    assert recipe["optimizer"]["name"] == "adam"
    assert recipe["optimizer"]["learning_rate"] == 0.001
    assert recipe["loss"] == {"name": "sparse_categorical_crossentropy", "from_logits": True, "ignore_class": None}
    assert recipe["training"]["epochs"] == 10
    assert recipe["architecture"]["hidden_units"] == [128, 64]
    assert recipe["dataset"]["num_classes"] == 4
    assert recipe.params("optimizer")["learning_rate"] == 0.001
    assert "weight_decay" not in recipe.params("optimizer")  # unset values are not passed on
    assert "weight_decay" not in recipe.to_dict()["optimizer"]  # ...nor written as TOML (no null there)


def test_mnist_recipe_is_exactly_the_classic():
    recipe = load(RECIPES / "mnist_mlp.toml")
    assert recipe["dataset"]["name"] == "mnist" and recipe["dataset"]["scale"] is True
    assert recipe["architecture"]["name"] == "mlp"
    assert recipe["architecture"]["hidden_units"] == [128, 64]
    assert recipe["architecture"]["activation"] == "relu"
    assert recipe["architecture"]["dropout"] == 0.0 and recipe["architecture"]["batch_norm"] is False
    assert recipe["optimizer"]["name"] == "sgd"
    assert recipe["optimizer"]["learning_rate"] == 0.01
    assert recipe["optimizer"]["momentum"] == 0.0 and recipe["optimizer"]["nesterov"] is False
    assert recipe["loss"]["name"] == "sparse_categorical_crossentropy" and recipe["loss"]["from_logits"] is True
    assert recipe["training"]["batch_size"] == 64
    assert recipe["training"]["epochs"] == 10
    assert recipe["training"]["validation_split"] == 0.0  # all 60,000 training images are trained on


def test_fashion_recipe_differs_from_mnist_only_in_dataset_and_name():
    mnist = load(RECIPES / "mnist_mlp.toml").to_dict()
    fashion = load(RECIPES / "fashion_mnist_mlp.toml").to_dict()
    assert fashion["dataset"]["name"] == "fashion_mnist"
    for section in ("architecture", "optimizer", "loss", "training", "runtime"):
        assert fashion[section] == mnist[section]


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_recipes_validate(path):
    assert load(path).name == path.stem


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({**MINIMAL, "trainig": {}}, "trainig: unknown section (did you mean 'training'?)"),
        ({**MINIMAL, "training": {"epocs": 2}}, "training.epocs: unknown key (did you mean 'epochs'?)"),
        ({**MINIMAL, "recipe": {"sede": 1}}, "recipe.sede: unknown key (did you mean 'seed'?)"),
        ({**MINIMAL, "runtime": {"devise": "cpu"}}, "runtime.devise: unknown key (did you mean 'device'?)"),
        ({**MINIMAL, "output": {"dirr": "x"}}, "output.dirr: unknown key (did you mean 'dir'?)"),
        (
            {"dataset": {"name": "synthetic", "num_clases": 3}, "architecture": {"name": "mlp"}},
            "dataset.num_clases: unknown key (did you mean 'num_classes'?)",
        ),
        (
            {"dataset": {"name": "synthetic"}, "architecture": {"name": "mlp", "hidden": [3]}},
            "architecture.hidden: unknown key (did you mean 'hidden_units'?)",
        ),
        (
            {**MINIMAL, "optimizer": {"name": "sgd", "momentun": 0.9}},
            "optimizer.momentun: unknown key (did you mean 'momentum' or 'ema_momentum'?)",
        ),
        ({**MINIMAL, "loss": {"from_logit": True}}, "loss.from_logit: unknown key (did you mean 'from_logits'?)"),
        (
            {**MINIMAL, "training": {"learning_rate": 0.1}},
            "training.learning_rate: unknown key (did you mean 'optimizer.learning_rate'?)",
        ),
    ],
)
def test_unknown_keys_at_every_level_get_suggestions(raw, expected):
    assert expected in problems_of(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({**MINIMAL, "training": {"epochs": "10"}}, 'training.epochs: expected an integer, found a string ("10")'),
        ({**MINIMAL, "training": {"epochs": 2.5}}, "training.epochs: expected an integer, found a number (2.5)"),
        ({**MINIMAL, "training": {"shuffle": "yes"}}, 'training.shuffle: expected a boolean, found a string ("yes")'),
        ({**MINIMAL, "training": {"metrics": "accuracy"}}, "training.metrics: expected a list of strings"),
        ({**MINIMAL, "training": 3}, "training: expected a [training] table, found a value"),
        ({**MINIMAL, "training": {"epochs": -1}}, "training.epochs: must be >= 1, found -1"),
        ({**MINIMAL, "training": {"batch_size": 0}}, "training.batch_size: must be >= 1, found 0"),
        ({**MINIMAL, "training": {"validation_split": 1.0}}, "training.validation_split: must be < 1, found 1"),
        ({**MINIMAL, "training": {"validation_split": -0.1}}, "training.validation_split: must be >= 0"),
        (
            {**MINIMAL, "optimizer": {"name": "sgd", "learning_rate": 0}},
            "optimizer.learning_rate: must be > 0, found 0",
        ),
        ({**MINIMAL, "optimizer": {"name": "sgd", "learning_rate": -0.1}}, "optimizer.learning_rate: must be > 0"),
        ({**MINIMAL, "runtime": {"backend": "jaxx"}}, 'runtime.backend: "jaxx" is not one of'),
        ({**MINIMAL, "runtime": {"device": "tpu"}}, "runtime.device: invalid device 'tpu'"),
        ({**MINIMAL, "runtime": {"precision": "fp16"}}, 'runtime.precision: "fp16" is not one of'),
        ({**MINIMAL, "training": {"steps_per_execution": 0}}, "training.steps_per_execution: expected a positive"),
        (
            {**MINIMAL, "training": {"jit_compile": "yes"}},
            'training.jit_compile: "yes" is not one of true, false, "auto"',
        ),
        (
            {"dataset": {"name": "synthetic", "noise": "loud"}, "architecture": {"name": "mlp"}},
            'dataset.noise: expected a number, found a string ("loud")',
        ),
        (
            {"dataset": {"name": "synthetic"}, "architecture": {"name": "mlp", "hidden_units": [64, 0]}},
            "architecture.hidden_units: must be >= 1, found 0",
        ),
    ],
)
def test_wrong_types_and_ranges_say_what_was_expected_and_found(raw, expected):
    assert any(p.startswith(expected) for p in problems_of(raw)), problems_of(raw)


def test_missing_required_sections():
    problems = problems_of({"training": {"epochs": 1}})
    assert any(p.startswith("dataset: missing required section [dataset]") for p in problems)
    assert any(p.startswith("architecture: missing required section [architecture]") for p in problems)


def test_missing_plugin_name():
    assert any(
        p.startswith("dataset.name: missing required key")
        for p in problems_of({"dataset": {}, "architecture": {"name": "mlp"}})
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"dataset": {"name": "mnsit"}, "architecture": {"name": "mlp"}},
            "dataset.name: unknown dataset 'mnsit' (did you mean 'mnist'? installed: digits, fashion_mnist, mnist, npy, synthetic",
        ),
        (
            {"dataset": {"name": "synthetic"}, "architecture": {"name": "mpl"}},
            "architecture.name: unknown architecture 'mpl' (did you mean 'mlp'?",
        ),
        (
            {**MINIMAL, "optimizer": {"name": "adma"}},
            "optimizer.name: unknown optimizer 'adma' (did you mean 'adamax' or 'adam'",
        ),
        ({**MINIMAL, "loss": {"name": "crossentropy"}}, "loss.name: unknown loss 'crossentropy'"),
        ({**MINIMAL, "training": {"metrics": ["acc", "accuracy"]}}, "training.metrics[0]: unknown metric 'acc'"),
        (
            {
                **MINIMAL,
                "loss": {"name": "categorical_crossentropy"},
                "training": {"metrics": ["sparse_categorical_accuracy"]},
            },
            "training.metrics[0]: 'sparse_categorical_accuracy' expects sparse labels",
        ),
    ],
)
def test_unknown_names_list_close_matches_and_what_is_installed(raw, expected):
    assert any(p.startswith(expected) for p in problems_of(raw)), problems_of(raw)


@pytest.mark.parametrize("name", ["os:system", "keras.optimizers.SGD", "kmlp.plugins.builtins.mlp.build_mlp", "../mlp"])
def test_names_are_registry_keys_never_import_paths(name):
    problems = problems_of({"dataset": {"name": "synthetic"}, "architecture": {"name": name}})
    assert any(p.startswith("architecture.name: unknown architecture") for p in problems)


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a/b", "..", ".hidden", "x" * 65])
def test_recipe_name_cannot_escape_the_output_directory(name):
    assert any(p.startswith("recipe.name:") for p in problems_of({**MINIMAL, "recipe": {"name": name}}))


def test_requires_names_the_distribution_to_install():
    raw = {
        "recipe": {"requires": ["kmlp-not-installed>=1"]},
        "dataset": {"name": "mnist1d_missing"},
        "architecture": {"name": "mlp"},
    }
    (problem,) = [p for p in problems_of(raw) if p.startswith("dataset.name")]
    assert "this recipe requires 'kmlp-not-installed>=1': pip install 'kmlp-not-installed>=1'" in problem


def test_a_plugin_recipe_without_its_plugin_names_the_distribution(monkeypatch):
    """The MNIST-1D example recipe where kmlp-mnist1d is not installed (hidden here when it is)."""
    import kmlp.recipe.checks

    installed_version = kmlp.recipe.checks.version

    def version(name: str) -> str:
        if name == "kmlp-mnist1d":
            raise PackageNotFoundError(name)
        return installed_version(name)

    monkeypatch.setattr(kmlp.recipe.checks, "version", version)
    registry = Registry([e for e in find_entries() if e.distribution != "kmlp-mnist1d"])
    with pytest.raises(RecipeError) as caught:
        load(REPO / "plugins" / "kmlp-mnist1d" / "recipes" / "mnist1d_mlp.toml", registry=registry)
    assert [str(p) for p in caught.value.problems] == [
        "dataset.name: unknown dataset 'mnist1d' (this recipe requires 'kmlp-mnist1d': pip install 'kmlp-mnist1d')"
    ]


def test_requires_checks_installed_versions():
    problems = problems_of({**MINIMAL, "recipe": {"requires": ["numpy<1"]}})
    assert any(p.startswith("recipe.requires[0]: numpy") and "pip install 'numpy<1'" in p for p in problems)
    assert any(
        "invalid requirement" in p for p in problems_of({**MINIMAL, "recipe": {"requires": ["not a requirement!"]}})
    )


def test_all_problems_are_reported_together():
    problems = problems_of(
        {
            "dataset": {"name": "synthetic", "noise": "x"},
            "architecture": {"name": "mlp"},
            "training": {"epochs": 0, "batchsize": 3},
        }
    )
    assert len(problems) == 3


# --- overrides -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("training.epochs=2", ["training", "epochs"], 2),
        ("optimizer.learning_rate=0.1", ["optimizer", "learning_rate"], 0.1),
        ("optimizer.learning_rate=1e-3", ["optimizer", "learning_rate"], 0.001),
        ("training.shuffle=false", ["training", "shuffle"], False),
        ("architecture.hidden_units=[256, 128]", ["architecture", "hidden_units"], [256, 128]),
        ("dataset.name=mnist", ["dataset", "name"], "mnist"),
        ('recipe.description="two words"', ["recipe", "description"], "two words"),
        ("recipe.description=two words", ["recipe", "description"], "two words"),
    ],
)
def test_parse_override(text, key, value):
    assert parse_override(text) == (key, value)


@pytest.mark.parametrize(
    "text", ["epochs=2", "training.epochs", "=3", "training..epochs=1", "training.epochs=[1,", "a.b c=1"]
)
def test_bad_override_syntax_is_a_clear_error(text):
    with pytest.raises(KmlpError, match="invalid"):
        parse_override(text)


def test_overrides_are_checked_like_the_file(write_recipe):
    path = write_recipe()
    recipe = load(path, ["training.epochs=1", "optimizer.learning_rate=0.1", "architecture.hidden_units=[8, 8]"])
    assert recipe["training"]["epochs"] == 1
    assert recipe["optimizer"]["learning_rate"] == 0.1
    assert recipe["architecture"]["hidden_units"] == [8, 8]
    with pytest.raises(RecipeError) as caught:
        load(path, ["training.epocs=1", "training.batch_size=0", "nosuch.key=1"])
    lines = str(caught.value).splitlines()
    assert "  --set: training.epocs: unknown key (did you mean 'epochs'?)" in lines
    assert "  --set: training.batch_size: must be >= 1, found 0" in lines
    assert "  --set: nosuch: unknown section" in lines


def test_override_cannot_descend_into_a_value():
    with pytest.raises(KmlpError, match="training.epochs is not a table"):
        apply_overrides({"training": {"epochs": 3}}, ["training.epochs.x=1"])


# --- reading files ---------------------------------------------------------------------------------------


def test_toml_syntax_error_names_line_and_column(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[dataset]\nname = "mnist"\nepochs = \n')
    with pytest.raises(KmlpError, match=r"TOML syntax error: .*line 3, column 10"):
        read_toml(path)


def test_recipe_that_is_missing_a_directory_or_unreadable(tmp_path, monkeypatch):
    with pytest.raises(KmlpError, match="does not exist"):
        read_toml(tmp_path / "nope.toml")
    with pytest.raises(KmlpError, match="is a directory"):
        read_toml(tmp_path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(KmlpError, match="not UTF-8"):
        read_toml(binary)
    locked = tmp_path / "locked.toml"
    locked.write_text("[dataset]\n")
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # root reads any file; make the read fail as it would for a user

        def denied(self):
            raise PermissionError(13, "Permission denied", str(self))

        monkeypatch.setattr(type(locked), "read_bytes", denied)
    with pytest.raises(KmlpError, match="permission denied"):
        read_toml(locked)


def test_resolved_recipe_round_trips_through_toml(write_recipe, tmp_path):
    from kmlp.recipe.files import dump_toml

    recipe = load(write_recipe(), ["training.epochs=2"])
    saved = tmp_path / "resolved.toml"
    saved.write_text(dump_toml(recipe.to_dict()))
    assert load(saved).to_dict() == recipe.to_dict()
