"""The two references kmlp is measured against, each run as its own process by ``benchmarks/compare.py``.

    python benchmarks/references.py torch-loop RECIPE --threads 2 --epochs 3
    KERAS_BACKEND=jax python benchmarks/references.py hand-keras RECIPE --threads 2 --epochs 3

Both train the recipe's MLP (its input size, ``architecture.hidden_units``, class count, SGD learning rate and
batch size) on the recipe's dataset, loaded through kmlp's plugin registry so the data is the same. Everything
else is what a user writes by hand: (a) the classic PyTorch loop (``DataLoader(shuffle=True)``,
``zero_grad/backward/step``), (b) ``keras.Sequential`` + ``model.fit`` on arrays with default settings (silent,
``verbose=0``, which is cheaper than Keras's default progress bar). Each prints one JSON line, like
``python -m kmlp.bench``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time

import numpy as np

from kmlp.bench import memory_mb
from kmlp.plugins.registry import default_registry
from kmlp.recipe.resolve import load
from kmlp.recipe.schema import Recipe
from kmlp.runtime.threads import pin_threads


def _data(recipe: Recipe) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    plugin = default_registry().lookup("dataset", recipe["dataset"]["name"])
    data = plugin.spec.load(seed=recipe.seed, **recipe.plugin_params("dataset"))
    (x, y), (tx, ty) = data.train, data.test
    flat = int(np.prod(data.input_shape))
    return (
        np.asarray(x, np.float32).reshape(len(x), flat),
        np.asarray(y, np.int64),
        np.asarray(tx, np.float32).reshape(len(tx), flat),
        np.asarray(ty, np.int64),
        data.num_classes,
    )


def torch_loop(recipe: Recipe, epochs: int, threads: int) -> dict:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    pinned = pin_threads("torch", threads)
    baseline = memory_mb("VmRSS")
    torch.manual_seed(recipe.seed)
    x, y, tx, ty, classes = _data(recipe)
    batch = recipe["training"]["batch_size"]
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=batch, shuffle=True)
    widths = [x.shape[1], *recipe["architecture"]["hidden_units"]]
    layers: list[nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(widths):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(widths[-1], classes))
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe["optimizer"]["learning_rate"])
    loss_fn = nn.CrossEntropyLoss()
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - started)
    model.eval()
    with torch.no_grad():
        accuracy = float((model(torch.from_numpy(tx)).argmax(1) == torch.from_numpy(ty)).float().mean())
    return {
        "epoch_seconds": seconds,
        "samples": len(loader) * batch,
        "test_accuracy": accuracy,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": memory_mb(),
        "data_mb": (x.nbytes + y.nbytes + tx.nbytes + ty.nbytes) / 2**20,
        "settings": {"threads": pinned, "batch_size": batch},
    }


def hand_keras(recipe: Recipe, epochs: int, threads: int) -> dict:
    import keras

    from kmlp.train.progress import EpochTimer

    backend = keras.backend.backend()
    pinned = pin_threads(backend, threads)
    baseline = memory_mb("VmRSS")
    x, y, tx, ty, classes = _data(recipe)
    model = keras.Sequential(
        [
            keras.Input(shape=(x.shape[1],)),
            *(keras.layers.Dense(units, activation="relu") for units in recipe["architecture"]["hidden_units"]),
            keras.layers.Dense(classes),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=recipe["optimizer"]["learning_rate"]),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    timer = EpochTimer()
    batch = recipe["training"]["batch_size"]
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[timer])
    accuracy = model.evaluate(tx, ty, batch_size=batch, verbose=0, return_dict=True)["accuracy"]
    return {
        "epoch_seconds": timer.seconds,
        "samples": timer.steps * batch,
        "test_accuracy": float(accuracy),
        "baseline_rss_mb": baseline,
        "peak_rss_mb": memory_mb(),
        "data_mb": (x.nbytes + y.nbytes + tx.nbytes + ty.nbytes) / 2**20,
        "settings": {"jit_compile": bool(model.jit_compile), "steps_per_execution": 1, "threads": pinned},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=("torch-loop", "hand-keras"))
    parser.add_argument("recipe")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    recipe = load(args.recipe, args.overrides)
    run = torch_loop if args.which == "torch-loop" else hand_keras
    report = run(recipe, args.epochs, args.threads)
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
