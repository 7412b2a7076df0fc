"""Training that goes wrong: a NaN loss, running out of memory, any other error. The run is marked failed with the
error recorded, the last good checkpoint is kept, the message says what to try, and the exit code is 1."""

from __future__ import annotations

import json

import pytest
from conftest import BACKEND
from inprocess import invoke
from rich.console import Console

from kmlp.errors import EXIT_RUN_FAILED, RunFailed
from kmlp.recipe.resolve import load
from kmlp.runtime.backend import BackendChoice


def _train(path, callbacks=(), *overrides):
    from kmlp.train import run as training

    # One step per call, so the callbacks below see every batch (JAX and TensorFlow default to 16 per call).
    recipe = load(path, ["training.epochs=3", "training.steps_per_execution=1", *overrides])
    return training.train(
        recipe, BackendChoice(BACKEND, "test"), "cpu:0", Console(quiet=True), quiet=True, callbacks=callbacks
    )


def _in_epoch_2(action):
    """A Keras callback that does ``action(model)`` at the third batch of the second epoch: after a checkpoint."""
    import keras

    class InEpoch2(keras.callbacks.Callback):
        epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 1 and batch == 2:
                action(self.model)

    return InEpoch2()


def _only_run(tmp_path):
    (run,) = (tmp_path / "runs" / "synth").iterdir()
    return run, json.loads((run / "status.json").read_text())


def _poison(model):
    import keras
    import numpy as np

    kernel = model.layers[-1].kernel
    kernel.assign(keras.ops.full(kernel.shape, np.nan))


def test_nan_loss_stops_at_once_says_where_and_keeps_the_last_good_checkpoint(write_recipe, tmp_path):
    with pytest.raises(RunFailed) as caught:
        _train(write_recipe(), [_in_epoch_2(_poison)])
    assert caught.value.exit_code == EXIT_RUN_FAILED == 1
    assert caught.value.message.startswith("loss became nan at epoch 2, step 3; training stopped")
    assert "learning_rate" in caught.value.hint and "checkpoint of epoch 1 is kept" in caught.value.hint
    run, status = _only_run(tmp_path)
    assert status["state"] == "failed" and "epoch 2, step 3" in status["error"] and status["epochs_finished"] == 1
    assert sorted(p.name for p in (run / "checkpoint").iterdir()) == ["epoch-1"]
    assert not (run / "model.keras").exists() and not (run / "metrics.json").exists()


def test_nan_through_the_cli_exits_1(write_recipe, tmp_path):
    done = invoke("run", str(write_recipe()), "optimizer.name=sgd", "optimizer.learning_rate=1e30", "--quiet")
    assert done.returncode == 1, done.stderr
    assert "error: loss became" in done.stderr and "at epoch 1, step" in done.stderr and "Traceback" not in done.stderr
    assert _only_run(tmp_path)[1]["state"] == "failed"


