"""The ``[sweep]`` recipe section: what to search, how, and for which metric. Imports neither Optuna nor keras.

```toml
[sweep]
trials = 20
metric = "val_accuracy"          # any per-epoch value in history.csv
sampler = "tpe"                  # tpe, random or grid
pruner = "median"                # none, median or hyperband

[sweep.space]
"optimizer.learning_rate" = { low = 1e-4, high = 0.1, log = true }
"architecture.hidden_units" = { choices = [[64], [128, 64]] }
"training.batch_size" = { choices = [16, 32, 64] }
```

Every key is a dotted recipe key, exactly as ``--set`` takes it, and every candidate value is checked against
that key's schema when the recipe is validated, so a typo fails before the first trial starts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kmlp.errors import KmlpError, Problem, did_you_mean
from kmlp.recipe import catalog
from kmlp.recipe.params import Param, validate

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("none", "median", "hyperband")
DIRECTIONS = ("auto", "maximize", "minimize")

PARAMS: dict[str, Param] = {
    "name": Param(str, None, "Study name (one study per name and storage); defaults to recipe.name."),
    "trials": Param(int, 10, "Trials to finish; rerunning the sweep continues until this many are done.", ge=1),
    "metric": Param(str, "val_loss", "Per-epoch value to optimise, as history.csv names it (val_accuracy, ...)."),
    "direction": Param(
        str, "auto", "maximize or minimize; auto minimises losses and errors, maximises the rest.", choices=DIRECTIONS
    ),
    "sampler": Param(str, "tpe", "How trials pick values: tpe (Bayesian), random, or grid.", choices=SAMPLERS),
    "pruner": Param(str, "none", "Stop poor trials early from their per-epoch metric.", choices=PRUNERS),
    "startup_trials": Param(int, 3, "Median pruner: trials that finish before any trial is pruned.", ge=0),
    "warmup_epochs": Param(int, 1, "Median pruner: epochs each trial runs before it may be pruned.", ge=0),
    "seed": Param(int, None, "Seed of the sampler; defaults to recipe.seed."),
}
_SPEC_KEYS = ("choices", "low", "high", "log", "step")
_NAMED = ("dataset", "architecture", "optimizer", "loss")


@dataclass(frozen=True)
class Dimension:
    """One searched recipe key: a list of choices, or a numeric range (``integer``, ``log``, ``step``)."""

    key: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    integer: bool = False

    def grid(self) -> list[Any] | None:
        """Every value a grid search visits, or ``None`` when the range is continuous."""
        if self.choices is not None:
            return list(self.choices)
        if self.step is None and not self.integer:
            return None
        step = self.step or 1
        count = math.floor((self.high - self.low) / step + 1e-9) + 1
        values = [self.low + i * step for i in range(count)]
        return [int(v) for v in values] if self.integer else [round(v, 12) for v in values]

    def to_toml(self) -> dict[str, Any]:
        if self.choices is not None:
            return {"choices": list(self.choices)}
        spec: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            spec["log"] = True
        if self.step is not None:
            spec["step"] = self.step
        return spec


def dimensions(section: Mapping[str, Any]) -> list[Dimension]:
    """The dimensions of a validated ``[sweep]`` section (``Recipe["sweep"]``)."""
    found, problems = _parse(section.get("space") or {}, None, None)
    if problems:  # a validated section has none
        raise KmlpError("invalid sweep space: " + "; ".join(map(str, problems)))
    return found


def direction(section: Mapping[str, Any]) -> str:
    if section["direction"] != "auto":
        return section["direction"]
    metric = section["metric"].lower()
    lower_is_better = ("loss", "error", "crossentropy", "hinge", "divergence")
    return "minimize" if any(word in metric for word in lower_is_better) else "maximize"


def check_section(
    values: Mapping[str, Any], schemas: Mapping[str, Mapping[str, Param]], registry: Any
) -> tuple[dict[str, Any], list[Problem]]:
    """Validate a raw ``[sweep]`` table against the recipe's schemas; return it resolved, and its problems."""
    values = dict(values)
    space = values.pop("space", None)
    resolved, problems = validate(PARAMS, values, "sweep")
    if not isinstance(space, dict) or not space:
        problems.append(
            Problem(
                "sweep.space",
                "missing: the recipe keys to search",
                'add [sweep.space] with e.g. "optimizer.learning_rate" = { low = 1e-4, high = 0.1, log = true }',
            )
        )
        return {**resolved, "space": {}}, problems
    found, space_problems = _parse(space, schemas, registry)
    problems += space_problems
    if resolved.get("sampler") == "grid":
        for dim in found:
            if dim.grid() is None:
                problems.append(
                    Problem(_where(dim.key), "a grid needs choices or a step", "add step = ..., or use choices")
                )
    return {**resolved, "space": {d.key: d.to_toml() for d in found}}, problems


