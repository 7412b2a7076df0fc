"""Commands that look without training: ``list``, ``show``, ``validate`` and ``info``.

``list``, ``show`` and ``validate`` import no keras and no backend; ``info`` asks each installed backend which
devices it sees, each in its own process (one process can hold only one Keras backend).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

import typer
from rich.table import Table

from kmlp import __version__
from kmlp.backend import BACKENDS, choose_backend, installed_version
from kmlp.cli import app
from kmlp.cli.completion import recipe_names
from kmlp.cli.options import Json, Overrides
from kmlp.console import escape, out, print_json
from kmlp.errors import KmlpError
from kmlp.params import did_you_mean
from kmlp.recipe import load
from kmlp.registry import GROUPS, Registry, default_registry

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
        from kmlp.recipe import dump_toml

        sys.stdout.write(dump_toml(resolved.to_dict()))
        return
    out.print(
        f"[green]ok[/] {recipe}: dataset {resolved['dataset']['name']!r}, "
        f"architecture {resolved['architecture']['name']!r}, optimizer {resolved['optimizer']['name']!r}"
    )


_PROBE = (
    "import json, sys; from kmlp.backend import apply, parse_device, framework_devices; "
    "b = sys.argv[1]; apply(b, parse_device('auto')); print(json.dumps(framework_devices(b)))"
)


def _probe_devices(backend: str) -> list[str] | str:
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE, backend], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "no answer within 120 s"
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or ["failed"])[-1]
    return json.loads(done.stdout.strip().splitlines()[-1])


@app.command()
def info(as_json: Json = False) -> None:
    """Versions, installed backends and the devices each sees, the default backend, and plugin health."""
    installed = {b: installed_version(b) for b in BACKENDS}
    with ThreadPoolExecutor(max_workers=len(BACKENDS)) as pool:
        devices = dict(
            zip(BACKENDS, pool.map(lambda b: _probe_devices(b) if installed[b] else None, BACKENDS), strict=True)
        )
    try:
        default = choose_backend()
        default_text = f"{default.name} ({default.source})"
    except KmlpError as exc:
        default_text = f"invalid: {exc.message}"
    registry = default_registry()
    plugins = [registry.plugin(e) for e in registry.entries()]
    broken = [
        {"kind": p.entry.kind, "name": p.entry.name, "distribution": p.entry.distribution, "error": p.error}
        for p in plugins
        if not p.ok
    ]
    conflicts = [
        f"{kind} {name}: " + ", ".join(e.distribution for e in found)
        for (kind, name), found in registry.conflicts().items()
    ]
    report = {
        "kmlp": __version__,
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "default_backend": default_text,
        "backends": {b: {"version": installed[b], "devices": devices[b]} for b in BACKENDS},
        "plugins": {"found": len(plugins), "broken": broken, "conflicts": conflicts},
    }
    if as_json:
        print_json(report)
        return
    out.print(f"kmlp {__version__}  Python {report['python']}\n{report['platform']}\ndefault backend: {default_text}")
    table = Table(title="backends")
    for column in ("backend", "version", "devices"):
        table.add_column(column, overflow="fold")
    for b in BACKENDS:
        if installed[b] is None:
            table.add_row(b, "[dim]not installed[/]", f"pip install 'kmlp[{b}]'")
        else:
            seen = devices[b]
            table.add_row(b, installed[b], ", ".join(seen) if isinstance(seen, list) else f"[red]{seen}[/]")
    out.print(table)
    out.print(f"plugins: {len(plugins)} found, {len(broken)} broken, {len(conflicts)} name conflicts")
    for b in broken:
        out.print(f"  [red]broken[/] {b['kind']} {b['name']} ({b['distribution']}): {escape(b['error'])}")
    for c in conflicts:
        out.print(f"  [yellow]conflict[/] {escape(c)}")
