"""Resolving a recipe: validate raw TOML data against the schema, the plugins and the catalog, fill in defaults.

A recipe is data. Names in it (dataset, architecture, optimizer, loss, metrics) are looked up in the plugin
registry or in kmlp's catalog of Keras classes; nothing in a recipe is ever imported or evaluated. Validation
needs neither keras nor a backend, and reports every problem at once with its dotted key and a suggestion.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kmlp.errors import KmlpError, Problem, RecipeError, did_you_mean
from kmlp.plugins.registry import Registry, default_registry, problem_for
from kmlp.recipe import catalog
from kmlp.recipe.checks import check_cross_section, missing_extras, missing_requirements
from kmlp.recipe.files import locate, read_toml
from kmlp.recipe.overrides import apply_overrides, parse_override
from kmlp.recipe.params import Param, validate
from kmlp.recipe.schema import (
    DEFAULT_NAMES,
    NAMED_SECTIONS,
    REQUIRED_SECTIONS,
    SECTION_ORDER,
    SECTIONS,
    Recipe,
)
from kmlp.sweeps import space as sweep_space


def resolve(
    raw: Mapping[str, Any],
    source: str,
    registry: Registry | None = None,
    default_name: str = "",
    overridden: Iterable[str] = (),
) -> Recipe:
    """Validate raw recipe data and fill in every default; raises ``RecipeError`` listing all problems.

    ``overridden`` names the dotted keys set on the command line, so their problems point at ``--set``.
    """
    registry = registry or default_registry()
    problems: list[Problem] = []
    sections: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Mapping[str, Param]] = dict(SECTIONS)
    for key, value in raw.items():
        if key not in SECTIONS and key not in NAMED_SECTIONS and key != "sweep":
            problems.append(Problem(key, "unknown section", did_you_mean(key, SECTION_ORDER)))
        elif not isinstance(value, dict):
            problems.append(Problem(key, f"expected a [{key}] table, found a value", f"write it as [{key}]"))
    for section in REQUIRED_SECTIONS:
        if section not in raw:
            problems.append(
                Problem(section, f"missing required section [{section}]", f'add [{section}] with a name = "..."')
            )
    for section, schema in SECTIONS.items():
        values = raw.get(section, {})
        resolved, found = validate(schema, values if isinstance(values, dict) else {}, section)
        sections[section] = resolved
        problems += found
    not_installed = missing_requirements(sections["recipe"].get("requires") or [], problems)
    for section in NAMED_SECTIONS:
        values = raw.get(section)
        if values is None and section in REQUIRED_SECTIONS:
            continue
        values = values if isinstance(values, dict) else {}
        sections[section], schemas[section], found = _resolve_named(section, values, registry, not_installed)
        problems += found
    problems += check_cross_section(sections)
    if isinstance(raw.get("sweep"), dict):
        sections["sweep"], found = sweep_space.check_section(raw["sweep"], schemas, registry)
        problems += found
    if not sections["recipe"].get("name"):
        sections["recipe"]["name"] = default_name or "recipe"
    if problems:
        raise RecipeError(source, _annotate(problems, schemas, set(overridden)))
    ordered = {s: sections[s] for s in SECTION_ORDER if s in sections}
    return Recipe(source, ordered)


def load(path: str | Path, overrides: Iterable[str] = (), registry: Registry | None = None) -> Recipe:
    """Read, override and validate a recipe file (or a built-in recipe, by name)."""
    path = locate(path)
    overrides = list(overrides)
    raw = apply_overrides(read_toml(path), overrides)
    overridden = {".".join(parse_override(text)[0]) for text in overrides}
    return resolve(raw, str(path), registry, default_name=_safe_name(path.stem), overridden=overridden)


def _annotate(
    problems: list[Problem], schemas: Mapping[str, Mapping[str, Param]], overridden: set[str]
) -> list[Problem]:
    """Point problems from ``--set`` at the command line, and suggest the section a misplaced key belongs to."""
    annotated = []
    for problem in problems:
        hint = problem.hint
        section, _, key = problem.key.partition(".")
        if problem.message == "unknown key" and hint is None:
            homes = [f"{other}.{key}" for other, schema in schemas.items() if other != section and key in schema]
            if homes:
                hint = "did you mean " + " or ".join(repr(h) for h in homes) + "?"
        base_key = problem.key.split("[", 1)[0]
        from_cli = any(o == base_key or o.startswith(base_key + ".") for o in overridden)
        origin = "--set" if from_cli else None
        annotated.append(Problem(problem.key, problem.message, hint, origin))
    return annotated


def _safe_name(stem: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-")
    return cleaned[:64] or "recipe"


def _resolve_named(
    section: str, values: dict[str, Any], registry: Registry, missing_requirements: list[str]
) -> tuple[dict[str, Any], Mapping[str, Param], list[Problem]]:
    """A named section's values and schema (empty when the name is unknown), and its problems."""
    name = values.get("name", DEFAULT_NAMES.get(section))
    where = f"{section}.name"
    if name is None:
        return {}, {}, [Problem(where, "missing required key (a string)", f'name the {section}, e.g. name = "..."')]
    if not isinstance(name, str):
        return {}, {}, [Problem(where, f"expected a string, found {type(name).__name__}")]
    rest = {k: v for k, v in values.items() if k != "name"}
    if section in ("dataset", "architecture"):
        try:
            plugin = registry.lookup(section, name)
        except KmlpError as exc:
            problem = problem_for(where, exc)
            if missing_requirements:
                needed = " ".join(repr(r) for r in missing_requirements)
                problem = Problem(where, exc.message, f"this recipe requires {needed}: pip install {needed}")
            return {"name": name, **rest}, {}, [problem]
        schema = plugin.spec.params
        problems = missing_extras(where, plugin.spec.requires)
    elif section == "optimizer":
        schema = catalog.OPTIMIZERS.get(name.lower())
        problems = [] if schema else [_unknown_catalog(where, "optimizer", name, catalog.OPTIMIZERS)]
        name = name.lower()
    else:
        info = catalog.LOSSES.get(name)
        schema = info.params if info else None
        problems = [] if info else [_unknown_catalog(where, "loss", name, catalog.LOSSES)]
    if schema is None:
        return {"name": name, **rest}, {}, problems
    resolved, found = validate(schema, rest, section)
    return {"name": name, **resolved}, schema, problems + found


def _unknown_catalog(where: str, kind: str, name: str, known: Mapping[str, Any]) -> Problem:
    suggestion = did_you_mean(name.lower(), known)
    listing = "supported: " + ", ".join(sorted(known))
    return Problem(where, f"unknown {kind} {name!r}", f"{suggestion} {listing}" if suggestion else listing)
