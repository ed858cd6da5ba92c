"""`Task`: everything kzoo knows about one kind of problem, and the registry of tasks.

A task object owns what differs between image classification, text classification, translation
and recommendation: the loss and metrics (and the metric early stopping watches), its data loader
and preprocessor (and how to reload it from a run), the example batch, its serving endpoints,
the refit split, its main metrics for benchmarks and serving evaluation, and how distillation
checks a student. The trainer, the exporter and the benchmarks call these methods and never
compare a task name (in the spirit of TF Model Garden's `base_task.Task` and keras-hub's `Task`).

A new task is one module in `kzoo/tasks/`: a `Task` subclass decorated with `@register_task`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Mapping

import keras

from kzoo.data.bundle import DataBundle
from kzoo.errors import ExportError, UnknownTaskError
from kzoo.run_config import RunConfig


class Task:
    """Base class of the zoo's tasks; subclasses set the attributes and override the methods.

    Attributes:
      name: the id written into configs, runs and exports (`config.task`).
      monitor, mode: the validation metric early stopping, checkpoints and refit watch.
      main_metrics: keys of `metrics["test"]` that benchmarks report, most important first.
      data_schema: the `data` section this task's loader reads (filled by the config schema).
      export_schema: the `export` section: options of this task's serving signatures (e.g. beam search).
      validation_key: the dotted `data` key that turns the validation split off (`refit` needs
        one); None when the task cannot refit.
      distillable: whether a student of this task can be distilled from a teacher of it.
      evaluates_exports: whether `evaluate_export` can score a SavedModel on a raw test split.
      exports_saved_model: whether a finished run is exported as a SavedModel (a pretraining
        task's output is the preset `after_save` writes instead).
      calibrates_int8: whether a LiteRT `--quantize int8` export quantizes activations too (full
        integer), calibrated on the run's own training inputs; else weights only (dynamic range).
      predict_example: `kzoo-predict`'s flags for one example request of this task's export (the
        end-of-run summary's next steps); empty when there is none.
    """

    name: str = ""
    monitor: str = "val_loss"
    mode: str = "min"
    main_metrics: tuple[str, ...] = ()
    data_schema: Mapping[str, Any] = {}
    export_schema: Mapping[str, Any] = {}
    validation_key: str | None = None
    distillable: bool = False
    evaluates_exports: bool = False
    exports_saved_model: bool = True
    calibrates_int8: bool = False
    predict_example: str = ""

    # ------------------------------------------------------------------ training
    def check_config(self, config: RunConfig) -> RunConfig | None:
        """Return `config`, completed where the task knows more (e.g. a checkpoint's architecture), or None
        when it has nothing to add; raise ConfigError (or DataError) for a config this task cannot run,
        before anything is written."""
        return config

    def loss(self) -> keras.losses.Loss:
        """A fresh loss object for `model.compile`."""
        raise NotImplementedError

    def metrics(self) -> list:
        """Fresh metric objects for `model.compile`."""
        return []

    def weighted_metrics(self) -> list:
        """Fresh metric objects weighted by the data's sample weights (e.g. only the masked tokens)."""
        return []

    def load_data(self, config: dict, source: str, data_dir: str | None, seed: int, batch_size: int,
                  shard: tuple[int, int] | None, preprocessor=None) -> DataBundle:
        """Return the `DataBundle` (train / val / test pipelines, preprocessor, sizes) for `config`."""
        raise NotImplementedError

    def load_preprocessor(self, directory: Path):
        """Reload the preprocessor a run saved in `directory` (None for tasks without one)."""
        return None

    def example_batch(self, config: Mapping, batch_size: int = 8, seed: int = 0):
        """A fixed random `(inputs, targets)` batch shaped like the entry's real data."""
        raise NotImplementedError

    def after_save(self, run_dir, model: keras.Model, preprocessor, config: Mapping) -> dict:
        """Write what the task makes of a finished model besides `model.keras` (a pretraining run's
        preset); return entries for `metrics.json`. Called once, by the chief, after `model.keras`."""
        return {}

    def chance_level(self, config: Mapping, bundle) -> dict | None:
        """What a model that only guesses scores on `bundle`'s validation split, in the `monitor` metric.

        `{"value": float, "examples": int, "guess": "what the guess is"}`, or None when the task has
        no such baseline (the trainer then says nothing). A run at or near it learned nothing.
        """
        return None

    # ------------------------------------------------------------------ refit
    def has_validation(self, config: Mapping) -> bool:
        """Whether `config` carves a validation split (what `train.refit` chooses epochs with)."""
        return False

    def without_validation(self) -> dict:
        """The dotted overrides that make training use train + validation (refit): `{"data.val_fraction": 0.0}`."""
        raise NotImplementedError

    # ------------------------------------------------------------------ serving
    def add_serving_endpoints(self, archive, model, config: Mapping, preprocessor) -> dict:
        """Add this task's signatures to a `keras.export.ExportArchive`; return {name: endpoint}."""
        raise NotImplementedError

    # ------------------------------------------------------------------ portable runtimes
    def tensor_endpoint(self, model, config: Mapping, preprocessor):
        """The tensor-only signature LiteRT and ONNX exports run (`kzoo.signatures.tensor.TensorEndpoint`).

        It takes what the raw-input signature's preprocessing makes (token ids, model indices,
        pixels) and returns the same outputs, or their ids; its `example` is `example_batch(config)`
        in its inputs. Tasks without one raise ExportError (the default).
        """
        raise ExportError(f"task {self.name!r} has no tensor-only signature: it cannot be exported for a portable "
                          "runtime (LiteRT, ONNX)")

    def write_export_extras(self, preprocessor, directory: Path) -> None:
        """Write files a SavedModel's clients may read beside it into `directory` (its `assets.extra/`,
        which TF Serving ignores): recommenders' item titles. Default: nothing."""

    def profile_signatures(self, sample: Mapping[str, Any]) -> dict:
        """{signature: its inputs} for an export's training profile (`kzoo.export.profile`), made from
        `sample`, NumPy arrays of the bundle's `raw_train` examples: which signatures the profile
        describes and what each is fed. Default: `serving_default`, fed the sample as it is."""
        return {"serving_default": dict(sample)}

    def known_ids(self, preprocessor) -> dict:
        """{input name: every id the model knows} for the id inputs whose coverage a training profile
        tracks (a recommender's users and items); default: none."""
        return {}

    def write_preprocessing_assets(self, preprocessor, directory: Path) -> dict:
        """Write the preprocessing as plain files (vocabularies, id maps) into `directory`; return its spec.

        The spec (file names relative to `directory`, standardisation rules, ids) goes into a
        portable export's metadata, so a caller can make the tensor-only signature's inputs.
        """
        return {}

    def tensor_inputs(self, raw: Mapping, preprocessor) -> dict:
        """The tensor-only signature's inputs (NumPy) for raw `serving_default` inputs, as the spec says."""
        raise NotImplementedError

    def serving_outputs(self, outputs: Mapping, preprocessor) -> dict:
        """`serving_default`'s outputs made from the tensor-only signature's (default: they are the same)."""
        return dict(outputs)

    def serving_example(self, batch: int) -> dict:
        """Representative raw inputs of `batch` examples for `serving_default` (latency benchmarks)."""
        raise NotImplementedError

    def evaluate_export(self, signature, config: Mapping, info: Mapping, data_dir: str | None, batch_size: int,
                        max_examples: int | None) -> dict:
        """Score an export's `serving_default` on the raw test split of the entry `config` resolves.

        Returns `{"test_<metric>": value, "test_examples": n}`. Only tasks with
        `evaluates_exports` implement it (recommenders: leave-one-out needs the run's data).
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ distillation
    def check_student(self, teacher: Mapping, student: Mapping, preprocessor=None) -> None:
        """Raise ConfigError unless `student` reads the teacher's inputs and predicts its outputs."""

    def __repr__(self) -> str:
        return f"<Task {self.name}>"


_TASKS: dict[str, Task] = {}


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: register one instance of a `Task` subclass under `cls.name`; return `cls`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no `name`")
    if cls.name in _TASKS:
        raise ValueError(f"task {cls.name!r} is already registered")
    _TASKS[cls.name] = cls()
    return cls


def registered_tasks() -> dict[str, Task]:
    """{name: task} of every registered task."""
    return dict(_TASKS)


def lookup_task(name: str) -> Task:
    """The registered task called `name`; UnknownTaskError (listing the valid names) otherwise."""
    if name not in _TASKS:
        close = difflib.get_close_matches(str(name), list(_TASKS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownTaskError(f"unknown task {name!r}: no data loader, loss or serving endpoints are registered for "
                               f"it.{hint} Registered tasks: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]
