"""The loop that runs a sweep's trials: Optuna's ``optimize`` with one thread per worker, each thread waiting on a
trial process (:mod:`kmlp.sweeps.trial`), and the recovery of trials whose sweep process died."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import FrozenTrial, TrialState

from kmlp.errors import EXIT_OK, EXIT_RUN_FAILED, EXIT_USER_ERROR, KmlpError
from kmlp.recipe.files import dump_toml, toml_value
from kmlp.runs.folder import atomic_write_text
from kmlp.runs.records import process_alive
from kmlp.sweeps import space
from kmlp.sweeps.study import (
    HOST,
    OUTCOME,
    POLL_SECONDS,
    Sweep,
    TrialFailed,
    TrialInterrupted,
    TrialSurplus,
    counts,
    suggest,
    suggest_params,
    tally,
)
from kmlp.sweeps.trial import FD_ENV


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
            if attrs.get("kmlp.host") != HOST or attrs.get("kmlp.pid") == os.getpid():
                continue
            if process_alive(attrs.get("kmlp.pid")):
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
        trial.set_user_attr("kmlp.host", HOST)
        trial.set_user_attr("kmlp.pid", os.getpid())
        claimed = [
            t
            for t in trial.study.get_trials(deepcopy=False)
            if t.number < trial.number and (t.state in (TrialState.RUNNING, TrialState.WAITING) or counts(t))
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
        if code == EXIT_OK and result:
            if result["pruned"]:
                self._say(trial, "pruned", result)
                raise optuna.TrialPruned(f"pruned after epoch {result['epochs']}")
            self._say(trial, "complete", result)
            return result["value"]
        if code == EXIT_RUN_FAILED:
            trial.set_user_attr(OUTCOME, "failed")
            trial.set_user_attr("kmlp.error", _last_error(log))
            self._say(trial, "failed", {"error": _last_error(log)})
            raise TrialFailed(_last_error(log))
        if code == EXIT_USER_ERROR or (code == EXIT_OK and not result):
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
