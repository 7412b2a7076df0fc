"""Static checks: what kmlp can tell about a plugin from its metadata and spec, without importing a backend."""

from __future__ import annotations

import inspect
import json
import math
import re
import subprocess
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, requires
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name as normalize

from kmlp.api import API_VERSION, ArchitectureSpec, DatasetSpec
from kmlp.plugins.conformance.base import API, EXTENDED, STATIC, CheckFailed, Unavailable, check, needs, prerequisite
from kmlp.plugins.registry import BUILTIN_DISTRIBUTION, NAME_PATTERN, SPEC_TYPES, PluginEntry, import_entry
from kmlp.recipe.params import Param, is_toml_type, validate

#: Top-level modules a spec module must not load: importing any of them fixes or starts a backend.
BACKEND_MODULES = frozenset({"keras", "jax", "jaxlib", "torch", "tensorflow"})
_REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_PROBE = (
    "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
    "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
)


@dataclass(eq=False)
class SpecContext:
    """One plugin entry and what its spec declares; the steps that can fail are computed once."""

    entry: PluginEntry

    @property
    def kind(self) -> str:
        return self.entry.kind

    @prerequisite("entry_point_loads")
    def obj(self) -> Any:
        return import_entry(self.entry)

    @prerequisite("spec_kind")
    def spec(self) -> DatasetSpec | ArchitectureSpec:
        expected = SPEC_TYPES[self.kind]
        if not isinstance(self.obj, expected):
            raise CheckFailed(
                f"entry point {self.entry.value!r} in group kmlp.{self.kind}s names an object of type "
                f"{type(self.obj).__name__}; expected a kmlp.api.{expected.__name__}"
            )
        return self.obj

    @prerequisite("check_params_valid")
    def params(self) -> dict[str, Any]:
        """The parameters runtime checks call the plugin with: ``check_params`` over the defaults."""
        resolved, problems = validate(self.spec.params, dict(self.spec.check_params), "check_params")
        if problems:
            raise CheckFailed("; ".join(str(p) for p in problems))
        return resolved


@check(stage=STATIC, group=API)
def entry_point_loads(ctx: SpecContext) -> None:
    """The entry point's module imports, and the object it names exists."""
    needs(ctx.obj)


@check(stage=STATIC, group=API)
def spec_kind(ctx: SpecContext) -> None:
    """A kmlp.datasets entry names a kmlp.api.DatasetSpec; a kmlp.architectures entry an ArchitectureSpec."""
    needs(ctx.spec)


@check(stage=STATIC, group=API)
def name_is_valid(ctx: SpecContext) -> None:
    """The entry-point name is a recipe key: lowercase letters, digits and '_', starting with a letter."""
    if not NAME_PATTERN.match(ctx.entry.name):
        raise CheckFailed(f"{ctx.entry.name!r} is not a valid name: use lowercase letters, digits and '_'")


@check(stage=STATIC, group=API)
def api_version(ctx: SpecContext) -> None:
    """The spec is written for the plugin API version this kmlp implements."""
    if ctx.spec.api_version != API_VERSION:
        raise CheckFailed(f"written for plugin API version {ctx.spec.api_version}; this kmlp implements {API_VERSION}")


@check(stage=STATIC, group=API)
def summary_present(ctx: SpecContext) -> None:
    """The spec has a non-empty summary (``kmlp list`` and ``kmlp show`` print it)."""
    if not isinstance(ctx.spec.summary, str) or not ctx.spec.summary.strip():
        raise CheckFailed(f"summary is {ctx.spec.summary!r}; write one line saying what this is")


@check(stage=STATIC, group=API)
def function_reference(ctx: SpecContext) -> None:
    """The loader or builder is a callable or a "module:function" string (imported only when a run needs it)."""
    target = ctx.spec.loader if isinstance(ctx.spec, DatasetSpec) else ctx.spec.builder
    if not callable(target) and not (isinstance(target, str) and _REFERENCE.match(target)):
        field = "loader" if isinstance(ctx.spec, DatasetSpec) else "builder"
        raise CheckFailed(f'{field} is {target!r}; give a callable or a "package.module:function" string')


