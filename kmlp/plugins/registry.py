"""The plugin registry: find plugins from entry-point metadata, then load their specs, as separate steps.

Finding reads only installed metadata (no plugin code runs); loading imports one plugin's spec module and
checks it. A plugin that fails to load is recorded with the reason and reported by ``kmlp list``/``info``;
it never breaks a command that does not use it (the way flake8's plugin finder works). Built-ins come
through kmlp's own entry points, exactly like any third-party distribution.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from packaging.utils import canonicalize_name

from kmlp.api import API_VERSION, ArchitectureSpec, DatasetSpec
from kmlp.errors import KmlpError, Problem, RecipeError, did_you_mean
from kmlp.recipe.params import is_toml_type, validate

#: Plugin kind -> entry-point group.
GROUPS: dict[str, str] = {"dataset": "kmlp.datasets", "architecture": "kmlp.architectures"}
SPEC_TYPES: dict[str, type] = {"dataset": DatasetSpec, "architecture": ArchitectureSpec}
BUILTIN_DISTRIBUTION = "kmlp"
#: Set to 1 to use built-ins only, e.g. to debug an environment with a broken plugin.
DISABLE_AUTOLOAD_ENV = "KMLP_DISABLE_PLUGIN_AUTOLOAD"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class PluginEntry:
    """A plugin as found in installed metadata; nothing has been imported yet."""

    kind: str
    name: str
    value: str
    distribution: str
    version: str

    @property
    def builtin(self) -> bool:
        return canonicalize_name(self.distribution) == BUILTIN_DISTRIBUTION

    @property
    def qualified_name(self) -> str:
        """``distribution:name``: picks one plugin when two distributions claim the same name."""
        return f"{self.distribution}:{self.name}"


@dataclass(frozen=True)
class Plugin:
    """The result of loading an entry: its spec, or the reason it could not be used."""

    entry: PluginEntry
    spec: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def find_entries() -> list[PluginEntry]:
    """Every installed plugin entry of every kind, from metadata alone (no plugin code is imported)."""
    found: dict[tuple[str, str, str, str], PluginEntry] = {}
    for kind, group in GROUPS.items():
        for ep in entry_points(group=group):
            dist = ep.dist
            entry = PluginEntry(
                kind=kind,
                name=ep.name,
                value=ep.value,
                distribution=dist.name if dist is not None else "<unknown>",
                version=dist.version if dist is not None else "",
            )
            # Stale egg-info next to an editable install lists the same entry twice: keep one.
            key = (kind, entry.name, canonicalize_name(entry.distribution), entry.value)
            found.setdefault(key, entry)
    return list(found.values())


def load_entry(entry: PluginEntry) -> Plugin:
    """Import one entry's spec and check it; every plugin fault becomes ``Plugin.error``, never an exception."""
    if not NAME_PATTERN.match(entry.name):
        return Plugin(entry, error=f"invalid name {entry.name!r}: use lowercase letters, digits and '_'")
    try:
        spec = import_entry(entry)
    except Exception as exc:  # a plugin's import can fail in any way; report it, don't crash kmlp
        return Plugin(entry, error=f"import of {entry.value!r} failed: {type(exc).__name__}: {exc}")
    problem = spec_problem(entry.kind, spec)
    if problem:
        return Plugin(entry, error=problem)
    return Plugin(entry, spec=spec)


def import_entry(entry: PluginEntry) -> Any:
    """The object an entry point names, imported (its module's import errors propagate)."""
    return EntryPoint(entry.name, entry.value, GROUPS[entry.kind]).load()


def spec_problem(kind: str, spec: Any) -> str | None:
    """Why ``spec`` is not a usable spec of ``kind``, or ``None`` when it is."""
    expected = SPEC_TYPES[kind]
    if not isinstance(spec, expected):
        return f"expected a kmlp.api.{expected.__name__}, found {type(spec).__name__}"
    if spec.api_version != API_VERSION:
        return f"written for plugin API version {spec.api_version}; this kmlp supports version {API_VERSION}"
    for key, param in spec.params.items():
        if not is_toml_type(param.type):
            return f"parameter {key!r} has type {param.type!r}, which a TOML recipe cannot express"
    return None


