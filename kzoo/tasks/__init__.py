"""Tasks: one `Task` object per kind of problem (see `kzoo.tasks.base`), found with `get_task`.

    from kzoo.tasks import get_task
    task = config.task_object          # a resolved config carries its task; or get_task("recommendation")
    bundle = task.load_data(config, "synthetic", None, seed=0, batch_size=32, shard=None)

`compile_model(model, config)` compiles a zoo model with its task's loss and metrics;
`load_data(config, ...)` and `example_batch(config)` dispatch to the config's task.
"""

from __future__ import annotations

from typing import Mapping

from kzoo.data.bundle import DataBundle
from kzoo.data.pipeline import max_examples
from kzoo.errors import DataError
from kzoo.run_config import RunConfig
from kzoo.tasks.base import Task, register_task
from kzoo.tasks.compile import compile_model, make_learning_rate, make_optimizer
from kzoo.tasks.lookup import discover, get_task, list_tasks


def load_data(config: dict, source: str = "auto", data_dir: str | None = None, seed: int = 0,
              batch_size: int | None = None, shard: tuple[int, int] | None = None,
              preprocessor=None) -> DataBundle:
    """Return the train/val/test pipelines for a resolved zoo config (`kzoo.get_config(name)`).

    Args:
      config: resolved config with `task`, `model`, `data` and `train` sections.
      source: "auto", "tfds", "synthetic" or a path to the user's own files.
      data_dir: tfds data directory (default `$TFDS_DATA_DIR`, else `~/tensorflow_datasets`).
      seed: seeds the validation carve-out, the shuffles and the synthetic generators.
      batch_size: global batch size; defaults to `config.train.batch_size`.
      shard: `(num_workers, worker_index)` to give each worker its part of the training data.
      preprocessor: a fitted preprocessor to reuse (a run's vocabulary or id maps) instead of
        fitting a new one on the training split.
    Returns a `DataBundle`. Raises DataUnavailableError, DataError or UnknownTaskError.
    """
    task = task_of(config)
    if batch_size is None:
        batch_size = config.train.batch_size
    if shard is not None:
        num_workers, index = shard
        if not (num_workers >= 1 and 0 <= index < num_workers):
            raise DataError(f"shard must be (num_workers, worker_index) with 0 <= index < num_workers, got {shard}")
    bundle = task.load_data(config, source, data_dir, seed, batch_size, shard, preprocessor)
    cap = max_examples(config.data, bundle.source)
    if cap is not None:
        bundle.notes.append(f"a slice: at most the first {cap} examples of each split were read (data.max_examples, "
                            "set by --tiny); its scores are a smoke test's")
    return bundle


def example_batch(config: Mapping, batch_size: int = 8, seed: int = 0):
    """A fixed random `(inputs, targets)` batch shaped like the entry's real data (tests, `--speed`)."""
    return task_of(config).example_batch(config, batch_size, seed)


def task_of(config: Mapping) -> Task:
    """The Task a resolved config carries (`config.task_object`); for a plain mapping, the one its `task`
    names (UnknownTaskError, listing the registered tasks, for a name none is registered under)."""
    return config.task_object if isinstance(config, RunConfig) else get_task(config)


discover()

__all__ = ["Task", "compile_model", "example_batch", "get_task", "list_tasks", "load_data",
           "make_learning_rate", "make_optimizer", "register_task"]
