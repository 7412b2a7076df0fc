"""``kmlp run`` and ``kmlp resume``: validate the recipe, apply backend and device, then train, evaluate and save."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kmlp.cli import app
from kmlp.cli.completion import recipe_names
from kmlp.cli.options import Backend, Device, Json, Overrides, Quiet
from kmlp.cli.startup import Started, start_backend
from kmlp.console import metrics_table, out, print_json
from kmlp.errors import KmlpError
from kmlp.recipe.resolve import load
from kmlp.recipe.schema import Recipe
from kmlp.runs.folder import RunDir
from kmlp.runs.records import resumable
from kmlp.runtime import distribution as distribute
from kmlp.runtime.backend import BackendChoice

if TYPE_CHECKING:
    from kmlp.train.run import RunResult


@app.command()
def run(
    recipe: Annotated[
        str | None,
        typer.Argument(
            help="The recipe file (.toml), or a built-in recipe's name (`kmlp recipes`).",
            show_default=False,
            autocompletion=recipe_names,
        ),
    ] = None,
    assignments: Annotated[
        list[str] | None, typer.Argument(help="Overrides as key=value, same as --set.", show_default=False)
    ] = None,
    overrides: Overrides = None,
    backend: Backend = None,
    device: Device = None,
    resume_dir: Annotated[
        str | None,
        typer.Option(
            "--resume", help="Continue this interrupted run folder instead (same as `kmlp resume`).", show_default=False
        ),
    ] = None,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Train, evaluate and save the model a recipe describes, in a new run folder."""
    if resume_dir is not None:
        if recipe is not None or overrides or assignments:
            raise KmlpError(
                "--resume continues a run with the recipe saved in its folder; it takes no recipe or overrides",
                f"kmlp run --resume {resume_dir}  (or start a new run with the recipe)",
            )
        _resume(resume_dir, backend, device, quiet, as_json)
        return
    if recipe is None:
        raise KmlpError("missing the recipe to run", "kmlp run RECIPE.toml, or kmlp run --resume RUN_FOLDER")
    resolved = load(recipe, [*(overrides or []), *(assignments or [])])
    _train(resolved, backend, device, quiet, as_json, subject=f"recipe {resolved.name}")


@app.command()
def resume(
    run_dir: Annotated[str, typer.Argument(help="The run folder to continue.", show_default=False)],
    backend: Backend = None,
    device: Device = None,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Continue an interrupted, crashed or failed run in its own folder, from its last finished epoch."""
    _resume(run_dir, backend, device, quiet, as_json)


def _resume(run_dir: str, backend: str | None, device: str | None, quiet: bool, as_json: bool) -> None:
    run_folder = RunDir(resumable(Path(run_dir)))
    resolved = load(run_folder.recipe_file)
    saved_backend = resolved["runtime"]["backend"]
    if backend is not None and saved_backend and backend != saved_backend:
        raise KmlpError(
            f"the run in {run_folder.path} trained on {saved_backend}; resuming on {backend} would not continue it "
            "exactly",
            f"resume with --backend {saved_backend}, or start a new run of its recipe.toml",
        )
    fixed = BackendChoice(saved_backend, f"the run's {run_folder.recipe_file.name}") if saved_backend else None
    _train(
        resolved, backend, device, quiet, as_json, subject=f"resume {run_folder.path}", fixed=fixed, resume=run_folder
    )


def _train(
    resolved: Recipe,
    backend: str | None,
    device: str | None,
    quiet: bool,
    as_json: bool,
    *,
    subject: str,
    fixed: BackendChoice | None = None,
    resume: RunDir | None = None,
) -> None:
    """Start the backend the recipe's distribution allows, then train (or continue ``resume``) and report."""
    quiet = quiet or as_json
    started = start_backend(
        backend,
        device,
        resolved["runtime"],
        subject=subject,
        quiet=quiet,
        host_devices=distribute.host_devices(resolved["distribution"]),
        check=lambda name: distribute.check_supported(name, resolved["distribution"]),
        fixed=fixed,
    )
    from kmlp.train.run import train  # imports keras: only now that the backend is fixed

    result = train(resolved, started.choice, started.device, out, quiet=quiet, resume=resume)
    _report(result, started, as_json)


def _report(result: RunResult, started: Started, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "run": str(result.run.path),
                "backend": started.choice.name,
                "device": started.device,
                "test": result.test_metrics,
                "train_seconds": result.train_seconds,
            }
        )
        return
    out.print(metrics_table(result.test_metrics, title=f"test metrics  ({result.run.path})"))
