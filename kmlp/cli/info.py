"""``kmlp info``: versions, installed backends and the devices each sees, the default backend, and plugin health.

Each installed backend is asked which devices it sees in its own process (one process holds one Keras backend).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from rich.table import Table

from kmlp import __version__
from kmlp.cli import app
from kmlp.cli.options import Json
from kmlp.console import escape, out, print_json
from kmlp.errors import KmlpError
from kmlp.plugins.registry import default_registry
from kmlp.runtime.backend import BACKENDS, choose_backend, installed_version

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
