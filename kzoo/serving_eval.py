"""The test metric of an exported SavedModel's `serving_default` (or of a LiteRT / ONNX export) on its entry's raw test split.

The export's `assets.extra/kzoo.json` names the entry and its task; the Task reads the raw test
split a client would send and scores the signature on it (`Task.evaluate_export`, built from
`kzoo.signatures.scoring`). Recommenders are not covered: their test protocol (leave-one-out
ranking) needs the run's interactions, not a raw split.
"""

from __future__ import annotations

import json
from pathlib import Path

import tensorflow as tf

from kzoo.errors import ExportError
from kzoo.entry_config import get_config
from kzoo.export.core import export_task
from kzoo.tasks import list_tasks


def load_saved_model(export_dir):
    """`tf.saved_model.load(export_dir)`, registering TensorFlow Text's ops first when the export uses them.

    WordPiece exports (`bert_cls`) need the `tensorflow_text` ops; importing it only when the plain
    load reports an unregistered op keeps the other exports free of that dependency. `kzoo/cli/predict.py`
    keeps its own copy of this fallback because it must run without the rest of kzoo.
    """
    try:
        return tf.saved_model.load(str(export_dir))
    except (tf.errors.NotFoundError, RuntimeError, ValueError) as err:
        if "Op type not registered" not in str(err):
            raise
        import tensorflow_text  # noqa: F401  (registers the ops; optional for non-WordPiece exports)

        return tf.saved_model.load(str(export_dir))


def export_info(export_dir) -> dict:
    """The export's `assets.extra/kzoo.json` (entry, task, quantization, class names)."""
    return json.loads((Path(export_dir) / "assets.extra" / "kzoo.json").read_text(encoding="utf-8"))


def evaluate_export(export_dir, data_dir: str | None = None, batch_size: int = 256,
                    max_examples: int | None = None) -> dict:
    """Score an export's `serving_default` on its entry's raw test split; one JSON-able record.

    `data_dir`: the tfds data directory (classifiers), or the raw parallel-text folder or a data
    directory beside `raw/<dataset>` (translation).
    """
    from kzoo.runtimes import bench as portable  # a LiteRT / ONNX export is scored through its runtime

    is_portable = portable.is_portable(export_dir)
    info = portable.export_info(export_dir) if is_portable else export_info(export_dir)
    task = export_task(info["task"])
    head = {"export": str(export_dir), "entry": info["entry"], "runtime": info.get("runtime", "savedmodel"),
            "quantization": (info.get("quantization") or {}).get("mode")}
    if not task.evaluates_exports:
        supported = list_tasks(lambda task: task.evaluates_exports)
        raise ExportError(f"{export_dir}: evaluating a {info['task']} export is not supported "
                          f"(supported: {', '.join(supported)})")
    fn = portable.as_signature(export_dir) if is_portable else load_saved_model(export_dir).signatures["serving_default"]
    config = get_config(info["entry"])
    return {**head, **task.evaluate_export(fn, config, info, data_dir, batch_size, max_examples)}
