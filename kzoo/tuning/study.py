"""`tune()`: open (or resume) a study, run its trials in K worker processes, report, optionally train the best.

The process that calls `tune` is worker 0; `workers - 1` more are started with multiprocessing's
`spawn` (no fork of a process that has loaded TensorFlow) and share the study through its storage,
as other machines do through a database URL. Each worker runs Optuna's TPE sampler (its own seed,
`constant_liar` so parallel workers do not propose the same values) until the study holds
`trials` trials; a study killed mid-way resumes on the same command (`storage.fail_dead_trials`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Mapping

import optuna

from kzoo.errors import ConfigError
from kzoo.train_request import TrainRequest
from kzoo.tuning import report
from kzoo.tuning.objective import TrialSetup, run_trial
from kzoo.tuning.space import config_values, describe_space, search_space
from kzoo.tuning.storage import counted, fail_dead_trials, is_url, open_storage


@dataclasses.dataclass
class TuneRequest:
    """What `tune()` was asked to do (the flags of `tools/tune.py`).

    `train` is the request every trial starts from (the entry, `--config`, `--set`s, data, epochs,
    batch size, `tiny`); each trial replaces its overrides, output, export, test and verbosity.
    """

    train: TrainRequest
    trials: int
    timeout_minutes: float | None = None
    workers: int = 1
    study: str | None = None  # a study directory, or a database URL
    output: str | None = None  # the study directory when `study` is a URL
    study_name: str | None = None
    seed: int = 0  # the samplers' (each trial's runtime.seed is the config's)
    pruner: str = "median"
    final: bool = False


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    """Optuna's pruner `name` (kzoo.schema.TUNE_PRUNERS) for trials of up to `epochs` epochs.

    median: stop a trial whose epoch is below the median of earlier trials at that epoch, once 2 trials
    have finished and the trial has run a third of `epochs` (at least one epoch): on gmf's 30-epoch
    runs a warm-up of one epoch stopped 24 of 27 trials by epoch 6 while the default still climbed
    until epoch 16 (BENCHMARKS.md); hyperband: successive halving over 1..epochs.
    """
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=max(1, epochs // 3))
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1), reduction_factor=3)
    return optuna.pruners.NopPruner()


def make_sampler(seed: int, worker: int, trials: int) -> optuna.samplers.BaseSampler:
    """TPE with a seed of its own per worker; random for the first quarter of the trials (2 to 10)."""
    return optuna.samplers.TPESampler(seed=seed * 1000 + worker, constant_liar=True,
                                      n_startup_trials=max(2, min(10, trials // 4)))


def base_config(request: TuneRequest) -> dict:
    """The entry's config the trials start from (YAML, `tiny`, `--set`s, flags), checked."""
    from kzoo.training.runner import resolve_config

    train = request.train
    return resolve_config(train.model, train.config_path, train.overrides, train.epochs, train.batch_size, train.tiny)


def study_directory(request: TuneRequest, entry: str) -> Path:
    """The study directory: `--study PATH`, or `--output` (default `studies/<entry>`) with a URL."""
    if request.study and not is_url(request.study):
        return Path(request.study)
    return Path(request.output or f"studies/{entry}")


def _settings(request: TuneRequest, config: Mapping) -> dict:
    """What every worker and every resume of a study must agree on (kept in the study); paths may differ
    between machines, so `--config` and `--data` are not compared."""
    from kzoo.config import as_overrides

    train = request.train
    return json.loads(json.dumps({
        "entry": config.entry, "space": config.tune, "overrides": dict(as_overrides(train.overrides)),
        "tiny": train.tiny, "epochs": train.epochs, "batch_size": train.batch_size}, default=str))


