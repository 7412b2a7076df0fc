"""The recipe schema: its sections, their parameters and defaults, and the validated :class:`Recipe`.

``dataset``/``architecture`` take their keys from the named plugin and ``optimizer``/``loss`` from the catalog of
Keras classes; every other section has the fixed schema below. Nothing here imports keras.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kmlp.recipe.params import Param
from kmlp.runtime.backend import BACKENDS

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("none", "data_parallel")

#: Sections with a fixed schema. ``dataset``/``architecture`` take their keys from the named plugin and
#: ``optimizer``/``loss`` from the catalog of Keras classes (see ``NAMED_SECTIONS``).
SECTIONS: dict[str, dict[str, Param]] = {
    "recipe": {
        "name": Param(str, None, "Name of the run's folder under output.dir; defaults to the file's name."),
        "description": Param(str, "", "What this recipe is for."),
        "seed": Param(int, 0, "Seed for weights, shuffling and dropout; the same seed repeats a run.", ge=0),
        "requires": Param(
            list[str], [], 'Distributions the recipe needs (plugins), e.g. "kmlp-mixer>=0.1"; checked first.'
        ),
    },
    "training": {
        "epochs": Param(int, 10, "Passes over the training data.", ge=1),
        "batch_size": Param(int, 32, "Examples per step (global, across all devices).", ge=1),
        "validation_split": Param(
            float,
            0.0,
            "Fraction of train held out for validation when the dataset has no validation split.",
            ge=0,
            lt=1,
        ),
        "metrics": Param(list[str], ["accuracy"], "Metrics reported for train, validation and test."),
        "shuffle": Param(bool, True, "Reshuffle the training data every epoch (seeded)."),
        "jit_compile": Param(
            (bool, str),
            "auto",
            "Compile the train step (XLA / torch.compile); auto picks per backend.",
            choices=(True, False, "auto"),
        ),
        "steps_per_execution": Param(
            (int, str), "auto", "Train steps run per call into the backend; auto picks per backend."
        ),
    },
    "runtime": {
        "backend": Param(str, None, "Default backend; --backend and KERAS_BACKEND override it.", choices=BACKENDS),
        "device": Param(str, "auto", "auto, cpu, gpu or gpu:N; --device overrides it."),
        "precision": Param(str, "float32", "Dtype policy; mixed_* keeps the logits in float32.", choices=PRECISIONS),
        "deterministic": Param(bool, True, "Use deterministic kernels, so the same seed repeats a run exactly."),
    },
    "distribution": {
        "strategy": Param(
            str,
            "none",
            "data_parallel replicates the model on several devices and splits each batch across them.",
            choices=STRATEGIES,
        ),
        "devices": Param(
            int,
            None,
            "Devices for data_parallel (the first N the backend sees); unset: all. On a CPU-only run, N > 1 "
            "splits the CPU into N virtual devices.",
            ge=1,
        ),
    },
    "output": {
        "dir": Param(str, "runs", "Where run folders are created (relative to the working directory)."),
        "save_model": Param(bool, True, "Save the trained model as model.keras."),
    },
    "logging": {
        "plots": Param(bool, True, "Draw curves.png and confusion_matrix.png in the run folder (needs kmlp[plots])."),
        "tensorboard": Param(bool, False, "Write TensorBoard event files to <run>/tensorboard (kmlp[tensorboard])."),
        "mlflow": Param(bool, False, "Log params, per-epoch metrics and results to MLflow (kmlp[mlflow])."),
        "mlflow_tracking_uri": Param(
            str, None, "MLflow tracking URI (server or database); default sqlite:///<output.dir>/mlflow.db."
        ),
        "mlflow_experiment": Param(str, None, "MLflow experiment name; defaults to recipe.name."),
    },
}
#: Recipe switches that need an optional extra, checked when the recipe is validated.
EXTRA_SWITCHES = {"logging.tensorboard": "tensorboard", "logging.mlflow": "mlflow"}

#: Sections made of ``name`` plus the named thing's own parameters.
NAMED_SECTIONS = ("dataset", "architecture", "optimizer", "loss")
REQUIRED_SECTIONS = ("dataset", "architecture")
DEFAULT_NAMES = {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"}
SECTION_ORDER = (
    "recipe",
    "dataset",
    "architecture",
    "optimizer",
    "loss",
    "training",
    "runtime",
    "distribution",
    "output",
    "logging",
    "sweep",
)


@dataclass(frozen=True)
class Recipe:
    """A validated recipe with every default filled in: what a run uses and saves."""

    source: str
    sections: dict[str, dict[str, Any]]

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.sections[section]

    @property
    def name(self) -> str:
        return self.sections["recipe"]["name"]

    @property
    def seed(self) -> int:
        return self.sections["recipe"]["seed"]

    def params(self, section: str) -> dict[str, Any]:
        """A named section's set parameters without its ``name`` (the arguments of a Keras class)."""
        return {k: v for k, v in self.sections[section].items() if k != "name" and v is not None}

    def plugin_params(self, section: str) -> dict[str, Any]:
        """Every parameter of the dataset or architecture, unset ones as ``None``: the plugin contract."""
        return {k: v for k, v in self.sections[section].items() if k != "name"}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain data for TOML: unset (``None``) values are dropped, since TOML has no null."""
        return {
            section: {k: v for k, v in values.items() if v is not None} for section, values in self.sections.items()
        }
