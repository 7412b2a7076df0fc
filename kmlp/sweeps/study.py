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
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console

from kmlp.errors import KmlpError
from kmlp.recipe import Recipe, dump_toml, toml_value
from kmlp.runs import atomic_write_text
from kmlp.sweeps import space
from kmlp.sweeps.trial import FD_ENV

HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60
POLL_SECONDS = 2.0
STARTUP_ATTEMPTS = 5
OUTCOME = "kmlp.outcome"  # failed (counts) | interrupted (retried) | surplus (never trained)
_HOST = socket.gethostname()


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


def open_study(sweep: Sweep) -> optuna.Study:
    """Create the study, or load it to continue; refuse to continue one made from a different recipe."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # kmlp reports each trial itself
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    settings = sweep.settings
    seed = settings["seed"] if settings["seed"] is not None else sweep.recipe.seed
    dims = space.dimensions(settings)
    if settings["sampler"] == "grid":
        sampler = optuna.samplers.GridSampler({d.key: [_encode(v) for v in d.grid()] for d in dims}, seed=seed)
    elif settings["sampler"] == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
    if settings["pruner"] == "median":
        pruner = optuna.pruners.MedianPruner(
            n_startup_trials=settings["startup_trials"], n_warmup_steps=settings["warmup_epochs"]
        )
    elif settings["pruner"] == "hyperband":
        pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=sweep.recipe["training"]["epochs"])
    else:
        pruner = optuna.pruners.NopPruner()
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


def tally(study: optuna.Study) -> dict[str, list[FrozenTrial]]:
    """Trials by what they mean for the target: done, running, waiting (queued), and the rest."""
    groups: dict[str, list[FrozenTrial]] = {"done": [], "running": [], "waiting": [], "other": []}
    for trial in study.get_trials(deepcopy=False):
        if _counts(trial):
            groups["done"].append(trial)
        elif trial.state == TrialState.RUNNING:
            groups["running"].append(trial)
        elif trial.state == TrialState.WAITING:
            groups["waiting"].append(trial)
        else:
            groups["other"].append(trial)
    return groups


def _counts(trial: FrozenTrial) -> bool:
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


class Runner:
    """Runs trials until the study has ``target`` done: Optuna's ``optimize`` with one thread per worker,
    each thread waiting on a trial process."""

    def __init__(self, sweep: Sweep, study: optuna.Study) -> None:
        self.sweep = sweep
        self.study = study
        self.dims = space.dimensions(sweep.settings)
        self.children: dict[int, subprocess.Popen] = {}
        self.lock = threading.Lock()
        self.interrupted = threading.Event()
        self.abort: KmlpError | None = None
        self.retry = RetryHeartbeatStaleTrialCallback(max_retry=3)
        self.logs = sweep.folder / "logs"
        self.base_file = sweep.folder / "base.toml"

    def run(self) -> None:
        """Loop until ``target`` trials are done; raise ``KeyboardInterrupt`` when interrupted."""
        self.logs.mkdir(parents=True, exist_ok=True)
        raw = {k: v for k, v in self.sweep.raw_recipe.items() if k != "sweep"}
        atomic_write_text(self.base_file, dump_toml(raw))
        previous = signal.signal(signal.SIGINT, self._on_interrupt)
        try:
            while not self.interrupted.is_set():
                self._recover()
                groups = tally(self.study)
                done, running = len(groups["done"]), len(groups["running"])
                if done >= self.sweep.target:
                    break
                if done + running >= self.sweep.target:
                    time.sleep(POLL_SECONDS)  # the last trials run elsewhere: wait for them (or their staleness)
                    continue
                # queued trials (retries) are taken first by Optuna's ask, so they need no slot of their own
                jobs = min(self.sweep.workers, self.sweep.target - done - running)
                self.study.optimize(
                    self._objective,
                    n_jobs=jobs,
                    catch=(TrialFailed, TrialInterrupted, TrialSurplus),
                    callbacks=[self._after_trial],
                )
                if self.abort:
                    raise self.abort
        finally:
            signal.signal(signal.SIGINT, previous)
        if self.interrupted.is_set():
            raise KeyboardInterrupt

    def _on_interrupt(self, signum, frame) -> None:
        """First Ctrl-C: stop starting trials and interrupt the running ones (each marks its run folder)."""
        if self.interrupted.is_set():
            raise KeyboardInterrupt
        self.interrupted.set()
        if not self.sweep.quiet:
            self.sweep.console.print("interrupting the running trials; rerun the same command to continue")
        self._interrupt_children()

    def _interrupt_children(self) -> None:
        with self.lock:
            for child in self.children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)

    def _recover(self) -> None:
        """Fail and requeue running trials whose sweep process is gone: on this host by pid, elsewhere by
        Optuna's heartbeat."""
        fail_stale_trials(self.study)
        for trial in tally(self.study)["running"]:
            attrs = trial.user_attrs
            if attrs.get("kmlp.host") != _HOST or attrs.get("kmlp.pid") == os.getpid():
                continue
            if _alive(attrs.get("kmlp.pid")):
                continue
            try:
                frozen = self.study.tell(trial.number, state=TrialState.FAIL)
            except (ValueError, RuntimeError):
                continue  # another process got there first
            self.retry(self.study, frozen)

    def _after_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        outcome = trial.user_attrs.get(OUTCOME)
        grid = self.sweep.settings["sampler"] == "grid"
        if trial.state == TrialState.FAIL and (outcome == "interrupted" or (outcome == "surplus" and grid)):
            self.retry(study, trial)  # same parameters (and grid point) again, later
        groups = tally(study)
        if len(groups["done"]) + len(groups["running"]) >= self.sweep.target:
            study.stop()

    def _objective(self, trial: optuna.Trial) -> float:
        if self.interrupted.is_set() or self.abort:
            trial.set_user_attr(OUTCOME, "interrupted")
            trial.study.stop()
            raise TrialInterrupted("the sweep is stopping")
        trial.set_user_attr("kmlp.host", _HOST)
        trial.set_user_attr("kmlp.pid", os.getpid())
        claimed = [
            t
            for t in trial.study.get_trials(deepcopy=False)
            if t.number < trial.number and (t.state in (TrialState.RUNNING, TrialState.WAITING) or _counts(t))
        ]
        if len(claimed) >= self.sweep.target:
            trial.set_user_attr(OUTCOME, "surplus")
            trial.study.stop()
            raise TrialSurplus(f"{self.sweep.target} trials were already claimed")
        values = suggest(trial, self.dims)
        name = f"trial-{trial.number:04d}"
        overrides = [f"{key}={toml_value(value)}" for key, value in values.items()]
        described = ", ".join(f"{key}={toml_value(value)}" for key, value in values.items())
        overrides += [
            f"recipe.name={json.dumps(name)}",
            f"output.dir={json.dumps(str(self.sweep.folder))}",
            f"recipe.description={json.dumps(f'sweep {self.sweep.study_name} trial {trial.number}: {described}')}",
        ]
        result, code, log = self._spawn(trial, name, overrides)
        if result:
            trial.set_user_attr("kmlp.run", result["run"])
            # kept in the study too, so every machine of a shared sweep can write best.toml
            trial.set_user_attr("kmlp.recipe", (Path(result["run"]) / "recipe.toml").read_text(encoding="utf-8"))
            trial.set_user_attr("kmlp.test", result["test"])
            trial.set_user_attr("kmlp.epochs", result["epochs"])
        if code == 0 and result:
            if result["pruned"]:
                self._say(trial, "pruned", result)
                raise optuna.TrialPruned(f"pruned after epoch {result['epochs']}")
            self._say(trial, "complete", result)
            return result["value"]
        if code == 1:
            trial.set_user_attr(OUTCOME, "failed")
            trial.set_user_attr("kmlp.error", _last_error(log))
            self._say(trial, "failed", {"error": _last_error(log)})
            raise TrialFailed(_last_error(log))
        if code == 2 or (code == 0 and not result):
            self.abort = KmlpError(f"trial {trial.number} stopped the sweep: {_last_error(log)}", f"its log: {log}")
            trial.set_user_attr(OUTCOME, "error")
            trial.study.stop()
            self._interrupt_children()
            raise TrialSurplus(self.abort.message)
        trial.set_user_attr(OUTCOME, "interrupted")
        trial.study.stop()
        self.interrupted.set()
        raise TrialInterrupted(f"trial process ended with code {code}")

    def _spawn(self, trial: optuna.Trial, name: str, overrides: list[str]) -> tuple[dict | None, int, Path]:
        settings = self.sweep.settings
        spec = {
            "recipe": str(self.base_file),
            "overrides": overrides,
            "backend": self.sweep.backend,
            "device": self.sweep.device,
            "metric": settings["metric"],
            "prune": settings["pruner"] != "none",
        }
        log = self.logs / f"{name}.log"
        read_end, write_end = os.pipe()
        with open(log, "a", encoding="utf-8") as log_file:
            child = subprocess.Popen(
                [sys.executable, "-m", "kmlp.sweeps.trial", json.dumps(spec)],
                stdin=subprocess.PIPE,
                stdout=log_file,
                stderr=log_file,
                pass_fds=(write_end,),
                env={**os.environ, FD_ENV: str(write_end)},
                start_new_session=True,  # Ctrl-C reaches the sweep, which interrupts each trial exactly once
                text=True,
            )
        os.close(write_end)
        with self.lock:
            self.children[trial.number] = child
        if self.interrupted.is_set():
            child.send_signal(signal.SIGINT)
        result = None
        try:
            with os.fdopen(read_end, encoding="utf-8") as messages:
                for line in messages:
                    message = json.loads(line)
                    if message["event"] == "epoch":
                        trial.report(message["value"], message["epoch"])
                        if spec["prune"]:
                            child.stdin.write("prune\n" if trial.should_prune() else "continue\n")
                            child.stdin.flush()
                    elif message["event"] == "result":
                        result = message
            child.stdin.close()
            code = child.wait()
        finally:
            with self.lock:
                self.children.pop(trial.number, None)
        return result, code, log

    def _say(self, trial: optuna.Trial, state: str, result: dict[str, Any]) -> None:
        if self.sweep.quiet:
            return
        params = "  ".join(f"{k}={space.short(v)}" for k, v in suggest_params(trial, self.dims).items())
        if state == "failed":
            detail = result["error"]
        else:
            detail = f"{self.sweep.settings['metric']} {result['value']:.4f}" if result.get("value") is not None else ""
        self.sweep.console.print(f"trial {trial.number} {state}  {detail}  {params}", highlight=False)


def suggest_params(trial: optuna.Trial | FrozenTrial, dims: list[space.Dimension]) -> dict[str, Any]:
    """A trial's recipe values (decoded) by dotted key."""
    return {d.key: _decode(trial.params[d.key], d) for d in dims if d.key in trial.params}


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _last_error(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError:
        return "no log"
    starts = [i for i, line in enumerate(lines) if line.startswith("error:")]
    if not starts:
        return lines[-1] if lines else "the trial process printed nothing"
    block = [line for line in lines[starts[-1] :] if not line.startswith("hint:")]
    return "\n  ".join(block).removeprefix("error:").strip()
