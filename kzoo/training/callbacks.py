"""Callbacks kzoo adds to Keras's own: a NaN stop that explains itself, and throughput."""

from __future__ import annotations

import math
import sys
import time

import keras


class TerminateOnNaNWithAdvice(keras.callbacks.Callback):
    """Stop training when the loss is NaN/inf and say which epoch and what to try.

    Keras's TerminateOnNaN only prints the batch; users need the epoch and a next step.
    """

    def __init__(self, learning_rate: float | None = None):
        super().__init__()
        self.learning_rate = learning_rate
        self.epoch = 0
        self.message = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            lower = f" (it is {self.learning_rate:g}; try {self.learning_rate / 10:g})" if self.learning_rate else ""
            self.message = (
                f"loss became {float(loss)} in epoch {self.epoch + 1}, batch {batch}: training stopped. "
                f"Lower the learning rate with --set train.learning_rate=...{lower}, "
                "or set train.clipnorm."
            )
            print(self.message, file=sys.stderr)
            self.model.stop_training = True


class ThroughputTimer(keras.callbacks.Callback):
    """Measure wall time per epoch; throughput excludes the first epoch (tracing, cache fill)."""

    def __init__(self, examples_per_epoch: int):
        super().__init__()
        self.examples_per_epoch = examples_per_epoch
        self.epoch_seconds: list[float] = []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._start)

    @property
    def examples_per_sec(self) -> float | None:
        """Examples/s over the epochs after the first; the only epoch when there is just one."""
        timed = self.epoch_seconds[1:] or self.epoch_seconds
        if not timed:
            return None
        return self.examples_per_epoch * len(timed) / sum(timed)
