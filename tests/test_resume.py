"""Resuming: a run killed (SIGKILL) or stopped (SIGINT, SIGTERM) mid-training and resumed in its own folder ends
with the weights and the history of a run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import BACKEND
from inprocess import invoke, invoke_json

#: Dropout (seeded random state in the model, PyTorch's global generator) and Adam (optimizer state) make a resume
#: that restores only the weights visibly wrong; 64 steps per epoch give a signal time to land mid-epoch.
RECIPE = """
[recipe]
name = "resumed"
seed = 5

[dataset]
name = "synthetic"
train_samples = 2048
test_samples = 128
input_shape = [16]
num_classes = 4
noise = 2.0

[architecture]
name = "mlp"
hidden_units = [32]
dropout = 0.3

[optimizer]
name = "adam"
learning_rate = 0.003

[training]
epochs = 5
batch_size = 32
validation_split = 0.1
"""
EPOCHS = 5


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("resume")
    path = folder / "resumed.toml"
    path.write_text(RECIPE + f'\n[output]\ndir = "{(folder / "runs").as_posix()}"\n')
    return path


@pytest.fixture(scope="module")
def reference(recipe) -> Path:
    """The same recipe, never interrupted."""
    return Path(invoke_json("run", str(recipe))["run"])


def _start(recipe: Path) -> subprocess.Popen:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "KERAS_BACKEND": BACKEND}
    return subprocess.Popen(
        [sys.executable, "-m", "kmlp", "run", str(recipe)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _run_folder(recipe: Path, reference: Path) -> Path:
    runs = [p for p in (recipe.parent / "runs" / "resumed").iterdir() if p != reference]
    return max(runs, key=lambda p: p.stat().st_mtime)


def _wait_for_checkpoint(process: subprocess.Popen, recipe: Path, reference: Path, epochs: int) -> Path:
    """Poll until the newest run has a checkpoint of ``epochs`` finished epochs; return its folder."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            run = _run_folder(recipe, reference)
        except (FileNotFoundError, ValueError):
            run = None
        if run is not None and (run / "checkpoint" / f"epoch-{epochs}").is_dir():
            return run
        time.sleep(0.002)
    raise AssertionError("no checkpoint appeared")


def _weights(run: Path) -> list[np.ndarray]:
    import keras

    return keras.saving.load_model(run / "model.keras").get_weights()


def _compare(resumed: Path, reference: Path) -> float:
    """Max abs difference of the final weights; the histories must be identical row for row."""
    got, want = _weights(resumed), _weights(reference)
    assert [w.shape for w in got] == [w.shape for w in want]
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(got, want, strict=True))
    print(f"\n{BACKEND}: resumed vs uninterrupted, max abs weight difference {diff:.3g}")
    assert (resumed / "history.csv").read_text() == (reference / "history.csv").read_text()
    return diff


def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(recipe, reference):
    process = _start(recipe)
    run = _wait_for_checkpoint(process, recipe, reference, 2)
    process.kill()  # SIGKILL: no handler, no cleanup
    process.communicate()
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "running"  # what the crash left; `kmlp runs` reads it as crashed
    assert not (run / "model.keras").exists()
    rows = len((run / "history.csv").read_text().splitlines()) - 1
    assert 2 <= rows < EPOCHS, rows  # it died before the end

    done = invoke("resume", str(run))
    assert done.returncode == 0, done.stderr + done.stdout
    said = " ".join(done.stdout.split())  # Rich wraps long lines
    assert f"backend {BACKEND} (the run's recipe.toml)" in said  # not a choice: the run's own backend
    assert "resuming after epoch" in said
    assert _compare(run, reference) <= 1e-6
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "completed" and status["resumes"] == 1
    assert json.loads((run / "metrics.json").read_text())["epochs"] == EPOCHS
    assert not (run / "checkpoint").exists()  # nothing left to resume
    assert not [p for p in run.rglob("*") if ".partial" in p.name]  # every write finished with its rename
    assert [p.name for p in run.parent.iterdir()].count(run.name) == 1


@pytest.mark.parametrize(
    ("sig", "code"),
    [(signal.SIGINT, 130), pytest.param(signal.SIGTERM, 143, marks=pytest.mark.slow)],  # one code path: SIGTERM slow
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_stops_at_a_safe_point_and_says_how_to_resume(recipe, reference, sig, code):
    process = _start(recipe)
    run = _wait_for_checkpoint(process, recipe, reference, 1)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    assert f"{sig.name} received" in stderr and f"kmlp resume {run}" in stderr
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "interrupted" and status["signal"] == sig.name
    finished = status["epochs_finished"]
    assert finished >= 1 and (run / "checkpoint" / f"epoch-{finished}").is_dir()
    assert len((run / "history.csv").read_text().splitlines()) - 1 == finished  # the cut epoch is not recorded

    done = invoke("run", "--resume", str(run), "--json")
    assert done.returncode == 0, done.stderr + done.stdout
    assert json.loads(done.stdout)["run"] == str(run)
    assert _compare(run, reference) <= 1e-6


def test_what_cannot_be_resumed_is_a_clear_error(reference, tmp_path):
    for folder, message in [
        (reference, "already completed"),
        (tmp_path, "is not a run folder"),
        (tmp_path / "missing", "is not a run folder"),
    ]:
        done = invoke("resume", str(folder))
        assert done.returncode == 2 and message in done.stderr, done.stderr
    done = invoke("run", "--resume", str(reference), "training.epochs=9")
    assert done.returncode == 2 and "takes no recipe or overrides" in done.stderr
