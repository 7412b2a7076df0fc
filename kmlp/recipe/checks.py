"""Checks across sections of a resolved recipe: metrics against the loss, devices, distribution, extras, names,
and the distributions ``recipe.requires`` names."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from kmlp.errors import KmlpError, Problem, did_you_mean
from kmlp.recipe import catalog
from kmlp.recipe.schema import EXTRA_SWITCHES, NAME_PATTERN
from kmlp.runtime.backend import parse_device
from kmlp.runtime.extras import missing_message


def check_cross_section(sections: dict[str, dict[str, Any]]) -> list[Problem]:
    problems = []
    labels = (
        catalog.LOSSES[sections["loss"]["name"]].labels
        if sections.get("loss", {}).get("name") in catalog.LOSSES
        else None
    )
    for i, metric in enumerate(sections["training"].get("metrics") or []):
        if metric not in catalog.METRICS:
            suggestion = did_you_mean(metric, catalog.METRICS)
            listing = "supported: " + ", ".join(catalog.METRICS)
            problems.append(
                Problem(
                    f"training.metrics[{i}]",
                    f"unknown metric {metric!r}",
                    f"{suggestion} {listing}" if suggestion else listing,
                )
            )
        elif labels and catalog.METRICS[metric] not in (None, labels):
            problems.append(
                Problem(
                    f"training.metrics[{i}]",
                    f"{metric!r} expects {catalog.METRICS[metric]} labels but loss "
                    f"{sections['loss']['name']!r} trains on {labels} labels",
                    'use "accuracy", which adapts to the loss',
                )
            )
    steps = sections["training"].get("steps_per_execution")
    if steps is not None and steps != "auto" and (isinstance(steps, str) or steps < 1):
        problems.append(
            Problem("training.steps_per_execution", f'expected a positive integer or "auto", found {steps!r}')
        )
    device = sections["runtime"].get("device")
    if isinstance(device, str):
        try:
            parse_device(device)
        except KmlpError as exc:
            problems.append(Problem("runtime.device", exc.message, exc.hint))
    problems += _check_distribution(sections["distribution"], sections["training"].get("batch_size"))
    for key, extra in EXTRA_SWITCHES.items():
        section, _, switch = key.partition(".")
        message = sections[section].get(switch) and missing_message(extra)
        if message:
            problems.append(Problem(key, message, f"pip install 'kmlp[{extra}]', or set {key} = false"))
    name = sections["recipe"].get("name")
    if name and not NAME_PATTERN.match(name):
        problems.append(
            Problem(
                "recipe.name",
                f"{name!r} cannot name a run folder",
                "use up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (no '/' or '..')",
            )
        )
    return problems


def _check_distribution(distribution: dict[str, Any], batch_size: int | None) -> list[Problem]:
    devices = distribution.get("devices")
    if devices is None:
        return []
    if distribution.get("strategy") == "none":
        return [Problem("distribution.devices", "has no effect without a strategy", 'set strategy = "data_parallel"')]
    if isinstance(batch_size, int) and batch_size % devices:
        return [
            Problem(
                "training.batch_size",
                f"{batch_size} cannot be split evenly over distribution.devices = {devices}",
                f"the batch size is global: use a multiple of {devices}",
            )
        ]
    return []


def missing_requirements(requires: list[str], problems: list[Problem]) -> list[str]:
    """Requirements in ``recipe.requires`` that are not installed (malformed ones become problems)."""
    missing = []
    for i, text in enumerate(requires):
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            problems.append(Problem(f"recipe.requires[{i}]", f"invalid requirement {text!r}: {exc}"))
            continue
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            missing.append(text)
            continue
        if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
            problems.append(
                Problem(
                    f"recipe.requires[{i}]",
                    f"{requirement.name} {installed} is installed but the recipe needs {text!r}",
                    f"pip install '{text}'",
                )
            )
    return missing


def missing_extras(where: str, requires: Iterable[str]) -> list[Problem]:
    problems = []
    for dist in requires:
        try:
            version(dist)
        except PackageNotFoundError:
            problems.append(Problem(where, f"needs {dist}, which is not installed", f"pip install {dist}"))
    return problems
