"""Callbacks every run installs: the epoch that orders the training data, and the NaN guard."""

from __future__ import annotations

import keras
import numpy as np

from kmlp.train.batches import ArrayBatches, StreamBatches


class EpochOrder(keras.callbacks.Callback):
    """Tell the training batches which epoch starts, so their order depends on the epoch alone."""

    def __init__(self, batches: ArrayBatches | StreamBatches) -> None:
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)


class StopOnNaN(keras.callbacks.TerminateOnNaN):
    """``TerminateOnNaN`` that remembers where the loss went bad, for the run's error message."""

    async_safe = True  # checked off the training thread, so no step waits for its loss (see RichProgress)

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0
        self.bad_step: tuple[int, int, float] | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            # Run off the training thread, this can see a later step before fit stops: report the first.
            self.bad_step = self.bad_step or (self.epoch + 1, batch + 1, float(loss))
            self.model.stop_training = True
