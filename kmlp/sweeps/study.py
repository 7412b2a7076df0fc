"""Running a sweep on Optuna: the study in RDB storage, trials in parallel processes, resumable after a crash.

Storage is SQLite in the sweep's folder unless ``--storage`` names another database (PostgreSQL, MySQL): then
``kmlp sweep`` on several machines shares one study. The sweep process itself never imports keras; each trial
is a child process (:mod:`kmlp.sweeps.trial`) that writes a normal run folder.

Finishing exactly ``trials`` trials, even across processes and crashes:
- a trial counts once it is complete, pruned, or failed on its own (a NaN loss is a result too);
- trials are claimed in Optuna's trial-number order: a new trial that finds ``trials`` claims below its number
  is surplus and gives way (it is marked failed with ``kmlp.outcome = "surplus"`` and never trains);
- a trial whose sweep process died is failed and queued again with the same parameters: at once when that
  process ran on this machine (its pid is gone), else when Optuna's heartbeat goes stale.
"""

from __future__ import annotations

import json
import socket
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console

from kmlp.errors import KmlpError
from kmlp.recipe.files import dump_toml, locate, read_toml
from kmlp.recipe.overrides import apply_overrides
from kmlp.recipe.resolve import load
from kmlp.recipe.schema import Recipe
from kmlp.sweeps import space

HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60
POLL_SECONDS = 2.0
STARTUP_ATTEMPTS = 5
OUTCOME = "kmlp.outcome"  # failed (counts) | interrupted (retried) | surplus (never trained)
HOST = socket.gethostname()


class TrialFailed(Exception):
    """The trial's run failed (it counts as done); Optuna records the trial as FAIL and the sweep goes on."""


class TrialInterrupted(Exception):
    """The trial was interrupted; it is queued again with the same parameters."""


class TrialSurplus(Exception):
    """Enough trials were already claimed when this one started."""


@dataclass
class Sweep:
    """One ``kmlp sweep`` invocation: the recipe, where things go, and how many trials to finish."""

    recipe: Recipe
    folder: Path
    storage_url: str
    target: int
    workers: int = 1
    backend: str | None = None
    device: str | None = None
    console: Console = field(default_factory=Console)
    quiet: bool = False

    @property
    def settings(self) -> dict[str, Any]:
        return self.recipe["sweep"]

    @property
    def study_name(self) -> str:
        return self.settings["name"] or self.recipe.name

    #: The recipe as written (with ``--set`` applied): trials start from it, so a trial that changes
    #: ``optimizer.name`` gets that optimizer's defaults, not the first one's.
    raw_recipe: dict[str, Any] = field(default_factory=dict)

    @property
    def base_recipe(self) -> dict[str, Any]:
        """The resolved recipe without its ``[sweep]`` section: what identifies the search."""
        return {k: v for k, v in self.recipe.to_dict().items() if k != "sweep"}


_EXAMPLE = """[sweep]
trials = 20
metric = "val_accuracy"
[sweep.space]
"optimizer.learning_rate" = { low = 1e-4, high = 0.1, log = true }"""


def plan_sweep(
    recipe: str,
    changes: list[str],
    *,
    storage: str | None,
    trials: int | None,
    workers: int,
    backend: str | None,
    device: str | None,
    console: Console,
    quiet: bool,
) -> Sweep:
    """The sweep a recipe (file or built-in name, with ``--set`` changes) describes, and its folder."""
    resolved = load(recipe, changes)
    if "sweep" not in resolved.sections:
        raise KmlpError(f"{recipe} has no [sweep] section", f"add one, e.g.\n{_EXAMPLE}")
    settings = resolved["sweep"]
    name = settings["name"] or resolved.name
    folder = (Path(resolved["output"]["dir"]).expanduser() / "sweeps" / name).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return Sweep(
        recipe=resolved,
        raw_recipe=apply_overrides(read_toml(locate(recipe)), changes),
        folder=folder,
        storage_url=storage or f"sqlite:///{folder / 'study.db'}",
        target=trials or settings["trials"],
        workers=workers,
        backend=backend,
        device=device,
        console=console,
        quiet=quiet,
    )


