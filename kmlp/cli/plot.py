"""``kmlp plot``: the training curves of one or more runs in one PNG (matplotlib, headless; no keras)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kmlp.cli import app
from kmlp.cli.completion import run_ids
from kmlp.cli.options import Json, RunsDir
from kmlp.console import escape, out, print_json
from kmlp.errors import KmlpError, did_you_mean
from kmlp.runs.records import select_runs


@app.command(rich_help_panel="Look back")
def plot(
    selected: Annotated[
        list[str],
        typer.Argument(help="Run folders, run ids under --dir, or patterns ('digits_mlp/*').", autocompletion=run_ids),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", help="PNG file to write; default <dir>/plots/<timestamp>.png.", show_default=False
        ),
    ] = None,
    metrics: Annotated[
        list[str] | None,
        typer.Option(
            "--metric", "-m", help="Only these metrics (loss, accuracy, ...); repeatable.", show_default=False
        ),
    ] = None,
    runs_dir: RunsDir = "runs",
    as_json: Json = False,
) -> None:
    """Overlay the training curves of several runs (e.g. one recipe on three backends) in one figure.

    Runs that lack their own curves.png / confusion_matrix.png (trained without matplotlib) get them too.
    """
    from kmlp.runs import plots

    records = select_runs(selected, runs_dir)
    records = [r for r in records if r.history]
    if not records:
        raise KmlpError("none of these runs has finished an epoch yet", "`kmlp runs` shows each run's status")
    known = {k.removeprefix("val_") for r in records for k in r.history}
    for metric in metrics or []:
        if metric not in known:
            raise KmlpError(
                f"no run here records {metric!r}",
                did_you_mean(metric, known) or f"these do: {', '.join(sorted(known))}",
            )
    target = Path(output).expanduser() if output else plots.default_output(Path(runs_dir).expanduser())
    if target.suffix.lower() != ".png":
        raise KmlpError(f"{target}: plots are written as PNG", "give a file name ending in .png")
    figure = plots.draw_overlay(records, target, metrics)
    filled = [str(p) for r in records for p in plots.draw_run(r.path)]
    if as_json:
        print_json({"plot": str(figure), "runs": [r.id for r in records], "run_plots": filled})
        return
    out.print(f"wrote {escape(str(figure))} ({len(records)} run{'s' if len(records) != 1 else ''})")
    for path in filled:
        out.print(f"wrote {escape(path)}")
