"""The installed plugin as a user meets it: listed, validated, trained from its recipe, and reloaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import BACKEND

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "fashion_mnist_mixer.toml"


def kmlp(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "kmlp", *args], capture_output=True, text=True, env=env, timeout=900)


def test_listed_with_distribution_and_version():
    rows = json.loads(kmlp("list", "architectures", "--json").stdout)
    mine = {r["name"]: r for r in rows if r["distribution"].startswith("kmlp-mixer ")}
    assert set(mine) == {"mlp_mixer", "resmlp"}
    assert all(r["status"] == "ok" and r["distribution"] == "kmlp-mixer 0.1.0" for r in mine.values())
    shown = json.loads(kmlp("show", "resmlp", "--json").stdout)
    assert shown["distribution"] == "kmlp-mixer" and {p["name"] for p in shown["params"]} >= {"patch_size", "depth"}


def test_recipe_trains_and_its_model_reloads_in_a_fresh_process(tmp_path):
    assert kmlp("validate", str(RECIPE)).returncode == 0
    done = kmlp(
        "run", str(RECIPE), "--backend", BACKEND, "--json",
        "--set", "training.epochs=1", "dataset.train_size=2000", "dataset.test_size=500",
        f"output.dir={json.dumps(str(tmp_path))}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["test"]["accuracy"] > 0.5  # chance is 0.1
    code = (
        "import sys, numpy as np\n"
        "from kmlp.backend import apply, parse_device\n"
        "apply(sys.argv[2], parse_device('cpu'))\n"
        "from kmlp.registry import load_dataset\n"
        "from kmlp.inference import load_model\n"
        "model = load_model(sys.argv[1])  # the architecture is read from the run's environment.json\n"
        "x, y = load_dataset('fashion_mnist', test_size=500).test\n"
        "print(float(np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y)))\n"
    )
    model_path = str(Path(result["run"]) / "model.keras")
    reload = subprocess.run(
        [sys.executable, "-c", code, model_path, BACKEND], capture_output=True, text=True, timeout=600
    )
    assert reload.returncode == 0, reload.stderr[-2000:]
    assert abs(float(reload.stdout.strip().splitlines()[-1]) - result["test"]["accuracy"]) < 1e-6
