"""`train.refit`: let the validation split choose the epoch count, then train again on train + validation.

The usual last step when held-out data is scarce. In MovieLens leave-one-out each user gives up one
interaction for validation and one for testing; putting the validation item back into training lifts
GMF's test HR@10 by about 2 points (BENCHMARKS.md). The validation run only decides *how long* to
train; a fresh model (same seed) then trains that many epochs on all the training data, and the test
split is scored once, on that model. Keras has no callback for a second `fit` on different data, so
`train()` calls this phase after its own `fit`.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import keras
import numpy as np

from kzoo.config import ConfigError
from kzoo.tasks import get_task
from kzoo.training import callbacks as kzoo_callbacks
from kzoo.training.cluster import ReadOnlyBackupAndRestore, WorkerRole
from kzoo.training.run_dir import write_json

_SUPPORTED = ("recommendation", "image_classification", "text_classification")


def check_refit(config: dict) -> None:
    """Raise ConfigError when `train.refit` is on but the config has no validation split to choose with."""
    if not config["train"].get("refit"):
        return
    task, data = config["task"], config["data"]
    if task not in _SUPPORTED:
        raise ConfigError(f"train.refit is not supported for task {task!r} (supported: {', '.join(_SUPPORTED)})")
    has_val = bool(data.get("validation", True)) if task == "recommendation" else float(data.get("val_fraction", 0)) > 0
    if not has_val:
        key = "data.validation" if task == "recommendation" else "data.val_fraction"
        raise ConfigError(f"train.refit needs a validation split to choose the epoch count: set {key} "
                          "(true / above 0) or turn train.refit off")


def refit_config(config: dict, epochs: int) -> dict:
    """Return a copy of `config` that trains `epochs` epochs on train + validation, without early stopping."""
    refit = copy.deepcopy(config)
    if refit["task"] == "recommendation":
        refit["data"]["validation"] = False
    else:
        refit["data"]["val_fraction"] = 0.0
    refit["train"]["epochs"] = int(epochs)
    refit["train"]["early_stopping_patience"] = 0
    return refit


class RefitPhase:
    """The second training phase of a `train.refit` run (see the module docstring)."""

    def __init__(self, config: dict, role: WorkerRole, run_dir: Path, write_dir: Path, data: str,
                 data_dir: str | None, seed: int, jit_compile: bool, verbose: int):
        self.config, self.role, self.run_dir, self.write_dir = config, role, run_dir, write_dir
        self.data, self.data_dir, self.seed = data, data_dir, seed
        self.jit_compile, self.verbose = jit_compile, verbose

    def select_epochs(self, history: dict, record: Path) -> dict:
        """Return `{"monitor", "epochs", "best_value"}` from the validation history, saved to `record`.

        A resumed run reads `record` instead, so a run killed during the refit keeps its choice. Only
        the chief writes it (every worker computes the same choice from the same history).
        """
        if record.is_file():
            return json.loads(record.read_text(encoding="utf-8"))
        task = get_task(self.config["task"])
        scores = history.get(task.monitor)
        if not scores:
            raise ConfigError(f"train.refit: the run logged no {task.monitor!r} to choose the epoch count from")
        best = int(np.argmax(scores) if task.mode == "max" else np.argmin(scores))
        choice = {"monitor": task.monitor, "epochs": best + 1, "best_value": float(scores[best])}
        if self.role.is_chief:
            write_json(choice, record)
        return choice

    def fit(self, dist, preprocessor, wrap_model, epochs: int) -> tuple[keras.Model, float]:
        """Train a fresh model for `epochs` epochs on train + validation; return it and the seconds taken."""
        from kzoo.compression import hooks as compression
        from kzoo.training.run import build_for_fit, load_worker_data

        config = refit_config(self.config, epochs)
        bundle = load_worker_data(config, self.role, self.data, self.data_dir, self.seed, preprocessor)
        print(f"kzoo: refit on train + validation for {epochs} epochs {bundle.sizes}", flush=True)
        steps_per_epoch = int(bundle.train.cardinality().numpy())
        net, fit_model = build_for_fit(config, dist, steps_per_epoch, self.jit_compile, wrap_model)
        backup = keras.callbacks.BackupAndRestore if self.role.is_chief else ReadOnlyBackupAndRestore
        callbacks = [
            backup(str(self.run_dir / "refit_backup")),
            kzoo_callbacks.TerminateOnNaNWithAdvice(float(config["train"].get("learning_rate", 0)) or None),
            keras.callbacks.CSVLogger(str(self.write_dir / "refit_history.csv"), append=True),
        ]
        train = bundle.train
        if hasattr(dist, "prepare_train"):  # JAX backend
            train = dist.prepare_train(train)
            callbacks = dist.callbacks() + callbacks
        total_steps = steps_per_epoch * epochs if steps_per_epoch > 0 else None
        callbacks += compression.callbacks(net, config, total_steps)
        started = time.perf_counter()
        fit_model.fit(train, epochs=epochs, callbacks=callbacks, verbose=1 if self.verbose == 1 else 0, shuffle=False)
        return net, time.perf_counter() - started
