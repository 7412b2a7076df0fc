"""Sweeps on the backend under test: real trials in their own processes, an Optuna study in SQLite.

Each test runs a few short trials (synthetic data or digits, a few epochs). The study is read back with Optuna
itself, so the counts below are what the storage holds, not what kmlp printed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib

import optuna
import pytest
from conftest import BACKEND, SYNTHETIC_RECIPE, kmlp, run_json

GRID = """
[sweep]
trials = 4
metric = "val_accuracy"
sampler = "grid"

[sweep.space]
"optimizer.learning_rate" = { choices = [0.02, 0.002] }
"architecture.hidden_units" = { choices = [[16], [32, 16]] }
"""


@pytest.fixture
def sweep_recipe(write_recipe):
    def write(extra: str = GRID, base: str = SYNTHETIC_RECIPE, epochs: int = 2) -> object:
        text = base.replace("epochs = 3", f"epochs = {epochs}") + "validation_split = 0.25\n" + extra
        return write_recipe(text, name="sweep.toml")

    return write


def _study(tmp_path, name="synth"):
    folder = tmp_path / "runs" / "sweeps" / name
    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'study.db'}"), folder


def _complete(study):
    return [t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]


def _grid_points(trials):
    return sorted((t.params["optimizer.learning_rate"], t.params["architecture.hidden_units"]) for t in trials)


FULL_GRID = sorted((lr, units) for lr in (0.02, 0.002) for units in ("[16]", "[32, 16]"))


def test_digits_sweep_runs_every_trial_as_a_run_and_writes_a_runnable_best_recipe(tmp_path, write_recipe):
    from conftest import RECIPES

    text = (RECIPES / "digits_mlp.toml").read_text().replace("epochs = 30", "epochs = 4") + GRID
    recipe = write_recipe(text, name="digits_sweep.toml")
    report = run_json("sweep", str(recipe), "--workers", "2")
    study, folder = _study(tmp_path, "digits_mlp")
    complete = _complete(study)
    assert len(study.get_trials()) == 4 and len(complete) == 4
    assert _grid_points(complete) == FULL_GRID  # every grid point exactly once
    assert [t["state"] for t in report["trials"]] == ["complete"] * 4
    best = max(complete, key=lambda t: t.value)
    assert report["best"]["trial"] == best.number and report["best"]["value"] == best.value
    assert best.value > 0.8  # digits: chance is 0.1

    runs = run_json("runs", "--dir", str(folder))
    assert len(runs) == 4 and {r["status"] for r in runs} == {"completed"}
    assert {r["backend"] for r in runs} == {BACKEND}
    assert sorted(r["name"] for r in runs) == [f"trial-{n:04d}" for n in range(4)]

    best_recipe = folder / "best.toml"
    saved = tomllib.loads(best_recipe.read_text())
    assert saved["recipe"]["name"] == "digits_mlp" and "sweep" not in saved
    assert saved["optimizer"]["learning_rate"] == best.params["optimizer.learning_rate"]
    again = run_json("run", str(best_recipe))  # the best trial, trained again, repeats exactly
    trial_metrics = json.loads((tmp_path / best.user_attrs["kmlp.run"] / "metrics.json").read_text())["test"]
    assert again["test"] == trial_metrics
    assert again["run"].startswith(str(tmp_path / "runs" / "digits_mlp"))


def _statuses(folder):
    return [json.loads(p.read_text())["state"] for p in sorted(folder.glob("trial-*/*/status.json"))]


def test_sweep_resumes_after_being_killed_without_losing_or_repeating_trials(tmp_path, sweep_recipe):
    recipe = sweep_recipe(epochs=6)
    folder = tmp_path / "runs" / "sweeps" / "synth"
    command = [sys.executable, "-m", "kmlp", "sweep", str(recipe), "--quiet"]
    sweep = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # kill it while the third trial trains
        states = _statuses(folder)
        if states.count("completed") >= 2 and "running" in states:
            break
        assert sweep.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.2)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    deadline = time.monotonic() + 120
    while "running" in _statuses(folder) and time.monotonic() < deadline:
        time.sleep(0.2)  # the orphaned trial notices and stops itself
    assert "running" not in _statuses(folder)
    assert "interrupted" in _statuses(folder)

    report = run_json("sweep", str(recipe))
    study, _ = _study(tmp_path)
    complete = _complete(study)
    assert len(complete) == 4 and _grid_points(complete) == FULL_GRID
    runs = [t.user_attrs["kmlp.run"] for t in complete]
    assert len(set(runs)) == 4
    killed = [t for t in report["trials"] if t["state"] == "crashed"]
    assert len(killed) == 1  # failed when the sweep restarted, then queued again with the same grid point
    assert _statuses(folder).count("completed") == 4 and _statuses(folder).count("interrupted") == 1


def test_ctrl_c_interrupts_the_running_trial_and_a_rerun_continues(tmp_path, sweep_recipe):
    recipe = sweep_recipe(GRID.replace("trials = 4", "trials = 2"), epochs=6)
    folder = tmp_path / "runs" / "sweeps" / "synth"
    command = [sys.executable, "-m", "kmlp", "sweep", str(recipe), "--quiet"]
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while "running" not in _statuses(folder) and time.monotonic() < deadline:
        assert sweep.poll() is None, "the sweep ended before it could be interrupted"
        time.sleep(0.2)
    sweep.send_signal(signal.SIGINT)
    _, stderr = sweep.communicate(timeout=300)
    assert sweep.returncode == 130, stderr
    assert _statuses(folder) == ["interrupted"]  # the trial stopped and said so; nothing is left running
    report = run_json("sweep", str(recipe))
    assert [t["state"] for t in report["trials"]] == ["interrupted", "complete", "complete"]
    interrupted, *complete = report["trials"]
    assert interrupted["params"] == complete[0]["params"]  # queued again at once, run first on the rerun
    assert complete[0]["params"] != complete[1]["params"]


def test_two_sweep_processes_share_one_study(tmp_path, sweep_recipe):
    recipe = sweep_recipe()
    command = [sys.executable, "-m", "kmlp", "sweep", str(recipe), "--json"]
    env = {**os.environ, "NO_COLOR": "1"}
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    outputs = [p.communicate(timeout=900) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    study, folder = _study(tmp_path)
    complete = _complete(study)
    assert len(complete) == 4 and _grid_points(complete) == FULL_GRID
    assert len({t.user_attrs["kmlp.run"] for t in complete}) == 4
    pids = {t.user_attrs["kmlp.pid"] for t in complete}
    assert pids == {first.pid, second.pid}  # both processes ran trials
    assert _statuses(folder).count("completed") == 4


def test_median_pruner_stops_a_hopeless_trial(tmp_path, sweep_recipe):
    recipe = sweep_recipe(
        """
