"""Data loading for every zoo task: `load_data(config, source, ...) -> DataBundle`.

Sources: "auto" (the real tfds data when prepared or downloadable, else generated data, said
out loud), "tfds", "synthetic", or a filesystem path to the user's own files (format detected).
Each task's loader lives in its own module; recommender data comes from `kzoo.data.recommender`.
"""

from __future__ import annotations

import importlib

from kzoo.data.bundle import DataBundle
from kzoo.data.tfds_source import (
    DataError,
    DataUnavailableError,
    is_prepared,
    load_tfds,
    network_reachable,
    resolve_data_dir,
)

# task -> (module, loader function); modules are imported only when their task is requested.
_LOADERS = {
    "image_classification": ("kzoo.data.images", "load_image_data"),
    "text_classification": ("kzoo.data.text", "load_text_data"),
    "seq2seq": ("kzoo.data.seq2seq", "load_seq2seq_data"),
    "recommendation": ("kzoo.data.recommender", "load_recommender_data"),
}


def load_data(
    config: dict,
    source: str = "auto",
    data_dir: str | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    shard: tuple[int, int] | None = None,
) -> DataBundle:
    """Return the train/val/test pipelines for a resolved zoo config (`kzoo.get_config(name)`).

    Args:
      config: resolved config with `task`, `model`, `data` and `train` sections.
      source: "auto", "tfds", "synthetic" or a path to the user's own files.
      data_dir: tfds data directory (default `$TFDS_DATA_DIR`, else `~/tensorflow_datasets`).
      seed: seeds the validation carve-out, the shuffles and the synthetic generators.
      batch_size: global batch size; defaults to `config["train"]["batch_size"]`.
      shard: `(num_workers, worker_index)` to give each worker its part of the training data.
    Returns a `DataBundle`. Raises DataUnavailableError, DataError or ValueError (unknown task).
    """
    task = config.get("task")
    if task not in _LOADERS:
        raise ValueError(f"no data loader for task {task!r}; known tasks: {sorted(_LOADERS)}")
    if batch_size is None:
        batch_size = int(config["train"]["batch_size"])
    if shard is not None:
        num_workers, index = shard
        if not (num_workers >= 1 and 0 <= index < num_workers):
            raise DataError(f"shard must be (num_workers, worker_index) with 0 <= index < num_workers, got {shard}")
    module_name, function = _LOADERS[task]
    loader = getattr(importlib.import_module(module_name), function)
    return loader(config, source, data_dir, seed, batch_size, shard)


__all__ = [
    "DataBundle",
    "DataError",
    "DataUnavailableError",
    "is_prepared",
    "load_data",
    "load_tfds",
    "network_reachable",
    "resolve_data_dir",
]
