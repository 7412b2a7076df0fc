"""The ``kmlp`` command line: a thin Typer layer over the recipe, registry, backend and training modules.

Nothing imported here imports keras: ``kmlp --help``, ``list`` and ``validate`` stay fast, and ``run`` can
apply ``--backend``/``--device`` before keras fixes its backend.
"""

from __future__ import annotations

import sys

import typer

from kmlp.console import print_error
from kmlp.errors import EXIT_INTERRUPTED, KmlpError

app = typer.Typer(
    name="kmlp",
    help="Train Keras 3 models from TOML recipes on TensorFlow, PyTorch or JAX.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Each module adds its commands to ``app``.
from kmlp.cli import bench, evaluate, info, lookup, plot, plugins, recipes, run, runs, sweep, validate  # noqa: E402, F401


def main() -> None:
    """Console-script entry point: user errors print one message and exit non-zero, never a traceback."""
    try:
        app()
    except KmlpError as error:
        print_error(error)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
