"""The `data` section of each loader: every key it reads, with the default it uses when a config omits it.

`IMAGE_DATA` (`kzoo.data.images`), `TEXT_DATA` (`kzoo.data.text`), `PRETRAINING_DATA`
(`kzoo.data.pretraining`), `TRANSLATION_DATA` (`kzoo.data.seq2seq`), `RECOMMENDATION_DATA` (`kzoo.data.recommender`) and
`SEQUENTIAL_RECOMMENDATION_DATA` (`kzoo.data.recommender.sequences`); see `kzoo.schema`.
"""

from __future__ import annotations

from kzoo.schema import REQUIRED, Key, Section

_VAL_FRACTION = Key(float, 0.1, min=0, max=1, max_open=True, doc="share of the training data held out for validation")
_SHUFFLE_BUFFER = Key(int, None, min=0, min_open=True, doc="shuffle buffer in examples; null = the whole training split")
_SYNTHETIC_SIZE = Key(int, 4000, min=10, doc="generated training examples (`--data synthetic`)")
# What `--tiny` sets `data.max_examples` to (unless the entry's `tiny` section does): a smoke run reads
# this many examples of each split of a real dataset, so it takes seconds however large the dataset is.
TINY_MAX_EXAMPLES = 1000
_MAX_EXAMPLES = Key(int, 0, min=0, doc="examples read from each split of a tfds or file source (the first ones); "
                    f"0 = all; --tiny sets {TINY_MAX_EXAMPLES}")

# The few-labels and WordPiece keys of text classification (`kzoo.data.text`).
_TRUNCATION = Key(str, "head", choices=("head", "tail", "head_tail"),
                  doc="which WordPiece pieces a longer text keeps: its start, its end, or a quarter from the start "
                      "and the rest from the end (head_tail; best on IMDB in Sun et al. 2019)")
_TRAIN_EXAMPLES = Key(int, 0, min=0, doc="train on a seeded, class-balanced subset of N labelled examples, "
                      "validation carved from those N (few labels); 0 = the whole training split")
_TEST_EXAMPLES = Key(int, 0, min=0, doc="score on a fixed, class-balanced subset of N test examples (the same "
                     "whatever the seed); 0 = the whole test split")

IMAGE_DATA: Section = {
    "dataset": Key(str, "mnist", doc="tfds name"),
    "val_fraction": _VAL_FRACTION,
    "shuffle_buffer": _SHUFFLE_BUFFER,
    "synthetic_size": _SYNTHETIC_SIZE,
    "max_examples": _MAX_EXAMPLES,
}

TEXT_DATA: Section = {
    "dataset": Key(str, "imdb_reviews", doc="tfds name"),
    "tokenizer": Key(str, "word", choices=("word", "wordpiece")),
    "sequence_length": Key(int, REQUIRED, min=0, min_open=True, doc="token ids per example (padded or cut)"),
    "val_fraction": _VAL_FRACTION,
    "test_fraction": Key(float, 0.2, min=0, max=1, min_open=True, max_open=True,
                         doc="share of a single CSV/TSV file held out as test"),
    "shuffle_buffer": _SHUFFLE_BUFFER,
    "length_sorted_chunks": Key(int, 0, min=0, doc="batches per length-sorted chunk, padding trimmed; 0 = off"),
    "truncation": _TRUNCATION,
    "train_examples": _TRAIN_EXAMPLES,
    "test_examples": _TEST_EXAMPLES,
    "synthetic_size": _SYNTHETIC_SIZE,
    "max_examples": _MAX_EXAMPLES,
}

TRANSLATION_DATA: Section = {
    "dataset": Key(str, "multi30k", doc="raw folder name looked up beside the tfds data directory"),
    "tfds_name": Key(str, "wmt14_translate/de-en", doc="tfds dataset of `--data tfds` (its supervised keys are source, "
                     "target; WMT14 holds 4.5 million pairs: data.max_examples reads a slice)"),
    "source_lang": Key(str, "de", doc="suffix of the source files (train.de)"),
    "target_lang": Key(str, "en"),
    "source_length": Key(int, REQUIRED, min=0, min_open=True),
    "target_length": Key(int, REQUIRED, min=0, min_open=True),
    "lowercase": Key(bool, False),
    "val_fraction": Key(float, 0.1, min=0, max=1, max_open=True, doc="share of train held out when no val files"),
    "test_fraction": Key(float, 0.1, min=0, max=1, min_open=True, max_open=True,
                         doc="share of train held out when no test files"),
    "shuffle_buffer": _SHUFFLE_BUFFER,
    "synthetic_size": _SYNTHETIC_SIZE,
    "max_examples": _MAX_EXAMPLES,
}

