"""Accuracy of an exported SavedModel's `serving_default` on its entry's raw test split.

The SavedModel gets what a client has: review strings for the text classifiers, uint8 images
`[N, 28, 28]` for the image classifiers. Predicted label ids are read through the export's
`class_names` when it has them (so a run trained on differently ordered labels is still scored
right). Recommenders are not covered: their test protocol (leave-one-out ranking) needs the
run's interactions, not a raw split.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

_TASKS = ("text_classification", "image_classification")


def export_info(export_dir) -> dict:
    """The export's `assets.extra/kzoo.json` (entry, task, quantization, class names)."""
    return json.loads((Path(export_dir) / "assets.extra" / "kzoo.json").read_text(encoding="utf-8"))


def raw_test_split(entry: str, data_dir: str | None, max_examples: int | None = None):
    """`(inputs, labels, label_names)` of the entry's tfds test split as NumPy arrays.

    Inputs are byte strings (text) or uint8 `[N, H, W]` images (the channel axis dropped when it is 1).
    """
    import tensorflow_datasets as tfds

    import kzoo
    from kzoo.data.tfds_source import label_names, resolve_data_dir

    name = kzoo.get_config(entry)["data"]["dataset"]
    data_dir = resolve_data_dir(data_dir)
    split = f"test[:{max_examples}]" if max_examples else "test"
    x, y = tfds.as_numpy(tfds.load(name, split=split, data_dir=data_dir, download=False, as_supervised=True,
                                   batch_size=-1))
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    return x, np.asarray(y), label_names(name, data_dir)


def evaluate_signature(fn, inputs, labels, input_name: str, batch_size: int = 256,
                       class_names=None, label_names=None) -> dict:
    """Accuracy of a `serving_default`-style function on NumPy `inputs` / int `labels`.

    When both `class_names` (the export's) and `label_names` (the data's) are given, predicted
    ids are mapped to names and compared with the names of the true labels.
    """
    import tensorflow as tf

    predicted = []
    for start in range(0, len(labels), batch_size):
        out = fn(**{input_name: tf.constant(inputs[start:start + batch_size])})
        predicted.append(out["label"].numpy())
    predicted = np.concatenate(predicted) if predicted else np.zeros((0,), np.int64)
    labels = np.asarray(labels)
    if class_names and label_names:
        hits = np.asarray(class_names)[predicted] == np.asarray(label_names)[labels]
    else:
        hits = predicted == labels
    return {"test_accuracy": float(hits.mean()) if len(hits) else None, "test_examples": int(len(hits))}


def evaluate_export(export_dir, data_dir: str | None = None, batch_size: int = 256,
                    max_examples: int | None = None) -> dict:
    """Score an export's `serving_default` on its entry's raw tfds test split; one JSON-able record."""
    import tensorflow as tf

    from kzoo.export import ExportError

    info = export_info(export_dir)
    if info["task"] not in _TASKS:
        raise ExportError(f"{export_dir}: evaluating a {info['task']} export is not supported "
                         f"(supported: {', '.join(_TASKS)})")
    inputs, labels, names = raw_test_split(info["entry"], data_dir, max_examples)
    fn = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    input_name = "text" if info["task"] == "text_classification" else "image"
    result = evaluate_signature(fn, inputs, labels, input_name, batch_size, info.get("class_names"), names)
    quantization = info.get("quantization") or {}
    return {"export": str(export_dir), "entry": info["entry"], "quantization": quantization.get("mode"), **result}
