"""`train()`: one zoo entry end to end, as a sequence of named phases.

    resolve → strategy → run_dir → data → build → fit → after_fit (refit) → check → save → test → record → export

Each phase is a method of `Training`, which holds what the phases build up (config, strategy,
worker role, run directory, data, models, callbacks, metrics). What differs between tasks comes
from the entry's `Task` (`kzoo.tasks`); training features that are not every run's — pruning,
starting from a trained run, distillation, refit — are plug-ins (`kzoo.plugin.RunPlugin`) called at
fixed points of the phases; what they read and set of a run is `kzoo.plugin.RunView`'s list. Every
`model.fit` of a run (the refit's too) goes through `Training.run_fit`. A new task or a new plug-in
never edits this file.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import keras

from kzoo import config as config_lib
from kzoo import progress
from kzoo.compression.from_run import PruneFromRun
from kzoo.compression.prune import Pruning
from kzoo.compression.teacher import Distillation
from kzoo.data import resolve_data_dir
from kzoo.export import export_run
from kzoo.finite import nonfinite_weights
from kzoo.errors import ConfigError, RunDirError, TrainingDiverged, TrainingInterrupted
from kzoo.plugin import RunPlugin, RunView
from kzoo.presets.init_from import InitFromPreset
from kzoo.presets.run_card import ModelCard
from kzoo.entry_config import apply_overrides, get_config, get_entry
from kzoo.run_dir import RunDir, write_json
from kzoo.tasks import compile_model, load_data
from kzoo.train_request import TrainRequest, request_from_flags
from kzoo.training import callbacks as kzoo_callbacks
from kzoo.training import compat
from kzoo.training.cluster import (
    ReadOnlyBackupAndRestore, WorkerRole, remove_scratch, scratch_dir, weights_digest, without_auto_shard,
    worker_batch_size, worker_role,
)
from kzoo.training.curves import plot_curves
from kzoo.training.divergence import divergence_message, growth_message, loss_growth
from kzoo.training.history import read_history
from kzoo.training.lora import LoRA
from kzoo.training.process import set_mixed_precision, set_seed, versions
from kzoo.training.refit import Refit
from kzoo.training.strategy import get_jax_distribution, get_strategy
from kzoo.zoo import build_from_config

PHASES = ("resolve", "strategy", "run_dir", "data", "build", "fit", "after_fit", "check", "save", "test", "record",
          "export")


class Models(NamedTuple):
    """What `Training.build_for_fit` builds for one fit: the zoo model, what `fit` trains, its optimizer steps."""

    net: keras.Model
    fit_model: keras.Model
    total_steps: int | None  # steps per epoch x epochs; None when the data's length is unknown


def default_plugins() -> list[RunPlugin]:
    """The plug-ins every run has; each acts only when its config section asks for it."""
    # LoRA merges after a refit; the model card is written after the export.
    return [PruneFromRun(), InitFromPreset(), Pruning(), Distillation(), Refit(), LoRA(), ModelCard()]


def resolve_config(
    model: str,
    config_path: str | None = None,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    epochs: int | None = None,
    batch_size: int | None = None,
    tiny: bool = False,
) -> dict:
    """Resolve an entry's config: defaults or `config_path`, the `tiny` overrides, `--set`s, then the flags."""
    merged = dict(config_lib.as_overrides(overrides))
    # Flags left at None keep the file's (or the tiny section's) values.
    merged.update({k: v for k, v in {"train.epochs": epochs, "train.batch_size": batch_size}.items() if v is not None})
    return get_config(model, merged, config_path, tiny=tiny)


def _dotted(config: Mapping, key: str):
    section, _, leaf = key.partition(".")
    return config.get(section, {}).get(leaf)