@pytest.mark.parametrize(
    "error",
    [MemoryError(), RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")],
    ids=["MemoryError", "cuda-oom"],
)
def test_out_of_memory_is_a_failed_run_with_what_to_try(write_recipe, tmp_path, error):
    def allocate(model):
        raise error

    with pytest.raises(RunFailed) as caught:
        _train(write_recipe(), [_in_epoch_2(allocate)])
    assert caught.value.message.startswith("training ran out of memory")
    assert "training.batch_size" in caught.value.hint and "--device cpu" in caught.value.hint
    run, status = _only_run(tmp_path)
    assert status["state"] == "failed" and status["error"].startswith(type(error).__name__)
    assert f"kmlp resume {run}" in caught.value.hint and status["epochs_finished"] == 1
    assert type(error).__name__ in (run / "traceback.txt").read_text()


def test_any_other_error_is_recorded_and_the_run_resumes_once_it_is_gone(write_recipe, tmp_path):
    def crash(model):
        raise RuntimeError("something broke")

    with pytest.raises(RunFailed) as caught:
        _train(write_recipe(), [_in_epoch_2(crash)])
    run, status = _only_run(tmp_path)
    assert caught.value.message == "training failed: RuntimeError: something broke"
    assert str(run / "traceback.txt") in caught.value.hint
    assert status["state"] == "failed" and status["error"] == "RuntimeError: something broke"
    done = invoke("resume", str(run), "--quiet")
    assert done.returncode == 0, done.stderr
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "completed" and (run / "model.keras").exists()
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 3


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    from kmlp.runs.folder import atomic_write, atomic_write_text

    target = tmp_path / "metrics.json"
    atomic_write_text(target, "old\n")

    def crash_half_way(tmp):
        tmp.write_text("half of the ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, crash_half_way)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_half_written_checkpoint_is_ignored(tmp_path):
    """A kill while checkpoint N+1 is written leaves its temporary folder; the run resumes from checkpoint N."""
    import keras
    import numpy as np

    from kmlp.train import checkpoint

    def model():
        inputs = keras.Input((3,))
        built = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dropout(0.5)(inputs)))
        built.compile(optimizer="adam", loss="mse")
        return built

    first = model()
    first.fit(np.ones((8, 3)), np.zeros((8, 2)), epochs=1, verbose=0)
    checkpoint.save(first, tmp_path, 1, BACKEND)
    (tmp_path / ".epoch-2.partial").mkdir()
    (tmp_path / ".epoch-2.partial" / "model.weights.h5").write_bytes(b"half")
    assert checkpoint.latest(tmp_path) == (1, tmp_path / "epoch-1")
    second = model()
    finished, _ = checkpoint.restore(second, tmp_path)
    assert finished == 1
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(second.optimizer.iterations) == int(first.optimizer.iterations) == 1
    for a, b in zip(checkpoint.random_variables(first), checkpoint.random_variables(second), strict=True):  # seeds
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def _signal_after(monkeypatch, module, name):
    """Wrap ``module.name`` so SIGINT reaches this process right after it returns, as a Ctrl-C could."""
    import os
    import signal

    original = getattr(module, name)

    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(module, name, wrapped)


def test_ctrl_c_just_after_the_folder_says_running_still_marks_it_interrupted(write_recipe, tmp_path, monkeypatch):
    from kmlp.train import run as training
    from kmlp.train.signals import Interrupted

    _signal_after(monkeypatch, training, "_open_run")  # before fit: the window a sweep's Ctrl-C hit
    with pytest.raises(Interrupted) as caught:
        _train(write_recipe())
    assert caught.value.exit_code == 130 and "no epoch had finished" in caught.value.message
    run, status = _only_run(tmp_path)
    assert status["state"] == "interrupted" and status["signal"] == "SIGINT" and status["epochs_finished"] == 0
    assert f"kmlp resume {run}" in caught.value.hint


def test_ctrl_c_once_training_is_over_lets_the_run_finish_saving(write_recipe, tmp_path, monkeypatch):
    from kmlp.runs import confusion

    _signal_after(monkeypatch, confusion, "save")  # between evaluation and saving the model
    result = _train(write_recipe())
    run, status = _only_run(tmp_path)
    assert status["state"] == "completed" and (run / "model.keras").exists() and result.run.path == run


def test_an_error_after_training_is_a_failed_run_that_resume_finishes(write_recipe, tmp_path, monkeypatch):
    from kmlp.runs import confusion

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(confusion, "save", broken)
    with pytest.raises(RunFailed):
        _train(write_recipe())
    run, status = _only_run(tmp_path)
    assert status["state"] == "failed" and status["error"].startswith("OSError") and status["epochs_finished"] == 3
    monkeypatch.undo()
    done = invoke("resume", str(run), "--quiet")
    assert done.returncode == 0, done.stderr
    assert json.loads((run / "status.json").read_text())["state"] == "completed" and (run / "model.keras").exists()