def _where(key: str) -> str:
    return f'sweep.space."{key}"'


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optimizer": {"learning_rate": {...}}}`` and ``{"optimizer.learning_rate": {...}}`` alike."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _parse(
    space: Mapping[str, Any], schemas: Mapping[str, Mapping[str, Param]] | None, registry: Any
) -> tuple[list[Dimension], list[Problem]]:
    dims, problems = [], []
    for key, spec in _flatten(space).items():
        where = _where(key)
        if not isinstance(spec, dict):
            problems.append(Problem(where, "expected a table such as { choices = [...] } or { low = .., high = .. }"))
            continue
        unknown = [k for k in spec if k not in _SPEC_KEYS]
        if unknown:
            problems.append(Problem(f"{where}.{unknown[0]}", "unknown key", did_you_mean(unknown[0], _SPEC_KEYS)))
            continue
        param, why = _target(key, schemas)
        if why:
            problems.append(Problem(where, why[0], why[1]))
            continue
        dim, found = _dimension(key, spec, param)
        problems += [Problem(where, message, hint) for message, hint in found]
        if dim is None:
            continue
        if schemas is not None:
            problems += [Problem(where, m, h) for m, h in _check_values(dim, param, registry)]
        dims.append(dim)
    return dims, problems


def _target(
    key: str, schemas: Mapping[str, Mapping[str, Param]] | None
) -> tuple[Param | None, tuple[str, str | None] | None]:
    """The schema ``Param`` of a dotted key (``None`` for a plugin/class ``name``), or why it cannot be searched."""
    parts = key.split(".")
    if len(parts) != 2:
        return None, ("expected section.key, e.g. optimizer.learning_rate", None)
    if schemas is None:
        return None, None
    section, name = parts
    if section == "sweep" or section not in schemas:
        return None, ("unknown section", did_you_mean(section, [s for s in schemas if s != "sweep"]))
    if name == "name" and section in _NAMED:
        return None, None
    schema = schemas[section]
    if not schema and section in _NAMED:
        return None, None  # the plugin or class is unknown: that problem is reported on its name already
    if name not in schema:
        return None, ("unknown key", did_you_mean(name, schema))
    return schema[name], None


def _dimension(key: str, spec: dict[str, Any], param: Param | None) -> tuple[Dimension | None, list[tuple]]:
    if "choices" in spec:
        extra = [k for k in spec if k != "choices"]
        if extra:
            return None, [(f"choices cannot be combined with {', '.join(extra)}", None)]
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            return None, [("choices must be a non-empty list", None)]
        return Dimension(key, choices=tuple(choices)), []
    if "low" not in spec or "high" not in spec:
        return None, [("expected choices = [...], or low and high", "e.g. { low = 1e-4, high = 0.1, log = true }")]
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    numbers = [v for v in (low, high, step) if v is not None]
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in numbers):
        return None, [("low, high and step must be numbers", None)]
    if not isinstance(log, bool):
        return None, [("log must be true or false", None)]
    integer = _is_integer(param, low, high, step)
    problems = []
    if not low < high:
        problems.append((f"low ({low}) must be less than high ({high})", None))
    if log and low <= 0:
        problems.append(("a log range needs low > 0", None))
    if step is not None and step <= 0:
        problems.append(("step must be > 0", None))
    if log and step is not None and not (integer and step == 1):
        problems.append(("log and step cannot be combined", "drop step, or log"))
    if problems:
        return None, problems
    if integer:
        return Dimension(key, low=int(low), high=int(high), log=log, step=int(step) if step else None, integer=True), []
    return Dimension(key, low=float(low), high=float(high), log=log, step=float(step) if step else None), []


def _is_integer(param: Param | None, *values: Any) -> bool:
    if param is None:
        return all(isinstance(v, int) for v in values if v is not None)
    types = param.type if isinstance(param.type, tuple) else (param.type,)
    return int in types and float not in types


def _check_values(dim: Dimension, param: Param | None, registry: Any) -> list[tuple[str, str | None]]:
    """Every choice (or both ends of a range) must be a valid value of the key it sets."""
    if dim.choices is None and param is not None and not (_accepts_float(param) or dim.integer):
        return [(f"a range needs a numeric key; {dim.key} is {param.toml_type()}", "use choices = [...]")]
    values = list(dim.choices) if dim.choices is not None else [dim.low, dim.high]
    section, name = dim.key.split(".")
    problems = []
    for value in values:
        if param is None and name == "name":
            why = _check_name(section, value, registry)
        elif param is None:
            why = None
        else:
            if dim.choices is None:
                value = int(value) if dim.integer else float(value)
            _, why = param.check(value)
        if why:
            problems.append((f"{value!r}: {why}", None))
    return problems


def _accepts_float(param: Param) -> bool:
    types = param.type if isinstance(param.type, tuple) else (param.type,)
    return float in types


def _check_name(section: str, value: Any, registry: Any) -> str | None:
    if not isinstance(value, str):
        return "expected a string"
    if section in ("dataset", "architecture"):
        try:
            registry.lookup(section, value)
        except KmlpError as exc:
            return exc.message
        return None
    known = catalog.OPTIMIZERS if section == "optimizer" else catalog.LOSSES
    if (value.lower() if section == "optimizer" else value) not in known:
        return f"unknown {section} {value!r}"
    return None


def short(value: Any) -> str:
    """A searched value for a table or a progress line: floats to 4 significant digits, the rest as TOML."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(short(v) for v in value) + "]"
    return json.dumps(value)
