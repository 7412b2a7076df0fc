"""``kmlp evaluate`` and ``kmlp predict``: use a trained model on any backend, whichever one trained it.

Parse, plan the work without keras (:mod:`kmlp.inference.targets`), start the backend, run it, print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kmlp.cli import app
from kmlp.cli.options import Backend, Device, Json, Overrides, Quiet
from kmlp.cli.startup import start_backend
from kmlp.console import escape, metrics_table, out, print_json
from kmlp.inference.targets import locate, plan_evaluation, run_settings

Target = Annotated[
    str, typer.Argument(help="A run folder (or the model.keras in it), or a .keras model file.", show_default=False)
]
BatchSize = Annotated[int | None, typer.Option("--batch-size", min=1, help="Examples per step.")]


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
    plan = plan_evaluation(
        target,
        split=split,
        dataset=dataset,
        overrides=[*(overrides or []), *(assignments or [])],
        seed=seed,
        batch_size=batch_size,
    )
    quiet = quiet or as_json
    started = start_backend(backend, device, plan.runtime, subject=f"model {plan.located.model_file}", quiet=quiet)
    from kmlp.inference.evaluate import run_evaluation  # imports keras: only now that the backend is fixed

    result = run_evaluation(plan)
    if as_json:
        print_json(
            {
                "model": str(plan.located.model_file),
                "run": str(plan.located.run.path) if plan.located.run else None,
                "backend": started.choice.name,
                "device": started.device,
                "jit_compile": result.jit_compile,
                "dataset": plan.dataset,
                "split": split,
                "examples": result.examples,
                "metrics": result.metrics,
            }
        )
        return
    out.print(f"{split} metrics on {escape(plan.dataset)} ({result.examples} examples)")
    out.print(metrics_table(result.metrics))


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
    from kmlp.inference import predictions as prediction_files  # imports numpy: not paid by `kmlp --help`

    located = locate(target)
    source = Path(inputs).expanduser()
    destination = Path(output).expanduser() if output else source.with_name(source.stem + ".predictions.npz")
    prediction_files.check_destination(destination, overwrite)
    x = prediction_files.read_inputs(source, key)
    runtime, architecture = run_settings(located)
    quiet = quiet or as_json
    started = start_backend(backend, device, runtime, subject=f"model {located.model_file}", quiet=quiet)
    from kmlp.inference.evaluate import predict, prepare_inputs
    from kmlp.inference.loading import load_model

    model = load_model(located.model_file, architecture=architecture)
    predictions = predict(model, prepare_inputs(x, model, str(source)), batch_size or 256)
    names = located.class_names()
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
