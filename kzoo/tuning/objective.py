"""One trial: a kzoo training with the trial's values, scored on validation, pruned from its per-epoch metric.

The training is `kzoo.training.train` in this process with `test=False` (the test split is dropped
unread), `export=False` and `train.refit` off (a refit would train on the validation split the trial
is scored on). Optuna's `KerasPruningCallback` (optuna-integration) reports the task's monitor
(`val_accuracy`, `val_hr@10`, ...) after every epoch and stops the fit when the pruner says so. A
run that diverges (`TrainingDiverged`) is recorded as a failed trial, never as the best; one
interrupted by Ctrl-C is failed too (`status: interrupted`, not counted) and queued to run again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import socket
import time
from pathlib import Path
from typing import Any, Mapping

import optuna
from optuna_integration import KerasPruningCallback

from kzoo.errors import TrainingDiverged
from kzoo.plugin import RunPlugin
from kzoo.train_request import TrainRequest
from kzoo.tuning.space import suggest


@dataclasses.dataclass(frozen=True)
class TrialSetup:
    """What every trial of a study shares: the request it starts from, the space, where runs go.

    `train` names the entry by its canonical name, its `overrides` a dict of dotted keys.
    """

    train: TrainRequest
    space: Mapping[str, Mapping]
    monitor: str
    mode: str
    trials_dir: str


class _FinitePruningCallback(KerasPruningCallback):
    """Optuna's Keras pruning callback, silent on an epoch whose loss is not finite: the trainer's
    NaN stop ends that run and records it as diverged (a failed trial, not a pruned one). The last
    epoch of the fit is reported but never pruned: its cost is spent, and pruning it would only drop
    a finished trial's result (transformer_cls's 2-epoch trials were "pruned" after both epochs)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return
        if epoch + 1 >= (self.params or {}).get("epochs", math.inf):
            value = (logs or {}).get(self._monitor)
            if value is not None:
                self._trial.report(float(value), step=epoch)
            return
        super().on_epoch_end(epoch, logs)


class PruneTrial(RunPlugin):
    """The run plug-in that hands every `fit` of a trial the pruning callback on the task's monitor."""

    def __init__(self, trial: optuna.Trial, monitor: str):
        self.trial, self.monitor = trial, monitor

    def callbacks(self, net, config, total_steps):
        return [_FinitePruningCallback(self.trial, self.monitor)]


def worker_id() -> str:
    """`host:pid` of this process, recorded on its trials (a killed local trial is found by it)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def trial_overrides(setup: TrialSetup, values: Mapping[str, Any]) -> dict:
    """The dotted overrides of a trial: the study's `--set`s, the trial's values, `train.refit` off."""
    return {**setup.train.overrides, **values, "train.refit": False}


def best_value(scores: list, mode: str) -> float:
    """The best per-epoch validation value (`mode` max or min) among the finite ones; NaN when none is."""
    finite = [float(s) for s in scores if math.isfinite(float(s))]
    if not finite:
        return float("nan")
    return max(finite) if mode == "max" else min(finite)


def run_trial(trial: optuna.Trial, setup: TrialSetup) -> float:
    """Train the entry with the trial's values; return its best validation value.

    Raises `optuna.TrialPruned` when the pruner stops it; returns NaN (Optuna records a failed trial)
    when it diverges. The run directory is `trials_dir/<number>`, its output (stdout and stderr) in `<number>.log`; the
    trial's user attributes say its status, seconds, epochs, run directory and worker.
    """
    from kzoo.training import train  # TensorFlow: loaded in the worker, not when the study is opened

    import keras

    values = suggest(trial, setup.space)
    run_dir = Path(setup.trials_dir) / f"{trial.number:04d}"
    trial.set_user_attr("worker", worker_id())
    trial.set_user_attr("run_dir", str(run_dir))
    started = time.perf_counter()
    status, reason = "finished", None
    try:
        with open(run_dir.with_suffix(".log"), "a", encoding="utf-8") as log, contextlib.redirect_stdout(log), \
                contextlib.redirect_stderr(log):
            request = dataclasses.replace(setup.train, overrides=trial_overrides(setup, values), output=str(run_dir),
                                          export=False, test=False, verbose=2)
            metrics = train(request, plugins=[PruneTrial(trial, setup.monitor)])
        value = best_value(metrics["history"].get(setup.monitor, []), setup.mode)
        trial.set_user_attr("epochs", int(metrics["epochs_run"]))
        if math.isnan(value):
            status, reason = "failed", f"the run logged no finite {setup.monitor}"
        return value
    except optuna.TrialPruned:
        status = "pruned"
        raise
    except KeyboardInterrupt:
        # Ctrl-C: the trial is failed (not counted) and its values queued again, so the same command
        # continues the study with it (a trial's run directory is not resumed on its own).
        status = "interrupted"
        trial.study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        raise
    except TrainingDiverged as err:
        status, reason = "diverged", str(err)
        return float("nan")
    finally:
        trial.set_user_attr("status", status)
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 2))
        if reason:
            trial.set_user_attr("reason", reason)
        keras.backend.clear_session()  # the next trial builds its model in a fresh graph