# Not data, but the translation signature's decoding (`kzoo.signatures.translation`); kept beside its data
# section so a task's config keys live in one module.
TRANSLATION_EXPORT: Section = {
    "beam_size": Key(int, 1, min=1, doc="hypotheses kept per sentence by the export's `translation` (1 = greedy)"),
    "length_penalty": Key(float, 0.6, min=0, doc="beam search's GNMT length normalisation exponent (0 = none)"),
}

RECOMMENDATION_DATA: Section = {
    "dataset": Key(str, "movielens/100k-ratings", doc="tfds name"),
    "validation": Key(bool, True, doc="hold out each user's second-latest interaction for validation"),
    "num_negatives": Key(int, 4, min=0, doc="sampled negatives per training positive"),
    "eval_negatives": Key(int, 99, min=0, min_open=True, doc="sampled candidates beside each held-out item"),
    "full_ranking": Key(bool, False, doc="rank against all items instead of sampled candidates"),
    "top_k": Key(int, 10, min=0, min_open=True),
    "retrieval": Key(bool, True, doc="the export's `recommend` of a dot-product model (gmf) is one matrix product "
                     "+ top-k (keras-rs); false: the full model scores every item"),
    "rerank_candidates": Key(int, 0, min=0, doc="`recommend` of neumf: 0 = the full model scores every item; "
                             "N = its GMF path retrieves N items, the full model re-ranks them"),
    "synthetic_users": Key(int, 200, min=0, min_open=True),
    "synthetic_items": Key(int, 300, min=0, min_open=True),
    "synthetic_per_user": Key(int, 25, min=0, min_open=True),
    "max_examples": Key(int, 0, min=0, doc="ratings read from a tfds or file source: every rating of the first "
                        f"users that fit; 0 = all; --tiny sets {TINY_MAX_EXAMPLES}"),
}

# Sequential recommendation (`kzoo.data.recommender.sequences`): the same ratings, split and candidates as
# RECOMMENDATION_DATA's, read as ordered histories; no training negatives (the loss is over every item).
SEQUENTIAL_RECOMMENDATION_DATA: Section = {
    "dataset": RECOMMENDATION_DATA["dataset"],
    "validation": RECOMMENDATION_DATA["validation"],
    "max_length": Key(int, 200, min=0, min_open=True,
                      doc="items of each history the model reads (the most recent; also model.max_length)"),
    "eval_negatives": RECOMMENDATION_DATA["eval_negatives"],
    "full_ranking": Key(bool, False, doc="validation and hr@K / ndcg@K rank against all items instead of sampled "
                        "candidates (the test reports the full-catalogue full_recall@K / full_ndcg@K either way)"),
    "top_k": RECOMMENDATION_DATA["top_k"],
    "synthetic_users": RECOMMENDATION_DATA["synthetic_users"],
    "synthetic_items": RECOMMENDATION_DATA["synthetic_items"],
    "synthetic_per_user": RECOMMENDATION_DATA["synthetic_per_user"],
    "max_examples": RECOMMENDATION_DATA["max_examples"],
}

PRETRAINING_DATA: Section = {
    "dataset": Key(str, "imdb_reviews", doc="tfds name"),
    "splits": Key(list, ["unsupervised", "train"], items=Key(str),
                  doc="tfds splits to pretrain on, labels dropped; a test split is refused"),
    "sequence_length": Key(int, REQUIRED, min=0, min_open=True, doc="WordPiece ids per document ([CLS] ... [SEP], cut)"),
    "mask_rate": Key(float, 0.15, min=0, max=1, min_open=True, max_open=True,
                     doc="share of the real tokens predicted (80 % [MASK], 10 % random, 10 % kept)"),
    "val_fraction": Key(float, 0.02, min=0, max=1, min_open=True, max_open=True,
                        doc="share of the documents held out to score the model"),
    "shuffle_buffer": _SHUFFLE_BUFFER,
    "length_sorted_chunks": Key(int, 0, min=0, doc="batches per length-sorted chunk, padding trimmed; 0 = off"),
    "synthetic_size": _SYNTHETIC_SIZE,
    "max_examples": _MAX_EXAMPLES,
}
