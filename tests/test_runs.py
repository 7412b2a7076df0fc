"""Looking back: `kmlp runs`, `compare` and `plot` over real run folders, and the CLI's conventions."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import BACKEND, SYNTHETIC_RECIPE, kmlp, modules_after, run_json
from rich.console import Console

from kmlp.recipe.resolve import load
from kmlp.runtime.backend import BackendChoice

BACKEND_MODULES = {"keras", "jax", "jaxlib", "torch", "tensorflow"}


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """Two real runs of one recipe that differ in learning rate, trained on the backend under test."""
    from kmlp.train import run as training

    folder = tmp_path_factory.mktemp("history")
    recipe = folder / "synth.toml"
    recipe.write_text(SYNTHETIC_RECIPE + f'validation_split = 0.25\n[output]\ndir = "{(folder / "runs").as_posix()}"\n')
    for rate in ("0.01", "0.002"):
        resolved = load(recipe, [f"optimizer.learning_rate={rate}"])
        training.train(resolved, BackendChoice(BACKEND, "test"), "cpu:0", Console(quiet=True), quiet=True)
    return folder / "runs"


def test_runs_lists_newest_first_with_status_metrics_and_duration(runs_dir):
    rows = run_json("runs", "--dir", str(runs_dir))
    assert len(rows) == 2
    assert rows[0]["started"] >= rows[1]["started"]
    for row in rows:
        assert row["id"].startswith("synth/") and row["id"].endswith(f"-{BACKEND}")
        assert row["status"] == "completed" and row["backend"] == BACKEND and row["device"] == "cpu:0"
        assert row["epochs"] == 3 and row["duration_seconds"] >= 0
        assert row["best"]["metric"] == "val_accuracy" and 1 <= row["best"]["epoch"] <= 3
        assert row["final"] == {"metric": "test accuracy", "value": row["test"]["accuracy"]}
    table = kmlp("runs", "--dir", str(runs_dir)).stdout
    assert "completed" in table and "val_accuracy" in table and "test accuracy" in table
    assert run_json("runs", "nothing*", "--dir", str(runs_dir)) == []
    assert len(run_json("runs", "synth", "--dir", str(runs_dir))) == 2


def test_a_running_run_whose_process_is_gone_reads_crashed(runs_dir, tmp_path):
    copy = tmp_path / "runs" / "synth" / "crashed"
    shutil.copytree(next((runs_dir / "synth").iterdir()), copy)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    status = json.loads((copy / "status.json").read_text())
    (copy / "status.json").write_text(json.dumps({**status, "state": "running", "pid": int(gone.stdout)}))
    alive = tmp_path / "runs" / "synth" / "alive"
    shutil.copytree(copy, alive)
    (alive / "status.json").write_text(json.dumps({**status, "state": "running", "pid": os.getpid()}))
    states = {row["id"]: row["status"] for row in run_json("runs", "--dir", str(tmp_path / "runs"))}
    assert states == {"synth/crashed": "crashed", "synth/alive": "running"}


def test_compare_shows_metrics_and_only_the_recipe_keys_that_differ(runs_dir):
    report = run_json("compare", "synth", "--dir", str(runs_dir))
    assert len(report["runs"]) == 2
    assert list(report["differences"]) == ["optimizer.learning_rate"]
    assert sorted(report["differences"]["optimizer.learning_rate"]) == [0.002, 0.01]
    table = kmlp("compare", *(r["path"] for r in report["runs"])).stdout
    assert "recipe differences" in table and "optimizer.learning_rate" in table and "test accuracy" in table
    assert "batch_size" not in table  # the same in both
    missing = kmlp("compare", "synht", "--dir", str(runs_dir))
    assert missing.returncode == 2 and "did you mean 'synth'" in missing.stderr


def test_every_completed_run_has_its_plots(runs_dir):
    for run in (runs_dir / "synth").iterdir():
        for name in ("curves.png", "confusion_matrix.png"):
            assert (run / name).read_bytes().startswith(b"\x89PNG"), name


def test_plot_overlays_runs_in_one_png(runs_dir, tmp_path):
    import matplotlib.image

    output = tmp_path / "both.png"
    report = run_json("plot", "synth", "--dir", str(runs_dir), "-o", str(output))
    assert report["plot"] == str(output) and len(report["runs"]) == 2 and report["run_plots"] == []
    height, width, _ = matplotlib.image.imread(output).shape
    assert width > height > 300
    default = run_json("plot", "synth", "--dir", str(runs_dir), "--metric", "loss")
    assert default["plot"].startswith(str(runs_dir / "plots"))
    bad = kmlp("plot", "synth", "--dir", str(runs_dir), "-o", str(tmp_path / "x.jpg"))
    assert bad.returncode == 2 and "PNG" in bad.stderr
    unknown = kmlp("plot", "synth", "--dir", str(runs_dir), "--metric", "acuracy")
    assert unknown.returncode == 2 and "did you mean 'accuracy'" in unknown.stderr


def test_plot_draws_the_plots_a_run_lacks(runs_dir, tmp_path):
    copy = tmp_path / "runs" / "synth" / "bare"
    shutil.copytree(next((runs_dir / "synth").iterdir()), copy)
    for name in ("curves.png", "confusion_matrix.png"):
        (copy / name).unlink()
    report = run_json("plot", str(copy), "-o", str(tmp_path / "one.png"))
    assert sorted(report["run_plots"]) == sorted(str(copy / n) for n in ("confusion_matrix.png", "curves.png"))


def test_plot_without_matplotlib_names_the_extra(runs_dir):
    code = (
        "import sys\nsys.modules['matplotlib'] = None\nfrom kmlp.cli import main\n"
        f"sys.argv = ['kmlp', 'plot', 'synth', '--dir', {str(runs_dir)!r}]\nmain()"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "matplotlib" in done.stderr and "pip install 'kmlp[plots]'" in done.stderr


@pytest.mark.parametrize("argv", [["runs"], ["compare", "synth"], ["plot", "synth"]])
def test_looking_back_imports_no_backend(runs_dir, tmp_path, argv):
    code = (
        "import sys\nfrom kmlp.cli import main\n"
        f"sys.argv = ['kmlp', *{argv!r}, '--dir', {str(runs_dir)!r}, '--json']\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert exit.code in (0, None), exit.code"
    )
    assert not modules_after(code) & BACKEND_MODULES


def test_no_color_is_respected(runs_dir):
    colour = re.compile(r"\x1b\[[0-9;]*(3[0-7]|38;[0-9;]+|9[0-7])m")
    env = {"FORCE_COLOR": "1", "TERM": "xterm-256color"}
    coloured = subprocess.run(
        [sys.executable, "-m", "kmlp", "runs", "--dir", str(runs_dir)],
        capture_output=True, text=True, env={k: v for k, v in {**os.environ, **env}.items() if k != "NO_COLOR"},
    )  # fmt: skip
    assert colour.search(coloured.stdout)  # the check below can fail
    plain = kmlp("runs", "--dir", str(runs_dir), env={**env, "NO_COLOR": "1"})
    assert plain.returncode == 0 and not colour.search(plain.stdout)


#: Commands that print no table, so they need no --json.
NO_TABLE = {"validate", "cp", "init"}


def test_every_command_that_prints_a_table_has_json():
    from kmlp.cli import app

    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert {"recipes", "runs", "compare", "plot", "sweep"} <= names
    for name in sorted(names - NO_TABLE):
        assert "--json" in kmlp(name, "--help").stdout, name


@pytest.mark.parametrize("name", ["run", "sweep"])
def test_commands_that_print_progress_have_quiet(name):
    assert "--quiet" in kmlp(name, "--help").stdout