def resume_differences(saved: dict, request: "TrainRequest") -> list[str]:
    """What a `--resume` command asks for that the saved run was not started with (empty: none).

    Compared: `--model` (aliases allowed), every `--set` key, `--epochs`, `--batch-size`, and the
    `data`, `train`, `prune` and `distill` sections of a `--config` file. Runtime flags may differ
    (a run may resume on other hardware); `--tiny` is the saved config's already.
    """
    differences = []
    if request.model and get_entry(request.model).name != saved["entry"]:
        differences.append(f"--model {request.model} (the run is {saved['entry']!r})")
    overrides = dict(config_lib.as_overrides(request.overrides))
    overrides.update({k: v for k, v in {"train.epochs": request.epochs, "train.batch_size": request.batch_size}.items()
                      if v is not None})
    if overrides:
        asked = apply_overrides(saved, overrides, saved["entry"])  # also checks the values
        for key in overrides:
            key = key if "." in key else f"model.{key}"
            if _dotted(asked, key) != _dotted(saved, key):
                differences.append(f"{key}={_dotted(asked, key)!r} (the run has {_dotted(saved, key)!r})")
    if request.config_path:
        other = get_config(saved["entry"], None, request.config_path, tiny=request.tiny)
        for section in ("data", "train", "prune", "distill"):
            for key, value in other[section].items():
                if saved[section].get(key) != value:
                    differences.append(f"{section}.{key}={value!r} in {request.config_path} "
                                       f"(the run has {saved[section].get(key)!r})")
    return differences


