"""Corpus BLEU (sacrebleu) of a translation model, decoding with a function passed in.

`decode_fn(model, encoder_inputs, max_length, start_id, end_id) -> int ids [B, max_length]`
(as `kzoo.models.transformer_seq2seq.greedy_decode`): position t holds the token after
`[START, out[0..t-1]]`, `end_id` where a sentence finishes, padding after it.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import sacrebleu
import tensorflow as tf


def make_bleu_evaluator(preprocessor, raw_pairs: Mapping[str, tuple[Sequence[str], Sequence[str]]],
                        decode_fn: Callable, batch_size: int = 128) -> Callable[..., dict]:
    """Return `evaluate(model, split) -> {"bleu": corpus BLEU, "bleu_examples": n}`.

    `preprocessor`: a `Seq2SeqPreprocessor`; `raw_pairs`: {split: (sources, references)} raw
    strings; `decode_fn`: the decoding loop (see the module docstring). The hypotheses are
    detokenized and scored against the untouched references with `sacrebleu.corpus_bleu`.
    """

    def evaluate(model, split: str = "test") -> dict:
        if split not in raw_pairs:
            raise ValueError(f"no split {split!r} to score; known splits: {sorted(raw_pairs)}")
        sources, references = raw_pairs[split]
        hypotheses = translate(model, sources, preprocessor, decode_fn, batch_size)
        score = sacrebleu.corpus_bleu(list(hypotheses), [list(references)])
        return {"bleu": float(score.score), "bleu_examples": len(references)}

    return evaluate


def translate(model, sources: Sequence[str], preprocessor, decode_fn: Callable, batch_size: int = 128) -> np.ndarray:
    """Return the detokenized translations (array of str) of raw `sources`."""
    source_length = preprocessor.source_length

    @tf.function(input_signature=[tf.TensorSpec([None, source_length], tf.int32)], reduce_retracing=True)
    def decode(encoder_inputs):
        ids = decode_fn(model, encoder_inputs, max_length=preprocessor.target_length,
                        start_id=preprocessor.start_id, end_id=preprocessor.end_id)
        return preprocessor.detokenize(ids)

    batches = tf.data.Dataset.from_tensor_slices(np.asarray(sources, dtype=str)).batch(batch_size)
    outputs = [decode(preprocessor.encode_source(batch)).numpy() for batch in batches]
    return np.char.decode(np.concatenate(outputs).astype(bytes), "utf-8") if outputs else np.array([], dtype=str)
