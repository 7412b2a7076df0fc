"""The recipes as a user runs them; the full-length ones reproduce the paper's baselines (``-m slow``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BACKEND

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def kmlp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "kmlp", *args], capture_output=True, text=True, env=full_env, timeout=3600
    )


def run(recipe: str, tmp_path: Path, *overrides: str) -> dict:
    done = kmlp(
        "run", str(RECIPES / recipe), "--backend", BACKEND, "--json",
        "--set", f"output.dir={json.dumps(str(tmp_path))}", *overrides,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_listed_with_distribution_and_version():
    (row,) = [r for r in json.loads(kmlp("list", "datasets", "--json").stdout) if r["name"] == "mnist1d"]
    assert row["distribution"] == "kmlp-mnist1d 0.1.0" and row["status"] == "ok"


def test_recipes_validate():
    for recipe in sorted(RECIPES.glob("*.toml")):
        done = kmlp("validate", str(recipe))
        assert done.returncode == 0, (recipe.name, done.stderr)


def test_without_plugins_validate_says_why(tmp_path):
    done = kmlp("validate", str(RECIPES / "mnist1d_mlp.toml"), env={"KMLP_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert done.returncode == 2
    assert "dataset 'mnist1d' comes from kmlp-mnist1d, but plugins are disabled" in done.stderr


def test_mlp_recipe_learns_quickly(tmp_path):
    result = run("mnist1d_mlp.toml", tmp_path, "training.epochs=10")
    assert result["test"]["accuracy"] > 0.3  # chance is 0.1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("recipe", "low", "high"), [("mnist1d_logistic.toml", 0.25, 0.40), ("mnist1d_mlp.toml", 0.60, 0.75)]
)
def test_full_recipes_reach_the_papers_accuracy(recipe, low, high, tmp_path):
    """The paper: logistic regression about 32 %, MLP about 68 % test accuracy."""
    assert low <= run(recipe, tmp_path)["test"]["accuracy"] <= high
