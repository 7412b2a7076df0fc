"""What a sweep found, read from its Optuna study: a row per trial, and ``best.toml``, the best trial's recipe."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from kmlp.errors import KmlpError
from kmlp.recipe.files import dump_toml
from kmlp.runs.folder import atomic_write_text
from kmlp.sweeps import space
from kmlp.sweeps.study import OUTCOME, Sweep, suggest_params


def trial_rows(study: optuna.Study, job: Sweep) -> list[dict[str, Any]]:
    dims = space.dimensions(job.settings)
    rows = []
    for trial in study.get_trials(deepcopy=False):
        state = trial.state.name.lower()
        outcome = trial.user_attrs.get(OUTCOME)
        if state == "fail":  # why: its run failed (counts), or it was stopped and queued again, or never ran
            state = outcome if outcome in ("failed", "surplus", "interrupted", "error") else "crashed"
        rows.append(
            {
                "trial": trial.number,
                "state": state,
                "value": trial.value if trial.values else None,
                "params": suggest_params(trial, dims),
                "epochs": trial.user_attrs.get("kmlp.epochs"),
                "test": trial.user_attrs.get("kmlp.test"),
                "run": trial.user_attrs.get("kmlp.run"),
                "error": trial.user_attrs.get("kmlp.error"),
                "duration_seconds": trial.duration.total_seconds() if trial.duration else None,
            }
        )
    return rows


def write_best(study: optuna.Study, job: Sweep) -> dict[str, Any] | None:
    """Write the best completed trial's resolved recipe to ``best.toml``, named and placed like the original."""
    completed = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if "kmlp.run" in t.user_attrs
    ]
    if not completed:
        return None
    best = study.best_trial
    run = Path(best.user_attrs["kmlp.run"])
    try:
        saved = tomllib.loads(best.user_attrs.get("kmlp.recipe") or (run / "recipe.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise KmlpError(f"cannot read the best trial's recipe ({run}): {exc}") from exc
    metric = job.settings["metric"]
    saved["recipe"]["name"] = job.recipe.name
    saved["recipe"]["description"] = f"best of sweep {job.study_name} (trial {best.number}): {metric} {best.value:.4f}"
    saved["output"]["dir"] = job.recipe["output"]["dir"]
    path = job.folder / "best.toml"
    header = (
        f"# Best trial of sweep {job.study_name!r}: trial {best.number}, {metric} = {best.value:.6g}.\n"
        f"# Its run folder: {run}\n# Written by `kmlp sweep`; `kmlp run {path}` trains it again.\n"
    )
    atomic_write_text(path, header + dump_toml(saved))
    params = suggest_params(best, space.dimensions(job.settings))
    return {"trial": best.number, "value": best.value, "params": params, "run": str(run), "recipe": str(path)}
