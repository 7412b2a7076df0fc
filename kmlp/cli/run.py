"""``kmlp run``: validate the recipe, apply backend and device, then train, evaluate and save."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from kmlp import distribute
from kmlp.cli import app
from kmlp.cli.completion import recipe_names
from kmlp.cli.options import Backend, Device, Json, Overrides, Quiet
from kmlp.cli.startup import start_backend
from kmlp.console import out, print_json
from kmlp.recipe import load


@app.command()
def run(
    recipe: Annotated[
        str,
        typer.Argument(
            help="The recipe file (.toml), or a built-in recipe's name (`kmlp recipes`).",
            show_default=False,
            autocompletion=recipe_names,
        ),
    ],
    assignments: Annotated[
        list[str] | None, typer.Argument(help="Overrides as key=value, same as --set.", show_default=False)
    ] = None,
    overrides: Overrides = None,
    backend: Backend = None,
    device: Device = None,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Train, evaluate and save the model a recipe describes, in a new run folder."""
    resolved = load(recipe, [*(overrides or []), *(assignments or [])])
    quiet = quiet or as_json
    started = start_backend(
        backend,
        device,
        resolved["runtime"],
        subject=f"recipe {resolved.name}",
        quiet=quiet,
        host_devices=distribute.host_devices(resolved["distribution"]),
        check=lambda name: distribute.check_supported(name, resolved["distribution"]),
    )
    choice, used_device = started.choice, started.device
    from kmlp import training  # imports keras: only now that the backend is fixed

    result = training.train(resolved, choice, used_device, out, quiet=quiet)
    if as_json:
        print_json(
            {
                "run": str(result.run.path),
                "backend": choice.name,
                "device": used_device,
                "test": result.test_metrics,
                "train_seconds": result.train_seconds,
            }
        )
        return
    table = Table(title=f"test metrics  ({result.run.path})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in result.test_metrics.items():
        table.add_row(name, f"{value:.4f}")
    out.print(table)
