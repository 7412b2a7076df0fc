"""Seeds and determinism: one seed repeats a run bit for bit, and a checkpoint carries the framework's random state.

Imports a framework only inside functions, after :func:`kmlp.runtime.backend.activate` has fixed the backend.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def seed_everything(backend: str, seed: int) -> None:
    """Seed Python, NumPy and the framework, which seeds Keras's initialisers and dropout in turn.

    ``keras.utils.set_random_seed`` does the same but imports TensorFlow whenever it is installed, which costs
    a JAX or PyTorch run seconds of start-up and hundreds of MB; so it is used on the TensorFlow backend only.
    """
    if backend == "tensorflow":
        import keras

        keras.utils.set_random_seed(seed)
        return
    import random

    import numpy as np

    random.seed(seed)  # Keras draws unseeded SeedGenerator seeds from Python's RNG
    np.random.seed(seed)
    if backend == "torch":
        import torch

        torch.manual_seed(seed)


def enable_determinism(backend: str) -> None:
    """Ask the framework for deterministic kernels, so one seed repeats a run bit for bit."""
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)


def global_rng_state(backend: str) -> dict[str, np.ndarray]:
    """The framework's global random state that training draws from, for a checkpoint.

    Only PyTorch has one: Keras's torch dropout without an explicit seed uses torch's global generator (the CPU
    one, or the CUDA one per GPU). JAX and TensorFlow draw from ``SeedGenerator`` variables in the model.
    """
    if backend != "torch":
        return {}
    import torch

    states = {"torch_cpu": torch.get_rng_state().numpy()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for index, state in enumerate(torch.cuda.get_rng_state_all()):
            states[f"torch_cuda_{index}"] = state.numpy()
    return states


def set_global_rng_state(backend: str, states: dict[str, np.ndarray]) -> None:
    """Restore what :func:`global_rng_state` returned."""
    if backend != "torch" or not states:
        return
    import torch

    torch.set_rng_state(torch.from_numpy(states["torch_cpu"].copy()))
    for name, state in states.items():
        if name.startswith("torch_cuda_"):
            torch.cuda.set_rng_state(torch.from_numpy(state.copy()), int(name.removeprefix("torch_cuda_")))
