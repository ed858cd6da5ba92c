"""`DataBundle`: what every data loader returns, whatever the task or the source."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import tensorflow as tf


@dataclasses.dataclass
class DataBundle:
    """Batched `tf.data` pipelines plus what training, evaluation and export need to know.

    Attributes:
      train, val, test: batched datasets of `(inputs, targets)` in the model's input format
        (`val` may be None when the entry has no validation split).
      source: "tfds", "files" or "synthetic" — recorded in every run.
      name: the dataset's name (tfds name, folder or file path, or "synthetic/<task>").
      sizes: number of examples per split, e.g. {"train": 22500, "val": 2500, "test": 25000}.
      preprocessor: object turning raw inputs into model inputs (text vectorizer, id maps) with
        `save(directory)` and a `load(directory)` classmethod; None for raw-pixel image models.
      evaluate: optional `evaluate(model, split) -> dict` for metrics `model.evaluate` cannot
        give (HR@10/NDCG@10 for recommenders, BLEU for seq2seq); None means `model.evaluate`.
      callbacks: extra Keras callbacks the task needs during `fit` (e.g. per-epoch val HR@10).
      notes: human-readable facts about the load (skipped rows and why, vocabulary size, ...).
      raw_train: the training split (validation carved out) as raw examples, unbatched
        `{name: value}` in the form a client sends them (review strings, uint8 images, raw ids),
        with a known cardinality; what an export's training profile samples
        (`kzoo.export.profile`). None where the loader has none.
    """

    train: tf.data.Dataset
    val: Optional[tf.data.Dataset]
    test: tf.data.Dataset
    source: str
    name: str
    sizes: dict
    preprocessor: Any = None
    evaluate: Optional[Callable[..., dict]] = None
    callbacks: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    raw_train: Optional[tf.data.Dataset] = None

    def summary(self) -> dict:
        """Return the JSON-able description recorded in `metrics.json` under `data`."""
        return {"source": self.source, "name": self.name, "sizes": dict(self.sizes), "notes": list(self.notes)}
