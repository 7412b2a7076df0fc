"""``kmlp sweep``: search a recipe's ``[sweep.space]`` with Optuna; every trial is a normal run folder.

The sweep's folder is ``<output.dir>/sweeps/<study name>/``: ``study.db`` (the Optuna study, unless
``--storage``), ``base.toml`` (the recipe every trial starts from), ``trial-NNNN/<run>/`` (each trial's run
folder), ``logs/`` (each trial process's output) and ``best.toml`` (the best trial's recipe, runnable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from kmlp.cli import app
from kmlp.cli.completion import recipe_names
from kmlp.cli.options import Backend, Device, Json, Overrides, Quiet
from kmlp.console import escape, out, print_json
from kmlp.errors import RunFailed
from kmlp.runtime.extras import require
from kmlp.sweeps.space import short


@app.command(rich_help_panel="Sweep")
def sweep(
    recipe: Annotated[
        str,
        typer.Argument(help="A recipe with a \\[sweep] section (file or built-in name).", autocompletion=recipe_names),
    ],
    assignments: Annotated[
        list[str] | None, typer.Argument(help="Overrides as key=value, same as --set.", show_default=False)
    ] = None,
    overrides: Overrides = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Trials run at once, each a process.")] = 1,
    trials: Annotated[
        int | None, typer.Option("--trials", "-n", min=1, help="Trials to finish (overrides sweep.trials).")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Optuna storage URL shared by every machine of the sweep, e.g. postgresql://user:pw@host/db; "
            "default: SQLite in the sweep's folder.",
            show_default=False,
        ),
    ] = None,
    backend: Backend = None,
    device: Device = None,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Search the recipe's \\[sweep.space] with Optuna. Rerun the same command to continue after a crash."""
    require("sweep")
    from kmlp.sweeps.results import trial_rows, write_best
    from kmlp.sweeps.runner import Runner
    from kmlp.sweeps.study import open_study, plan_sweep

    job = plan_sweep(
        recipe,
        [*(overrides or []), *(assignments or [])],
        storage=storage,
        trials=trials,
        workers=workers,
        backend=backend,
        device=device,
        console=out,
        quiet=quiet or as_json,
    )
    settings, name, folder = job.settings, job.study_name, job.folder
    study = open_study(job)
    if not job.quiet:
        out.print(
            f"sweep [bold]{name}[/]: {job.target} trials, {workers} at a time, {settings['sampler']} sampler, "
            f"{settings['direction'] if settings['direction'] != 'auto' else study.direction.name.lower()} "
            f"{settings['metric']}\nfolder {escape(str(folder))}\nstorage {escape(job.storage_url)}"
        )
    Runner(job, study).run()
    rows = trial_rows(study, job)
    best = write_best(study, job)
    if as_json:
        print_json({"study": name, "folder": str(folder), "storage": job.storage_url, "best": best, "trials": rows})
    else:
        out.print(trials_table(rows, settings["metric"], best, folder))
    if best and not as_json:
        out.print(
            f"best: trial {best['trial']}  {settings['metric']} {best['value']:.4f}\n"
            f"wrote {escape(best['recipe'])}  (run it with `kmlp run {escape(best['recipe'])}`)"
        )
    if not best:
        raise RunFailed("no trial completed", f"see the trial logs in {folder / 'logs'}")


def _relative(path: str, folder: Path) -> str:
    try:
        return Path(path).relative_to(folder).as_posix()
    except ValueError:
        return path


def trials_table(rows: list[dict[str, Any]], metric: str, best: dict[str, Any] | None, folder: Path) -> Table:
    table = Table(title="trials")
    keys = list(dict.fromkeys(k for row in rows for k in row["params"]))
    names = [k.rpartition(".")[2] for k in keys]
    headers = names if len(set(names)) == len(names) else keys  # learning_rate, not optimizer.learning_rate
    for column in ("trial", "state", metric, *headers, "epochs", "run"):
        table.add_column(escape(column), overflow="fold", justify="right" if column in ("trial", "epochs") else "left")
    for row in rows:
        star = best is not None and row["trial"] == best["trial"]
        table.add_row(
            f"{'* ' if star else ''}{row['trial']}",
            row["state"],
            "" if row["value"] is None else f"{row['value']:.4f}",
            *(escape(short(row["params"][k])) if k in row["params"] else "" for k in keys),
            "" if row["epochs"] is None else str(row["epochs"]),
            escape(_relative(row["run"], folder) if row["run"] else row.get("error") or ""),
            style="bold" if star else None,
        )
    return table
