"""Score a served signature on raw test inputs: classifier accuracy, translation BLEU.

The SavedModel gets what a client has: review strings for the text classifiers, uint8 images
`[N, 28, 28]` for the image classifiers, German sentences for the translator (corpus BLEU of the
`translation` strings against the raw references, sacrebleu). Predicted label ids are read through
the export's `class_names` when it has them (so a run trained on differently ordered labels is
still scored right). Each Task's `evaluate_export` picks the reader and the scorer.
"""

from __future__ import annotations

import numpy as np
import sacrebleu
import tensorflow as tf
import tensorflow_datasets as tfds

from kzoo.data.seq2seq import find_raw_folder, read_user_pairs
from kzoo.data.tfds_source import label_names, resolve_data_dir


def raw_test_split(dataset: str, data_dir: str | None, max_examples: int | None = None):
    """`(inputs, labels, label_names)` of a tfds dataset's test split as NumPy arrays.

    Inputs are byte strings (text) or uint8 `[N, H, W]` images (the channel axis dropped when it is 1).
    """
    data_dir = resolve_data_dir(data_dir)
    split = f"test[:{max_examples}]" if max_examples else "test"
    x, y = tfds.as_numpy(tfds.load(dataset, split=split, data_dir=data_dir, download=False, as_supervised=True,
                                   batch_size=-1))
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    return x, np.asarray(y), label_names(dataset, data_dir)


def raw_test_pairs(data: dict, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """`(sources, references)` of a translation entry's raw test split (`data` is its data section).

    `data_dir` is the folder of parallel files (`train.de`, `test_2016_flickr.de`, ...) or a data
    directory beside which `raw/<dataset>` lies (as `tools/train.py --data-dir` accepts).
    """
    folder = find_raw_folder(data.dataset, data_dir) or data_dir
    pairs, _ = read_user_pairs(str(folder), data, seed=0)
    return pairs["test"]


def evaluate_translation(fn, sources, references, batch_size: int = 128) -> dict:
    """Corpus BLEU (sacrebleu) of a `text -> translation` signature's outputs against `references`."""
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


def evaluate_classifier_export(fn, config: dict, info: dict, input_name: str, data_dir: str | None,
                               batch_size: int, max_examples: int | None) -> dict:
    """Accuracy of a classifier export's `serving_default` on its dataset's raw tfds test split."""
    inputs, labels, names = raw_test_split(config.data.dataset, data_dir, max_examples)
    return evaluate_signature(fn, inputs, labels, input_name, batch_size, info.get("class_names"), names)
