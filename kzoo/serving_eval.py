"""The test metric of an exported SavedModel's `serving_default` on its entry's raw test split.

The SavedModel gets what a client has: review strings for the text classifiers, uint8 images
`[N, 28, 28]` for the image classifiers (accuracy), German sentences for the translator (corpus
BLEU of the `translation` strings against the raw references, sacrebleu). Predicted label ids are
read through the export's `class_names` when it has them (so a run trained on differently ordered
labels is still scored right). Recommenders are not covered: their test protocol (leave-one-out
ranking) needs the run's interactions, not a raw split.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

_TASKS = ("text_classification", "image_classification", "seq2seq")


def load_saved_model(export_dir):
    """`tf.saved_model.load(export_dir)`, registering TensorFlow Text's ops first when the export uses them.

    WordPiece exports (`bert_cls`) need the `tensorflow_text` ops; importing it only when the plain
    load reports an unregistered op keeps the other exports free of that dependency. `tools/predict.py`
    keeps its own copy of this fallback because it must run without kzoo.
    """
    import tensorflow as tf

    try:
        return tf.saved_model.load(str(export_dir))
    except (tf.errors.NotFoundError, RuntimeError, ValueError) as err:
        if "Op type not registered" not in str(err):
            raise
        import tensorflow_text  # noqa: F401  (registers the ops)

        return tf.saved_model.load(str(export_dir))


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


def raw_test_pairs(entry: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """`(sources, references)` of a translation entry's raw test split.

    `data_dir` is the folder of parallel files (`train.de`, `test_2016_flickr.de`, ...) or a data
    directory beside which `raw/<dataset>` lies (as `tools/train.py --data-dir` accepts).
    """
    import kzoo
    from kzoo.data.seq2seq import find_raw_folder, read_user_pairs

    data = kzoo.get_config(entry)["data"]
    folder = find_raw_folder(data["dataset"], data_dir) or data_dir
    pairs, _ = read_user_pairs(str(folder), data, seed=0)
    return pairs["test"]


def evaluate_translation(fn, sources, references, batch_size: int = 128) -> dict:
    """Corpus BLEU (sacrebleu) of a `text -> translation` signature's outputs against `references`."""
    import sacrebleu
    import tensorflow as tf

    hypotheses = []
    for start in range(0, len(sources), batch_size):
        out = fn(text=tf.constant(np.asarray(sources[start:start + batch_size], dtype=object)))
        hypotheses += [t.decode("utf-8") for t in out["translation"].numpy()]
    score = sacrebleu.corpus_bleu(hypotheses, [list(references)])
    return {"test_bleu": float(score.score), "test_examples": len(hypotheses)}


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
    """Score an export's `serving_default` on its entry's raw test split; one JSON-able record.

    `data_dir`: the tfds data directory (classifiers), or the raw parallel-text folder or a data
    directory beside `raw/<dataset>` (translation).
    """
    from kzoo.export import ExportError

    info = export_info(export_dir)
    if info["task"] not in _TASKS:
        raise ExportError(f"{export_dir}: evaluating a {info['task']} export is not supported "
                         f"(supported: {', '.join(_TASKS)})")
    fn = load_saved_model(export_dir).signatures["serving_default"]
    quantization = (info.get("quantization") or {}).get("mode")
    head = {"export": str(export_dir), "entry": info["entry"], "quantization": quantization}
    if info["task"] == "seq2seq":
        sources, references = raw_test_pairs(info["entry"], data_dir)
        if max_examples:
            sources, references = sources[:max_examples], references[:max_examples]
        return {**head, **evaluate_translation(fn, sources, references)}
    inputs, labels, names = raw_test_split(info["entry"], data_dir, max_examples)
    input_name = "text" if info["task"] == "text_classification" else "image"
    result = evaluate_signature(fn, inputs, labels, input_name, batch_size, info.get("class_names"), names)
    return {**head, **result}
