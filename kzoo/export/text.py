"""Text classifier signature: raw `text` strings in, `probabilities` and `label` out.

The run's tokenizer (`TextPreprocessor.layer`: a `TextVectorization` over the saved vocabulary,
or the WordPiece tokenizer + packer of `bert_cls`) runs inside the graph, so it pads and
truncates exactly as in training. The input spec is declared as `tf.string [None]` here; a
TextVectorization exported on its own would get a float signature (keras-team/keras#19396).
WordPiece tokenizers use TensorFlow Text ops: clients of those exports `import tensorflow_text`.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from kzoo.export.core import ExportError, add_endpoint
from kzoo.export.image import classifier_outputs


def load_preprocessor(directory: Path):
    """Load the run's `TextPreprocessor` from `<run>/preprocessing`."""
    if not Path(directory).is_dir():
        raise ExportError(f"{directory} not found: a text classifier run must hold its saved tokenizer")
    from kzoo.data.text import TextPreprocessor

    return TextPreprocessor.load(directory)


def tokenizer_layer(preprocessor, attribute: str = "layer"):
    """Return the Keras layer mapping strings to ids that `preprocessor.<attribute>` holds."""
    import keras

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
