"""Data-parallel training on the engines Keras already supports, one per backend.

- JAX: ``keras.distribution.DataParallel`` over a mesh of the local devices. Variables are replicated on every
  device and each batch is split across them; XLA inserts the gradient all-reduce.
- TensorFlow: ``tf.distribute.MirroredStrategy``. ``keras.distribution`` is silently ignored on TensorFlow in
  Keras 3.15, so the model is built and compiled inside the strategy's scope instead (Keras then distributes
  the data and scales the loss per replica itself).
- PyTorch: Keras 3.15 has no distribution support for torch (DDP would need kmlp's own training loop), so a
  data-parallel recipe is refused before anything starts.

The batch size stays global: each of N devices gets ``batch_size / N`` examples per step, so a run computes
the same mean gradient per step on one device or on N. Besides :mod:`kmlp.backend`, this is the only module
that names a framework; training calls :func:`start` and builds its model inside :meth:`Distribution.scope`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kmlp.errors import KmlpError

SUPPORTED_BACKENDS = ("jax", "tensorflow")


def check_supported(backend: str, settings: Mapping[str, Any]) -> None:
    """Refuse a data-parallel recipe on a backend without an engine for it; call before anything is imported."""
    if settings["strategy"] != "none" and backend not in SUPPORTED_BACKENDS:
        raise KmlpError(
            f'distribution.strategy = "{settings["strategy"]}" is not supported on the {backend} backend '
            "(Keras 3.15 has no distribution engine for PyTorch)",
            f"data-parallel training runs on {' and '.join(SUPPORTED_BACKENDS)}: use --backend jax or "
            '--backend tensorflow, or set distribution.strategy = "none"',
        )


def host_devices(settings: Mapping[str, Any]) -> int:
    """How many devices to split the CPU into, should the run be on the CPU (see ``kmlp.backend.activate``)."""
    return (settings["devices"] or 1) if settings["strategy"] == "data_parallel" else 1


@dataclass(frozen=True)
class Distribution:
    """How a run spreads over devices; ``devices`` is empty for an ordinary single-device run."""

    strategy: str = "none"
    devices: tuple[str, ...] = ()
    #: JAX splits every batch into equal parts, so batch sizes must be multiples of this (see ``ArrayBatches``).
    batch_multiple: int = 1
    scope: Callable[[], contextlib.AbstractContextManager[Any]] = field(default=contextlib.nullcontext)
    #: Where one variable's value lives: the devices of its replicas (or shards).
    placement: Callable[[Any], set[str]] = field(default=lambda variable: set())

    def describe(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "devices": list(self.devices)}

    def check(self, variables: list[Any]) -> dict[str, int]:
        """Assert that every variable is on every device (a silently single-device run is a bug, not a slowdown).

        Returns how many variables were checked and on how many devices each lives, for the run's record.
        """
        if not self.devices:
            return {}
        expected = len(self.devices)
        misplaced = [v.path for v in variables if len(self.placement(v)) != expected]
        if misplaced:
            raise RuntimeError(f"variables not replicated on all {expected} devices: {misplaced}")
        return {"variables_checked": len(variables), "replicas_per_variable": expected}


def start(backend: str, settings: Mapping[str, Any], batch_size: int) -> Distribution:
    """Set up the recipe's ``[distribution]`` on ``backend``; keras must already be imported on it."""
    check_supported(backend, settings)
    if backend == "jax":
        import keras

        keras.distribution.set_distribution(None)  # a process-wide setting: never inherit a previous run's
    if settings["strategy"] == "none":
        return Distribution()
    if backend == "jax":
        return _start_jax(settings["devices"], batch_size)
    return _start_tensorflow(settings["devices"], batch_size)


def _choose(backend: str, available: list[str], wanted: int | None, batch_size: int) -> list[str]:
    count = wanted or len(available)
    if count > len(available):
        raise KmlpError(
            f"distribution.devices = {count}, but the {backend} backend sees {len(available)} device(s): "
            f"{', '.join(available)}",
            "lower distribution.devices or leave it unset to use every device (a CPU is split into "
            "virtual devices only when kmlp starts the backend itself)",
        )
    if batch_size % count:
        raise KmlpError(
            f"training.batch_size = {batch_size} cannot be split evenly over {count} devices",
            f"the batch size is global: use a multiple of {count}",
        )
    return available[:count]


def _start_jax(wanted: int | None, batch_size: int) -> Distribution:
    import jax
    import keras

    devices = _choose("jax", keras.distribution.list_devices(), wanted, batch_size)
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))

    def placement(variable: Any) -> set[str]:
        value = variable.value
        return {str(d) for d in value.sharding.device_set} if isinstance(value, jax.Array) else set()

    return Distribution("data_parallel", tuple(devices), batch_multiple=len(devices), placement=placement)


def _start_tensorflow(wanted: int | None, batch_size: int) -> Distribution:
    import tensorflow as tf

    logical = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    names = [f"{d.device_type.lower()}:{d.name.rsplit(':', 1)[-1]}" for d in logical]
    chosen = _choose("tensorflow", names, wanted, batch_size)
    strategy = tf.distribute.MirroredStrategy([d.name for d in logical[: len(chosen)]])

    def placement(variable: Any) -> set[str]:
        value = variable.value
        if isinstance(value, tf.distribute.DistributedValues):
            return {replica.device for replica in value.values}
        return set()

    return Distribution("data_parallel", tuple(chosen), scope=strategy.scope, placement=placement)
