"""Looking back at runs: ``kmlp runs`` lists them, ``kmlp compare`` puts a few side by side.

Both read run folders through :mod:`kmlp.runs.records` and import no keras.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from kmlp.cli import app
from kmlp.cli.completion import run_ids
from kmlp.cli.options import Json, RunsDir
from kmlp.console import escape, out, print_json
from kmlp.runs.records import RunRecord, find_runs, format_duration, recipe_differences, select_runs

_STATE_STYLES = {
    "completed": "green",
    "pruned": "green",
    "failed": "red",
    "crashed": "red",
    "interrupted": "yellow",
    "running": "cyan",
}


@app.command(rich_help_panel="Look back")
def runs(
    pattern: Annotated[
        str, typer.Argument(help="Shell-style wildcard on the run's id or recipe name, e.g. 'digits*'.")
    ] = "*",
    runs_dir: RunsDir = "runs",
    as_json: Json = False,
) -> None:
    """List the runs under the output folder, newest first: status, best and final metrics, duration."""
    records = find_runs(runs_dir, pattern)
    if as_json:
        print_json([r.to_json() for r in records])
        return
    if not records:
        out.print(f"no runs matching {pattern!r} under {escape(runs_dir)}")
        return
    table = Table(title=f"runs under {escape(runs_dir)}" + (f" matching {pattern!r}" if pattern != "*" else ""))
    for column in ("run", "backend", "device", "status", "epochs", "best", "final", "duration"):
        table.add_column(column, overflow="fold", justify="right" if column in ("epochs", "duration") else "left")
    for record in records:
        best, final = record.best(), record.final()
        table.add_row(
            escape(record.id),
            record.backend or "",
            record.device or "",
            _state(record),
            str(record.epochs),
            f"{best['metric']} {best['value']:.4f} @{best['epoch']}" if best else "",
            f"{final['metric']} {final['value']:.4f}" if final else "",
            format_duration(record.duration),
        )
    out.print(table)


@app.command(rich_help_panel="Look back")
def compare(
    selected: Annotated[
        list[str],
        typer.Argument(help="Run folders, run ids under --dir, or patterns.", autocompletion=run_ids),
    ],
    runs_dir: RunsDir = "runs",
    as_json: Json = False,
) -> None:
    """Metrics of several runs side by side, and the recipe keys whose values differ between them."""
    records = select_runs(selected, runs_dir)
    differences = recipe_differences(records)
    if as_json:
        print_json({"runs": [r.to_json() for r in records], "differences": differences})
        return
    metrics = Table(title="metrics")
    metrics.add_column("")
    for index, record in enumerate(records, 1):
        metrics.add_column(f"[{index}] {escape(record.id)}", overflow="fold", justify="right")
    for label, cells in _metric_rows(records):
        metrics.add_row(label, *cells)
    out.print(metrics)
    if len(records) < 2:
        return
    if not differences:
        out.print("the resolved recipes are identical")
        return
    diff = Table(title="recipe differences (only keys that differ)")
    diff.add_column("key", overflow="fold")
    for index in range(1, len(records) + 1):
        diff.add_column(f"[{index}]", overflow="fold")
    for key, values in differences.items():
        diff.add_row(escape(key), *(escape(_show(v)) for v in values))
    out.print(diff)


def _state(record: RunRecord) -> str:
    state = record.state
    style = _STATE_STYLES.get(state)
    return f"[{style}]{state}[/]" if style else state


def _metric_rows(records: list[RunRecord]) -> list[tuple[str, list[str]]]:
    rows: list[tuple[str, list[str]]] = [
        ("recipe", [escape(r.name) for r in records]),
        ("backend", [r.backend or "" for r in records]),
        ("device", [r.device or "" for r in records]),
        ("status", [_state(r) for r in records]),
        ("epochs", [str(r.epochs) for r in records]),
        ("duration", [format_duration(r.duration) for r in records]),
    ]
    for name in _union(list(r.test) for r in records):
        rows.append((f"test {name}", [_number(r.test.get(name)) for r in records]))
    for name in _union(list(r.history) for r in records):
        rows.append((f"last {name}", [_number(r.last_epoch().get(name)) for r in records]))
        bests = [r.best(name) for r in records]
        rows.append((f"best {name}", [f"{b['value']:.4f} @{b['epoch']}" if b else "" for b in bests]))
    return rows


def _union(lists: list[list[str]]) -> list[str]:
    seen: dict[str, None] = {}
    for names in lists:
        seen.update(dict.fromkeys(names))
    return list(seen)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    return value if isinstance(value, str) else json.dumps(value)