def open_study(request: TuneRequest, config: Mapping, worker: int = 0) -> optuna.Study:
    """Create the study or load it; ConfigError when it was started with other settings."""
    task = config.task_object
    storage = open_storage(request.study, study_directory(request, config.entry))
    study = optuna.create_study(storage=storage, study_name=request.study_name or config.entry,
                                direction="maximize" if task.mode == "max" else "minimize",
                                sampler=make_sampler(request.seed, worker, request.trials),
                                pruner=make_pruner(request.pruner, config.train.epochs),
                                load_if_exists=True)
    settings, saved = _settings(request, config), study.user_attrs.get("settings")
    if saved is None:
        study.set_user_attr("settings", settings)
    elif saved != settings:
        changed = [f"{k}={settings[k]!r} (the study has {saved.get(k)!r})" for k in settings if saved.get(k) != settings[k]]
        raise ConfigError(f"study {study.study_name!r} was started with other settings: {'; '.join(changed)}. "
                          "Resume it with the same flags, or give another --study / --study-name")
    return study


def trial_setup(request: TuneRequest, config: Mapping, trials_dir: Path) -> TrialSetup:
    """The `TrialSetup` every trial of this request shares."""
    from kzoo.config import as_overrides
    task = config.task_object
    train = dataclasses.replace(request.train, model=config.entry, overrides=dict(as_overrides(request.train.overrides)))
    return TrialSetup(train=train, space=config.tune, monitor=task.monitor, mode=task.mode,
                      trials_dir=str(trials_dir))


def _announce(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    attrs = trial.user_attrs
    value = f" {trial.value:.4f}" if trial.value is not None else ""
    print(f"kzoo-tune: trial {trial.number} {attrs.get('status', trial.state.name.lower())}{value} "
          f"({attrs.get('epochs', len(trial.intermediate_values))} epochs, {attrs.get('seconds', 0):.1f} s) "
          f"{trial.params}", flush=True)


def run_worker(request: TuneRequest, worker: int = 0, study: optuna.Study | None = None,
               config: Mapping | None = None) -> None:
    """Run trials of the study until it holds `request.trials` (or the timeout). A spawned worker opens
    the study and resolves the config itself; worker 0 is handed `tune`'s."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = config if config is not None else base_config(request)
    study = study if study is not None else open_study(request, config, worker)
    setup = trial_setup(request, config, study_directory(request, config.entry) / "trials")
    Path(setup.trials_dir).mkdir(parents=True, exist_ok=True)
    remaining = request.trials - counted(study)
    if remaining <= 0:
        return

    def stop_when_full(study: optuna.Study, trial) -> None:
        if counted(study) >= request.trials:
            study.stop()

    timeout = None if request.timeout_minutes is None else 60.0 * request.timeout_minutes
    quiet = _QuietInterrupt()
    optuna_logger = logging.getLogger("optuna.study._optimize")  # where Optuna logs a failed trial
    optuna_logger.addFilter(quiet)
    try:
        study.optimize(lambda trial: run_trial(trial, setup), n_trials=remaining, timeout=timeout,
                       callbacks=[_announce, stop_when_full], gc_after_trial=True)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"kzoo-tune interrupted: {counted(study)} of {request.trials} trials done"
            f"{f', trial {quiet.trial} queued to run again' if quiet.trial not in (None, -1) else ''}; "
            "the same command continues the study") from None
    finally:
        optuna_logger.removeFilter(quiet)


class _QuietInterrupt(logging.Filter):
    """Drops Optuna's report of a trial failed by Ctrl-C (a traceback through Optuna); the tool says it in one line."""

    def __init__(self):
        super().__init__()
        self.trial: int | None = None  # the interrupted trial's number

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt):
            words = record.getMessage().split()  # "Trial N failed with parameters: ..." (Optuna 4)
            self.trial = int(words[1]) if len(words) > 1 and words[1].isdigit() else -1
            return False
        return not (self.trial is not None and record.getMessage().startswith(f"Trial {self.trial} failed with value"))


def _spawned_worker(request: TuneRequest, worker: int) -> None:
    """A worker process: `run_worker`, ending quietly on Ctrl-C (worker 0 says it for the study)."""
    try:
        run_worker(request, worker)
    except KeyboardInterrupt:
        sys.exit(130)


