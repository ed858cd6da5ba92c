"""`train.refit`: let the validation split choose the epoch count, then train again on train + validation.

The usual last step when held-out data is scarce. In MovieLens leave-one-out each user gives up one
interaction for validation and one for testing; putting the validation item back into training lifts
GMF's test HR@10 by about 2 points (BENCHMARKS.md). The validation run only decides *how long* to
train; a fresh model (same seed) then trains that many epochs on all the training data, and the test
split is scored once, on that model. Keras has no callback for a second `fit` on different data, so
refit is a trainer plug-in with a phase of its own after `fit` (`Refit.after_fit`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kzoo.errors import ConfigError
from kzoo.plugin import RunPlugin
from kzoo.progress import format_seconds
from kzoo.run_config import RunConfig
from kzoo.run_dir import write_json
from kzoo.tasks import list_tasks
from kzoo.training import callbacks as kzoo_callbacks
from kzoo.training.history import read_history


def check_refit(config: RunConfig) -> None:
    """Raise ConfigError when `train.refit` is on but the config has no validation split to choose with."""
    if not config.train.refit:
        return
    task = config.task_object
    if task.validation_key is None:
        supported = list_tasks(lambda task: task.validation_key is not None)
        raise ConfigError(f"train.refit is not supported for task {task.name!r} (supported: {', '.join(supported)})")
    if not task.has_validation(config):
        raise ConfigError(f"train.refit needs a validation split to choose the epoch count: set {task.validation_key} "
                          "(true / above 0) or turn train.refit off")


def refit_config(config: RunConfig, epochs: int) -> RunConfig:
    """Return a copy of `config` that trains `epochs` epochs on train + validation, without early stopping."""
    return config.override({**config.task_object.without_validation(), "train.epochs": int(epochs),
                            "train.early_stopping_patience": 0})


def select_epochs(config: RunConfig, history: dict, record: Path, is_chief: bool = True) -> dict:
    """Return `{"monitor", "epochs", "best_value"}` from the validation history, saved to `record`.

    A resumed run reads `record` instead, so a run killed during the refit keeps its choice. Only
    the chief writes it (every worker computes the same choice from the same history).
    """
    if record.is_file():
        return json.loads(record.read_text(encoding="utf-8"))
    task = config.task_object
    scores = history.get(task.monitor)
    if not scores:
        raise ConfigError(f"train.refit: the run logged no {task.monitor!r} to choose the epoch count from")
    best = int(np.argmax(scores) if task.mode == "max" else np.argmin(scores))
    choice = {"monitor": task.monitor, "epochs": best + 1, "best_value": float(scores[best])}
    if is_chief:
        write_json(choice, record)
    return choice


class Refit(RunPlugin):
    """The refit phase of a `train.refit` run (see the module docstring)."""

    def check(self, config):
        check_refit(config)

    def on_data(self, bundle, config) -> None:
        """Say before training that the run trains twice (`train("mlp", epochs=2)` trains up to 2 + 2 epochs)."""
        if config.train.refit:
            epochs = config.train.epochs
            print(f"kzoo: train.refit is on: up to {epochs} epochs on train with validation choosing the best, then a "
                  f"fresh model trains that many epochs on train + validation (up to {2 * epochs} in all; "
                  "--set train.refit=false trains once)", flush=True)

    def after_fit(self, run) -> None:
        """Choose the epochs from the history, train a fresh model that long on train + validation.

        `run` (a `kzoo.plugin.RunView`) gives the data loader and the run's fit routine, and receives
        the refit model as `run.net`.
        """
        config = run.config
        if not config.train.refit:
            return
        run_dir, write_dir = run.run_dir, run.write_dir
        # The chief's record, read by every worker: a resumed refit skips the finished selection phase on all of them.
        choice = select_epochs(config, read_history(write_dir.history_file), run_dir.refit_record, run.is_chief)
        run.reseed()
        epochs = choice["epochs"]
        refit = refit_config(config, epochs)
        bundle = run.load_data(refit, run.bundle.preprocessor)
        print(f"kzoo: refit on train + validation for {epochs} epochs {bundle.sizes}", flush=True)
        first = run.estimate
        then = []
        if first is not None:  # the chief's: the time left, the test after the refit included
            then.append(kzoo_callbacks.RunTimeEstimate(epochs, first.test_examples, label="refit epoch",
                                                       extra_seconds=first.test_seconds()))
        net, seconds = run.fit_fresh(refit, bundle, run_dir.refit_backup_dir, write_dir.refit_history_file, then)
        print(f"kzoo: refit on train + validation: done in {format_seconds(seconds)}", flush=True)
        run.net, run.refit_info = net, {**choice, "train_seconds": round(seconds, 3)}
