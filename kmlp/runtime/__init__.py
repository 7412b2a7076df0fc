"""What a run runs on: ``backend`` (backend and device choice, applied before keras is imported), ``seeding``
(seeds, determinism, random state for checkpoints), ``threads``, ``distribution`` (data-parallel engines) and
``extras`` (optional packages). The only package of kmlp that names TensorFlow, PyTorch or JAX."""
