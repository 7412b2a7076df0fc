"""Backend choice and device setup: precedence, errors, and what is applied before keras is imported."""

from __future__ import annotations

import json
import os
import sys

import pytest
from conftest import BACKEND, kmlp

from kmlp.errors import KmlpError
from kmlp.runtime.backend import (
    DeviceRequest,
    apply,
    choose_backend,
    installed_distribution,
    keras_config_backend,
    parse_device,
)


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
        "import json, os; from kmlp.runtime.backend import apply, parse_device; "
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


# --- devices: what is applied, and which device is recorded -------------------------------------------------


def test_host_devices_flag_is_set_for_jax_and_keeps_other_xla_flags():
    from kmlp.runtime.backend import _with_host_device_count

    assert _with_host_device_count("", 2) == "--xla_force_host_platform_device_count=2"
    assert (
        _with_host_device_count("--xla_cpu_fast_math=false --xla_force_host_platform_device_count=8", 2)
        == "--xla_cpu_fast_math=false --xla_force_host_platform_device_count=2"
    )


@pytest.fixture
def restored_environ():
    """apply() writes the environment of this process; put it back afterwards."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


class _FakeDevice:
    def __init__(self, platform: str, id: int) -> None:
        self.platform, self.id = platform, id


@pytest.fixture
def two_fake_gpus(monkeypatch):
    """Make the framework under test report two GPUs (there are none here): the recorded-device logic is testable
    everywhere; a GPU machine checks the rest. Returns the calls made to hide GPUs from TensorFlow."""
    hidden: list[tuple] = []
    if BACKEND == "jax":
        import jax

        monkeypatch.setattr(jax, "devices", lambda *a: [_FakeDevice("gpu", 0), _FakeDevice("gpu", 1)])
    elif BACKEND == "torch":
        import torch

        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"Fake GPU {i}")
    else:
        import tensorflow as tf

        physical = [
            tf.config.PhysicalDevice("/physical_device:CPU:0", "CPU"),
            tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU"),
            tf.config.PhysicalDevice("/physical_device:GPU:1", "GPU"),
        ]
        monkeypatch.setattr(
            tf.config, "list_physical_devices", lambda kind=None: [d for d in physical if kind in (None, d.device_type)]
        )
        monkeypatch.setattr(tf.config, "set_visible_devices", lambda devices, kind=None: hidden.append((devices, kind)))
    return hidden


@pytest.mark.usefixtures("restored_environ")
def test_the_device_recorded_is_the_one_the_framework_uses(two_fake_gpus, monkeypatch):
    from kmlp.runtime.backend import activate

    first_gpu = "gpu:0 (Fake GPU 0)" if BACKEND == "torch" else "gpu:0"
    assert activate(BACKEND, DeviceRequest("auto")) == first_gpu
    assert activate(BACKEND, DeviceRequest("gpu")) == first_gpu
    assert two_fake_gpus == []
    assert activate(BACKEND, DeviceRequest("cpu")) == "cpu:0"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    if BACKEND == "tensorflow":  # CUDA_VISIBLE_DEVICES hides CUDA GPUs only; TF is also told directly
        assert two_fake_gpus == [([], "GPU")]
    if BACKEND == "torch":  # Keras's torch backend prefers Apple's GPU (mps) to the CPU unless told otherwise
        import torch

        from kmlp.runtime.backend import framework_devices

        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
        assert framework_devices("torch") == ["cpu:0"]  # --device cpu set KERAS_TORCH_DEVICE=cpu above
        del os.environ["KERAS_TORCH_DEVICE"]
        assert framework_devices("torch") == ["gpu:0 (mps)", "cpu:0"]
