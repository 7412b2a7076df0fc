"""Loading a trained model on any backend, safely.

A ``.keras`` file is backend-neutral, so a model trained on one backend is used on another here. Two rules:

- Loading never executes code from the file: Keras's safe mode refuses Python code (``Lambda`` layers), and the
  only code imported for custom layers is that of installed kmlp architecture plugins, never a module the
  file names.
- The saved compile settings were resolved by the backend that trained the model (``jit_compile=True`` on JAX
  would switch torch.compile on under torch): they are reset to the loading backend's own defaults.

Imports keras: used only after :func:`kmlp.runtime.backend.activate`.
"""

from __future__ import annotations

import importlib
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
from packaging.utils import canonicalize_name

from kmlp.errors import KmlpError
from kmlp.plugins.registry import Registry, default_registry
from kmlp.recipe import catalog


def load_model(path: Path | str, *, architecture: str | None = None, registry: Registry | None = None) -> keras.Model:
    """Load a ``.keras`` model in safe mode, compiled with the loading backend's defaults (for evaluate/predict:
    the optimizer's saved state is not restored).

    ``architecture``: the plugin the model was built with, imported first so that its custom layers are
    registered; it defaults to the one recorded in the run folder the model was saved in. Failing that,
    installed plugins whose name matches a custom layer's package are tried.
    """
    path = Path(path)
    config = _read_model_config(path)
    architecture = architecture or recorded_architecture(path)
    _register_custom_layers(path, config, architecture, registry or default_registry())
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras reports bad files with ValueError, TypeError, KeyError, OSError, ...
        raise _load_error(path, exc) from exc
    if not isinstance(model, keras.Model):
        raise KmlpError(f"{path} holds a {type(model).__name__}, not a model")
    if config.get("compile_config"):
        _compile_with_local_defaults(model, config["compile_config"])
    return model


def recorded_architecture(model_path: Path) -> str | None:
    """``distribution:name`` of the architecture a kmlp run recorded next to its model, if there is one."""
    try:
        recorded = json.loads((model_path.parent / "environment.json").read_text())["plugins"]["architecture"]
        return f"{recorded['distribution']}:{recorded['name']}"
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read_model_config(path: Path) -> dict[str, Any]:
    """The architecture stored in a ``.keras`` zip; anything else is a clear error before keras sees it."""
    if not path.is_file():
        raise KmlpError(f"model file {path} does not exist", "pass a run folder or a .keras file")
    if path.suffix != ".keras":
        raise KmlpError(
            f"{path} is not a .keras model file",
            "kmlp loads Keras 3 .keras files (what `kmlp run` saves as model.keras)",
        )
    try:
        with zipfile.ZipFile(path) as archive:
            text = archive.read("config.json")
        config = json.loads(text)
    except (zipfile.BadZipFile, OSError) as exc:
        raise KmlpError(f"{path} is not a .keras model file: {exc}", "it is damaged or not a Keras model") from exc
    except KeyError as exc:
        raise KmlpError(f"{path} is not a .keras model file: it has no config.json", "the file is damaged") from exc
    except ValueError as exc:
        raise KmlpError(f"{path} is damaged: its config.json is not JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise KmlpError(f"{path} is damaged: its config.json is not a model configuration")
    return config


def _registered_names(node: Any) -> Iterator[str]:
    """Every ``package>Class`` a saved config names: objects registered by code outside Keras."""
    if isinstance(node, dict):
        name = node.get("registered_name")
        if isinstance(name, str) and ">" in name:
            yield name
        for value in node.values():
            yield from _registered_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from _registered_names(value)


def _register_custom_layers(path: Path, config: dict[str, Any], architecture: str | None, registry: Registry) -> None:
    """Import the plugins that register the model's custom objects; name what to install when none does."""
    missing = sorted({n for n in _registered_names(config) if keras.saving.get_registered_object(n) is None})
    if not missing:
        return
    if architecture:
        _import_builder(registry, registry.lookup("architecture", architecture).entry)
    packages = {name.partition(">")[0] for name in missing}
    for entry in registry.entries("architecture"):
        module = entry.value.partition(":")[0].partition(".")[0]
        if {canonicalize_name(entry.distribution), canonicalize_name(module)} & {
            canonicalize_name(p) for p in packages
        }:
            _import_builder(registry, entry)
    missing = [n for n in missing if keras.saving.get_registered_object(n) is None]
    if missing:
        wanted = sorted({canonicalize_name(n.partition(">")[0]) for n in missing})
        raise KmlpError(
            f"{path} uses custom layers that no installed plugin provides: {', '.join(missing)}",
            f"install the plugin that defines them (package {', '.join(wanted)}): pip install {' '.join(wanted)}",
        )


def _import_builder(registry: Registry, entry: Any) -> None:
    """Import an architecture plugin's builder module: that is where it registers its custom layers."""
    plugin = registry.plugin(entry)
    builder = plugin.spec.builder if plugin.ok else None
    if isinstance(builder, str):
        importlib.import_module(builder.partition(":")[0])


def _load_error(path: Path, exc: Exception) -> KmlpError:
    text = str(exc)
    if "safe_mode" in text:
        return KmlpError(
            f"{path} contains Python code (a Lambda layer or function), which kmlp never runs on load: "
            "Keras's safe mode refused it",
            "rebuild the model from registered layers (an architecture plugin) instead of Lambda; "
            "a model file must not be able to execute code",
        )
    unknown = re.search(r"Could not locate (?:class|function) '([^']+)'", text)
    if unknown:
        return KmlpError(
            f"cannot load {path}: Could not locate class {unknown.group(1)!r} (a custom layer no installed code "
            "registers)",
            "the plugin that built the model must register it with @keras.saving.register_keras_serializable "
            "and be installed here",
        )
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return KmlpError(f"cannot load {path}: {first_line}", "the file is damaged or was not saved by Keras 3")


def _compile_with_local_defaults(model: keras.Model, saved: dict[str, Any]) -> None:
    """Compile with the saved loss and metrics, but ``jit_compile="auto"`` and one step per execution as
    resolved by *this* backend: the saved values were resolved by the backend that trained the model."""
    try:
        settings = keras.saving.deserialize_keras_object(saved)  # safe mode, as for the model
    except Exception as exc:
        raise _load_error(Path("the model's compile settings"), exc) from exc
    settings.update(jit_compile="auto", steps_per_execution=1)
    model.compile(**settings)


def label_encoding(model: keras.Model) -> str:
    """``sparse`` or ``one_hot``: how the model's compiled loss wants labels."""
    loss = model.loss
    name = loss if isinstance(loss, str) else re.sub(r"(?<!^)(?=[A-Z])", "_", type(loss).__name__).lower()
    info = catalog.LOSSES.get(name)
    return info.labels if info else "sparse"