class Training:
    """One training run, phase by phase (see the module docstring); `run()` returns its metrics."""

    def __init__(self, request: TrainRequest, plugins: Sequence[RunPlugin] = ()):
        self.request = request
        # A given plug-in replaces the default of its class (e.g. Distillation with a teacher).
        given = {type(p) for p in plugins}
        self.plugins = [p for p in default_plugins() if type(p) not in given] + list(plugins)
        self.metrics: dict = {}
        self.refit_info: dict | None = None  # set by the Refit plug-in
        self.train_seconds = 0.0  # every fit's (the refit's too)
        self.nan_stops: list = []  # every NaN stop handed to a fit (the refit's too)
        self.dir_lock = None  # the run directory's lock, held by the chief from `run_dir` to the end
        self.done = False  # a phase sets it to end the run early (workers other than the chief)
        self.fit_started = False  # set just before `model.fit`: from then on a failed run keeps its folder

    def run(self) -> dict:
        """Run every phase in order; return the `metrics.json` content."""
        try:
            for phase in PHASES:
                getattr(self, phase)()
                if self.done:
                    break
        except KeyboardInterrupt:
            raise TrainingInterrupted(self._interrupted_message()) from None
        except Exception:
            self._take_back_run_dir()
            raise
        finally:  # the run directory's lock (taken in `run_dir`) ends with the run, however it ends
            if self.dir_lock is not None:
                self.dir_lock.release()
        return self.metrics

    def _take_back_run_dir(self) -> None:
        """A new run that fails before training began leaves `--output` as it found it.

        Otherwise a refusal found after the folder was made (a bad data file, a `prune.exclude`
        matching nothing) strands a `config.yaml` there, and the corrected command is refused as
        "already holds a run". Once `fit` has started the folder is kept (its epochs can be resumed).
        """
        undo = getattr(getattr(self, "dir", None), "undo", None)
        if undo is None or self.fit_started or not self.role.is_chief:
            return
        if self.dir_lock is not None:
            self.dir_lock.release()
        undo()

    # ------------------------------------------------------------------ phases
    def resolve(self) -> None:
        """The config: the resumed run's, or the entry's resolved with overrides; checked by every plug-in."""
        r = self.request
        if r.resume:
            run = RunDir.create(r.output, r.model, resume=True)
            self.config = run.config()  # checked like a new config: a tampered value is refused
            differences = resume_differences(self.config, r)
            if differences:
                raise ConfigError(f"--resume: {run} was started with other settings: {'; '.join(differences)}. "
                                  "Resume with the run's own settings, or start a new run with another --output")
            if run.is_finished and run.metrics().get("status", "finished") == "finished":
                print(f"kzoo: {run} is a finished run (model.keras and metrics.json): nothing to resume", flush=True)
                self.metrics, self.done = run.metrics(), True
                return
        else:
            self.config = resolve_config(r.model, r.config_path, r.overrides, r.epochs, r.batch_size, r.tiny)
        self.task = self.config.task_object
        # Flags given win over the config; the strategy name is checked when the strategy is made.
        flags = {"strategy": r.strategy, "mixed_precision": r.mixed_precision, "jit_compile": r.jit_compile,
                 "seed": r.seed, "deterministic": r.deterministic}
        self.config = self.config.override({f"runtime.{k}": v for k, v in flags.items()})
        self.config = self.task.check_config(self.config) or self.config
        for plugin in self.plugins:
            plugin.check(self.config)

    def strategy(self) -> None:
        """The distribution strategy (before TensorFlow runs anything) and this worker's role."""
        name = self.config.runtime.strategy
        self.dist = get_strategy(name) if keras.backend.backend() == "tensorflow" else get_jax_distribution(name)
        self.role: WorkerRole = worker_role(self.dist)

    def run_dir(self) -> None:
        """The run directory (the chief creates it) and this worker's write directory (scratch elsewhere)."""
        r = self.request
        if self.role.count > 1 and r.output is None:
            raise RunDirError("--strategy multi_worker needs --output DIR: one run directory every worker can reach")
        if self.role.is_chief or r.resume:
            self.dir = RunDir.create(r.output, self.config.entry, r.resume)
        else:
            self.dir = RunDir(r.output)  # the chief creates and checks it
        # One writer per run directory: the chief holds its lock until `run()` ends (the others write scratch).
        self.dir_lock = self.dir.lock() if self.role.is_chief else None
        self.write_dir = self.dir if self.role.is_chief else RunDir(scratch_dir(self.role))
        self.reseed()
        self.policy = set_mixed_precision(self.config.runtime.mixed_precision)
        compat.install()
        self.verbose = r.verbose if r.verbose is not None else (1 if sys.stdout.isatty() else 2)

    def data(self) -> None:
        """This worker's data; sizes only the data knows go into the model config; config and preprocessor saved."""
        print(f"kzoo: run directory {self.dir}", flush=True)
        # A resumed run keeps the vocabulary / id maps its checkpoints were trained with.
        if self.request.resume and self.dir.preprocessing_dir.is_dir():
            saved = self.dir.preprocessor(self.config)
        else:
            saved = next((p for p in (plugin.preprocessor(self.config) for plugin in self.plugins) if p is not None), None)
        self.bundle = self.load_data(self.config, saved)
        bundle = self.bundle
        if not self.request.test:  # nothing after this can score on it, by mistake or otherwise
            bundle.test = None
        for plugin in self.plugins:
            plugin.on_data(bundle, self.config)
        source = "SYNTHETIC (generated; scores mean nothing)" if bundle.source == "synthetic" else bundle.source
        print(f"kzoo: {self.config.entry} on {source} data '{bundle.name}' {bundle.sizes}", flush=True)
        # What the run really trained on, beside the dataset the entry names (config.yaml's data.dataset).
        self.config = self.config.replace(data_source={"kind": bundle.source, "name": bundle.name,
                                      **({"data_dir": resolve_data_dir(self.request.data_dir)}
                                         if bundle.source == "tfds" else {})})
        model_overrides = getattr(bundle.preprocessor, "model_overrides", None)
        if callable(model_overrides):
            self.config = self.config.override({f"model.{k}": v for k, v in model_overrides().items()})
        if bundle.preprocessor is not None:
            bundle.preprocessor.save(self.write_dir.preprocessing_dir)
        config_lib.dump_yaml(self.config, self.write_dir.config_file)

    def build(self) -> None:
        """The model (`net`: tested, saved, exported) and what `fit` trains (`fit_model`)."""
        if keras.backend.backend() == "jax":
            self.config = self.config.override({"runtime.jit_compile": True})  # JAX has no graph mode: without jit every op runs eagerly
        self.net, self.fit_model, self.total_steps = self.build_for_fit(self.config, self.bundle)

    def fit(self) -> None:
        """`model.fit` with the run's callbacks; skipped when a resumed refit already chose its epochs."""
        self.timer = kzoo_callbacks.ThroughputTimer(
            int(self.bundle.sizes.get("train_examples_per_epoch", self.bundle.sizes["train"])))
        self.run_fit(Models(self.net, self.fit_model, self.total_steps), self.config, self.bundle.train,
                     self.dir.backup_dir, self.write_dir.history_file, validation=self.bundle.val,
                     first=self.bundle.callbacks, then=self._callbacks(),
                     skip=self.request.resume and self.dir.refit_record.is_file())

    def after_fit(self) -> None:
        """Plug-ins' own phases after `fit` (refit trains a fresh model on train + validation)."""
        view = RunView(self)
        for plugin in self.plugins:
            plugin.after_fit(view)

    def check(self) -> None:
        """A run whose loss became non-finite, or whose weights are, or whose training loss ended far above
        where it started (`loss_growth`), has diverged: record it and stop.

        `metrics.json` says `status: diverged` with the reason; `model.keras` is not written (the
        run is not finished) and nothing is exported. Raises TrainingDiverged.
        """
        stops = [c.message for c in self.nan_stops if c.message]
        bad = nonfinite_weights(self.net)
        history = read_history(self.write_dir.history_file)
        learning_rate = self.config.train.learning_rate or None
        growth = None if stops or bad else loss_growth(history, self.nan_stops[0].first_loss if self.nan_stops else None)
        if not stops and not bad and not growth:
            return
        if growth:
            message = growth_message(growth, len(history.get("loss", [])), learning_rate)
        else:
            message = divergence_message(stops, bad, learning_rate)
        if self.role.is_chief:
            write_json({**self._run_summary(history), "status": "diverged", "reason": message,
                        "stopped_on_nan": stops[0] if stops else None, "nonfinite_weights": bad,
                        "loss_growth": growth}, self.dir.metrics_file)
        else:
            remove_scratch(self.write_dir.path)
        raise TrainingDiverged(f"{message} Nothing was saved as model.keras or exported ({self.dir}).")

    def save(self) -> None:
        """`model.keras`: the final model, written once training is over (what marks a run finished)."""
        self.write_dir.save_model(self.net)  # whole or not at all: a full disk keeps a run unfinished, not broken
        self.task_outputs = (self.task.after_save(self.dir, self.net, self.bundle.preprocessor, self.config)
                             if self.role.is_chief else {})

    def test(self) -> None:
        """The test metrics: the bundle's own evaluation (HR@10, BLEU) or `model.evaluate`; none with `test=False`."""
        if not self.request.test:
            self.test_metrics = None
            print("kzoo: the test split was not read (test=False)", flush=True)
            return
        # Multi-worker: each worker scores the test split on a local copy, without collectives, so the
        # number is exact (a distributed evaluate averages per-worker ratios) and identical on all workers.
        scorer = self._local_copy() if self.role.count > 1 else self.net
        with progress.step(f"testing on the test split ({self.bundle.sizes.get('test', '?')} examples)"):
            if self.bundle.evaluate:
                self.test_metrics = self.bundle.evaluate(scorer, "test")
            else:  # a progress bar when fit draws one (on a terminal)
                self.test_metrics = scorer.evaluate(self.bundle.test, return_dict=True,
                                                    verbose=int(self.fit_verbose == 1))

    def record(self) -> None:
        """`metrics.json` and `curves.png` (chief); other workers remove their scratch and stop here."""
        history = read_history(self.write_dir.history_file)
        if self.role.count > 1:
            print(f"kzoo: worker {self.role.index} of {self.role.count} final weights sha256 {weights_digest(self.net)}",
                  flush=True)
        self.metrics = {
            **self._run_summary(history),
            "status": "finished",
            "test": None if self.test_metrics is None else {k: float(v) for k, v in self.test_metrics.items()},
            "train_seconds": round(self.train_seconds, 3),
            "train_examples_per_sec": self.timer.examples_per_sec,
            "jit_compile": bool(self.fit_model.jit_compile),  # as compiled: flag, config or backend
            "parameters": int(self.net.count_params()),
            "stopped_on_nan": None,
            "loss_growth": None,  # a run whose loss grew far above its start diverged (the `check` phase)
            "refit": self.refit_info,
            **self.task_outputs,
        }
        self.metrics.update(self._against_chance(history))
        for plugin in self.plugins:
            self.metrics.update(plugin.metrics(self.net, self.config, self.total_steps))
        if not self.role.is_chief:
            remove_scratch(self.write_dir.path)
            self.done = True
            return
        write_json(self.metrics, self.dir.metrics_file)
        metric = self.task.monitor.removeprefix("val_")
        reference = self.config.reference
        plot_curves(history, metric, self.dir.curves_file,
                    title=f"{self.config.entry} on {self.bundle.source} data {self.bundle.name}",
                    test_value=(self.metrics["test"] or {}).get(metric),
                    reference=reference.get("value") if reference.get("metric") == metric else None,
                    refit_epochs=(self.refit_info or {}).get("epochs"))

    def export(self) -> None:
        """The SavedModel under `export/<version>/` (unless `export=False` or the task exports none), then `after_run`."""
        if self.request.export and self.task.exports_saved_model:
            self.metrics["export"] = str(export_run(self.dir.path))
            for plugin in self.plugins:
                plugin.after_export(self.metrics, self.metrics["export"])
            write_json(self.metrics, self.dir.metrics_file)
        for plugin in self.plugins:
            plugin.after_run(self.metrics)

    # ------------------------------------------------------------------ what the phases and plug-ins share
    def _interrupted_message(self) -> str:
        """`interrupted after epoch N; continue with: kzoo-train --model M --output DIR --resume`."""
        run_dir = getattr(self, "dir", None)
        if run_dir is None or not run_dir.config_file.is_file():
            return "interrupted before the run started; nothing to resume"
        epochs = len(read_history(run_dir.history_file).get("loss", []))
        return (f"interrupted after epoch {epochs}; continue with: kzoo-train --model {self.config.entry} "
                f"--output {run_dir} --resume")

    def _against_chance(self, history: dict) -> dict:
        """`no_better_than_chance` (and `chance`, how it was judged) of the best validation epoch; a warning line.

        No better: the best value of the task's monitor is within two standard errors of a guessing
        model's (`Task.chance_level`: the majority class, a random ranking); None when there is no
        validation metric or no such baseline.
        """
        values = [v for v in history.get(self.task.monitor, []) if math.isfinite(v)]
        chance = self.task.chance_level(self.config, self.bundle) if values and self.task.mode == "max" else None
        if chance is None:
            return {"no_better_than_chance": None}
        best, level, examples = max(values), chance["value"], chance["examples"]
        margin = 2 * math.sqrt(level * (1 - level) / max(examples, 1))
        judged = {"metric": self.task.monitor, "best": best, "chance": level, "margin": margin,
                  "guess": chance["guess"], "examples": examples}
        if best > level + margin:
            return {"no_better_than_chance": False, "chance": judged}
        print(f"kzoo: warning: the best {self.task.monitor}, {best:.4g}, is no better than chance ({level:.4g}: "
              f"{chance['guess']}, on {examples} validation examples): the model learned nothing it can show",
              flush=True)
        return {"no_better_than_chance": True, "chance": judged}

    def _run_summary(self, history: dict) -> dict:
        """What every `metrics.json` holds, finished or diverged: entry, data, epochs, history, runtime, versions."""
        runtime = self.config.runtime
        return {
            "model": self.config.entry,
            "run_dir": str(self.dir),
            "data": self.bundle.summary(),
            "epochs_run": len(history.get("loss", [])),
            "epochs_requested": self.config.train.epochs,
            "history": history,
            "strategy": runtime.strategy,
            "replicas": self.dist.num_replicas_in_sync,
            "workers": self.role.count,
            "dtype_policy": self.policy,
            "seed": runtime.seed,
            "deterministic": runtime.deterministic,
            "versions": versions(),
        }

    @property
    def fit_verbose(self) -> int:
        """`fit`'s verbosity: a progress bar on a terminal, one line per epoch otherwise."""
        return self.verbose if self.verbose in (0, 1, 2) else 2

    def load_data(self, config: dict, preprocessor=None):
        """This worker's `DataBundle` for `config` (its training shard, whole val/test splits)."""
        r = self.request
        bundle = load_data(config, source=r.data, data_dir=r.data_dir, seed=config.runtime.seed,
                           batch_size=worker_batch_size(config, self.role), preprocessor=preprocessor,
                           shard=self.role.shard)
        if self.role.shard:
            # Training: each worker already holds its own shard; tf.distribute must not shard it again.
            # Validation/test: every worker reads the whole split (the metrics are all-reduced, so the
            # result is exact); auto-sharding a tfds split by FILE fails when it has fewer files than workers.
            bundle.train, bundle.val, bundle.test = (
                None if ds is None else without_auto_shard(ds) for ds in (bundle.train, bundle.val, bundle.test))
        return bundle

    def build_for_fit(self, config: dict, bundle) -> Models:
        """Build and compile the entry in the strategy's scope for a fit on `bundle`; return its `Models`.

        `net` is the zoo model (evaluated, saved, exported); `fit_model` is what `fit` trains: `net`
        itself, or what a plug-in wraps it in (a Distiller). Plug-ins may load weights into `net` first.
        """
        steps_per_epoch = int(bundle.train.cardinality().numpy())
        steps = steps_per_epoch if steps_per_epoch > 0 else None
        jit_compile = config.runtime.jit_compile
        with self.dist.scope():
            net = build_from_config(config, compile=False)
            for plugin in self.plugins:
                plugin.init_weights(net, config)
            compile_model(net, config, steps_per_epoch=steps, jit_compile=jit_compile)
            fit_model = next((m for m in (p.wrap_model(net, config) for p in self.plugins) if m is not None), net)
            if fit_model is not net:
                compile_model(fit_model, config, steps_per_epoch=steps, jit_compile=jit_compile)
        epochs = config.train.epochs
        return Models(net, fit_model, steps_per_epoch * epochs if steps_per_epoch > 0 else None)

    def run_fit(self, models: Models, config: dict, train, backup_dir: Path, history_file: Path, *, validation=None,
                first: Sequence = (), then: Sequence = (), skip: bool = False) -> float:
        """The one `model.fit` of the run's fits (the fit phase's, the refit's); return its seconds.

        Trains `models.fit_model` on the dataset `train` for `config`'s `train.epochs`. The callbacks,
        in order: `first` (the data's: they add metrics, val_hr@10, the others read), the backup in
        `backup_dir` (every worker restores from the chief's), the NaN stop, the CSV log `history_file`,
        `then`; on JAX the distribution's go first; the plug-ins' last. `skip`: all but `model.fit`
        (a resumed run whose refit already chose its epochs). The seconds add to `train_seconds`.
        """
        callbacks = [*first, self.backup_callback(backup_dir), self.nan_callback(config),
                     keras.callbacks.CSVLogger(str(history_file), append=True), *then]
        if hasattr(self.dist, "prepare_train"):  # JAX backend: keras.distribution instead of tf.distribute
            train = self.dist.prepare_train(train)
            callbacks = self.dist.callbacks() + callbacks
        callbacks += self.plugin_callbacks(models.net, config, models.total_steps)
        started = time.perf_counter()
        self.fit_started = True
        if not skip:
            models.fit_model.fit(train, validation_data=validation, epochs=config.train.epochs,
                                 callbacks=callbacks, verbose=self.fit_verbose, shuffle=False)
        seconds = time.perf_counter() - started
        self.train_seconds += seconds
        return seconds

    def fit_fresh(self, config: dict, bundle, backup_dir: Path, history_file: Path, then: Sequence = ()):
        """Build a fresh model for `config` and train it on `bundle`'s training split (the refit's fit).

        Returns `(net, seconds)`; `RunView.fit_fresh` documents it for plug-ins.
        """
        models = self.build_for_fit(config, bundle)
        return models.net, self.run_fit(models, config, bundle.train, backup_dir, history_file, then=then)

    def reseed(self) -> None:
        """Seed every generator again with the run's seed (a refit starts from the same state)."""
        runtime = self.config.runtime
        set_seed(runtime.seed, runtime.deterministic)

    def plugin_callbacks(self, net, config: dict, total_steps: int | None) -> list:
        """The callbacks every plug-in adds to a `fit` of `net`."""
        return [c for plugin in self.plugins for c in plugin.callbacks(net, config, total_steps)]

    def backup_callback(self, directory: Path):
        """BackupAndRestore in `directory`, checked first; on workers other than the chief, one that only restores.

        A damaged backup is a one-line RunDirError here, before `fit` (not a traceback inside it).
        """
        kzoo_callbacks.read_backup(directory)
        backup = kzoo_callbacks.SafeBackupAndRestore if self.role.is_chief else ReadOnlyBackupAndRestore
        return backup(str(directory))

    def nan_callback(self, config: dict):
        """A NaN stop that names the epoch and suggests a lower learning rate (the `check` phase reads it)."""
        stop = kzoo_callbacks.TerminateOnNaNWithAdvice(config.train.learning_rate or None)
        self.nan_stops.append(stop)
        return stop

    def _callbacks(self) -> list:
        """The fit phase's own callbacks (after `run_fit`'s backup, NaN stop and CSV log); files go to the write
        directory (the run dir on the chief, scratch elsewhere). Sets `estimate` (the chief's time left)."""
        bundle, train = self.bundle, self.config.train
        has_val = bundle.val is not None or bool(bundle.callbacks)
        monitor, mode = (self.task.monitor, self.task.mode) if has_val else ("loss", "min")
        callbacks = [
            kzoo_callbacks.AtomicModelCheckpoint(str(self.write_dir.best_file), monitor=monitor, mode=mode,
                                                 save_best_only=True),
            keras.callbacks.TensorBoard(str(self.write_dir.logs_dir)),
            self.timer,
        ]
        self.estimate = None
        if self.role.is_chief:  # one line per epoch: the run's remaining time
            tested = bundle.sizes.get("test") if self.request.test else None
            self.estimate = kzoo_callbacks.RunTimeEstimate(train.epochs, tested, bundle.sizes.get("val"),
                                                           refit=train.refit)
            callbacks.append(self.estimate)
        patience = train.early_stopping_patience
        if patience:
            callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience,
                                                           restore_best_weights=True))
        return callbacks

    def _local_copy(self) -> keras.Model:
        """`model.keras` loaded under the default (non-distributed) strategy, compiled for evaluation."""
        local = keras.saving.load_model(self.write_dir.model_file, compile=False)
        compile_model(local, self.config)
        return local


def train(request: TrainRequest | str, /, plugins: Sequence[RunPlugin] = (), **flags) -> dict:
    """Train a zoo entry and return its `metrics.json` content (also written to the run dir).

    `request` is a `TrainRequest` (`kzoo.train_request`: the flags of `tools/train.py`), or, for a
    one-line call, the entry's name with the request's other fields as keyword `flags`
    (`train("mlp", data="synthetic", epochs=2)`; an unknown flag is a TypeError naming the valid ones).
    The runtime fields (`strategy`, `mixed_precision`, `jit_compile`, `seed`, `deterministic`) left at
    None keep the config's `runtime` section. `plugins` add to (or, one per class, replace) the default
    plug-ins (see `kzoo.plugin`). `test=False` never reads the test split (`metrics["test"]` is None).
    Raises ConfigError, UnknownModelError, RunDirError, StrategyError or a data error with a one-line
    message on bad input.
    """
    if isinstance(request, str):
        request = request_from_flags(request, flags)
    elif flags:
        raise TypeError(f"train() takes a TrainRequest or an entry name with keyword flags, not both ({', '.join(flags)})")
    return Training(request, plugins).run()
