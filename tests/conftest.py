"""Shared fixtures. The backend under test is ``KERAS_BACKEND`` (each tox env sets one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "kmlp" / "recipe" / "recipes"
BACKEND = os.environ.get("KERAS_BACKEND") or "jax"
#: A small, fast recipe on generated data; tests override what they need.
SYNTHETIC_RECIPE = """
[recipe]
name = "synth"
seed = 3

[dataset]
name = "synthetic"
train_samples = 512
test_samples = 256
input_shape = [16]
num_classes = 4
noise = 0.8

[architecture]
name = "mlp"
hidden_units = [32]

[optimizer]
name = "adam"
learning_rate = 0.01

[training]
epochs = 3
batch_size = 32
"""


@pytest.fixture(autouse=True, scope="session")
def _isolated_keras_home(tmp_path_factory):
    """Keep ~/.keras and ~/.cache untouched: Keras writes keras.json (and caches downloads) under KERAS_HOME."""
    home = tmp_path_factory.mktemp("keras-home")
    os.environ["KERAS_HOME"] = str(home)
    os.environ["KMLP_CACHE_DIR"] = str(tmp_path_factory.mktemp("kmlp-cache"))  # JAX's compilation cache
    os.environ["KERAS_BACKEND"] = BACKEND
    yield


@pytest.fixture
def backend() -> str:
    return BACKEND


@pytest.fixture
def write_recipe(tmp_path):
    """Write recipe text to a file and return its path; the run output goes under ``tmp_path/runs``."""

    def write(text: str = SYNTHETIC_RECIPE, name: str = "recipe.toml", output: bool = True) -> Path:
        path = tmp_path / name
        if output and "[output]" not in text:
            text += f'\n[output]\ndir = "{(tmp_path / "runs").as_posix()}"\n'
        path.write_text(text)
        return path

    return write


def kmlp(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: int = 600):
    """Run the real CLI in a fresh process (``python -m kmlp``), as a user would."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "kmlp", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


def run_json(*args: str, **kwargs) -> dict:
    done = kmlp(*args, "--json", **kwargs)
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def modules_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """Top-level module names loaded by a fresh interpreter after running ``code``."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))
