"""Callbacks kzoo adds to Keras's own: a NaN stop that explains itself, throughput, the run's remaining
time, and a checkpoint and a backup that replace their files whole (a kill or a full disk never leaves
only half a file)."""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from pathlib import Path

import h5py
import keras

from kzoo import progress
from kzoo.errors import RunDirError
from kzoo.finite import nonfinite_weights
from kzoo.presets.files import sha256
from kzoo.run_dir import RunDir, write_atomically

BACKUP_METADATA = "training_metadata.json"  # the name Keras 3.15's BackupAndRestore uses
KERAS_BACKUP_WEIGHTS = "latest.weights.h5"  # the weights of a backup Keras's own callback wrote


class TerminateOnNaNWithAdvice(keras.callbacks.Callback):
    """Stop training when the loss is NaN/inf and say which epoch and what to try.

    Keras's TerminateOnNaN only prints the batch; users need the epoch and a next step. It also
    keeps `first_loss`, the loss of the run's first batch (epoch 1, before any update counts): the
    reference `kzoo.training.divergence.loss_growth` compares the last epoch with (None when the fit
    resumed past epoch 1).
    """

    def __init__(self, learning_rate: float | None = None):
        super().__init__()
        self.learning_rate = learning_rate
        self.epoch = 0
        self.message = None
        self.first_loss = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and self.first_loss is None and self.epoch == 0 and batch == 0:
            self.first_loss = float(loss)
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


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that replaces its file whole (`write_atomically`): a crash or full disk keeps the last good one.

    A failed write ends `fit` with a one-line RunDirError naming the file. Weights that are not all
    finite are never written (the best so far stays, and so does its score): a diverged run's error
    messages point users at `best.keras`, which must then hold a usable model.
    """

    def _save_model(self, epoch, batch, logs):
        # Keras 3.15's `ModelCheckpoint._save_model` decides with `_should_save_model` (which also updates
        # `self.best`), then saves in place with `self.model.save(filepath, overwrite=True)`.
        filepath = Path(self._get_file_path(epoch, batch, logs))
        best = self.best
        if not self._should_save_model(epoch, batch, logs, str(filepath)):
            return
        bad = nonfinite_weights(self.model)
        if bad:
            self.best = best  # a later finite epoch is compared with the last one written
            print(f"kzoo: {filepath.name} not written after epoch {epoch + 1}: weights not finite ({bad[0]}"
                  f"{' ...' if len(bad) > 1 else ''})", file=sys.stderr, flush=True)
            return
        filepath.parent.mkdir(parents=True, exist_ok=True)
        save = self.model.save_weights if self.save_weights_only else self.model.save
        write_atomically(filepath, lambda tmp: save(tmp, overwrite=True))


def read_backup(directory: str | Path) -> dict | None:
    """The training state a `SafeBackupAndRestore` saved in `directory`: `{"epoch", "batch", "weights"}`.

    None when there is none (a new run, or one killed before its first backup was complete). A damaged
    backup (metadata that is not JSON or names no epoch, weights missing or not a whole HDF5 file)
    raises RunDirError with a one-line hint: the run cannot continue from its last finished epoch.
    """
    directory = Path(directory)
    metadata = directory / BACKUP_METADATA
    if not metadata.is_file():
        return None
    try:
        state = json.loads(metadata.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _damaged(directory, f"{metadata.name} is not JSON: {err}") from None
    epoch = state.get("epoch") if isinstance(state, dict) else None
    weights = state.get("weights", KERAS_BACKUP_WEIGHTS) if isinstance(state, dict) else None
    if not isinstance(epoch, int) or epoch < 0 or not isinstance(weights, str) or Path(weights).name != weights:
        raise _damaged(directory, f"{metadata.name} holds {json.dumps(state)[:100]}, not an epoch and a weights file")
    try:
        with h5py.File(directory / weights, "r"):
            pass
    except OSError as err:
        raise _damaged(directory, f"{weights}: {err}") from None
    # Bytes changed inside a whole HDF5 file load without complaint, as garbage weights: the digest
    # written with the backup catches them (backups written before it was recorded are not checked).
    if "sha256" in state and sha256(directory / weights) != state["sha256"]:
        raise _damaged(directory, f"{weights} does not match the sha256 recorded when it was written")
    return {"epoch": epoch, "batch": state.get("batch", 0), "weights": directory / weights}


def _damaged(directory: Path, reason: str) -> RunDirError:
    best = RunDir(directory.parent).best_file
    fallback = f", or use {best} (the best epoch so far)" if best.is_file() else ""
    return RunDirError(f"cannot resume: the backup in {directory} is damaged ({reason}), so the last finished epoch "
                       f"is lost; start again with a new --output{fallback}")


class SafeBackupAndRestore(keras.callbacks.BackupAndRestore):
    """BackupAndRestore whose backup is replaced whole: a kill during a backup write keeps the previous backup.

    Keras 3.15's callback overwrites `latest.weights.h5` in place and then `training_metadata.json`, so a
    kill during the write leaves a truncated file (or weights ahead of their epoch) and nothing to resume
    from. Here each backup's weights go to a file of their own (through a temporary name), then the
    metadata naming them replaces the previous metadata in one rename, the commit; only then are the
    previous weights removed. Restoring loads what the metadata names (`read_backup`).
    """

    def _save_model(self):
        directory = Path(self.backup_dir)
        directory.mkdir(parents=True, exist_ok=True)
        # `_current_epoch` and `_last_batch_seen` are what Keras 3.15's `_save_model` records.
        state = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        weights = f"epoch{state['epoch']}-batch{state['batch']}.weights.h5"
        write_atomically(directory / weights, lambda tmp: self.model.save_weights(tmp, overwrite=True))
        state.update(weights=weights, sha256=sha256(directory / weights))
        write_atomically(directory / BACKUP_METADATA, lambda tmp: tmp.write_text(json.dumps(state), encoding="utf-8"))
        for path in directory.iterdir():  # the previous backup's weights, and what a killed write left
            if path.is_file() and path.name not in (weights, BACKUP_METADATA):
                path.unlink(missing_ok=True)

    def _load_model(self):
        state = read_backup(self.backup_dir)
        if state is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)  # so its weights load too, as Keras 3.15 does
        # An HDF5 file that opens but is garbage inside fails here, after Keras warned about each part it
        # skipped: those warnings are kept only when the load succeeds (the one-line error says it all).
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                self.model.load_weights(state["weights"])
            except (OSError, ValueError, KeyError, TypeError) as err:
                reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise _damaged(Path(self.backup_dir), f"{state['weights'].name}: {reason}") from None
        for warning in caught:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        # Keras 3.15's fit starts at `model._initial_epoch` when set (backend/<backend>/trainer.py).
        self.model._initial_epoch = state["epoch"]


class RunTimeEstimate(keras.callbacks.Callback):
    """One line per epoch with the run's remaining time: `kzoo: epoch 2/5 done; about 3 min left`.

    Remaining epochs × the mean epoch time (the first epoch, which traces and fills caches, left out
    once there are others) + the test, estimated from the validation pass's time per example, + with
    `refit`, the refit (at most as many epochs as this fit runs, each about as long) + `extra_seconds`.
    The line is printed when the next epoch begins (or training ends), after Keras's own epoch line;
    `label` names the epochs ("refit epoch" for the refit's own fit).
    """

    def __init__(self, epochs: int, test_examples: int | None = None, val_examples: int | None = None,
                 refit: bool = False, label: str = "epoch", extra_seconds: float = 0.0):
        super().__init__()
        self.epochs, self.test_examples, self.val_examples = epochs, test_examples, val_examples
        self.refit, self.label, self.extra_seconds = refit, label, extra_seconds
        self.epoch_seconds: list[float] = []
        self.val_seconds = None
        self._done = None
        self._start = self._val_start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._report(finished=False)
        self._start = time.perf_counter()

    def on_test_begin(self, logs=None):
        self._val_start = time.perf_counter()

    def on_test_end(self, logs=None):
        if self._val_start is not None:
            self.val_seconds = time.perf_counter() - self._val_start

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._start)
        self._done = epoch + 1

    def on_train_end(self, logs=None):
        self._report(finished=True)

    def test_seconds(self) -> float:
        """The test's estimated time: the validation pass's time per example × the test examples (0: unknown)."""
        if self.val_seconds and self.val_examples and self.test_examples:
            return self.val_seconds * self.test_examples / self.val_examples
        return 0.0

    def remaining_seconds(self, finished: bool = False) -> float:
        """Seconds the run still needs: the epochs left (none once `fit` ended), the refit and the test."""
        timed = self.epoch_seconds[1:] or self.epoch_seconds
        mean = sum(timed) / len(timed)
        epochs_left = 0 if finished else max(self.epochs - self._done, 0)
        # The refit trains the epoch count validation chose: at most the epochs this fit runs.
        refit_epochs = (self._done if finished else self.epochs) if self.refit else 0
        return (epochs_left + refit_epochs) * mean + self.test_seconds() + self.extra_seconds

    def _report(self, finished: bool) -> None:
        if self._done is None:
            return
        left = self.remaining_seconds(finished)
        last = finished or self._done >= self.epochs
        then = ("the refit next" if self.refit else  # no test: test=False
                "testing next" if self.test_examples is not None else "training done")
        estimate = then if last and left < 1 else f"about {progress.format_seconds(max(left, 1), rough=True)} left"
        if self.refit and not (last and left < 1):
            estimate += " (the refit and the test included)" if self.test_examples else " (the refit included)"
        print(f"kzoo: {self.label} {self._done}/{self.epochs} done; {estimate}", file=sys.stderr, flush=True)
        self._done = None
