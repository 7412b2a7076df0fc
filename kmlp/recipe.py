"""Recipes: the schema, loading a TOML file, command-line overrides, and the resolved recipe a run saves.

A recipe is data. Names in it (dataset, architecture, optimizer, loss, metrics) are looked up in the plugin
registry or in kmlp's catalog of Keras classes; nothing in a recipe is ever imported or evaluated. Validation
needs neither keras nor a backend, and reports every problem at once with its dotted key and a suggestion.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from kmlp import catalog
from kmlp.backend import BACKENDS, parse_device
from kmlp.errors import KmlpError, Problem, RecipeError
from kmlp.extras import missing_message
from kmlp.params import Param, did_you_mean, validate
from kmlp.registry import Registry, default_registry, problem_for
from kmlp.sweeps import space as sweep_space

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("none", "data_parallel")

#: Sections with a fixed schema. ``dataset``/``architecture`` take their keys from the named plugin and
#: ``optimizer``/``loss`` from the catalog of Keras classes (see ``_NAMED_SECTIONS``).
SECTIONS: dict[str, dict[str, Param]] = {
    "recipe": {
        "name": Param(str, None, "Name of the run's folder under output.dir; defaults to the file's name."),
        "description": Param(str, "", "What this recipe is for."),
        "seed": Param(int, 0, "Seed for weights, shuffling and dropout; the same seed repeats a run.", ge=0),
        "requires": Param(
            list[str], [], 'Distributions the recipe needs (plugins), e.g. "kmlp-mixer>=0.1"; checked first.'
        ),
    },
    "training": {
        "epochs": Param(int, 10, "Passes over the training data.", ge=1),
        "batch_size": Param(int, 32, "Examples per step (global, across all devices).", ge=1),
        "validation_split": Param(
            float,
            0.0,
            "Fraction of train held out for validation when the dataset has no validation split.",
            ge=0,
            lt=1,
        ),
        "metrics": Param(list[str], ["accuracy"], "Metrics reported for train, validation and test."),
        "shuffle": Param(bool, True, "Reshuffle the training data every epoch (seeded)."),
        "jit_compile": Param(
            (bool, str),
            "auto",
            "Compile the train step (XLA / torch.compile); auto picks per backend.",
            choices=(True, False, "auto"),
        ),
        "steps_per_execution": Param(
            (int, str), "auto", "Train steps run per call into the backend; auto picks per backend."
        ),
    },
    "runtime": {
        "backend": Param(str, None, "Default backend; --backend and KERAS_BACKEND override it.", choices=BACKENDS),
        "device": Param(str, "auto", "auto, cpu, gpu or gpu:N; --device overrides it."),
        "precision": Param(str, "float32", "Dtype policy; mixed_* keeps the logits in float32.", choices=PRECISIONS),
        "deterministic": Param(bool, True, "Use deterministic kernels, so the same seed repeats a run exactly."),
    },
    "distribution": {
        "strategy": Param(
            str,
            "none",
            "data_parallel replicates the model on several devices and splits each batch across them.",
            choices=STRATEGIES,
        ),
        "devices": Param(
            int,
            None,
            "Devices for data_parallel (the first N the backend sees); unset: all. On a CPU-only run, N > 1 "
            "splits the CPU into N virtual devices.",
            ge=1,
        ),
    },
    "output": {
        "dir": Param(str, "runs", "Where run folders are created (relative to the working directory)."),
        "save_model": Param(bool, True, "Save the trained model as model.keras."),
    },
    "logging": {
        "plots": Param(bool, True, "Draw curves.png and confusion_matrix.png in the run folder (needs kmlp[plots])."),
        "tensorboard": Param(bool, False, "Write TensorBoard event files to <run>/tensorboard (kmlp[tensorboard])."),
        "mlflow": Param(bool, False, "Log params, per-epoch metrics and results to MLflow (kmlp[mlflow])."),
        "mlflow_tracking_uri": Param(
            str, None, "MLflow tracking URI (server or database); default sqlite:///<output.dir>/mlflow.db."
        ),
        "mlflow_experiment": Param(str, None, "MLflow experiment name; defaults to recipe.name."),
    },
}
#: Recipe switches that need an optional extra, checked when the recipe is validated.
_EXTRA_SWITCHES = {"logging.tensorboard": "tensorboard", "logging.mlflow": "mlflow"}

#: Sections made of ``name`` plus the named thing's own parameters.
_NAMED_SECTIONS = ("dataset", "architecture", "optimizer", "loss")
REQUIRED_SECTIONS = ("dataset", "architecture")
_DEFAULT_NAMES = {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"}
SECTION_ORDER = (
    "recipe",
    "dataset",
    "architecture",
    "optimizer",
    "loss",
    "training",
    "runtime",
    "distribution",
    "output",
    "logging",
    "sweep",
)


@dataclass(frozen=True)
class Recipe:
    """A validated recipe with every default filled in: what a run uses and saves."""

    source: str
    sections: dict[str, dict[str, Any]]

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.sections[section]

    @property
    def name(self) -> str:
        return self.sections["recipe"]["name"]

    @property
    def seed(self) -> int:
        return self.sections["recipe"]["seed"]

    def params(self, section: str) -> dict[str, Any]:
        """A named section's set parameters without its ``name`` (the arguments of a Keras class)."""
        return {k: v for k, v in self.sections[section].items() if k != "name" and v is not None}

    def plugin_params(self, section: str) -> dict[str, Any]:
        """Every parameter of the dataset or architecture, unset ones as ``None``: the plugin contract."""
        return {k: v for k, v in self.sections[section].items() if k != "name"}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain data for TOML: unset (``None``) values are dropped, since TOML has no null."""
        return {
            section: {k: v for k, v in values.items() if v is not None} for section, values in self.sections.items()
        }


def dump_toml(data: Mapping[str, Any]) -> str:
    import tomli_w  # only commands that write recipes need it

    return tomli_w.dumps(data)


def toml_value(value: Any) -> str:
    """One value as TOML on a single line (``[128, 64]``, ``0.01``, ``"adam"``), as ``--set`` takes it."""
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return dump_toml({"v": value}).strip().removeprefix("v = ")


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a recipe file; every way of failing to read it is a ``KmlpError`` naming the file."""
    if path.is_dir():
        raise KmlpError(f"{path} is a directory, not a recipe file", "pass the path of a .toml recipe")
    if not path.exists():
        raise KmlpError(f"recipe {path} does not exist", "check the path, or run `kmlp list` to see what is installed")
    try:
        text = path.read_bytes().decode("utf-8")
    except PermissionError as exc:
        raise KmlpError(f"cannot read {path}: permission denied", "check the file's permissions") from exc
    except UnicodeDecodeError as exc:
        raise KmlpError(f"{path} is not UTF-8 text (byte {exc.start})", "recipes are TOML text files") from exc
    except OSError as exc:
        raise KmlpError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KmlpError(f"{path}: TOML syntax error: {exc}", "see https://toml.io for the syntax") from exc


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


