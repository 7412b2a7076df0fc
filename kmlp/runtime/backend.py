"""Choose the backend and device, and apply them before keras is imported.

With :mod:`kmlp.runtime.seeding`, :mod:`kmlp.runtime.threads` and :mod:`kmlp.runtime.distribution`, this is where
kmlp names TensorFlow, PyTorch or JAX; nothing outside ``kmlp/runtime`` does. Keras fixes its backend the moment it
is first imported, so the CLI calls :func:`activate` before anything imports keras.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from kmlp.errors import KmlpError, did_you_mean

BACKENDS: tuple[str, ...] = ("jax", "tensorflow", "torch")
#: Distributions that provide each backend's framework, in the order their version is reported.
_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "jax": ("jax",),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"),
    "torch": ("torch",),
}
_GPU_BUILDS: dict[str, str] = {
    "jax": "the CUDA build of JAX: pip install 'jax[cuda12]'",
    "tensorflow": "TensorFlow with CUDA: pip install 'tensorflow[and-cuda]'",
    "torch": "a CUDA build of PyTorch (see https://pytorch.org/get-started/locally/)",
}


@dataclass(frozen=True)
class BackendChoice:
    """The backend a command will use, and where that choice came from (printed and recorded)."""

    name: str
    source: str


@dataclass(frozen=True)
class DeviceRequest:
    """``auto``, ``cpu``, ``gpu`` or ``gpu:N``, as given by ``--device`` or ``runtime.device``."""

    kind: str
    index: int | None = None

    def __str__(self) -> str:
        return self.kind if self.index is None else f"{self.kind}:{self.index}"


def keras_config_backend() -> tuple[str, str]:
    """The backend Keras would pick on its own: ``keras.json`` under ``$KERAS_HOME`` (or ``~/.keras``), else TF.

    Mirrors ``keras/src/backend/config.py`` so the choice is known without importing keras.
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    path = Path(home) / "keras.json"
    try:
        configured = json.loads(path.read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        configured = None
    if isinstance(configured, str) and configured:
        return configured, str(path)
    return "tensorflow", "Keras's default"


def choose_backend(cli: str | None = None, recipe: str | None = None) -> BackendChoice:
    """Precedence: ``--backend`` > ``KERAS_BACKEND`` > the recipe's ``runtime.backend`` > Keras's own default."""
    candidates = (
        (cli, "--backend"),
        (os.environ.get("KERAS_BACKEND") or None, "KERAS_BACKEND"),
        (recipe, "runtime.backend in the recipe"),
    )
    name, source = next(((n, s) for n, s in candidates if n), keras_config_backend())
    check_backend_name(name, source)
    return BackendChoice(name, source)


def check_backend_name(name: str, source: str = "--backend") -> None:
    if name not in BACKENDS:
        suggestion = did_you_mean(name, BACKENDS)
        raise KmlpError(
            f"unknown backend {name!r} (from {source})",
            f"{suggestion + ' ' if suggestion else ''}choose one of: {', '.join(BACKENDS)}",
        )


def installed_distribution(backend: str) -> tuple[str, str] | None:
    """The distribution and version that provide ``backend``'s framework, from metadata alone (no import)."""
    for dist in _DISTRIBUTIONS[backend]:
        try:
            return dist, version(dist)
        except PackageNotFoundError:
            continue
    return None


def installed_version(backend: str) -> str | None:
    found = installed_distribution(backend)
    return found[1] if found else None


def is_installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


def require_installed(backend: str) -> None:
    if not is_installed(backend):
        raise KmlpError(
            f"the {backend} backend is not installed",
            f"install it with: pip install 'kmlp[{backend}]' (or pick another backend with --backend)",
        )


def parse_device(text: str) -> DeviceRequest:
    kind, sep, index = text.strip().lower().partition(":")
    if kind in ("auto", "cpu") and not sep:
        return DeviceRequest(kind)
    if kind == "gpu" and not sep:
        return DeviceRequest("gpu")
    if kind == "gpu" and index.isdigit():
        return DeviceRequest("gpu", int(index))
    raise KmlpError(f"invalid device {text!r}", "use auto, cpu, gpu or gpu:N (N is the GPU's index)")


def apply(backend: str, device: DeviceRequest, host_devices: int = 1) -> None:
    """Set the environment that makes keras and the framework start on ``backend`` and ``device``.

    ``host_devices > 1`` makes JAX show the CPU as that many devices (TensorFlow is split in :func:`activate`);
    XLA reads the flag once, when JAX starts.
    """
    if "keras" in sys.modules:
        loaded = sys.modules["keras"].backend.backend()
        if loaded != backend:
            raise RuntimeError(f"keras was imported with backend {loaded!r} before kmlp could select {backend!r}")
    changes = {"KERAS_BACKEND": backend}
    if device.kind == "cpu":
        changes.update(CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu", KERAS_TORCH_DEVICE="cpu")
    elif device.kind == "gpu" and device.index is not None:
        changes["CUDA_VISIBLE_DEVICES"] = _select_gpu(device.index)
    if backend == "jax" and host_devices > 1:
        changes["XLA_FLAGS"] = _with_host_device_count(os.environ.get("XLA_FLAGS", ""), host_devices)
    os.environ.update(changes)  # only once every check has passed
    if backend == "jax":
        # XLA's compiled programs kept on disk: the next run skips compiling the weight initialisers (seconds on
        # a small CPU, before the first step) and the train step (most of the first epoch). A user's own
        # JAX_COMPILATION_CACHE_DIR wins.
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(cache_dir() / "jax"))
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ start-up chatter buries kmlp's output
    if device.kind == "gpu":
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX would take 75 % of the GPU


def cache_dir() -> Path:
    """Where kmlp keeps caches: ``$KMLP_CACHE_DIR``, else ``$XDG_CACHE_HOME/kmlp`` (default ``~/.cache/kmlp``)."""
    if os.environ.get("KMLP_CACHE_DIR"):
        return Path(os.environ["KMLP_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kmlp"


def _select_gpu(index: int) -> str:
    """``CUDA_VISIBLE_DEVICES`` for GPU ``index``, counted within any list the user already set."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        ids = [i for i in visible.split(",") if i.strip()]
        if index >= len(ids):
            raise KmlpError(
                f"--device gpu:{index}: only {len(ids)} GPU(s) are visible (CUDA_VISIBLE_DEVICES={visible})",
                f"use an index below {len(ids)}",
            )
        return ids[index].strip()
    return str(index)


def _with_host_device_count(flags: str, count: int) -> str:
    """``XLA_FLAGS`` with the host (CPU) device count set to ``count``, other flags kept."""
    kept = [f for f in flags.split() if not f.startswith("--xla_force_host_platform_device_count=")]
    return " ".join([*kept, f"--xla_force_host_platform_device_count={count}"])


def framework_devices(backend: str) -> list[str]:
    """The devices the framework sees, as ``cpu:0``/``gpu:0 (name)``; imports the framework, not keras."""
    if backend == "jax":
        import jax

        return [f"{'gpu' if d.platform in ('gpu', 'cuda', 'rocm') else d.platform}:{d.id}" for d in jax.devices()]
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return [*(f"gpu:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())), "cpu:0"]
        # Keras's torch backend prefers Apple's GPU (mps) over the CPU unless KERAS_TORCH_DEVICE says otherwise.
        mps = torch.backends.mps.is_available() and os.environ.get("KERAS_TORCH_DEVICE") != "cpu"
        return ["gpu:0 (mps)", "cpu:0"] if mps else ["cpu:0"]
    import tensorflow as tf

    return [f"{d.device_type.lower()}:{d.name.rsplit(':', 1)[-1]}" for d in tf.config.list_physical_devices()]


def activate(backend: str, device: DeviceRequest, host_devices: int = 1) -> str:
    """Apply backend and device, import keras, and return the device training will use.

    ``gpu`` when the framework sees none is an error, never a silent CPU run. ``host_devices > 1`` splits the
    CPU into that many devices when the run is on the CPU (for data-parallel runs on a machine without GPUs).
    """
    require_installed(backend)
    apply(backend, device, host_devices)
    seen = framework_devices(backend)
    gpus = [d for d in seen if d.startswith("gpu")]
    if device.kind == "gpu" and not gpus:
        raise KmlpError(
            f"--device {device}: the {backend} backend sees no GPU (it sees: {', '.join(seen)}; "
            f"{_installed_build(backend)})",
            f"run on a machine with a GPU and install {_GPU_BUILDS[backend]}, or use --device cpu",
        )
    if backend == "tensorflow":
        _configure_tensorflow(hide_gpus=device.kind == "cpu" and bool(gpus), host_devices=host_devices)
    import keras

    assert keras.backend.backend() == backend, "keras picked another backend than kmlp applied"
    return gpus[0] if gpus and device.kind != "cpu" else "cpu:0"


def _installed_build(backend: str) -> str:
    """``installed: torch 2.13.0+cpu``: often the reason a GPU is not seen."""
    dist, found = installed_distribution(backend) or (backend, "(version unknown)")
    return f"installed: {dist} {found}"


def _configure_tensorflow(*, hide_gpus: bool, host_devices: int) -> None:
    """What TensorFlow takes from configuration rather than the environment, set before its runtime starts.

    ``CUDA_VISIBLE_DEVICES`` hides CUDA GPUs only; ``set_visible_devices`` hides any GPU (ROCm, Metal). The CPU
    is split into logical devices (what ``MirroredStrategy`` replicates over) when it is what the run uses.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    try:
        if hide_gpus:
            tf.config.set_visible_devices([], "GPU")
        if host_devices > 1 and (hide_gpus or not gpus):
            (cpu,) = tf.config.list_physical_devices("CPU")
            current = tf.config.get_logical_device_configuration(cpu) or [None]
            if len(current) != host_devices:
                tf.config.set_logical_device_configuration(
                    cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(host_devices)]
                )
    except RuntimeError as exc:  # TensorFlow's runtime already started in this process
        raise KmlpError(
            f"cannot configure TensorFlow's devices: {exc}",
            "device settings apply to a fresh process: run through the kmlp command",
        ) from exc
