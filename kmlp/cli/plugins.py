"""``kmlp plugins``: the conformance kit on the command line.

``kmlp plugins check`` imports no backend itself: static checks need only the specs, and each backend's runtime
checks run in a process of their own.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from kmlp.cli import app
from kmlp.cli.options import Json
from kmlp.console import err, escape, out, print_json
from kmlp.errors import EXIT_RUN_FAILED, KmlpError, did_you_mean

if TYPE_CHECKING:
    from kmlp.plugins.conformance import Report

plugins = typer.Typer(
    name="plugins",
    help="Check that installed plugins keep kmlp's plugin contract.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(plugins, name="plugins")

_CELLS = {
    "passed": "[green]pass[/]",
    "failed": "[bold red]FAIL[/]",
    "skipped": "[yellow]skip[/]",
    "xfailed": "[cyan]xfail[/]",
    "xpassed": "[bold red]XPASS[/]",
}


@plugins.command("check")
def check(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Distributions (kmlp-mixer), plugin names (mlp_mixer) or distribution:name. "
            "Default: every installed plugin that is not a built-in.",
            show_default=False,
        ),
    ] = None,
    backend: Annotated[
        list[str] | None,
        typer.Option(
            "--backend", "-b", help="Run the runtime checks on this backend (repeatable). Default: every installed one."
        ),
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option("--group", "-g", help="api (the stable contract) or extended (good practice). Default: both."),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--check", "-k", help="Run only this check (repeatable); `kmlp plugins checks` lists them."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Run the conformance checks: static ones here, runtime ones in a fresh process per backend.

    Exit 0 only if every check passes.
    """
    from kmlp.plugins.conformance import CATALOGUE, CHECK_GROUPS, check_plugins

    for name in group or []:
        if name not in CHECK_GROUPS:
            raise KmlpError(f"unknown check group {name!r}", f"use one of: {', '.join(CHECK_GROUPS)}")
    for name in only or []:
        if name not in CATALOGUE:
            raise KmlpError(f"unknown check {name!r}", did_you_mean(name, CATALOGUE) or "see `kmlp plugins checks`")
    report = check_plugins(
        targets or [],
        backends=backend,
        groups=group,
        checks=only,
        progress=lambda message: err.print(f"[dim]{escape(message)} ...[/]"),
    )
    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(EXIT_RUN_FAILED)


def _print_report(report: Report) -> None:
    from kmlp.plugins.conformance import CATALOGUE

    columns = ["static", *report.backends]
    cells: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    groups: dict[str, str] = {}
    for r in report.results:
        cells[(r.plugin, r.check)][r.backend or "static"] = r.status
        groups[r.check] = r.group
    order = list(CATALOGUE)
    rows = sorted(cells, key=lambda key: (report.plugins.index(key[0]), order.index(key[1])))
    table = Table(title="kmlp plugins check")
    table.add_column("plugin", overflow="fold")
    table.add_column("check", no_wrap=True)
    for column in ("group", *columns):
        table.add_column(column, no_wrap=True)
    for plugin, name in rows:
        by_column = cells[(plugin, name)]
        row = [_CELLS[by_column[c]] if c in by_column else "[dim]·[/]" for c in columns]
        table.add_row(escape(plugin), name, groups[name], *row)
    out.print(table)
    # One line per distinct finding: the same reason on several backends is said once.
    findings: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for r in report.results:
        if r.status != "passed":
            findings[(r.plugin, r.check, r.status, r.reason)].append(r.backend or "static")
    for (plugin, name, status, reason), where in findings.items():
        if status == "skipped" and reason.startswith(("needs ", "not run")):
            continue  # the failure it depends on is listed
        out.print(f"{_CELLS[status]} {escape(plugin)} {name} {escape('[' + ', '.join(where) + ']')}: {escape(reason)}")
    counts = report.counts()
    summary = ", ".join(f"{counts[s]} {s}" for s in _CELLS if counts.get(s))
    verdict = "[green]all checks pass[/]" if report.ok else "[bold red]some checks fail[/]"
    out.print(f"{verdict}: {summary} ({len(report.plugins)} plugin(s), backends: {', '.join(report.backends)})")


@plugins.command("checks")
def checks(as_json: Json = False) -> None:
    """List every conformance check: its group, what it applies to, where it runs and what it asks."""
    from kmlp.plugins.conformance import CATALOGUE

    rows = [
        {"name": c.name, "group": c.group, "applies_to": c.kind or "both", "stage": c.stage, "doc": c.doc}
        for c in CATALOGUE.values()
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title="kmlp conformance checks")
    for column in ("check", "group", "applies to", "runs", "what it asks"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["group"], row["applies_to"], row["stage"], escape(row["doc"]))
    out.print(table)
