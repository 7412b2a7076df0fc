"""Starting a recipe: ``kmlp recipes`` lists the built-in ones, ``cp`` copies one, ``init`` writes a new one.

None of these import keras: they read TOML files and plugin specs only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kmlp.cli import app
from kmlp.cli.completion import builtin_recipe_names
from kmlp.cli.options import Json
from kmlp.console import escape, out, print_json
from kmlp.errors import KmlpError, did_you_mean
from kmlp.recipe.files import builtin_recipes, read_toml
from kmlp.recipe.schema import NAME_PATTERN


@app.command(rich_help_panel="Start a recipe")
def recipes(as_json: Json = False) -> None:
    """List the built-in recipes (run one with `kmlp run NAME`, copy one with `kmlp cp NAME`)."""
    rows = []
    for name, path in builtin_recipes().items():
        raw = read_toml(path)
        rows.append(
            {
                "name": name,
                "description": raw.get("recipe", {}).get("description", ""),
                "dataset": raw.get("dataset", {}).get("name"),
                "architecture": raw.get("architecture", {}).get("name"),
                "path": str(path),
            }
        )
    if as_json:
        print_json(rows)
        return
    table = Table(title="built-in recipes")
    for column in ("name", "description", "dataset", "architecture"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"], escape(row["description"]), row["dataset"], row["architecture"])
    out.print(table)


@app.command(rich_help_panel="Start a recipe")
def cp(
    name: Annotated[str, typer.Argument(help="A built-in recipe's name.", autocompletion=builtin_recipe_names)],
    dest: Annotated[
        str | None, typer.Argument(help="File or folder to write; default ./NAME.toml.", show_default=False)
    ] = None,
) -> None:
    """Copy a built-in recipe (with its comments) to edit. Never overwrites a file."""
    builtins = builtin_recipes()
    key = name.removesuffix(".toml")
    if key not in builtins:
        raise KmlpError(
            f"no built-in recipe named {name!r}", did_you_mean(key, builtins) or "`kmlp recipes` lists them"
        )
    target = _target(dest, f"{key}.toml")
    _write_new(target, builtins[key].read_text(encoding="utf-8"))
    out.print(f"wrote {escape(str(target))}; edit it, then `kmlp run {escape(str(target))}`")


@app.command(rich_help_panel="Start a recipe")
def init(
    dataset: Annotated[str, typer.Option("--dataset", help="A registered dataset (`kmlp list datasets`).")],
    architecture: Annotated[
        str, typer.Option("--architecture", help="A registered architecture (`kmlp list architectures`).")
    ],
    dest: Annotated[
        str | None,
        typer.Argument(help="File or folder to write; default ./DATASET_ARCHITECTURE.toml.", show_default=False),
    ] = None,
    optimizer: Annotated[str, typer.Option("--optimizer", help="A Keras optimizer by name.")] = "adam",
    loss: Annotated[str, typer.Option("--loss", help="A Keras loss by name.")] = "sparse_categorical_crossentropy",
) -> None:
    """Write a new recipe listing every parameter of these plugins at its default, with its documentation."""
    from kmlp.recipe.starter import render

    file_name = f"{dataset.rpartition(':')[2]}_{architecture.rpartition(':')[2]}.toml"
    target = _target(dest, file_name)
    name = target.stem if NAME_PATTERN.match(target.stem) else None
    _write_new(target, render(dataset, architecture, optimizer, loss, name=name))
    out.print(f"wrote {escape(str(target))}; edit it, then `kmlp run {escape(str(target))}`")


def _target(dest: str | None, default_file: str) -> Path:
    if dest is None:
        return Path(default_file)
    path = Path(dest).expanduser()
    return path / default_file if path.is_dir() else path


def _write_new(path: Path, text: str) -> None:
    """Create ``path`` with ``text``; refuse if it exists (``open(..., "x")`` checks and creates in one step)."""
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError as exc:
        raise KmlpError(f"{path} already exists; not overwriting it", "choose another file name") from exc
    except OSError as exc:
        raise KmlpError(f"cannot write {path}: {exc.strerror or exc}") from exc