class Registry:
    """Plugins of every kind, looked up by name; specs are loaded on first use and cached."""

    def __init__(self, entries: Iterable[PluginEntry], *, disabled: Iterable[PluginEntry] = ()) -> None:
        self._entries = sorted(entries, key=lambda e: (e.kind, e.name, not e.builtin, e.distribution))
        #: Installed plugins left out by ``KMLP_DISABLE_PLUGIN_AUTOLOAD``, named when a recipe asks for one.
        self._disabled = list(disabled)
        self._loaded: dict[PluginEntry, Plugin] = {}

    @classmethod
    def discover(cls, *, builtins_only: bool | None = None) -> Registry:
        if builtins_only is None:
            builtins_only = os.environ.get(DISABLE_AUTOLOAD_ENV, "") not in ("", "0")
        found = find_entries()
        if not builtins_only:
            return cls(found)
        return cls([e for e in found if e.builtin], disabled=[e for e in found if not e.builtin])

    def entries(self, kind: str | None = None, pattern: str = "*") -> list[PluginEntry]:
        """Entries of ``kind`` whose name (or ``distribution:name``) matches the shell-style ``pattern``."""
        return [
            e
            for e in self._entries
            if (kind is None or e.kind == kind)
            and (fnmatch.fnmatchcase(e.name, pattern) or fnmatch.fnmatchcase(e.qualified_name, pattern))
        ]

    def names(self, kind: str) -> list[str]:
        return sorted({e.name for e in self.entries(kind)})

    def plugin(self, entry: PluginEntry) -> Plugin:
        if entry not in self._loaded:
            self._loaded[entry] = load_entry(entry)
        return self._loaded[entry]

    def conflicts(self, kind: str | None = None) -> dict[tuple[str, str], list[PluginEntry]]:
        """Names claimed by more than one distribution, keyed by ``(kind, name)``."""
        claims: dict[tuple[str, str], list[PluginEntry]] = defaultdict(list)
        for entry in self.entries(kind):
            claims[(entry.kind, entry.name)].append(entry)
        return {key: found for key, found in claims.items() if len(found) > 1}

    def lookup(self, kind: str, name: str) -> Plugin:
        """The loaded plugin a recipe means by ``name`` (or ``distribution:name``); raises ``KmlpError``."""
        entry = self._pick(kind, name)
        plugin = self.plugin(entry)
        if not plugin.ok:
            raise KmlpError(
                f"{kind} {name!r} from {entry.distribution} {entry.version} is broken: {plugin.error}",
                f"fix or reinstall {entry.distribution}, or run `kmlp list` to see working {kind}s",
            )
        return plugin

    def _pick(self, kind: str, name: str) -> PluginEntry:
        distribution, sep, short = name.rpartition(":")
        if sep:
            wanted = canonicalize_name(distribution)
            candidates = [
                e for e in self.entries(kind) if e.name == short and canonicalize_name(e.distribution) == wanted
            ]
        else:
            candidates = [e for e in self.entries(kind) if e.name == name]
        if not candidates:
            raise self._unknown(kind, name)
        if len(candidates) == 1:
            return candidates[0]
        builtins = [e for e in candidates if e.builtin]
        if builtins:  # a plugin never silently replaces a built-in; `kmlp list` shows the shadowing one
            return builtins[0]
        claimants = ", ".join(f"{e.distribution} {e.version}" for e in candidates)
        raise KmlpError(
            f"{kind} {name!r} is provided by several distributions: {claimants}",
            "pick one with a qualified name: " + " or ".join(repr(e.qualified_name) for e in candidates),
        )

    def _unknown(self, kind: str, name: str) -> KmlpError:
        if ":" not in name and ("." in name or "/" in name):
            return KmlpError(
                f"unknown {kind} {name!r}: recipes name registered plugins, never Python import paths",
                f"run `kmlp list {kind}s` to see the installed ones",
            )
        disabled = [e for e in self._disabled if e.kind == kind and name in (e.name, e.qualified_name)]
        if disabled:
            return KmlpError(
                f"{kind} {name!r} comes from {disabled[0].distribution}, but plugins are disabled",
                f"unset {DISABLE_AUTOLOAD_ENV} to use installed plugins (only kmlp's built-ins are loaded now)",
            )
        installed = self.names(kind)
        suggestion = did_you_mean(name.rpartition(":")[2], installed)
        listing = "installed: " + (", ".join(installed) if installed else "none")
        return KmlpError(f"unknown {kind} {name!r}", f"{suggestion} {listing}" if suggestion else listing)


@functools.lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The registry of this process: entry points are scanned once."""
    return Registry.discover()


def validate_params(kind: str, name: str, params: dict[str, Any], registry: Registry | None = None) -> dict:
    """Check ``params`` against a plugin's schema and fill in defaults; raises a ``RecipeError``."""
    plugin = (registry or default_registry()).lookup(kind, name)
    resolved, problems = validate(plugin.spec.params, params, kind)
    if problems:
        raise RecipeError(f"{kind} {name!r}", problems)
    return resolved


def create_model(name: str, *, input_shape: tuple[int, ...], num_outputs: int, **params: Any) -> Any:
    """timm-style ``create_model``, except that parameters are checked before the builder runs."""
    plugin = default_registry().lookup("architecture", name)
    resolved = validate_params("architecture", name, params)
    return plugin.spec.build(input_shape=tuple(input_shape), num_outputs=num_outputs, **resolved)


def load_dataset(name: str, *, seed: int = 0, **params: Any) -> Any:
    """Load a registered dataset by name, with its parameters checked first."""
    plugin = default_registry().lookup("dataset", name)
    resolved = validate_params("dataset", name, params)
    return plugin.spec.load(seed=seed, **resolved)


def problem_for(key: str, error: KmlpError) -> Problem:
    """A lookup failure as a recipe problem located at ``key``."""
    return Problem(key, error.message, error.hint)
