"""`kzoo.training.train` exports every finished run: the SavedModel serves what the run's model computes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kzoo.training import train


def test_tiny_mlp_run_is_exported(tmp_path):
    metrics = train("mlp", tiny=True, data="synthetic", output=str(tmp_path / "run"), verbose=0)
    export = tmp_path / "run" / "export" / "1"
    assert metrics["export"] == str(export) and (export / "saved_model.pb").is_file()
    pixels = np.random.default_rng(0).integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    served = tf.saved_model.load(str(export)).signatures["serving_default"](image=tf.constant(pixels))
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    expected = tf.nn.softmax(model(pixels[..., None], training=False)).numpy()
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-5)


@pytest.mark.smoke
def test_tiny_lstm_run_is_exported_with_its_vocabulary(tmp_path):
    from kzoo.data.text import TextPreprocessor

    metrics = train("lstm", tiny=True, data="synthetic", output=str(tmp_path / "run"), verbose=0)
    export = tmp_path / "run" / "export" / "1"
    assert metrics["export"] == str(export)
    texts = ["a wonderful film", "", "terrible " * 100, "ünïcödé ☃"]
    served = tf.saved_model.load(str(export)).signatures["serving_default"](text=tf.constant(texts))
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    preprocessor = TextPreprocessor.load(tmp_path / "run" / "preprocessing")
    expected = tf.nn.softmax(model(preprocessor(texts), training=False)).numpy()
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-5)
    np.testing.assert_array_equal(served["label"], expected.argmax(-1))
