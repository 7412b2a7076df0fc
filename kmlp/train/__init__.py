"""Training a recipe: ``run`` (the steps of a run, end to end), ``data`` and ``batches`` (loading and feeding the
dataset), ``model`` (building and compiling), ``callbacks``, ``checkpoint`` and ``signals`` (resumable, stoppable
training), ``outcome`` (a run's final status), ``progress`` (live output), ``logs`` (TensorBoard, MLflow, plots)
and ``environment`` (what a run records about the machine).

Every module here but ``data`` imports keras: import them only after the backend is fixed.
"""
