"""Text classifier signature: raw `text` strings in, `probabilities` and `label` out.

The run's tokenizer (`TextPreprocessor.layer`: a `TextVectorization` over the saved vocabulary,
or the WordPiece tokenizer + packer of `bert_cls`) runs inside the graph, so it pads and
truncates exactly as in training. The input spec is declared as `tf.string [None]` here; a
TextVectorization exported on its own would get a float signature (keras-team/keras#19396).
WordPiece tokenizers use TensorFlow Text ops: clients of those exports `import tensorflow_text`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from kzoo.signatures.core import ExportError, add_endpoint, classifier_outputs


def tokenizer_layer(preprocessor, attribute: str = "layer"):
    """Return the Keras layer mapping strings to ids that `preprocessor.<attribute>` holds."""
    layer = getattr(preprocessor, attribute, None)
    if not isinstance(layer, keras.layers.Layer):
        kind = type(preprocessor).__name__
        raise ExportError(f"cannot export text: preprocessor {kind} has no Keras tokenizer layer in .{attribute}")
    if not layer.built:
        layer(tf.constant([""]))  # a loaded vocabulary leaves it unbuilt; ExportArchive tracks built layers only
    return layer


def add_endpoints(archive, model, config, preprocessor) -> dict:
    """Add `serving_default`: `text` tf.string `[None]` -> `probabilities`, `label`."""
    tokenizer = tokenizer_layer(preprocessor)
    archive.track(tokenizer)  # its lookup table and vocabulary travel with the SavedModel
    ids_dtype = model.inputs[0].dtype

    def serve(text):
        token_ids = tf.cast(tokenizer(text), ids_dtype)
        return classifier_outputs(model(token_ids, training=False))

    spec = tf.TensorSpec([None], tf.string, name="text")
    return {"serving_default": add_endpoint(archive, "serving_default", serve, [spec])}
