"""Options several commands share, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

Backend = Annotated[
    str | None,
    typer.Option("--backend", "-b", help="jax, torch or tensorflow (overrides KERAS_BACKEND and the recipe)."),
]
Device = Annotated[str | None, typer.Option("--device", "-d", help="auto, cpu, gpu or gpu:N.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors and the final result.")]
Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a recipe key: --set training.epochs=2 (repeatable)."),
]
RunsDir = Annotated[
    str, typer.Option("--dir", help="The output folder the runs were written to (the recipes' output.dir).")
]
