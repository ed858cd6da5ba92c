"""`Seq2SeqPreprocessor`: sentence pairs <-> token ids for translation models, and back to text.

Source: `[B, source_length]` ids. Target: `decoder_inputs = [START] + words` and
`targets = words + [END]`, both `[B, target_length]` (0 = padding, 1 = [UNK], 2 = [START],
3 = [END]). Case is kept (or lowercased with `lowercase=True`); punctuation becomes separate
tokens, and `detokenize` glues it back, so BLEU is computed on ordinary detokenized text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import keras
import tensorflow as tf

from kzoo import progress
from kzoo.data.text_preprocessing import read_vocabulary, write_vocabulary

PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3
_SPLIT_PUNCTUATION = r'([.,!?;:"()\[\]])'
CONFIG_FILE = "preprocessor.json"


@keras.saving.register_keras_serializable(package="kzoo")
def standardize_sentence(text):
    """Put spaces around punctuation so it becomes separate tokens; case kept (tf.string op)."""
    return tf.strings.regex_replace(text, _SPLIT_PUNCTUATION, r" \1 ")


@keras.saving.register_keras_serializable(package="kzoo")
def standardize_sentence_lower(text):
    """`standardize_sentence`, lowercased (tf.string op)."""
    return standardize_sentence(tf.strings.lower(text))


def _vectorizer(max_tokens, length, lowercase, vocabulary=None, name=None):
    layer = keras.layers.TextVectorization(
        max_tokens=max_tokens,
        standardize=standardize_sentence_lower if lowercase else standardize_sentence,
        output_sequence_length=length,
        ragged=length is None,
        name=name,
    )
    if vocabulary is not None:
        layer.set_vocabulary([t for t in vocabulary if t not in ("", "[UNK]")])
    return layer


class Seq2SeqPreprocessor:
    """Source and target vectorizers of a translation entry; build with `adapt` or `load`."""

    def __init__(self, source_vocabulary: Sequence[str], target_vocabulary: Sequence[str],
                 source_length: int, target_length: int, lowercase: bool = False):
        if list(target_vocabulary[2:4]) != ["[START]", "[END]"]:
            raise ValueError("target vocabulary must hold [START] and [END] at ids 2 and 3")
        self.source_length, self.target_length = int(source_length), int(target_length)
        self.lowercase = bool(lowercase)
        self.source_layer = _vectorizer(len(source_vocabulary), self.source_length, lowercase,
                                        source_vocabulary, "source_vectorizer")
        self.target_layer = _vectorizer(len(target_vocabulary), None, lowercase,
                                        target_vocabulary, "target_vectorizer")
        self.source_vocabulary = [str(t) for t in self.source_layer.get_vocabulary()]
        self.target_vocabulary = [str(t) for t in self.target_layer.get_vocabulary()]
        self.start_id, self.end_id = START_ID, END_ID

    @classmethod
    def adapt(cls, sources: tf.data.Dataset, targets: tf.data.Dataset, source_length: int,
              target_length: int, source_vocab_size: int, target_vocab_size: int,
              lowercase: bool = False) -> "Seq2SeqPreprocessor":
        """Learn both vocabularies from datasets of scalar strings (the training split only)."""
        n = progress.count(sources)
        with progress.step(f"learning the source and target vocabularies from {n if n is not None else 'the'} "
                           "training pairs"):
            source = _vectorizer(source_vocab_size, source_length, lowercase)
            source.adapt(sources.batch(1024))
            target = _vectorizer(target_vocab_size - 2, None, lowercase)  # room for [START], [END]
            target.adapt(targets.batch(1024))
        target_vocabulary = ["", "[UNK]", "[START]", "[END]"] + target.get_vocabulary()[2:]
        return cls(source.get_vocabulary(), target_vocabulary, source_length, target_length, lowercase)

    def model_overrides(self) -> dict:
        """Model config values only the data knows: the real vocabulary sizes."""
        return {"source_vocab_size": len(self.source_vocabulary), "target_vocab_size": len(self.target_vocabulary)}

    def encode_source(self, strings) -> tf.Tensor:
        """Return int32 source ids `[B, source_length]`."""
        return tf.cast(self.source_layer(tf.convert_to_tensor(strings)), tf.int32)

    def encode_target(self, strings) -> tuple[tf.Tensor, tf.Tensor]:
        """Return `(decoder_inputs, targets)`, int32 `[B, target_length]` each."""
        words = tf.cast(self.target_layer(tf.convert_to_tensor(strings)), tf.int32)[:, : self.target_length - 1]
        rows = words.nrows()
        start = tf.fill([rows, 1], START_ID)
        end = tf.fill([rows, 1], END_ID)
        shape = [None, self.target_length]
        decoder_inputs = tf.concat([start, words], axis=1).to_tensor(PAD_ID, shape=shape)
        targets = tf.concat([words, end], axis=1).to_tensor(PAD_ID, shape=shape)
        return decoder_inputs, targets

    def __call__(self, sources, targets):
        """Return `({"encoder_inputs", "decoder_inputs"}, targets)` for batches of sentence strings."""
        decoder_inputs, labels = self.encode_target(targets)
        return {"encoder_inputs": self.encode_source(sources), "decoder_inputs": decoder_inputs}, labels

    def detokenize(self, ids) -> tf.Tensor:
        """Return tf.string sentences `[B]` for target ids `[B, T]`: stops at [END], drops [PAD]/[START]."""
        ids = tf.cast(ids, tf.int32)
        ids = tf.where(ids < len(self.target_vocabulary), ids, UNK_ID)
        before_end = tf.cumsum(tf.cast(tf.equal(ids, END_ID), tf.int32), axis=1) == 0
        keep = before_end & tf.not_equal(ids, PAD_ID) & tf.not_equal(ids, START_ID)
        words = tf.ragged.boolean_mask(tf.gather(tf.constant(self.target_vocabulary), ids), keep)
        text = tf.strings.reduce_join(words, axis=-1, separator=" ")
        text = tf.strings.regex_replace(text, r" ([.,!?;:)\]])", r"\1")
        return tf.strings.regex_replace(text, r"([(\[]) ", r"\1")

    def save(self, directory) -> None:
        """Write both vocabularies and `preprocessor.json` into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_vocabulary(directory, self.source_vocabulary, "source_vocabulary.txt")
        write_vocabulary(directory, self.target_vocabulary, "target_vocabulary.txt")
        settings = {"kind": "seq2seq_preprocessor", "source_length": self.source_length, "target_length": self.target_length,
                    "lowercase": self.lowercase, "start_id": START_ID, "end_id": END_ID,
                    "standardize": "kzoo>standardize_sentence" + ("_lower" if self.lowercase else "")}
        (directory / CONFIG_FILE).write_text(json.dumps(settings, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory) -> "Seq2SeqPreprocessor":
        """Rebuild the preprocessor saved in `directory`."""
        directory = Path(directory)
        settings = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
        return cls(read_vocabulary(directory, "source_vocabulary.txt"),
                   read_vocabulary(directory, "target_vocabulary.txt"),
                   settings["source_length"], settings["target_length"], settings["lowercase"])