@check(stage=STATIC, group=API)
def param_types_toml(ctx: SpecContext) -> None:
    """Every parameter's type is one a TOML recipe can express (int, float, bool, str, lists of them)."""
    bad = [f"{key} ({param.type!r})" for key, param in _params(ctx).items() if not is_toml_type(param.type)]
    if bad:
        raise CheckFailed(f"a recipe cannot express the type of: {', '.join(bad)}")


@check(stage=STATIC, group=API)
def param_defaults_valid(ctx: SpecContext) -> None:
    """Every default passes its own parameter's type, range and choices (None means unset)."""
    problems = []
    for key, param in _typed_params(ctx).items():
        if param.required or param.default is None:
            continue
        _, why = param.check(param.default)
        if why:
            problems.append(f"{key}: default {param.default!r} is invalid: {why}")
    if problems:
        raise CheckFailed("; ".join(problems))


@check(stage=STATIC, group=API)
def schema_rejects_bad_values(ctx: SpecContext) -> None:
    """Unknown keys and values of the wrong type, out of range or not among the choices are rejected."""
    params = _typed_params(ctx)
    problems = []
    _, found = validate(params, {"not_a_parameter": 1}, "p")
    if not any(p.key == "p.not_a_parameter" for p in found):
        problems.append("an unknown key is accepted")
    for key, param in params.items():
        problems += _coherence_problems(key, param)
        for bad in _bad_values(param):
            _, found = validate(params, {key: bad}, "p")
            if not any(p.key == f"p.{key}" for p in found):
                problems.append(f"{key} = {bad!r} is accepted")
    if problems:
        raise CheckFailed("; ".join(problems))


@check(stage=STATIC, group=API)
def check_params_valid(ctx: SpecContext) -> None:
    """``check_params`` (what the runtime checks use) passes the schema and sets every required parameter."""
    needs(ctx.params)


