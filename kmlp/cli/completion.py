"""Shell completion for arguments (Typer installs the scripts: ``kmlp --install-completion``).

Completing must be quick and never fail, so these read only file names and the run folders' status files.
"""

from __future__ import annotations

from pathlib import Path


def recipe_names(incomplete: str) -> list[str]:
    """Built-in recipe names, and ``.toml`` files and folders beside what has been typed."""
    from kmlp.recipe.files import builtin_recipes

    names = [name for name in builtin_recipes() if name.startswith(incomplete)]
    folder = Path(incomplete).parent if incomplete else Path(".")
    try:
        paths = [
            f"{p}/" if p.is_dir() else str(p)
            for p in folder.glob(f"{Path(incomplete).name}*")
            if p.is_dir() or p.suffix == ".toml"
        ]
    except OSError:
        paths = []
    return sorted(names) + sorted(paths)


def run_ids(incomplete: str) -> list[str]:
    """Ids of the runs under ``runs`` (the default output folder) that start with what has been typed."""
    from kmlp.runs.records import find_runs

    return [r.id for r in find_runs("runs") if r.id.startswith(incomplete)]


def builtin_recipe_names(incomplete: str) -> list[str]:
    from kmlp.recipe.files import builtin_recipes

    return [name for name in builtin_recipes() if name.startswith(incomplete)]