def open_study(sweep: Sweep) -> optuna.Study:
    """Create the study, or load it to continue; refuse to continue one made from a different recipe."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # kmlp reports each trial itself
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    settings = sweep.settings
    sampler = _sampler(settings, settings["seed"] if settings["seed"] is not None else sweep.recipe.seed)
    pruner = _pruner(settings, sweep.recipe["training"]["epochs"])
    engine = {"connect_args": {"timeout": 60}} if sweep.storage_url.startswith("sqlite") else {}
    for attempt in range(STARTUP_ATTEMPTS):
        try:
            storage = RDBStorage(
                sweep.storage_url,
                engine_kwargs=engine,
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=GRACE_SECONDS,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
            )
            study = optuna.create_study(
                study_name=sweep.study_name,
                storage=storage,
                sampler=sampler,
                pruner=pruner,
                direction=space.direction(settings),
                load_if_exists=True,
            )
            break
        except (ImportError, ValueError, optuna.exceptions.OptunaError) as exc:
            raise KmlpError(f"cannot open the sweep's storage {sweep.storage_url}: {exc}") from exc
        except Exception as exc:  # SQLAlchemy's errors: unreachable server, bad credentials, a busy database
            if attempt + 1 < STARTUP_ATTEMPTS:
                time.sleep(1 + attempt)  # e.g. two processes creating the same SQLite tables at once
                continue
            raise KmlpError(
                f"cannot open the sweep's storage {sweep.storage_url}: {type(exc).__name__}: {exc}",
                "check --storage (e.g. postgresql://user:password@host/db; its driver must be installed)",
            ) from exc
    identity = {"recipe": dump_toml(sweep.base_recipe), "space": settings["space"], "metric": settings["metric"]}
    known = study.user_attrs.get("kmlp.identity")  # one attribute, written in one step: no half-written state
    if known is None:
        study.set_user_attr("kmlp.identity", identity)
    elif known != identity:
        changed = [key for key, value in identity.items() if known.get(key) != value]
        raise KmlpError(
            f"study {sweep.study_name!r} in {sweep.storage_url} was started from a different "
            f"{' and '.join(changed)}; continuing it would mix two searches",
            "give this search its own name with --set sweep.name=NEW_NAME",
        )
    return study


def _sampler(settings: dict[str, Any], seed: int) -> optuna.samplers.BaseSampler:
    if settings["sampler"] == "grid":
        grid = {d.key: [_encode(v) for v in d.grid()] for d in space.dimensions(settings)}
        return optuna.samplers.GridSampler(grid, seed=seed)
    if settings["sampler"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _pruner(settings: dict[str, Any], epochs: int) -> optuna.pruners.BasePruner:
    if settings["pruner"] == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=settings["startup_trials"], n_warmup_steps=settings["warmup_epochs"]
        )
    if settings["pruner"] == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs)
    return optuna.pruners.NopPruner()


def tally(study: optuna.Study) -> dict[str, list[FrozenTrial]]:
    """Trials by what they mean for the target: done, running, waiting (queued), and the rest."""
    groups: dict[str, list[FrozenTrial]] = {"done": [], "running": [], "waiting": [], "other": []}
    for trial in study.get_trials(deepcopy=False):
        if counts(trial):
            groups["done"].append(trial)
        elif trial.state == TrialState.RUNNING:
            groups["running"].append(trial)
        elif trial.state == TrialState.WAITING:
            groups["waiting"].append(trial)
        else:
            groups["other"].append(trial)
    return groups


def counts(trial: FrozenTrial) -> bool:
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get(OUTCOME) == "failed"


def _encode(value: Any) -> Any:
    """Optuna's categorical choices are scalars: lists (``hidden_units``) travel as JSON text."""
    return json.dumps(value) if isinstance(value, list | dict) else value


def _decode(value: Any, dim: space.Dimension) -> Any:
    if dim.choices is not None and isinstance(value, str) and any(isinstance(c, list | dict) for c in dim.choices):
        return json.loads(value)
    return value


def suggest(trial: optuna.Trial, dims: list[space.Dimension]) -> dict[str, Any]:
    """The recipe values this trial tries, by dotted key."""
    values = {}
    for dim in dims:
        if dim.choices is not None:
            raw = trial.suggest_categorical(dim.key, [_encode(c) for c in dim.choices])
        elif dim.integer:
            raw = trial.suggest_int(dim.key, dim.low, dim.high, step=dim.step or 1, log=dim.log)
        else:
            raw = trial.suggest_float(dim.key, dim.low, dim.high, step=dim.step, log=dim.log)
        values[dim.key] = _decode(raw, dim)
    return values


def suggest_params(trial: optuna.Trial | FrozenTrial, dims: list[space.Dimension]) -> dict[str, Any]:
    """A trial's recipe values (decoded) by dotted key."""
    return {d.key: _decode(trial.params[d.key], d) for d in dims if d.key in trial.params}