def resolve(
    raw: Mapping[str, Any],
    source: str,
    registry: Registry | None = None,
    default_name: str = "",
    overridden: Iterable[str] = (),
) -> Recipe:
    """Validate raw recipe data and fill in every default; raises ``RecipeError`` listing all problems.

    ``overridden`` names the dotted keys set on the command line, so their problems point at ``--set``.
    """
    registry = registry or default_registry()
    problems: list[Problem] = []
    sections: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Mapping[str, Param]] = dict(SECTIONS)
    for key, value in raw.items():
        if key not in SECTIONS and key not in _NAMED_SECTIONS and key != "sweep":
            problems.append(Problem(key, "unknown section", did_you_mean(key, SECTION_ORDER)))
        elif not isinstance(value, dict):
            problems.append(Problem(key, f"expected a [{key}] table, found a value", f"write it as [{key}]"))
    for section in REQUIRED_SECTIONS:
        if section not in raw:
            problems.append(
                Problem(section, f"missing required section [{section}]", f'add [{section}] with a name = "..."')
            )
    for section, schema in SECTIONS.items():
        values = raw.get(section, {})
        resolved, found = validate(schema, values if isinstance(values, dict) else {}, section)
        sections[section] = resolved
        problems += found
    missing_requirements = _missing_requirements(sections["recipe"].get("requires") or [], problems)
    for section in _NAMED_SECTIONS:
        values = raw.get(section)
        if values is None and section in REQUIRED_SECTIONS:
            continue
        values = values if isinstance(values, dict) else {}
        sections[section], schemas[section], found = _resolve_named(section, values, registry, missing_requirements)
        problems += found
    problems += _check_cross_section(sections)
    if isinstance(raw.get("sweep"), dict):
        sections["sweep"], found = sweep_space.check_section(raw["sweep"], schemas, registry)
        problems += found
    if not sections["recipe"].get("name"):
        sections["recipe"]["name"] = default_name or "recipe"
    if problems:
        raise RecipeError(source, _annotate(problems, schemas, set(overridden)))
    ordered = {s: sections[s] for s in SECTION_ORDER if s in sections}
    return Recipe(source, ordered)


