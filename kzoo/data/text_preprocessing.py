"""`TextPreprocessor`: raw review strings -> int32 token ids `[B, sequence_length]` (0 = padding).

Two tokenizers: "word" (default; `keras.layers.TextVectorization` with `standardize_review`) and
"wordpiece" (keras-hub WordPiece with [PAD]=0, [UNK], [CLS], [SEP]; output `[CLS] pieces [SEP]`;
vocabulary from `kzoo.data.wordpiece`, keras-hub's algorithm with vectorised word counting).
The vocabulary is learned from the texts given to `adapt` (the training split only). `save`
writes `vocabulary.txt` and `preprocessor.json`; `load` rebuilds an identical tokenizer.
The standardize functions are registered Keras serializables and pure TF graph ops, so a
SavedModel export can tokenize `tf.string` inputs inside the graph.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import keras
import tensorflow as tf

from kzoo import progress

PUNCTUATION = r'[!"#$%&()\*\+,\-\./:;<=>?@\[\\\]^_`{|}~\']'
WORDPIECE_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
MASK_TOKEN = "[MASK]"  # reserved after the specials by masked-language-model vocabularies (`bert_mlm`)
CONFIG_FILE, VOCAB_FILE = "preprocessor.json", "vocabulary.txt"
TRUNCATIONS = ("head", "tail", "head_tail")  # which pieces of an over-long text WordPiece inputs keep


def head_share(kept: int, truncation: str) -> int:
    """How many of the `kept` pieces come from the start of an over-long text; the rest come from its end.

    `head_tail` keeps a quarter from the start and three quarters from the end: Sun et al. (2019,
    "How to Fine-Tune BERT for Text Classification?") found 128 + 382 of 510 best on IMDB, where the
    opening sets the scene and the verdict sits at the end.
    """
    return {"head": kept, "tail": 0, "head_tail": kept // 4}[truncation]


def truncate_pieces(pieces: tf.RaggedTensor, kept: int, truncation: str = "head") -> tf.RaggedTensor:
    """Cut every row of ragged pieces `[B, None]` to at most `kept`, as `truncation` says (rows that fit are kept whole).

    A vectorised gather over the flat values (no per-row Python): rows keep `[0, h)` and `[n - (kept - h), n)`.
    """
    head = head_share(kept, truncation)
    n = pieces.row_lengths()
    starts = pieces.row_starts()
    head_len = tf.minimum(n, head)
    tail_start = tf.maximum(head_len, n - (kept - head))
    index = tf.concat([tf.ragged.range(starts, starts + head_len), tf.ragged.range(starts + tail_start, starts + n)],
                      axis=1)
    return tf.gather(pieces.values, index)


@keras.saving.register_keras_serializable(package="kzoo")
def standardize_review(text):
    """Lowercase, replace HTML line breaks (`<br />`) by spaces and strip punctuation (tf.string op)."""
    text = tf.strings.lower(text)
    text = tf.strings.regex_replace(text, r"<br\s*/?>", " ")
    return tf.strings.regex_replace(text, PUNCTUATION, " ")


@keras.saving.register_keras_serializable(package="kzoo")
def strip_html_breaks(text):
    """Replace HTML line breaks (`<br />`) by spaces; WordPiece does the rest (tf.string op)."""
    return tf.strings.regex_replace(text, r"<br\s*/?>", " ")


def write_vocabulary(directory: Path, vocabulary: Sequence[str], filename: str = VOCAB_FILE) -> None:
    """Write one token a line (UTF-8); line i holds id i."""
    (directory / filename).write_text("\n".join(vocabulary), encoding="utf-8")


def read_vocabulary(directory: Path, filename: str = VOCAB_FILE) -> list[str]:
    """Read a vocabulary written by `write_vocabulary`."""
    return (Path(directory) / filename).read_text(encoding="utf-8").split("\n")


def _standardize_outside_layer() -> bool:
    """True on non-TensorFlow backends, where `standardize_review` runs before the layer.

    Keras 3.15's TextVectorization hands a callable `standardize` a NumPy array on the JAX and
    torch backends, which fails inside a tf.data graph ("Cannot convert a symbolic tf.Tensor to a
    numpy array"); applying the same tf.strings function first gives the same ids.
    """
    return keras.backend.backend() != "tensorflow"


def _word_vectorizer(max_tokens: int, sequence_length: int, vocabulary=None):
    # A known vocabulary goes to the constructor rather than `set_vocabulary`: only a layer made
    # without one creates the MutableHashTable `adapt` counts tokens in, which an export would
    # otherwise carry unused (and which no LiteRT/ONNX converter or tensorflowjs reads).
    return keras.layers.TextVectorization(
        max_tokens=max_tokens,
        standardize=None if _standardize_outside_layer() else standardize_review,
        output_sequence_length=sequence_length,
        vocabulary=None if vocabulary is None else [t for t in vocabulary if t not in ("", "[UNK]")],
        name="text_vectorizer",
    )


class TextPreprocessor:
    """Tokenizer of a text-classification entry plus its class names.

    Build with `TextPreprocessor.adapt(train_texts, ...)` or `TextPreprocessor.load(directory)`;
    call on a batch of strings to get int32 ids `[B, sequence_length]`.
    """

    def __init__(self, vocabulary: Sequence[str], sequence_length: int, max_tokens: int,
                 tokenizer: str = "word", class_names: Sequence[str] | None = None,
                 lowercase: bool = True, strip_accents: bool = True, truncation: str = "head"):
        if tokenizer not in ("word", "wordpiece"):
            raise ValueError(f"data.tokenizer must be 'word' or 'wordpiece', got {tokenizer!r}")
        if truncation not in TRUNCATIONS or (tokenizer == "word" and truncation != "head"):
            raise ValueError(f"data.truncation={truncation!r}: valid are {', '.join(TRUNCATIONS)}, and only 'head' "
                             f"with data.tokenizer: word")
        self.truncation = truncation
        self.tokenizer, self.sequence_length, self.max_tokens = tokenizer, int(sequence_length), int(max_tokens)
        self.class_names = list(class_names or [])
        # WordPiece casing: kzoo's own vocabularies lowercase and strip accents; a hub preset's may not.
        self.lowercase, self.strip_accents = bool(lowercase), bool(strip_accents)
        if tokenizer == "word":
            self.layer = _word_vectorizer(max_tokens, sequence_length, vocabulary)
        else:
            self.layer = _wordpiece_layer(list(vocabulary), sequence_length, self.lowercase, self.strip_accents,
                                          truncation)
        self.vocabulary = [str(t) for t in self._layer_vocabulary()]

    @classmethod
    def adapt(cls, texts: tf.data.Dataset, sequence_length: int, max_tokens: int,
              tokenizer: str = "word", class_names: Sequence[str] | None = None,
              size: int | None = None, extra_reserved: Sequence[str] = (),
              truncation: str = "head") -> "TextPreprocessor":
        """Learn the vocabulary from a dataset of scalar strings (the training split only), saying so on stderr.

        `size`: how many texts there are, for that line, when the dataset cannot tell.
        `extra_reserved`: WordPiece tokens reserved after the specials (e.g. `[MASK]`).
        """
        batches = texts.batch(1024)
        n = progress.count(texts) or size
        kind = "WordPiece" if tokenizer == "wordpiece" else "word"
        with progress.step(f"learning the {kind} vocabulary from {n if n is not None else 'the'} training texts"):
            if tokenizer == "wordpiece":
                # keras-hub and TensorFlow Text's learner: imported only for WordPiece vocabularies.
                from kzoo.data.wordpiece import learn_wordpiece_vocabulary

                vocabulary = learn_wordpiece_vocabulary(batches.map(strip_html_breaks), max_tokens,
                                                        reserved_tokens=WORDPIECE_SPECIALS + list(extra_reserved),
                                                        batches=-(-n // 1024) if n else None)
            else:
                layer = _word_vectorizer(max_tokens, sequence_length)
                layer.adapt(batches.map(standardize_review) if _standardize_outside_layer() else batches)
                vocabulary = layer.get_vocabulary()
        return cls(vocabulary, sequence_length, max_tokens, tokenizer, class_names, truncation=truncation)

    def _layer_vocabulary(self) -> list:
        if self.tokenizer == "word":
            return self.layer.get_vocabulary()
        return self.layer.tokenizer.get_vocabulary()

    @property
    def vocabulary_size(self) -> int:
        """Number of ids the tokenizer can produce (ids lie in [0, vocabulary_size))."""
        return len(self.vocabulary)

    def model_overrides(self) -> dict:
        """Model config values only the data knows: the real vocabulary size."""
        return {"vocab_size": self.vocabulary_size}

    def __call__(self, strings) -> tf.Tensor:
        """Return int32 ids `[B, sequence_length]` for a batch (or list) of strings."""
        strings = tf.convert_to_tensor(strings)
        if self.tokenizer == "word" and _standardize_outside_layer():
            strings = standardize_review(strings)
        return tf.cast(self.layer(strings), tf.int32)

    def save(self, directory) -> None:
        """Write `vocabulary.txt` and `preprocessor.json` into `directory` (created if needed)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_vocabulary(directory, self.vocabulary)
        settings = {
            "kind": "text_preprocessor", "tokenizer": self.tokenizer,
            "sequence_length": self.sequence_length, "max_tokens": self.max_tokens,
            "class_names": self.class_names,
            "standardize": "kzoo>standardize_review" if self.tokenizer == "word" else "kzoo>strip_html_breaks",
            **({"lowercase": self.lowercase, "strip_accents": self.strip_accents, "truncation": self.truncation}
               if self.tokenizer == "wordpiece" else {}),
        }
        (directory / CONFIG_FILE).write_text(json.dumps(settings, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory) -> "TextPreprocessor":
        """Rebuild the preprocessor saved in `directory`."""
        directory = Path(directory)
        settings = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
        return cls(read_vocabulary(directory), settings["sequence_length"], settings["max_tokens"],
                   settings["tokenizer"], settings.get("class_names"), settings.get("lowercase", True),
                   settings.get("strip_accents", True), settings.get("truncation", "head"))


@keras.saving.register_keras_serializable(package="kzoo")
class WordPieceClassifierTokens(keras.layers.Layer):
    """Strings -> `[CLS] wordpieces [SEP]` ids padded with [PAD]=0 to `sequence_length`.

    A text with more than `sequence_length - 2` pieces keeps the ones `truncation` names (`truncate_pieces`).
    """

    def __init__(self, vocabulary, sequence_length, lowercase=True, strip_accents=True, truncation="head", **kwargs):
        super().__init__(**kwargs)
        import keras_hub  # seconds to import: only for WordPiece (bert_cls) tokenizers

        self.vocabulary, self.sequence_length = list(vocabulary), int(sequence_length)
        self.lowercase, self.strip_accents, self.truncation = bool(lowercase), bool(strip_accents), str(truncation)
        self.tokenizer = keras_hub.tokenizers.WordPieceTokenizer(
            vocabulary=vocabulary, lowercase=self.lowercase, strip_accents=self.strip_accents, oov_token="[UNK]",
        )
        self.packer = keras_hub.layers.StartEndPacker(
            sequence_length=sequence_length, start_value=vocabulary.index("[CLS]"),
            end_value=vocabulary.index("[SEP]"), pad_value=0, return_padding_mask=False,
        )

    def build(self, input_shape=None):
        self.built = True  # the tokenizer and packer hold no weights

    def call(self, strings):
        if self.truncation == "head":
            return self.packer(self.tokenizer(strip_html_breaks(strings)))
        # The packer cuts the end off; other choices are made before it.
        pieces = self.tokenizer(strip_html_breaks(strings))
        if isinstance(pieces, list):  # eager keras-hub tokenizes in Python and returns lists
            pieces = tf.ragged.constant(pieces, dtype=self.tokenizer.compute_dtype)
        if isinstance(pieces, tf.RaggedTensor):
            pieces = truncate_pieces(pieces, self.sequence_length - 2, self.truncation)
        else:  # one string: its pieces are a dense vector
            pieces = truncate_pieces(tf.RaggedTensor.from_tensor(pieces[tf.newaxis]), self.sequence_length - 2,
                                     self.truncation)[0]
        return self.packer(pieces)

    def get_config(self) -> dict:
        return {**super().get_config(), "vocabulary": self.vocabulary, "sequence_length": self.sequence_length,
                "lowercase": self.lowercase, "strip_accents": self.strip_accents, "truncation": self.truncation}


def _wordpiece_layer(vocabulary: list, sequence_length: int, lowercase: bool = True,
                     strip_accents: bool = True, truncation: str = "head") -> WordPieceClassifierTokens:
    # [PAD] must be id 0 (the models mask ids == 0); the other specials may sit anywhere (hub vocabularies).
    if not vocabulary or vocabulary[0] != "[PAD]" or not set(WORDPIECE_SPECIALS) <= set(vocabulary):
        raise ValueError(f"a WordPiece vocabulary must start with [PAD] and hold {WORDPIECE_SPECIALS}")
    return WordPieceClassifierTokens(vocabulary, sequence_length, lowercase, strip_accents, truncation,
                                     name="wordpiece_tokens")
