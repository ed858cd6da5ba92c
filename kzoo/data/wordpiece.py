"""WordPiece vocabulary learning: `keras_hub.tokenizers.compute_word_piece_vocabulary`'s algorithm, faster.

keras-hub counts words in a Python loop and feeds every distinct word to the tensorflow-text
learner, whose threshold search is pure Python: about 6 minutes for IMDB's 75k distinct words on
2 cores. Here the words are counted with `tf.unique_with_counts` and the learner sees only the
`max_words` most frequent ones (rarer words still get pieces from their characters).

Both helpers are private: keras-hub's `pretokenize` (so the words are split exactly as the tokenizer
splits them) and tensorflow-text's learner. Written for keras-hub 0.32.0 and tensorflow-text 2.21.1.
When either moves, learning fails with an ImportError naming it: keras-hub's public
`compute_word_piece_vocabulary` is no fallback, since it learns from every distinct word and so
gives a different vocabulary (a silently different tokenizer for the same config).
"""

from __future__ import annotations

import importlib
import importlib.metadata

import numpy as np
import tensorflow as tf

from kzoo import progress

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]


def _private(module: str, name: str, distribution: str):
    """Return `module.name`, or raise an ImportError naming it and the installed `distribution`'s version."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        try:
            version = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            version = "(not installed)"
        raise ImportError(
            f"kzoo.data.wordpiece needs the private {module}.{name}, which {distribution} {version} does not "
            f"provide ({err}); update kzoo/data/wordpiece.py for this version (it was written for keras-hub "
            f"0.32.0 and tensorflow-text 2.21.1)"
        ) from err


def learn_wordpiece_vocabulary(texts: tf.data.Dataset, vocabulary_size: int, max_words: int | None = None,
                               reserved_tokens=SPECIALS, batches: int | None = None) -> list[str]:
    """Return a WordPiece vocabulary (reserved tokens first) learned from batches of strings.

    `texts` yields string batches `[B]` (already stripped of markup); text is lowercased and
    accent-stripped as keras-hub's `WordPieceTokenizer(lowercase=True, strip_accents=True)` does.
    `max_words` (default `vocabulary_size`) caps the distinct words given to the learner. `batches`:
    how many batches `texts` yields, for the progress bar on a terminal, when the dataset cannot tell.
    """
    pretokenize = _private("keras_hub.src.tokenizers.word_piece_tokenizer", "pretokenize", "keras-hub")
    learn = _private("tensorflow_text.tools.wordpiece_vocab.wordpiece_tokenizer_learner_lib", "learn",
                     "tensorflow-text")

    def split(batch):
        return pretokenize(batch, lowercase=True, strip_accents=True, split=True).flat_values

    bar = progress.bar(progress.count(texts) or batches)  # counting words: a pass over every batch
    chunks = []
    for chunk in texts.map(split, num_parallel_calls=tf.data.AUTOTUNE):
        chunks.append(chunk)
        if bar is not None:
            bar.update(len(chunks))
    words, _, counts = tf.unique_with_counts(tf.concat(chunks, axis=0) if chunks else tf.constant([], tf.string))
    order = np.argsort(-counts.numpy(), kind="stable")[: max_words or vocabulary_size]
    words = np.char.decode(words.numpy()[order].astype(bytes), "utf-8").tolist()
    counted = list(zip(words, counts.numpy()[order].tolist()))
    if not counted:
        return list(reserved_tokens)
    vocabulary = learn(counted, vocab_size=vocabulary_size, reserved_tokens=list(reserved_tokens),
                       include_joiner_token=True, joiner="##")
    return vocabulary[:vocabulary_size]
