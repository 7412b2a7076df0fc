"""PNG plots drawn with matplotlib's headless Agg backend, from the files a run wrote (no keras needed).

- ``curves.png`` in a run folder: one panel per metric, train and validation over epochs, the best validation
  epoch marked and the test result as a dotted line.
- ``confusion_matrix.png`` in a run folder: test-set counts, true class down, predicted class across.
- an overlay of several runs (``kmlp plot``): one colour per run, solid train and dashed validation lines.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kmlp.runs.confusion import FILE_NAME as CONFUSION_FILE
from kmlp.runtime.extras import require
from kmlp.runs.records import RunRecord, lower_is_better
from kmlp.runs.folder import atomic_write

CURVES_FILE = "curves.png"
CONFUSION_PLOT = "confusion_matrix.png"
_PANEL = (5.2, 3.9)
_DPI = 120


def _pyplot():
    require("plots")
    import matplotlib

    matplotlib.use("Agg")  # headless: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    return plt


def draw_run(path: Path, *, overwrite: bool = False) -> list[Path]:
    """Draw a run's ``curves.png`` and (for classifiers) ``confusion_matrix.png``; return the files written.

    Existing plots are kept unless ``overwrite``: a run folder is not rewritten behind the user's back.
    """
    record = RunRecord.read(path)
    written = []
    curves = path / CURVES_FILE
    if record.history and (overwrite or not curves.exists()):
        _save(draw_curves([record], title=_run_title(record)), curves)
        written.append(curves)
    matrix_file = path / CONFUSION_FILE
    picture = path / CONFUSION_PLOT
    if matrix_file.exists() and (overwrite or not picture.exists()):
        data = json.loads(matrix_file.read_text(encoding="utf-8"))
        _save(draw_confusion(data, title=f"Confusion matrix: {_run_title(record)}"), picture)
        written.append(picture)
    return written


def draw_overlay(records: list[RunRecord], output: Path, metrics: list[str] | None = None) -> Path:
    """One figure with the curves of every run in ``records``, written to ``output``."""
    names = {r.name for r in records}
    title = f"{next(iter(names))}: {len(records)} runs" if len(names) == 1 else f"{len(records)} runs"
    output.parent.mkdir(parents=True, exist_ok=True)
    _save(draw_curves(records, title=title, metrics=metrics), output)
    return output


def draw_curves(records: list[RunRecord], *, title: str, metrics: list[str] | None = None) -> Any:
    """A figure with one panel per metric (``loss``, ``accuracy``, ...): train solid, validation dashed."""
    plt = _pyplot()
    from matplotlib.lines import Line2D

    bases = metrics or _metric_names(records)
    single = len(records) == 1
    labels = run_labels(records)
    columns = min(len(bases), 3)
    rows = -(-len(bases) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(_PANEL[0] * columns, _PANEL[1] * rows), squeeze=False)
    for axis, base in zip(axes.flat, bases, strict=False):
        for index, (record, label) in enumerate(zip(records, labels, strict=True)):
            colour = f"C{index % 10}"
            for split, key in (("train", base), ("validation", f"val_{base}")):
                values = record.history.get(key)
                if not values:
                    continue
                epochs = range(1, len(values) + 1)
                if single:
                    style = {"color": "C0" if split == "train" else "C1", "label": split}
                else:
                    style = {"color": colour, "linestyle": "-" if split == "train" else "--", "label": None}
                    if split == "train" or base not in record.history:
                        test = record.test.get(base)
                        style["label"] = label + (f" (test {test:.4f})" if test is not None else "")
                axis.plot(epochs, values, marker="o" if len(values) <= 30 else None, markersize=3, **style)
                if single and split == "validation":
                    best = record.best(key)
                    axis.plot(best["epoch"], best["value"], "*", color="C1", markersize=12, label="best validation")
            if single and base in record.test:
                axis.axhline(record.test[base], color="C2", linestyle=":", label=f"test {record.test[base]:.4f}")
        axis.set_title(base + (" (lower is better)" if lower_is_better(base) else ""))
        axis.set_xlabel("epoch")
        axis.set_ylabel(base)
        axis.xaxis.get_major_locator().set_params(integer=True)
        axis.grid(alpha=0.3)
        handles, _ = axis.get_legend_handles_labels()
        if not single:  # one colour per run; the line style tells train from validation
            handles += [
                Line2D([], [], color="grey", linestyle="-", label="train"),
                Line2D([], [], color="grey", linestyle="--", label="validation"),
            ]
        axis.legend(handles=handles, fontsize="small")
    for axis in list(axes.flat)[len(bases) :]:
        axis.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def draw_confusion(data: dict[str, Any], *, title: str) -> Any:
    """A heat map of test-set counts with the numbers written in each cell (for up to 20 classes)."""
    plt = _pyplot()
    import numpy as np

    matrix = np.asarray(data["matrix"])
    labels = data["labels"]
    size = max(4.5, 0.55 * len(labels) + 2.5)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="test examples")
    ticks = range(len(labels))
    axis.set_xticks(ticks, labels, rotation=45 if max(map(len, labels)) > 3 else 0, ha="right")
    axis.set_yticks(ticks, labels)
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    if len(labels) <= 20:
        threshold = matrix.max() / 2
        for (row, column), count in np.ndenumerate(matrix):
            axis.text(
                column, row, str(count), ha="center", va="center", fontsize="small",
                color="white" if count > threshold else "black" if count else "silver",
            )  # fmt: skip
    axis.set_title(f"{title}\ntest accuracy {data.get('accuracy', float(np.trace(matrix) / matrix.sum())):.4f}")
    figure.tight_layout()
    return figure


def run_labels(records: list[RunRecord]) -> list[str]:
    """Short legend labels: only the parts (recipe, backend, folder) that tell the runs apart."""
    parts = [(r.name, r.backend or "?", r.path.name) for r in records]
    varying = [i for i in range(3) if len({p[i] for p in parts}) > 1]
    if not varying:
        return [r.id for r in records]
    if varying == [1, 2] or (varying == [2] and len({p[1] for p in parts}) == len(parts)):
        varying = [1]
    labels = [" · ".join(p[i] for i in varying) for p in parts]
    return labels if len(set(labels)) == len(labels) else [r.id for r in records]


def _metric_names(records: list[RunRecord]) -> list[str]:
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(k.removeprefix("val_") for k in record.history))
    ordered = sorted(names, key=lambda n: (n != "loss", n))
    return ordered


def _run_title(record: RunRecord) -> str:
    return f"{record.name} on {record.backend or '?'} ({record.path.name})"


def _save(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    try:
        atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=_DPI, format="png"))
    finally:
        plt.close(figure)


def default_output(root: Path) -> Path:
    """``<root>/plots/<timestamp>.png``: a new file each time, next to the runs."""
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(100):
        path = root / "plots" / (f"{stamp}.png" if not attempt else f"{stamp}-{attempt}.png")
        if not path.exists():
            return path
    return root / "plots" / f"{stamp}-{os.getpid()}.png"
