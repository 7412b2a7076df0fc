"""Terminal output shared by every command: Rich consoles, errors without tracebacks, and ``--json``."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kmlp.errors import KmlpError

#: Normal output; Rich honours NO_COLOR and drops colour and live bars when stdout is not a terminal.
out = Console(highlight=False)
#: Errors and warnings, so ``--json`` output on stdout stays parseable.
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(error: KmlpError) -> None:
    err.print(f"[bold red]error:[/] {escape(error.message)}")
    if error.hint:
        err.print(f"[yellow]hint:[/] {escape(error.hint)}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def metrics_table(metrics: dict[str, float], title: str | None = None) -> Table:
    """Final metrics as a two-column table, the way ``run`` and ``evaluate`` print them."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        table.add_row(name, f"{value:.4f}")
    return table