def tune(request: TuneRequest) -> dict:
    """Run (or resume) the study `request` describes; write its report; return a summary.

    A new study's first trial is the config's own values (`space.config_values`), so the hand-tuned
    default is measured beside the search's.

    The summary has the study directory, trial counts by status, the best trial and the best config's
    path (`best.yaml`), the plots, and with `final` the final run's metrics. Raises ConfigError for an
    entry without a `tune:` section or a validation split, or a study started with other settings.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = base_config(request)
    space = search_space(config)
    task = config.task_object
    if not task.has_validation(config):
        raise ConfigError(f"{config.entry}: trials are scored on the validation split and this config has none; "
                          f"set {task.validation_key or 'data.val_fraction'} (true / above 0)")
    directory = study_directory(request, config.entry)
    study = open_study(request, config)
    retried = fail_dead_trials(study)
    if not study.trials:  # a new study's first trial is the config's own values (those inside the space)
        study.enqueue_trial(config_values(config, space), user_attrs={"config_values": True}, skip_if_exists=True)
    where = request.study if is_url(request.study) else directory / "journal.log"
    print(f"kzoo-tune: study {study.study_name!r} ({where}): {request.trials} trials, {counted(study)} done or running"
          f"{f', trials {retried} were killed and are queued again' if retried else ''}; {request.workers} worker(s); "
          f"{task.monitor} ({task.mode}); space: {describe_space(space)}", flush=True)
    started = time.perf_counter()
    others = [multiprocessing.get_context("spawn").Process(target=_spawned_worker, args=(request, i), daemon=False)
              for i in range(1, request.workers)]
    for process in others:
        process.start()
    try:
        run_worker(request, 0, study, config)
    finally:
        for process in others:
            process.join()
    failed_workers = [i + 1 for i, p in enumerate(others) if p.exitcode]
    summary = write_report(study, config, directory, task.monitor, task.mode)
    summary.update(seconds=round(time.perf_counter() - started, 1), failed_workers=failed_workers)
    if failed_workers:
        print(f"kzoo-tune: warning: worker(s) {failed_workers} exited with an error (see above)", file=sys.stderr)
    if request.final:
        summary["final"] = train_final(request, config, directory)
    return summary


def write_report(study: optuna.Study, config: Mapping, directory: Path, monitor: str, mode: str) -> dict:
    """trials.json / .csv, the plots, `best.yaml`; print the table; return the summary (see `tune`)."""
    rows = report.trial_rows(study)
    best = report.best_row(rows, mode)
    files = report.write_trials(rows, directory)
    plots = report.plot_study(study, directory)
    print(report.format_table(rows, monitor, best), flush=True)
    counts = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    summary = {"study_dir": str(directory), "study": study.study_name, "trials": counts, "monitor": monitor,
               "files": [str(f) for f in files], "plots": plots, "best": None, "best_config": None}
    if best is not None:
        path = directory / report.BEST_CONFIG
        header = (f"best of study {study.study_name!r}: trial {best['number']}, validation {monitor} "
                  f"{best['value']:.4f}\ntrain it: kzoo-train --model {config.entry} --config {path}")
        report.write_best_config(config, best["params"], path, header)
        summary.update(best={k: best[k] for k in ("number", "value", "params", "epochs")}, best_config=str(path))
        print(f"kzoo-tune: best trial {best['number']}: {monitor} {best['value']:.4f} {best['params']}; "
              f"config {path}", flush=True)
    else:
        print("kzoo-tune: no trial finished: no best config", flush=True)
    return summary


def train_final(request: TuneRequest, config: Mapping, directory: Path) -> dict | None:
    """Train `best.yaml` once more in `<study>/final` (with `train.refit` where the task has one) and test it."""
    from kzoo.training import train

    path = directory / report.BEST_CONFIG
    if not path.is_file():
        print("kzoo-tune: --final: no best config to train", flush=True)
        return None
    task = config.task_object
    overrides = {"train.refit": True} if task.validation_key is not None else {}
    print(f"kzoo-tune: --final: training {path}{' with train.refit' if overrides else ''}, then testing once",
          flush=True)
    return train(TrainRequest(config.entry, config_path=str(path), overrides=overrides, data=request.train.data,
                              data_dir=request.train.data_dir, output=str(directory / "final")))