def builtin_recipes() -> dict[str, Path]:
    """The recipes shipped inside the package (``kmlp/recipes/*.toml``), by name."""
    folder = Path(__file__).with_name("recipes")
    return {path.stem: path for path in sorted(folder.glob("*.toml"))}


def locate(recipe: str | Path) -> Path:
    """A recipe argument as a file: an existing path wins, else a built-in recipe's name (``digits_mlp``)."""
    path = Path(recipe)
    if path.exists():
        return path
    builtins = builtin_recipes()
    name = path.name.removesuffix(".toml") if path.parent == Path(".") else None
    if name in builtins:
        return builtins[name]
    suggestion = did_you_mean(name or path.name, builtins)
    hint = f"{suggestion} " if suggestion else ""
    raise KmlpError(
        f"recipe {str(recipe)!r} does not exist, as a file or as a built-in recipe",
        f"{hint}`kmlp recipes` lists the built-in recipes; `kmlp init` writes a new one",
    )


def load(path: str | Path, overrides: Iterable[str] = (), registry: Registry | None = None) -> Recipe:
    """Read, override and validate a recipe file (or a built-in recipe, by name)."""
    path = locate(path)
    overrides = list(overrides)
    raw = apply_overrides(read_toml(path), overrides)
    overridden = {".".join(parse_override(text)[0]) for text in overrides}
    return resolve(raw, str(path), registry, default_name=_safe_name(path.stem), overridden=overridden)


def _annotate(
    problems: list[Problem], schemas: Mapping[str, Mapping[str, Param]], overridden: set[str]
) -> list[Problem]:
    """Point problems from ``--set`` at the command line, and suggest the section a misplaced key belongs to."""
    annotated = []
    for problem in problems:
        hint = problem.hint
        section, _, key = problem.key.partition(".")
        if problem.message == "unknown key" and hint is None:
            homes = [f"{other}.{key}" for other, schema in schemas.items() if other != section and key in schema]
            if homes:
                hint = "did you mean " + " or ".join(repr(h) for h in homes) + "?"
        base_key = problem.key.split("[", 1)[0]
        from_cli = any(o == base_key or o.startswith(base_key + ".") for o in overridden)
        origin = "--set" if from_cli else None
        annotated.append(Problem(problem.key, problem.message, hint, origin))
    return annotated


