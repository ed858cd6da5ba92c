"""Translation signature: source `text` strings in, `translation` strings out.

The graph holds the whole pipeline: the source `TextVectorization` over the run's vocabulary,
the model's decoding loop — `greedy_decode`, or `beam_decode` when `export.beam_size` > 1 (with
`export.length_penalty`) — which stops once every sentence has ended and runs at most
`data.target_length` steps (capped by the model's position table), and
`Seq2SeqPreprocessor.detokenize` (stop at [END], drop padding, glue punctuation back), all TensorFlow ops.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from kzoo.errors import ExportError
from kzoo.models.transformer_seq2seq import decode
from kzoo.signatures.core import add_endpoint
from kzoo.data import seq2seq_preprocessing as sp
from kzoo.data.text_preprocessing import write_vocabulary
from kzoo.signatures.tensor import TensorEndpoint
from kzoo.signatures.text import tokenizer_layer


def add_endpoints(archive, model, config, preprocessor) -> dict:
    """Add `serving_default`: `text` tf.string `[None]` -> `translation` tf.string `[None]`."""
    source = tokenizer_layer(preprocessor, "source_layer")
    if not callable(getattr(preprocessor, "detokenize", None)):
        raise ExportError(f"cannot export seq2seq: {type(preprocessor).__name__} has no detokenize(ids)")
    archive.track(source)
    decode = _decoder(model, config, preprocessor)

    def translate(text):
        return {"translation": preprocessor.detokenize(decode(tf.cast(source(text), tf.int32)))}

    spec = tf.TensorSpec([None], tf.string, name="text")
    return {"serving_default": add_endpoint(archive, "serving_default", translate, [spec])}


def _decoder(model, config, preprocessor):
    """source ids `[B, S]` -> target ids `[B, steps]` (greedy or beam search, see `export`), as both signatures decode."""
    steps = min(config.data.target_length, config.model.max_length)
    start_id, end_id = int(preprocessor.start_id), int(preprocessor.end_id)
    options = decoding_options(config)
    return lambda source_ids: decode(model, source_ids, steps, start_id, end_id, **options)


def decoding_options(config) -> dict:
    """`{"beam_size", "length_penalty"}` of the config's `export` section (greedy when it has none)."""
    options = config.get("export") or {}
    return {"beam_size": int(options.get("beam_size", 1)), "length_penalty": float(options.get("length_penalty", 0.0))}


def tensor_endpoint(model, config, preprocessor, example: dict) -> TensorEndpoint:
    """`source_ids` int32 `[None, source_length]` -> `target_ids` int32 `[None, steps]` (decoded as `_decoder`).

    The ids stop with [END] and are 0 after it; `write_assets`' spec says how to make words of them.
    `example` is the task's example batch (its `encoder_inputs` are source ids).
    """
    decode = _decoder(model, config, preprocessor)
    spec = tf.TensorSpec([None, int(preprocessor.source_length)], tf.int32, name="source_ids")
    inputs_of = lambda x: {"source_ids": x["encoder_inputs"]}  # noqa: E731
    return TensorEndpoint(lambda source_ids: {"target_ids": decode(source_ids)}, [spec], inputs_of(example), inputs_of)


def write_assets(preprocessor, directory: Path) -> dict:
    """Write `source_vocabulary.txt` and `target_vocabulary.txt` into `directory`; return the spec a client follows."""
    write_vocabulary(Path(directory), preprocessor.source_vocabulary, "source_vocabulary.txt")
    write_vocabulary(Path(directory), preprocessor.target_vocabulary, "target_vocabulary.txt")
    standardize = ([{"op": "lowercase", "note": "ASCII letters only (tf.strings.lower)"}] if preprocessor.lowercase
                   else [])
    standardize.append({"op": "regex_replace", "pattern": sp._SPLIT_PUNCTUATION, "rewrite": r" \1 "})
    return {"source_vocabulary": "source_vocabulary.txt", "target_vocabulary": "target_vocabulary.txt",
            "standardize": standardize, "split": "whitespace",
            "lookup": "line i of a vocabulary is id i; unknown words are id 1",
            "padding_id": sp.PAD_ID, "source_length": int(preprocessor.source_length),
            "truncate_pad": "the first source_length ids are kept, then 0s are appended",
            "start_id": int(preprocessor.start_id), "end_id": int(preprocessor.end_id),
            "detokenize": ["stop at end_id; drop ids 0 and start_id; ids past the vocabulary read as id 1",
                           "join the words with spaces",
                           {"op": "regex_replace", "pattern": r" ([.,!?;:)\]])", "rewrite": r"\1"},
                           {"op": "regex_replace", "pattern": r"([(\[]) ", "rewrite": r"\1"}]}
