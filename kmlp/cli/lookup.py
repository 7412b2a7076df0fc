"""Looking up plugins: ``kmlp list`` and ``kmlp show`` (no keras, no backend)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from kmlp.cli import app
from kmlp.cli.options import Json
from kmlp.console import escape, out, print_json
from kmlp.errors import KmlpError, did_you_mean
from kmlp.plugins.registry import GROUPS, Registry, default_registry

_KINDS = {"datasets": "dataset", "dataset": "dataset", "architectures": "architecture", "architecture": "architecture"}


@app.command("list")
def list_plugins(
    kind: Annotated[
        str | None, typer.Argument(help="datasets or architectures (or a pattern, to search both).", show_default=False)
    ] = None,
    pattern: Annotated[str, typer.Argument(help="Shell-style wildcard on the name, e.g. '*mnist*'.")] = "*",
    as_json: Json = False,
) -> None:
    """List every registered dataset and architecture, with the distribution that provides it."""
    if kind is not None and kind not in _KINDS:
        if any(c in kind for c in "*?[") or pattern == "*":
            kind, pattern = None, kind  # `kmlp list '*mlp*'` searches both kinds
        else:
            raise KmlpError(f"unknown kind {kind!r}", did_you_mean(kind, _KINDS) or "use datasets or architectures")
    registry = default_registry()
    rows = _plugin_rows(registry, _KINDS.get(kind or ""), pattern)
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"kmlp plugins matching {pattern!r}" if pattern != "*" else "kmlp plugins")
    for column in ("kind", "name", "summary", "distribution", "status"):
        table.add_column(column, overflow="fold")
    for row in rows:
        status = row["status"] if row["status"] == "ok" else f"[red]{escape(row['status'])}[/]"
        table.add_row(row["kind"], row["name"], escape(row["summary"]), row["distribution"], status)
    out.print(table)
    if not rows:
        out.print(f"nothing matches {pattern!r}")


def _plugin_rows(registry: Registry, kind: str | None, pattern: str) -> list[dict]:
    conflicts = registry.conflicts()
    rows = []
    for entry in registry.entries(kind, pattern):
        plugin = registry.plugin(entry)
        status = "ok" if plugin.ok else f"broken: {plugin.error}"
        rivals = [e for e in conflicts.get((entry.kind, entry.name), []) if e != entry]
        if rivals:
            others = ", ".join(e.distribution for e in rivals)
            if entry.builtin:
                status += f"; also claimed by {others} (built-in wins)"
            elif any(e.builtin for e in rivals):
                status = f"shadowed by the built-in; use {entry.qualified_name!r}"
            else:
                status = f"conflict with {others}; use {entry.qualified_name!r}"
        rows.append(
            {
                "kind": entry.kind,
                "name": entry.name,
                "summary": plugin.spec.summary if plugin.ok else "",
                "distribution": f"{entry.distribution} {entry.version}",
                "status": status,
            }
        )
    return rows


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="A dataset or architecture name (or distribution:name).")],
    as_json: Json = False,
) -> None:
    """Show a plugin's summary, distribution and parameters: what its recipe section may contain."""
    registry = default_registry()
    kinds = [k for k in GROUPS if any(e.name == name.rpartition(":")[2] for e in registry.entries(k))]
    if not kinds:
        names = [e.name for e in registry.entries()]
        raise KmlpError(f"no dataset or architecture named {name!r}", did_you_mean(name, names) or "see `kmlp list`")
    for kind in kinds:
        plugin = registry.lookup(kind, name)
        params = [
            {
                "name": key,
                "type": param.toml_type(),
                "default": None if param.required else param.default,
                "required": param.required,
                "choices": list(param.choices) if param.choices else None,
                "doc": param.doc,
            }
            for key, param in plugin.spec.params.items()
        ]
        entry = plugin.entry
        if as_json:
            print_json(
                {
                    "kind": kind,
                    "name": entry.name,
                    "summary": plugin.spec.summary,
                    "distribution": entry.distribution,
                    "version": entry.version,
                    "requires": list(plugin.spec.requires),
                    "params": params,
                }
            )
            continue
        out.print(f"[bold]{entry.name}[/] ({kind}) from {entry.distribution} {entry.version}")
        out.print(escape(plugin.spec.summary))
        if plugin.spec.requires:
            out.print(f"needs: {', '.join(plugin.spec.requires)}")
        table = Table(title=f'[{kind}] name = "{entry.name}"')
        for column in ("parameter", "type", "default", "description"):
            table.add_column(column, overflow="fold")
        for p in params:
            default = "(required)" if p["required"] else "(unset)" if p["default"] is None else json.dumps(p["default"])
            doc = p["doc"] + (f" One of: {', '.join(map(str, p['choices']))}." if p["choices"] else "")
            table.add_row(p["name"], escape(p["type"]), escape(default), escape(doc))
        out.print(table)
