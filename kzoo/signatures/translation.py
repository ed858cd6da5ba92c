"""Translation signature: source `text` strings in, greedy `translation` strings out.

The graph holds the whole pipeline: the source `TextVectorization` over the run's vocabulary,
the model's `greedy_decode` loop (a fixed number of steps, `data.target_length`, capped by the
model's position table), and `Seq2SeqPreprocessor.detokenize` (stop at [END], drop padding,
glue punctuation back), all TensorFlow ops.
"""

from __future__ import annotations

import tensorflow as tf

from kzoo.models.transformer_seq2seq import greedy_decode
from kzoo.signatures.core import ExportError, add_endpoint
from kzoo.signatures.text import tokenizer_layer


def add_endpoints(archive, model, config, preprocessor) -> dict:
    """Add `serving_default`: `text` tf.string `[None]` -> `translation` tf.string `[None]`."""
    source = tokenizer_layer(preprocessor, "source_layer")
    if not callable(getattr(preprocessor, "detokenize", None)):
        raise ExportError(f"cannot export seq2seq: {type(preprocessor).__name__} has no detokenize(ids)")
    archive.track(source)
    steps = min(int(config["data"]["target_length"]), int(config["model"]["max_length"]))
    start_id, end_id = int(preprocessor.start_id), int(preprocessor.end_id)

    def translate(text):
        source_ids = tf.cast(source(text), tf.int32)
        target_ids = greedy_decode(model, source_ids, steps, start_id, end_id)
        return {"translation": preprocessor.detokenize(target_ids)}

    spec = tf.TensorSpec([None], tf.string, name="text")
    return {"serving_default": add_endpoint(archive, "serving_default", translate, [spec])}