def _safe_name(stem: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-")
    return cleaned[:64] or "recipe"


def _resolve_named(
    section: str, values: dict[str, Any], registry: Registry, missing_requirements: list[str]
) -> tuple[dict[str, Any], Mapping[str, Param], list[Problem]]:
    """A named section's values and schema (empty when the name is unknown), and its problems."""
    name = values.get("name", _DEFAULT_NAMES.get(section))
    where = f"{section}.name"
    if name is None:
        return {}, {}, [Problem(where, "missing required key (a string)", f'name the {section}, e.g. name = "..."')]
    if not isinstance(name, str):
        return {}, {}, [Problem(where, f"expected a string, found {type(name).__name__}")]
    rest = {k: v for k, v in values.items() if k != "name"}
    if section in ("dataset", "architecture"):
        try:
            plugin = registry.lookup(section, name)
        except KmlpError as exc:
            problem = problem_for(where, exc)
            if missing_requirements:
                needed = " ".join(repr(r) for r in missing_requirements)
                problem = Problem(where, exc.message, f"this recipe requires {needed}: pip install {needed}")
            return {"name": name, **rest}, {}, [problem]
        schema = plugin.spec.params
        problems = _missing_extras(where, plugin.spec.requires)
    elif section == "optimizer":
        schema = catalog.OPTIMIZERS.get(name.lower())
        problems = [] if schema else [_unknown_catalog(where, "optimizer", name, catalog.OPTIMIZERS)]
        name = name.lower()
    else:
        info = catalog.LOSSES.get(name)
        schema = info.params if info else None
        problems = [] if info else [_unknown_catalog(where, "loss", name, catalog.LOSSES)]
    if schema is None:
        return {"name": name, **rest}, {}, problems
    resolved, found = validate(schema, rest, section)
    return {"name": name, **resolved}, schema, problems + found


def _unknown_catalog(where: str, kind: str, name: str, known: Mapping[str, Any]) -> Problem:
    suggestion = did_you_mean(name.lower(), known)
    listing = "supported: " + ", ".join(sorted(known))
    return Problem(where, f"unknown {kind} {name!r}", f"{suggestion} {listing}" if suggestion else listing)


def _check_cross_section(sections: dict[str, dict[str, Any]]) -> list[Problem]:
    problems = []
    labels = (
        catalog.LOSSES[sections["loss"]["name"]].labels
        if sections.get("loss", {}).get("name") in catalog.LOSSES
        else None
    )
    for i, metric in enumerate(sections["training"].get("metrics") or []):
        if metric not in catalog.METRICS:
            suggestion = did_you_mean(metric, catalog.METRICS)
            listing = "supported: " + ", ".join(catalog.METRICS)
            problems.append(
                Problem(
                    f"training.metrics[{i}]",
                    f"unknown metric {metric!r}",
                    f"{suggestion} {listing}" if suggestion else listing,
                )
            )
        elif labels and catalog.METRICS[metric] not in (None, labels):
            problems.append(
                Problem(
                    f"training.metrics[{i}]",
                    f"{metric!r} expects {catalog.METRICS[metric]} labels but loss "
                    f"{sections['loss']['name']!r} trains on {labels} labels",
                    'use "accuracy", which adapts to the loss',
                )
            )
    steps = sections["training"].get("steps_per_execution")
    if steps is not None and steps != "auto" and (isinstance(steps, str) or steps < 1):
        problems.append(
            Problem("training.steps_per_execution", f'expected a positive integer or "auto", found {steps!r}')
        )
    device = sections["runtime"].get("device")
    if isinstance(device, str):
        try:
            parse_device(device)
        except KmlpError as exc:
            problems.append(Problem("runtime.device", exc.message, exc.hint))
    problems += _check_distribution(sections["distribution"], sections["training"].get("batch_size"))
    for key, extra in _EXTRA_SWITCHES.items():
        section, _, switch = key.partition(".")
        message = sections[section].get(switch) and missing_message(extra)
        if message:
            problems.append(Problem(key, message, f"pip install 'kmlp[{extra}]', or set {key} = false"))
    name = sections["recipe"].get("name")
    if name and not NAME_PATTERN.match(name):
        problems.append(
            Problem(
                "recipe.name",
                f"{name!r} cannot name a run folder",
                "use up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (no '/' or '..')",
            )
        )
    return problems


def _check_distribution(distribution: dict[str, Any], batch_size: int | None) -> list[Problem]:
    devices = distribution.get("devices")
    if devices is None:
        return []
    if distribution.get("strategy") == "none":
        return [Problem("distribution.devices", "has no effect without a strategy", 'set strategy = "data_parallel"')]
    if isinstance(batch_size, int) and batch_size % devices:
        return [
            Problem(
                "training.batch_size",
                f"{batch_size} cannot be split evenly over distribution.devices = {devices}",
                f"the batch size is global: use a multiple of {devices}",
            )
        ]
    return []


def _missing_requirements(requires: list[str], problems: list[Problem]) -> list[str]:
    """Requirements in ``recipe.requires`` that are not installed (malformed ones become problems)."""
    missing = []
    for i, text in enumerate(requires):
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            problems.append(Problem(f"recipe.requires[{i}]", f"invalid requirement {text!r}: {exc}"))
            continue
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            missing.append(text)
            continue
        if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
            problems.append(
                Problem(
                    f"recipe.requires[{i}]",
                    f"{requirement.name} {installed} is installed but the recipe needs {text!r}",
                    f"pip install '{text}'",
                )
            )
    return missing


def _missing_extras(where: str, requires: Iterable[str]) -> list[Problem]:
    problems = []
    for dist in requires:
        try:
            version(dist)
        except PackageNotFoundError:
            problems.append(Problem(where, f"needs {dist}, which is not installed", f"pip install {dist}"))
    return problems
