"""Starting a recipe: built-in recipes by name, `kmlp recipes`, `cp` and `init`, and shell completion."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import RECIPES, kmlp, modules_after, run_json

from kmlp.errors import KmlpError
from kmlp.recipe.files import builtin_recipes, locate
from kmlp.recipe.resolve import load

BACKEND_MODULES = {"keras", "jax", "jaxlib", "torch", "tensorflow"}


def test_builtin_recipes_ship_inside_the_package():
    found = builtin_recipes()
    assert {"digits_mlp", "mnist_mlp", "fashion_mnist_mlp"} <= set(found)
    assert all(path.parent == RECIPES for path in found.values())


def test_a_path_wins_over_a_builtin_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert locate("digits_mlp") == RECIPES / "digits_mlp.toml"
    assert locate("digits_mlp.toml") == RECIPES / "digits_mlp.toml"
    local = tmp_path / "digits_mlp.toml"
    local.write_text((RECIPES / "mnist_mlp.toml").read_text())
    assert locate("digits_mlp.toml") == Path("digits_mlp.toml")
    assert load("digits_mlp.toml")["dataset"]["name"] == "mnist"


def test_unknown_recipe_name_suggests_close_ones():
    with pytest.raises(KmlpError, match="does not exist") as caught:
        locate("digits_mpl")
    assert "did you mean 'digits_mlp'" in caught.value.hint


def test_recipes_lists_builtins():
    rows = {r["name"]: r for r in run_json("recipes")}
    assert rows["digits_mlp"]["dataset"] == "digits" and rows["digits_mlp"]["architecture"] == "mlp"
    assert rows["mnist_mlp"]["description"]
    table = kmlp("recipes").stdout
    assert "fashion_mnist_mlp" in table and "description" in table


def test_cp_copies_with_comments_and_never_overwrites(tmp_path):
    done = kmlp("cp", "digits_mlp", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    copied = tmp_path / "digits_mlp.toml"
    assert copied.read_text() == (RECIPES / "digits_mlp.toml").read_text()
    copied.write_text("# mine\n")
    again = kmlp("cp", "digits_mlp", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert copied.read_text() == "# mine\n"
    (tmp_path / "sub").mkdir()
    assert kmlp("cp", "mnist_mlp", "sub", cwd=tmp_path).returncode == 0
    assert (tmp_path / "sub" / "mnist_mlp.toml").exists()
    wrong = kmlp("cp", "digit_mlp", cwd=tmp_path)
    assert wrong.returncode == 2 and "did you mean 'digits_mlp'" in wrong.stderr


@pytest.mark.parametrize(
    ("dataset", "architecture", "optimizer", "loss"),
    [
        ("digits", "mlp", "adam", "sparse_categorical_crossentropy"),
        ("synthetic", "mlp", "sgd", "categorical_crossentropy"),
    ],
)
def test_init_writes_every_parameter_documented_and_the_file_validates(
    tmp_path, dataset, architecture, optimizer, loss
):
    target = tmp_path / "new.toml"
    done = kmlp(
        "init",
        "--dataset",
        dataset,
        "--architecture",
        architecture,
        "--optimizer",
        optimizer,
        "--loss",
        loss,
        str(target),
    )
    assert done.returncode == 0, done.stderr
    text = target.read_text()
    assert kmlp("validate", str(target)).returncode == 0
    shown = {p["name"]: p for p in run_json("show", dataset)["params"]}
    for name, param in shown.items():
        set_line = f"{name} = {json.dumps(param['default'])}" if param["default"] is not None else f"# {name} = ..."
        assert set_line.replace('"', "") in text.replace('"', ""), name
        assert param["doc"] in text
    resolved = load(target)
    assert resolved.name == "new"
    assert resolved.to_dict()["optimizer"] == load(target, []).to_dict()["optimizer"]
    parsed = tomllib.loads(text)
    assert parsed["optimizer"]["name"] == optimizer and parsed["loss"]["name"] == loss
    assert "weight_decay" not in parsed["optimizer"] and "# weight_decay = ..." in text  # unset: commented out
    assert "[sweep.space]" in text and "[sweep]\n" not in text.replace("# [sweep]", "")
    assert kmlp("init", "--dataset", dataset, "--architecture", architecture, str(target)).returncode == 2


def test_init_unknown_plugin_is_a_user_error(tmp_path):
    done = kmlp("init", "--dataset", "mnsit", "--architecture", "mlp", cwd=tmp_path)
    assert done.returncode == 2 and "mnist" in done.stderr and not list(tmp_path.iterdir())


@pytest.mark.parametrize("argv", [["recipes"], ["cp", "--help"], ["init", "--help"]])
def test_starter_commands_import_no_backend(argv):
    code = (
        "import sys\nfrom kmlp.cli import main\n"
        f"sys.argv = ['kmlp', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert exit.code in (0, None), exit.code"
    )
    assert not modules_after(code) & BACKEND_MODULES


def _complete(*words: str, cwd: Path) -> str:
    script = shutil.which("kmlp", path=os.path.dirname(sys.executable))
    assert script, "the kmlp console script is installed with the package"
    env = {**os.environ, "_KMLP_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": " ".join(["kmlp", *words])}
    return subprocess.run([script], capture_output=True, text=True, env=env, cwd=cwd, timeout=60).stdout


def test_shell_completion_offers_recipe_names_and_files(tmp_path):
    (tmp_path / "digits_local.toml").write_text("")
    completions = _complete("run", "dig", cwd=tmp_path)
    assert '"digits_mlp"' in completions and '"digits_local.toml"' in completions
    assert "--install-completion" in kmlp("--help").stdout
