"""``kmlp evaluate`` and ``kmlp predict``: use a trained model on any backend, whichever one trained it.

A target is a run folder (or the ``model.keras`` in one), whose saved recipe says how its data were loaded and
preprocessed, or a bare ``.keras`` file, for which ``--dataset`` names the data. Everything that can be checked
without keras (paths, recipe, dataset parameters, input files) is checked before the backend starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from kmlp.cli import app
from kmlp.cli.options import Backend, Device, Json, Overrides, Quiet
from kmlp.cli.startup import start_backend
from kmlp.console import escape, out, print_json
from kmlp.errors import KmlpError
from kmlp.recipe import Recipe, apply_overrides, parse_override, read_toml, resolve
from kmlp.registry import default_registry, validate_params
from kmlp.runs import RunDir

SPLITS = ("test", "validation", "train")

Target = Annotated[
    str, typer.Argument(help="A run folder (or the model.keras in it), or a .keras model file.", show_default=False)
]
BatchSize = Annotated[int | None, typer.Option("--batch-size", min=1, help="Examples per step.")]


@dataclass(frozen=True)
class Located:
    model_file: Path
    #: The run the model comes from, when it is in a run folder with its recipe.
    run: RunDir | None


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


def _class_names(run: RunDir | None) -> list[str] | None:
    if run is None:
        return None
    try:
        names = json.loads(run.environment_file.read_text()).get("data", {}).get("class_names")
    except (OSError, ValueError, AttributeError):
        return None
    return names if isinstance(names, list) else None


@app.command()
def evaluate(
    target: Target,
    assignments: Annotated[
        list[str] | None, typer.Argument(help="Overrides as key=value, same as --set.", show_default=False)
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="Dataset to evaluate on: needed for a bare model file; replaces a run's."),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="test, validation or train.")] = "test",
    overrides: Overrides = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of datasets that split by seed (default: the run's, else 0).")
    ] = None,
    batch_size: BatchSize = None,
    backend: Backend = None,
    device: Device = None,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Evaluate a trained model on a dataset split: the run's own data and preprocessing, on any backend."""
    if split not in SPLITS:
        raise KmlpError(f"unknown split {split!r}", f"choose one of: {', '.join(SPLITS)}")
    located = locate(target)
    overrides = [*(overrides or []), *(assignments or [])]
    recipe, params = None, {}
    if located.run is not None:
        recipe = _run_recipe(located.run, dataset, overrides, seed, batch_size)
        dataset = recipe["dataset"]["name"]
    elif dataset is None:
        raise KmlpError(
            f"{located.model_file} is not in a run folder, so kmlp does not know its data",
            "name them: --dataset NAME (and --set dataset.KEY=VALUE, --seed N as in training)",
        )
    else:
        params = _dataset_params(dataset, overrides)
    quiet = quiet or as_json
    started = start_backend(
        backend, device, recipe["runtime"] if recipe else {}, subject=f"model {located.model_file}", quiet=quiet
    )
    from kmlp import inference, training  # import keras: only now that the backend is fixed

    registry = default_registry()
    model = inference.load_model(located.model_file, architecture=recipe["architecture"]["name"] if recipe else None)
    if recipe is not None:
        data, _ = training.load_data(recipe, registry)
        batches = getattr(training.make_batches(recipe, data), split)
        if batches is None:
            raise KmlpError(
                "this run had no validation split (its dataset has none and training.validation_split = 0)",
                "use --split test or --split train",
            )
    else:
        data = registry.lookup("dataset", dataset).spec.load(seed=seed or 0, **params)
        batches = inference.split_batches(data, split, batch_size or 32, inference.label_encoding(model))
    inference.check_compatible(model, data.input_shape, data.num_classes, dataset)
    metrics = inference.evaluate(model, batches)
    if as_json:
        print_json(
            {
                "model": str(located.model_file),
                "run": str(located.run.path) if located.run else None,
                "backend": started.choice.name,
                "device": started.device,
                "jit_compile": bool(model.jit_compile),
                "dataset": dataset,
                "split": split,
                "examples": batches.num_samples,
                "metrics": metrics,
            }
        )
        return
    out.print(f"{split} metrics on {escape(dataset)} ({batches.num_samples} examples)")
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        table.add_row(name, f"{value:.4f}")
    out.print(table)


@app.command()
def predict(
    target: Target,
    inputs: Annotated[str, typer.Argument(help="Inputs: a .npy file, or a .npz (array 'x', or pick one with --key).")],
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Where to write: .npz or .csv (default: INPUT's name + .predictions.npz)."),
    ] = None,
    key: Annotated[str | None, typer.Option("--key", help="The array in a .npz INPUT to predict on.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
    batch_size: BatchSize = 256,
    backend: Backend = None,
    device: Device = None,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Predict classes and probabilities (softmax of the model's logits) for an array of inputs."""
    from kmlp import predictions as prediction_files  # imports numpy: not paid by `kmlp --help`

    located = locate(target)
    source = Path(inputs).expanduser()
    destination = Path(output).expanduser() if output else source.with_name(source.stem + ".predictions.npz")
    prediction_files.check_destination(destination, overwrite)
    x = prediction_files.read_inputs(source, key)
    runtime, architecture = {}, None
    if located.run is not None:
        raw = read_toml(located.run.recipe_file)  # only where it ran and what built it: no dataset is loaded
        runtime, architecture = raw.get("runtime", {}), raw.get("architecture", {}).get("name")
    quiet = quiet or as_json
    started = start_backend(backend, device, runtime, subject=f"model {located.model_file}", quiet=quiet)
    from kmlp import inference

    model = inference.load_model(located.model_file, architecture=architecture)
    predictions = inference.predict(model, inference.prepare_inputs(x, model, str(source)), batch_size or 256)
    names = _class_names(located.run)
    prediction_files.write(destination, predictions, names)
    if as_json:
        print_json(
            {
                "model": str(located.model_file),
                "backend": started.choice.name,
                "device": started.device,
                "examples": len(predictions.classes),
                "output": str(destination),
            }
        )
        return
    out.print(f"{len(predictions.classes)} predictions written to {escape(str(destination))}")
    table = Table()
    for column in ("row", "class", "confidence"):
        table.add_column(column, justify="right" if column != "class" else "left")
    for row, label in enumerate(predictions.classes[:5]):
        shown = f"{label} ({escape(names[label])})" if names and label < len(names) else str(label)
        table.add_row(str(row), shown, f"{predictions.probabilities[row, label]:.3f}")
    out.print(table)