[sweep]
trials = 2
metric = "val_accuracy"
sampler = "grid"
pruner = "median"
startup_trials = 1
warmup_epochs = 0
seed = 1  # Optuna shuffles the grid with this seed: the good learning rate goes first

[sweep.space]
"optimizer.learning_rate" = { choices = [0.02, 1e-7] }
""",
        epochs=4,
    )
    report = run_json("sweep", str(recipe))
    assert [t["params"]["optimizer.learning_rate"] for t in report["trials"]] == [0.02, 1e-7]
    states = {t["params"]["optimizer.learning_rate"]: t for t in report["trials"]}
    assert states[0.02]["state"] == "complete" and states[0.02]["epochs"] == 4
    assert states[1e-7]["state"] == "pruned" and states[1e-7]["epochs"] == 1
    status = json.loads((tmp_path / states[1e-7]["run"] / "status.json").read_text())
    assert status["state"] == "completed" and status["pruned_after_epoch"] == 1
    listed = {r["path"]: r["status"] for r in run_json("runs", "--dir", str(tmp_path / "runs"))}
    assert sorted(listed.values()) == ["completed", "pruned"]


def test_a_failing_trial_counts_and_the_sweep_goes_on(tmp_path, sweep_recipe):
    recipe = sweep_recipe(
        """
[sweep]
trials = 2
metric = "val_accuracy"
sampler = "grid"

[sweep.space]
"optimizer.name" = { choices = ["adam", "sgd"] }
"optimizer.learning_rate" = { choices = [1e30] }
"""
    )
    done = kmlp("sweep", str(recipe), "--json")
    assert done.returncode == 1, done.stderr  # no trial completed: the sweep failed
    assert "no trial completed" in done.stderr
    study, _ = _study(tmp_path)
    trials = study.get_trials()
    assert len(trials) == 2 and all(t.user_attrs["kmlp.outcome"] == "failed" for t in trials)
    assert all("loss became" in t.user_attrs["kmlp.error"] for t in trials)


def test_a_user_error_in_a_trial_stops_the_sweep(tmp_path, sweep_recipe):
    recipe = sweep_recipe(GRID.replace('metric = "val_accuracy"', 'metric = "val_acuracy"'))
    done = kmlp("sweep", str(recipe))
    assert done.returncode == 2
    assert "val_acuracy" in done.stderr and "val_accuracy" in done.stderr and "Traceback" not in done.stderr


def test_continuing_a_study_with_a_changed_recipe_is_refused(tmp_path, sweep_recipe):
    recipe = sweep_recipe(GRID.replace("trials = 4", "trials = 1"))
    assert kmlp("sweep", str(recipe), "--quiet").returncode == 0
    done = kmlp("sweep", str(recipe), "--set", "training.batch_size=64")
    assert done.returncode == 2 and "different recipe" in done.stderr and "sweep.name" in done.stderr
    more = run_json("sweep", str(recipe), "--trials", "2")  # more trials of the same search: fine
    assert [t["state"] for t in more["trials"]] == ["complete", "complete"]
