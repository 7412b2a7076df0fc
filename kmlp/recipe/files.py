"""Recipe files: reading TOML safely, writing it, and finding a recipe by path or built-in name."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kmlp.errors import KmlpError, did_you_mean


def dump_toml(data: Mapping[str, Any]) -> str:
    import tomli_w  # only commands that write recipes need it

    return tomli_w.dumps(data)


def toml_value(value: Any) -> str:
    """One value as TOML on a single line (``[128, 64]``, ``0.01``, ``"adam"``), as ``--set`` takes it."""
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return dump_toml({"v": value}).strip().removeprefix("v = ")


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a recipe file; every way of failing to read it is a ``KmlpError`` naming the file."""
    if path.is_dir():
        raise KmlpError(f"{path} is a directory, not a recipe file", "pass the path of a .toml recipe")
    if not path.exists():
        raise KmlpError(f"recipe {path} does not exist", "check the path, or run `kmlp list` to see what is installed")
    try:
        text = path.read_bytes().decode("utf-8")
    except PermissionError as exc:
        raise KmlpError(f"cannot read {path}: permission denied", "check the file's permissions") from exc
    except UnicodeDecodeError as exc:
        raise KmlpError(f"{path} is not UTF-8 text (byte {exc.start})", "recipes are TOML text files") from exc
    except OSError as exc:
        raise KmlpError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KmlpError(f"{path}: TOML syntax error: {exc}", "see https://toml.io for the syntax") from exc


def builtin_recipes() -> dict[str, Path]:
    """The recipes shipped inside the package (``kmlp/recipes/*.toml``), by name."""
    folder = Path(__file__).with_name("recipes")
    return {path.stem: path for path in sorted(folder.glob("*.toml"))}


def locate(recipe: str | Path) -> Path:
    """A recipe argument as a file: an existing path wins, else a built-in recipe's name (``digits_mlp``)."""
    path = Path(recipe)
    if path.exists():
        return path
    builtins = builtin_recipes()
    name = path.name.removesuffix(".toml") if path.parent == Path(".") else None
    if name in builtins:
        return builtins[name]
    suggestion = did_you_mean(name or path.name, builtins)
    hint = f"{suggestion} " if suggestion else ""
    raise KmlpError(
        f"recipe {str(recipe)!r} does not exist, as a file or as a built-in recipe",
        f"{hint}`kmlp recipes` lists the built-in recipes; `kmlp init` writes a new one",
    )
