"""``kmlp bench``: the recipe on each backend, each in a fresh process, measured alike (see kmlp/bench.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from kmlp.cli import app
from kmlp.cli.completion import recipe_names
from kmlp.cli.options import Json, Overrides
from kmlp.console import err, out, print_json
from kmlp.recipe.resolve import load


@app.command()
def bench(
    recipe: Annotated[
        str,
        typer.Argument(help="The recipe file (.toml) or a built-in recipe's name.", autocompletion=recipe_names),
    ],
    backends: Annotated[
        str, typer.Option("--backends", help="Comma-separated backends, each run in its own process.")
    ] = "jax,torch,tensorflow",
    epochs: Annotated[
        int | None, typer.Option("--epochs", min=1, help="Epochs per run (default: the recipe's); >= 2 for a speed.")
    ] = None,
    repeat: Annotated[
        int, typer.Option("--repeat", min=1, help="Rounds over all backends, interleaved; figures are medians.")
    ] = 1,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="Compute threads for every backend (default: all cores).")
    ] = None,
    overrides: Overrides = None,
    as_json: Json = False,
) -> None:
    """Time the recipe on each backend: first epoch (compile included), steady samples/s, peak RSS, accuracy."""
    from kmlp.bench import bench as measure

    names = [b.strip() for b in backends.split(",") if b.strip()]
    resolved = load(recipe, overrides or [])  # a bad recipe fails here, before any child starts
    if not as_json:
        out.print(f"kmlp bench  recipe {resolved.name}  backends {', '.join(names)}  x{repeat}")

    def progress(round_, contender, result) -> None:
        if not as_json:
            err.print(f"  {contender.backend}: done in {result.wall_seconds:.1f}s", highlight=False)

    rows, missing, used_threads = measure(
        recipe, names, epochs=epochs, repeat=repeat, threads=threads, overrides=overrides or [], on_result=progress
    )
    if as_json:
        print_json(
            {
                "recipe": resolved.name,
                "threads": used_threads,
                "results": [r.to_dict() for r in rows],
                "missing": missing,
            }
        )
        return
    out.print(_table(rows, missing, f"kmlp bench: {resolved.name}  (threads {used_threads}, median of {repeat})"))
    for r in rows:
        out.print(f"{r.backend}: {r.settings.get('threads')}", highlight=False)


def _table(rows: list, missing: dict[str, str], title: str) -> Table:
    table = Table(title=title)
    for column in ("backend", "1st epoch s", "samples/s", "RSS MB", "test acc", "jit", "steps/exec"):
        table.add_column(column, justify="left" if column == "backend" else "right", no_wrap=True)
    for r in rows:
        speed = f"{r.samples_per_second:,.0f}" if r.samples_per_second else "- (1 epoch)"
        acc = f"{r.test_accuracy:.4f}" if r.test_accuracy is not None else "-"
        s = r.settings
        table.add_row(
            r.backend,
            f"{r.first_epoch_seconds:.2f}",
            speed,
            f"{r.peak_rss_mb:.0f}",
            acc,
            str(s.get("jit_compile")),
            str(s.get("steps_per_execution")),
        )
    for name, why in missing.items():
        table.add_row(name, why, "", "", "", "", "")
    return table
