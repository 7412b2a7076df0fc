"""``kmlp validate``: check a recipe against the schema and its plugins' parameters, without importing keras."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kmlp.cli import app
from kmlp.cli.completion import recipe_names
from kmlp.cli.options import Overrides
from kmlp.console import out
from kmlp.recipe.files import dump_toml
from kmlp.recipe.resolve import load


@app.command()
def validate(
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
    show_resolved: Annotated[
        bool, typer.Option("--show", help="Print the resolved recipe (defaults filled in) as TOML.")
    ] = False,
) -> None:
    """Check a recipe against the schema and its plugins' parameters, without importing keras. Exit 0 or 2."""
    resolved = load(recipe, [*(overrides or []), *(assignments or [])])
    if show_resolved:
        sys.stdout.write(dump_toml(resolved.to_dict()))
        return
    out.print(
        f"[green]ok[/] {recipe}: dataset {resolved['dataset']['name']!r}, "
        f"architecture {resolved['architecture']['name']!r}, optimizer {resolved['optimizer']['name']!r}"
    )
