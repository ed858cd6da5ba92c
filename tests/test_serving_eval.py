"""`kzoo.serving_eval`: test accuracy of a SavedModel's `serving_default` on raw inputs (tiny exports)."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo import serving_eval
from kzoo.signatures import scoring
from kzoo.export import export_model

TEXTS = ["a great film, I loved it", "the worst movie ever <br /> boring", "great acting", "dull and long plot",
         "loved the music", "worst plot", "film film film", ""]


@pytest.fixture(scope="module")
def text_export(tmp_path_factory, tiny_config):
    from kzoo.data.text import TextPreprocessor

    keras.utils.set_random_seed(0)
    fitted = TextPreprocessor.adapt(tf.data.Dataset.from_tensor_slices(TEXTS), 12, 50, class_names=["neg", "pos"])
    config = tiny_config("lstm", **{"model.vocab_size": fitted.vocabulary_size})
    model = kzoo.build_from_config(config, compile=False)
    path = export_model(model, config, fitted, tmp_path_factory.mktemp("lstm") / "export")
    keras_labels = np.argmax(model(fitted(TEXTS), training=False), axis=-1)
    return path, keras_labels


def test_accuracy_matches_the_keras_model(text_export):
    path, keras_labels = text_export
    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    labels = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    result = scoring.evaluate_signature(fn, np.array(TEXTS, dtype=object), labels, "text", batch_size=3)
    assert result == {"test_accuracy": float(np.mean(keras_labels == labels)), "test_examples": len(TEXTS)}
    # Names decide when both sides have them: the data's labels in the opposite order flip every hit.
    flipped = scoring.evaluate_signature(fn, np.array(TEXTS, dtype=object), labels, "text", batch_size=3,
                                              class_names=["neg", "pos"], label_names=["pos", "neg"])
    assert flipped["test_accuracy"] == pytest.approx(1 - result["test_accuracy"])


def test_evaluate_export_reads_the_raw_split(text_export, monkeypatch):
    path, keras_labels = text_export
    monkeypatch.setattr(scoring, "raw_test_split",
                        lambda dataset, data_dir, max_examples=None: (np.array(TEXTS, dtype=object), keras_labels,
                                                                    ["neg", "pos"]))
    result = serving_eval.evaluate_export(path, "unused")
    assert result["entry"] == "lstm" and result["quantization"] is None
    assert result["test_accuracy"] == 1.0 and result["test_examples"] == len(TEXTS)


def test_recommender_exports_are_refused(tmp_path):
    (tmp_path / "assets.extra").mkdir()
    (tmp_path / "assets.extra" / "kzoo.json").write_text(json.dumps({"entry": "gmf", "task": "recommendation"}))
    with pytest.raises(ValueError, match="not supported"):
        serving_eval.evaluate_export(tmp_path)
