"""Sweeps: search a recipe's parameters with Optuna, one normal run folder per trial.

``space`` (the ``[sweep]`` recipe section; imports neither Optuna nor keras), ``study`` (the Optuna study and
the loop that runs trials in parallel processes), ``trial`` (the process that trains one trial).
"""
