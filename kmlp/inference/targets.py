"""What ``evaluate`` and ``predict`` work on, worked out before any backend starts (no keras here).

A target is a run folder (or the ``model.keras`` in one), whose saved recipe says how its data were loaded and
preprocessed, or a bare ``.keras`` file, for which a dataset must be named. Every check that needs no keras (paths,
the recipe, dataset parameters, input and output files) happens here, so a mistake costs no framework start-up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmlp.errors import KmlpError
from kmlp.plugins.registry import validate_params
from kmlp.recipe.files import read_toml
from kmlp.recipe.overrides import apply_overrides, parse_override
from kmlp.recipe.resolve import resolve
from kmlp.recipe.schema import Recipe
from kmlp.runs.folder import RunDir

SPLITS = ("test", "validation", "train")


@dataclass(frozen=True)
class Located:
    model_file: Path
    #: The run the model comes from, when it is in a run folder with its recipe.
    run: RunDir | None

    def class_names(self) -> list[str] | None:
        """The class names the run's dataset gave (``environment.json``), if known."""
        if self.run is None:
            return None
        try:
            names = json.loads(self.run.environment_file.read_text()).get("data", {}).get("class_names")
        except (OSError, ValueError, AttributeError):
            return None
        return names if isinstance(names, list) else None


@dataclass(frozen=True)
class Evaluation:
    """An evaluation to run: the model, and either the run's recipe or a named dataset with its parameters."""

    located: Located
    dataset: str
    split: str
    recipe: Recipe | None = None
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    batch_size: int = 32

    @property
    def runtime(self) -> dict[str, Any]:
        return self.recipe["runtime"] if self.recipe else {}

    @property
    def architecture(self) -> str | None:
        return self.recipe["architecture"]["name"] if self.recipe else None


def locate(target: str) -> Located:
    path = Path(target).expanduser()
    if path.is_dir():
        run = RunDir(path)
        if not run.model_file.is_file():
            state = run.read_status().get("state")
            raise KmlpError(
                f"{path} has no model.keras" + (f" (the run is {state})" if state else ""),
                "pass a completed run folder (runs/<recipe>/<time>-<backend>) or a .keras file",
            )
        return Located(run.model_file, run if run.recipe_file.is_file() else None)
    if path.is_file():
        run = RunDir(path.parent)
        in_run = path.name == run.model_file.name and run.recipe_file.is_file()
        return Located(path, run if in_run else None)
    raise KmlpError(f"{target} does not exist", "pass a run folder (runs/<recipe>/<time>-<backend>) or a .keras file")


def plan_evaluation(
    target: str,
    *,
    split: str = "test",
    dataset: str | None = None,
    overrides: list[str] = (),
    seed: int | None = None,
    batch_size: int | None = None,
) -> Evaluation:
    """Check everything an evaluation needs that can be checked without keras."""
    if split not in SPLITS:
        raise KmlpError(f"unknown split {split!r}", f"choose one of: {', '.join(SPLITS)}")
    located = locate(target)
    if located.run is not None:
        recipe = _run_recipe(located.run, dataset, list(overrides), seed, batch_size)
        return Evaluation(located, recipe["dataset"]["name"], split, recipe=recipe)
    if dataset is None:
        raise KmlpError(
            f"{located.model_file} is not in a run folder, so kmlp does not know its data",
            "name them: --dataset NAME (and --set dataset.KEY=VALUE, --seed N as in training)",
        )
    params = _dataset_params(dataset, list(overrides))
    return Evaluation(located, dataset, split, params=params, seed=seed or 0, batch_size=batch_size or 32)


def _run_recipe(
    run: RunDir, dataset: str | None, overrides: list[str], seed: int | None, batch_size: int | None
) -> Recipe:
    """The run's saved recipe, with another dataset or overrides if asked; its distribution does not apply."""
    raw = read_toml(run.recipe_file)
    raw.pop("distribution", None)  # evaluation runs on one device
    if dataset:
        raw["dataset"] = {"name": dataset}
    if seed is not None:
        overrides = [*overrides, f"recipe.seed={seed}"]
    if batch_size is not None:
        overrides = [*overrides, f"training.batch_size={batch_size}"]
    overridden = {".".join(parse_override(text)[0]) for text in overrides}
    return resolve(apply_overrides(raw, overrides), str(run.recipe_file), overridden=overridden)


def _dataset_params(dataset: str, overrides: list[str]) -> dict[str, Any]:
    """``--set dataset.KEY=VALUE`` for a bare model file, checked against the dataset's parameters."""
    params: dict[str, Any] = {}
    for text in overrides:
        parts, value = parse_override(text)
        if parts[0] != "dataset" or len(parts) != 2:
            raise KmlpError(
                f"--set {text}: only dataset.KEY=VALUE applies to a bare model file",
                "evaluate a run folder to use its whole recipe",
            )
        params[parts[1]] = value
    return validate_params("dataset", dataset, params)


def run_settings(located: Located) -> tuple[dict[str, Any], str | None]:
    """Where the model's run ran (``[runtime]``) and what built it (the architecture), from its recipe alone."""
    if located.run is None:
        return {}, None
    raw = read_toml(located.run.recipe_file)  # no dataset is loaded to predict
    return raw.get("runtime", {}), raw.get("architecture", {}).get("name")
