"""Compute threads: the environment that caps a fresh process, and pinning a framework already loaded."""

from __future__ import annotations

import os


def thread_env(threads: int) -> dict[str, str]:
    """Environment that caps a fresh process at ``threads`` compute threads (set before the framework loads).

    OpenMP/MKL/OpenBLAS pools read their variables once; TensorFlow reads ``TF_NUM_*_THREADS``. XLA's CPU
    client (JAX) has no working thread-count setting: measured, it used both cores of this machine even with
    ``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``; so compare backends at all cores.
    """
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads))
    return env


def pin_threads(backend: str, threads: int) -> str:
    """Apply ``threads`` to the framework already loaded in this process; return how, for benchmark output."""
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
        return f"torch.set_num_threads({threads}), OMP/MKL_NUM_THREADS={threads}"
    if backend == "tensorflow":
        import tensorflow as tf

        if tf.config.threading.get_intra_op_parallelism_threads() != threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        return f"TF intra/inter-op threads {threads}, OMP/MKL_NUM_THREADS={threads}"
    return f"JAX/XLA: all {os.cpu_count()} cores (XLA has no thread setting), OMP/MKL_NUM_THREADS={threads}"
