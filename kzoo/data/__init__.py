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
    preprocessor=None,
) -> DataBundle:
    """Return the train/val/test pipelines for a resolved zoo config (`kzoo.get_config(name)`).

    Args:
      config: resolved config with `task`, `model`, `data` and `train` sections.
      source: "auto", "tfds", "synthetic" or a path to the user's own files.
      data_dir: tfds data directory (default `$TFDS_DATA_DIR`, else `~/tensorflow_datasets`).
      seed: seeds the validation carve-out, the shuffles and the synthetic generators.
      batch_size: global batch size; defaults to `config["train"]["batch_size"]`.
      shard: `(num_workers, worker_index)` to give each worker its part of the training data.
      preprocessor: a fitted preprocessor to reuse (a run's vocabulary or id maps, see
        `load_preprocessor`) instead of fitting a new one on the training split.
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
    extra = {"preprocessor": preprocessor} if preprocessor is not None else {}
    return loader(config, source, data_dir, seed, batch_size, shard, **extra)


def load_preprocessor(directory):
    """Load the preprocessor a run saved in `directory` (text vocabulary, seq2seq vocabularies or id maps)."""
    import json
    from pathlib import Path

    directory = Path(directory)
    if (directory / "user_ids.txt").is_file():
        from kzoo.data.recommender import IdMaps

        return IdMaps.load(directory)
    settings_file = directory / "preprocessor.json"
    if not settings_file.is_file():
        raise DataError(f"no saved preprocessor in {str(directory)!r} (preprocessor.json or user_ids.txt)")
    kind = json.loads(settings_file.read_text(encoding="utf-8")).get("kind")
    if kind == "seq2seq":
        from kzoo.data.seq2seq_preprocessing import Seq2SeqPreprocessor

        return Seq2SeqPreprocessor.load(directory)
    from kzoo.data.text_preprocessing import TextPreprocessor

    return TextPreprocessor.load(directory)


__all__ = [
    "DataBundle",
    "DataError",
    "DataUnavailableError",
    "is_prepared",
    "load_data",
    "load_preprocessor",
    "load_tfds",
    "network_reachable",
    "resolve_data_dir",
]