@check(stage=STATIC, group=API)
def spec_import_is_light(ctx: SpecContext) -> None:
    """Importing the spec module in a fresh process loads no keras and no backend (kmlp list imports it)."""
    needs(ctx.obj)  # an entry that does not import at all fails entry_point_loads instead
    module = ctx.entry.value.partition(":")[0].strip()
    done = subprocess.run([sys.executable, "-c", _PROBE, module], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise CheckFailed(f"importing {module} in a fresh process failed: {last}")
    heavy = sorted(set(json.loads(done.stdout.strip().splitlines()[-1])) & BACKEND_MODULES)
    if heavy:
        raise CheckFailed(
            f"importing {module} loads {', '.join(heavy)}: keep the spec module free of them and point at the "
            'loader/builder with a "module:function" string, so `kmlp list` stays fast and the backend unfixed'
        )


@check(stage=STATIC, group=EXTENDED)
def params_documented(ctx: SpecContext) -> None:
    """Every parameter has a doc string (``kmlp show`` prints it next to the type and default)."""
    _fail_for(ctx, "no doc for", lambda param: not str(param.doc).strip())


@check(stage=STATIC, group=EXTENDED)
def params_have_defaults(ctx: SpecContext) -> None:
    """No parameter is required, so a recipe section with only ``name`` works."""
    _fail_for(ctx, "required (no default)", lambda param: param.required)


@check(stage=STATIC, group=EXTENDED)
def requires_declared(ctx: SpecContext) -> None:
    """Every distribution in the spec's ``requires`` is a dependency of the plugin's distribution."""
    declared = _declared_dependencies(ctx.entry)
    missing = [name for name in ctx.spec.requires if normalize(Requirement(name).name) not in declared]
    if missing:
        fix = "add it to [project] dependencies (or an extra) so pip installs it"
        raise CheckFailed(f"requires {', '.join(missing)} but {ctx.entry.distribution} does not depend on it: {fix}")


@check(stage=STATIC, group=EXTENDED)
def depends_on_kmlp(ctx: SpecContext) -> None:
    """The plugin's distribution depends on kmlp, so pip installs a kmlp that implements its API version."""
    if ctx.entry.builtin:
        return
    if BUILTIN_DISTRIBUTION not in _declared_dependencies(ctx.entry, extras=False):
        raise CheckFailed(f'{ctx.entry.distribution} does not depend on kmlp: add "kmlp>=0.1" to its dependencies')


def _fail_for(ctx: SpecContext, what: str, predicate: Callable[[Param], bool]) -> None:
    """Fail naming every parameter for which ``predicate`` holds."""
    found = [key for key, param in _params(ctx).items() if predicate(param)]
    if found:
        raise CheckFailed(f"{what}: {', '.join(found)}")


def _params(ctx: SpecContext) -> dict[str, Param]:
    params = ctx.spec.params
    if not all(isinstance(p, Param) for p in params.values()):
        raise CheckFailed("every value in params must be a kmlp.api.Param")
    return dict(params)


def _typed_params(ctx: SpecContext) -> dict[str, Param]:
    """The parameters, once their types are known to be valid (else the check is skipped)."""
    params = _params(ctx)
    if not all(is_toml_type(p.type) for p in params.values()):
        raise Unavailable("param_types_toml", "a parameter type is not TOML")
    return params


def _alternatives(param: Param) -> tuple[Any, ...]:
    return param.type if isinstance(param.type, tuple) else (param.type,)


def _numeric(param: Param) -> bool:
    return any(t in (int, float) or typing.get_args(t) in ((int,), (float,)) for t in _alternatives(param))


def _coherence_problems(key: str, param: Param) -> list[str]:
    """Bounds on a parameter that is not numeric, or choices the type itself rejects, never take effect."""
    problems = []
    bounds = {name: getattr(param, name) for name in ("ge", "gt", "le", "lt") if getattr(param, name) is not None}
    if bounds and not _numeric(param):
        problems.append(f"{key}: {', '.join(bounds)} declared on a {param.toml_type()} parameter has no effect")
    for choice in param.choices or ():
        if Param(param.type).check(choice)[1]:
            problems.append(f"{key}: choice {choice!r} is not a {param.toml_type()}")
    return problems


def _bad_values(param: Param) -> list[Any]:
    """Values the schema must reject: one of another TOML type, one past each bound, one outside the choices."""
    values: list[Any] = []
    for candidate in ("not a valid value", 7, True, ["x"], {"table": 1}):
        if Param(param.type).check(candidate)[1]:
            values.append(candidate)
            break
    if _numeric(param):
        is_int = all(t is int or typing.get_args(t) == (int,) for t in _alternatives(param))
        for bound, outside in (
            (param.ge, lambda b: math.floor(b) - 1 if is_int else b - 1),
            (param.gt, lambda b: math.floor(b) if is_int else b),
            (param.le, lambda b: math.ceil(b) + 1 if is_int else b + 1),
            (param.lt, lambda b: math.ceil(b) if is_int else b),
        ):
            if bound is not None:
                value = outside(bound)
                list_only = all(typing.get_origin(t) is list for t in _alternatives(param))
                values.append([value] if list_only else value)
    if param.choices and all(isinstance(c, str) for c in param.choices):
        values.append("|".join(map(str, param.choices)) + "|not-a-choice")
    return values


def _declared_dependencies(entry: PluginEntry, *, extras: bool = True) -> set[str]:
    """Normalised names of the distributions ``entry``'s distribution depends on (optionally via extras)."""
    try:
        lines = requires(entry.distribution) or []
    except PackageNotFoundError:
        return set()
    names = set()
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if extras or requirement.marker is None or "extra" not in str(requirement.marker):
            names.add(normalize(requirement.name))
    return names


def require_signature(function: Callable[..., Any], call: str, **arguments: Any) -> None:
    """Fail unless ``function`` accepts ``arguments`` as keywords, the way kmlp calls it (``call`` says how)."""
    try:
        inspect.signature(function).bind(**arguments)
    except TypeError as exc:
        raise CheckFailed(f"kmlp calls the {call}: {exc}") from None
