"""``kmlp bench`` and benchmarks/compare.py run end to end on the backend under test (tiny data, no timing checks)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import BACKEND, REPO, kmlp, run_json

from kmlp.runtime.backend import is_installed

TINY = """
[recipe]
name = "tiny_bench"
[dataset]
name = "synthetic"
train_samples = 256
test_samples = 64
input_shape = [16]
num_classes = 4
[architecture]
name = "mlp"
hidden_units = [16]
[training]
epochs = 2
batch_size = 32
"""


def test_bench_json_reports_each_figure(write_recipe, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    # An in-process run earlier in this test process fixed JAX's cache dir in os.environ; children would inherit it.
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    report = run_json(
        "bench", str(write_recipe(TINY)), "--backends", BACKEND, "--threads", "1", env={"KMLP_CACHE_DIR": str(cache)}
    )
    # JAX keeps its compiled programs there for the next run; other backends compile nothing to keep.
    assert any((cache / "jax").glob("*")) == (BACKEND == "jax")
    assert report["threads"] == 1 and report["missing"] == {}
    (row,) = report["results"]
    assert row["backend"] == BACKEND and len(row["rounds"]) == 1
    assert len(row["rounds"][0]["epoch_seconds"]) == 2
    assert row["first_epoch_seconds"] > 0 and row["samples_per_second"] > 0
    assert row["peak_rss_mb"] > row["rounds"][0]["baseline_rss_mb"] > 0
    assert 0 <= row["test_accuracy"] <= 1
    assert row["settings"]["batch_size"] == 32 and "1" in row["settings"]["threads"]
    assert isinstance(row["settings"]["jit_compile"], bool)


def test_bench_unknown_backend_is_a_user_error(write_recipe):
    done = kmlp("bench", str(write_recipe(TINY)), "--backends", f"{BACKEND},tensorflw")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "unknown backend 'tensorflw'" in done.stderr and "did you mean 'tensorflow'" in done.stderr


def test_compare_script_tiny_states_ratios():
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "compare.py"), "--tiny", "--backends", BACKEND, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert {f"keras {BACKEND}", f"kmlp {BACKEND}"} <= set(summary["rows"])
    ratios = summary["ratios"][BACKEND]
    assert ratios["vs_hand_keras"] > 0
    if is_installed("torch"):
        assert summary["rows"]["torch loop"]["samples_per_second"] > 0 and ratios["vs_torch_loop"] > 0
    else:
        assert "torch loop" in summary["missing"]
