"""Backend choice and device setup: precedence, errors, and what is applied before keras is imported."""

from __future__ import annotations

import json
import os
import sys

import pytest
from conftest import BACKEND, kmlp

from kmlp.backend import (
    DeviceRequest,
    apply,
    choose_backend,
    installed_distribution,
    keras_config_backend,
    parse_device,
)
from kmlp.errors import KmlpError


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    return tmp_path / "keras-home"


def test_precedence_cli_then_env_then_recipe_then_keras(clean_env, monkeypatch):
    assert choose_backend() == choose_backend(None, None)
    assert choose_backend().name == "tensorflow" and choose_backend().source == "Keras's default"
    clean_env.mkdir()
    (clean_env / "keras.json").write_text(json.dumps({"backend": "torch"}))
    assert choose_backend().name == "torch" and choose_backend().source.endswith("keras.json")
    assert choose_backend(recipe="jax").name == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert choose_backend(recipe="jax").name == "tensorflow"
    assert choose_backend(recipe="jax").source == "KERAS_BACKEND"
    assert choose_backend("torch", recipe="jax").name == "torch"
    assert choose_backend("torch", recipe="jax").source == "--backend"


def test_empty_env_var_is_ignored_like_keras_does(clean_env, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "")
    assert choose_backend(recipe="jax").name == "jax"


def test_broken_keras_json_falls_back_to_tensorflow(clean_env):
    clean_env.mkdir()
    (clean_env / "keras.json").write_text("{not json")
    assert keras_config_backend() == ("tensorflow", "Keras's default")


@pytest.mark.parametrize(
    ("name", "hint"), [("jaxx", "did you mean 'jax'?"), ("pytorch", "choose one of: jax, tensorflow, torch")]
)
def test_unknown_backend_name(clean_env, name, hint):
    with pytest.raises(KmlpError) as caught:
        choose_backend(name)
    assert caught.value.message == f"unknown backend {name!r} (from --backend)"
    assert hint in caught.value.hint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auto", DeviceRequest("auto")),
        ("cpu", DeviceRequest("cpu")),
        ("GPU", DeviceRequest("gpu")),
        ("gpu:1", DeviceRequest("gpu", 1)),
    ],
)
def test_parse_device(text, expected):
    assert parse_device(text) == expected


@pytest.mark.parametrize("text", ["tpu", "gpu:x", "cpu:0", "gpu:-1", ""])
def test_bad_device(text):
    with pytest.raises(KmlpError, match="invalid device"):
        parse_device(text)


def _applied_env(device: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment apply() leaves behind, computed in a fresh process so this one is untouched."""
    import subprocess

    code = (
        "import json, os; from kmlp.backend import apply, parse_device; "
        f"apply('jax', parse_device({device!r})); "
        "print(json.dumps({k: os.environ.get(k) for k in ('KERAS_BACKEND', 'CUDA_VISIBLE_DEVICES', 'JAX_PLATFORMS', 'KERAS_TORCH_DEVICE')}))"
    )
    clean = {
        k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "JAX_PLATFORMS", "KERAS_TORCH_DEVICE")
    }
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**clean, **(env or {})})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_cpu_hides_gpus_from_every_framework():
    assert _applied_env("cpu") == {
        "KERAS_BACKEND": "jax",
        "CUDA_VISIBLE_DEVICES": "",
        "JAX_PLATFORMS": "cpu",
        "KERAS_TORCH_DEVICE": "cpu",
    }


def test_gpu_index_selects_within_visible_devices():
    assert _applied_env("gpu:1")["CUDA_VISIBLE_DEVICES"] == "1"
    assert _applied_env("gpu:1", {"CUDA_VISIBLE_DEVICES": "4,6"})["CUDA_VISIBLE_DEVICES"] == "6"


def test_gpu_index_out_of_range(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with pytest.raises(KmlpError, match=r"only 1 GPU\(s\) are visible"):
        apply(BACKEND, DeviceRequest("gpu", 2))


def test_apply_refuses_to_switch_an_already_imported_keras():
    import keras  # noqa: F401  (the test process's keras is on BACKEND)

    other = next(b for b in ("jax", "torch", "tensorflow") if b != BACKEND)
    with pytest.raises(RuntimeError, match="before kmlp could select"):
        apply(other, DeviceRequest("auto"))


# --- the same, end to end through the CLI ------------------------------------------------------------------


def test_backend_used_is_printed_and_recorded(write_recipe, tmp_path):
    path = write_recipe()
    done = kmlp("run", str(path), "--set", "training.epochs=1", "--backend", BACKEND, env={"KERAS_BACKEND": "not-used"})
    assert done.returncode == 0, done.stderr
    assert f"backend {BACKEND} (--backend)" in done.stdout
    (run,) = (tmp_path / "runs" / "synth").iterdir()
    environment = json.loads((run / "environment.json").read_text())
    assert environment["backend"] == BACKEND and environment["backend_source"] == "--backend"
    assert run.name.endswith(f"-{BACKEND}")


def test_env_var_selects_the_backend(write_recipe, tmp_path):
    done = kmlp("run", str(write_recipe()), "training.epochs=1", "--quiet", env={"KERAS_BACKEND": BACKEND})
    assert done.returncode == 0, done.stderr
    (run,) = (tmp_path / "runs" / "synth").iterdir()
    assert json.loads((run / "environment.json").read_text())["backend_source"] == "KERAS_BACKEND"


def test_gpu_without_a_gpu_is_a_clear_error_not_a_cpu_run(write_recipe, tmp_path):
    done = kmlp("run", str(write_recipe()), "--device", "gpu")
    assert done.returncode == 2
    dist, version = installed_distribution(BACKEND)
    assert (
        f"error: --device gpu: the {BACKEND} backend sees no GPU (it sees: cpu:0; installed: {dist} {version})"
        in done.stderr
    )
    assert "hint: run on a machine with a GPU and install" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()


def test_missing_backend_names_the_extra(write_recipe, tmp_path):
    """Block the framework's import (``sys.modules[name] = None``), as if it were not installed."""
    code = (
        "import sys\n"
        f"sys.modules[{BACKEND!r}] = None\n"
        "from kmlp.cli import main\n"
        f"sys.argv = ['kmlp', 'run', {str(write_recipe())!r}]\n"
        "main()\n"
    )
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"}
    )
    assert done.returncode == 2, done.stderr
    assert f"error: the {BACKEND} backend is not installed" in done.stderr
    assert f"install it with: pip install 'kmlp[{BACKEND}]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_backend_through_the_cli(write_recipe):
    done = kmlp("run", str(write_recipe()), "--backend", "jaxx")
    assert done.returncode == 2
    assert "error: unknown backend 'jaxx' (from --backend)" in done.stderr
