"""Text classifier signature: raw `text` strings in, `probabilities` and `label` out.

The run's tokenizer (`TextPreprocessor.layer`: a `TextVectorization` over the saved vocabulary,
or the WordPiece tokenizer + packer of `bert_cls`) runs inside the graph, so it pads and
truncates exactly as in training; the padding a batch does not need is then cut off (`trim_padding`). The input spec is declared as `tf.string [None]` here; a
TextVectorization exported on its own would get a float signature (keras-team/keras#19396).
WordPiece tokenizers use TensorFlow Text ops: clients of those exports `import tensorflow_text`.
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

from kzoo.data import text_preprocessing as tp
from kzoo.data.text_preprocessing import write_vocabulary
from kzoo.errors import ExportError
from kzoo.signatures.core import add_endpoint, classifier_outputs


def tokenizer_layer(preprocessor, attribute: str = "layer"):
    """Return the Keras layer mapping strings to ids that `preprocessor.<attribute>` holds."""
    layer = getattr(preprocessor, attribute, None)
    if not isinstance(layer, keras.layers.Layer):
        kind = type(preprocessor).__name__
        raise ExportError(f"cannot export text: preprocessor {kind} has no Keras tokenizer layer in .{attribute}")
    if not layer.built:
        layer(tf.constant([""]))  # a loaded vocabulary leaves it unbuilt; ExportArchive tracks built layers only
    return layer


# Requests are cut to these widths (the smallest that holds the batch's longest input): a short query
# then runs the model over a few positions instead of the full data.sequence_length, and a compiled
# (XLA) caller sees few distinct shapes. The models mask padding, as training's trimmed batches need.
BUCKET_WIDTHS = (16, 32, 64, 128, 256, 512)


def trim_padding(token_ids: tf.Tensor, padding_id: int = 0) -> tf.Tensor:
    """Drop the trailing all-padding columns of `[batch, length]` ids, keeping a `BUCKET_WIDTHS` width.

    Returns `token_ids[:, :width]`, `width` the smallest bucket at least as wide as the batch's
    last non-padding position (the full length when no bucket is narrower), at least one column.
    """
    length = tf.shape(token_ids)[1]
    positions = tf.range(1, length + 1)[tf.newaxis, :]
    used = tf.reduce_max(tf.where(token_ids != padding_id, positions, 0))
    buckets = tf.constant(BUCKET_WIDTHS, tf.int32)
    fitting = tf.boolean_mask(buckets, buckets >= tf.maximum(used, 1))
    width = tf.minimum(tf.reduce_min(tf.concat([fitting, [length]], 0)), length)
    return token_ids[:, :width]


def add_endpoints(archive, model, config, preprocessor) -> dict:
    """Add `serving_default`: `text` tf.string `[None]` -> `probabilities`, `label`."""
    tokenizer = tokenizer_layer(preprocessor)
    archive.track(tokenizer)  # its lookup table and vocabulary travel with the SavedModel
    ids_dtype = model.inputs[0].dtype

    def serve(text):
        token_ids = trim_padding(tf.cast(tokenizer(text), ids_dtype))
        return classifier_outputs(model(token_ids, training=False))

    spec = tf.TensorSpec([None], tf.string, name="text")
    return {"serving_default": add_endpoint(archive, "serving_default", serve, [spec])}


def write_assets(preprocessor, directory: Path) -> dict:
    """Write the tokenizer's vocabulary into `directory` as `vocabulary.txt`; return the spec a client follows.

    The spec states what the raw-input signature does to a string before the model sees it, so
    the tensor-only export's caller can reproduce it: `standardize` steps in order (RE2 patterns,
    as `tf.strings.regex_replace` reads them), how words are split and looked up, and the padding.
    """
    write_vocabulary(Path(directory), preprocessor.vocabulary, tp.VOCAB_FILE)
    length = int(preprocessor.sequence_length)
    breaks = {"op": "regex_replace", "pattern": r"<br\s*/?>", "rewrite": " "}
    if preprocessor.tokenizer == "word":
        return {"tokenizer": "word", "vocabulary": tp.VOCAB_FILE, "vocabulary_size": preprocessor.vocabulary_size,
                "standardize": [{"op": "lowercase", "note": "ASCII letters only (tf.strings.lower)"}, breaks,
                                {"op": "regex_replace", "pattern": tp.PUNCTUATION, "rewrite": " "}],
                "split": "whitespace", "lookup": "line i of the vocabulary is id i; unknown words are id 1",
                "padding_id": 0, "sequence_length": length,
                "truncate_pad": f"the first {length} ids are kept, then 0s are appended up to {length}"}
    vocabulary = preprocessor.vocabulary
    return {"tokenizer": "wordpiece", "vocabulary": tp.VOCAB_FILE, "vocabulary_size": preprocessor.vocabulary_size,
            "standardize": [breaks], "lowercase": preprocessor.lowercase, "strip_accents": preprocessor.strip_accents,
            "split": "BERT basic tokenizer: whitespace, punctuation and CJK characters "
                     "(keras_hub.tokenizers.WordPieceTokenizer defaults)",
            "suffix_indicator": "##", "unknown_id": vocabulary.index("[UNK]"),
            "start_id": vocabulary.index("[CLS]"), "end_id": vocabulary.index("[SEP]"), "padding_id": 0,
            "sequence_length": length,
            "truncation": preprocessor.truncation,
            "truncate_pad": _wordpiece_truncation(length - 2, preprocessor.truncation) + f", then 0s up to {length}"}


def _wordpiece_truncation(kept: int, truncation: str) -> str:
    """How the export cuts a text of more than `kept` pieces, in words (the spec's `truncate_pad`)."""
    head = tp.head_share(kept, truncation)
    if head == kept:
        return f"[CLS] + the first {kept} pieces + [SEP]"
    if head == 0:
        return f"[CLS] + the last {kept} pieces + [SEP]"
    return f"[CLS] + the first {head} and the last {kept - head} pieces + [SEP]"
