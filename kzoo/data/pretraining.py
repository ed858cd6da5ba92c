"""Masked-language-model data: unlabelled text -> WordPiece ids -> BERT-style masked batches.

Sources: the tfds splits `data.splits` of `data.dataset` (default `imdb_reviews`
`[unsupervised, train]`, labels dropped; a `test` split is refused: pretraining never sees the
text a fine-tuned model is scored on), the user's own text (a file with one document per line, or
a folder of `.txt` files), or synthetic reviews. `data.val_fraction` of the documents is held out;
the WordPiece vocabulary (with `[MASK]`) is learned from the rest only.

Each batch is `({"token_ids", "segment_ids", "padding_mask", "mask_positions"}, mask_ids,
mask_weights)`, the inputs of keras-hub's `BertMaskedLM`. Masking is keras-hub's
`MaskedLMMaskGenerator` mapped over whole batches: training batches get fresh masks every epoch
(dynamic masking), the held-out batches are masked once and cached, so every epoch is scored on
the same masked tokens.
"""

from __future__ import annotations

import re

import keras_hub
import numpy as np
import tensorflow as tf

from kzoo.data import files, pipeline, synthetic
from kzoo.data.bundle import DataBundle
from kzoo.data.text_preprocessing import MASK_TOKEN, TextPreprocessor
from kzoo.data.tfds_source import dataset_size, load_tfds
from kzoo.errors import DataError

AUTOTUNE = tf.data.AUTOTUNE


def check_splits(splits) -> list[str]:
    """Return `data.splits` as a list; DataError when it is empty or names a test split."""
    splits = [str(s) for s in splits]
    if not splits:
        raise DataError("data.splits is empty: name the tfds splits to pretrain on, e.g. [unsupervised, train]")
    for split in splits:
        if re.match(r"\s*test\b", split):
            raise DataError(f"data.splits includes {split!r}: pretraining never uses a test split (the fine-tuned "
                            f"model is scored on it); use e.g. [unsupervised, train]")
    return splits


def load_documents(config: dict, source: str, data_dir: str | None, seed: int):
    """Return (unbatched dataset of scalar strings, number of documents, kind, name, notes)."""
    data = config.data
    name = data.dataset
    splits = check_splits(data.splits)
    kind, notes = pipeline.choose_source(source, name, data_dir, config.task)
    if kind == "tfds":
        parts = load_tfds(name, splits, data_dir, as_supervised=True)
        sizes = [dataset_size(ds, name, split, data_dir) for ds, split in zip(parts, splits)]
        texts = parts[0]
        for part in parts[1:]:
            texts = texts.concatenate(part)
        notes.append(f"pretraining text: {' + '.join(f'{s} ({n})' for s, n in zip(splits, sizes))}, labels dropped")
        return texts.map(lambda text, label: text), sum(sizes), kind, f"{name}[{'+'.join(splits)}]", notes
    if kind == "files":
        documents, file_notes = files.read_documents(source)
        name, notes = files.absolute(source), notes + file_notes
    else:
        n = pipeline.synthetic_size(data)
        documents = synthetic.synthetic_reviews(n, 1, 2, seed)[0]
        name = "synthetic/masked_lm"
    return tf.data.Dataset.from_tensor_slices(documents), len(documents), kind, name, notes


def mask_generator(preprocessor: TextPreprocessor, mask_rate: float) -> keras_hub.layers.MaskedLMMaskGenerator:
    """keras-hub's BERT masking for `preprocessor`'s vocabulary: `mask_rate` of the real tokens are predicted.

    Of those, 80 % become `[MASK]`, 10 % a random token, 10 % stay; `[PAD]`, `[CLS]`, `[SEP]` are never chosen.
    """
    vocabulary = preprocessor.vocabulary
    length = preprocessor.sequence_length
    return keras_hub.layers.MaskedLMMaskGenerator(
        vocabulary_size=len(vocabulary),
        mask_selection_rate=mask_rate,
        mask_token_id=vocabulary.index(MASK_TOKEN),
        mask_selection_length=max(1, int(np.ceil(length * mask_rate))),
        unselectable_token_ids=[vocabulary.index(t) for t in ("[PAD]", "[CLS]", "[SEP]")],
    )


def masked_batches(ids: tf.data.Dataset, masker, mask_rate: float) -> tf.data.Dataset:
    """Map batches of int32 ids `[B, L]` (0 = padding) to `(inputs, mask_ids, mask_weights)` for BertMaskedLM.

    The masked positions are cut to `ceil(L * mask_rate)`, the most a row of `L` tokens can have:
    a length-trimmed batch of short reviews then scores fewer padded positions in the vocabulary-wide
    output layer (the costliest layer of a small BERT), and each batch width gives one shape.
    """

    def mask(batch, _unused_label):
        masked = masker(batch)
        keep = tf.minimum(tf.cast(tf.math.ceil(tf.cast(tf.shape(batch)[1], tf.float32) * mask_rate), tf.int32),
                          tf.shape(masked["mask_positions"])[1])
        inputs = {
            "token_ids": tf.cast(masked["token_ids"], tf.int32),
            "segment_ids": tf.zeros_like(batch),
            "padding_mask": tf.not_equal(batch, 0),  # the original padding: a random token never pads
            "mask_positions": tf.cast(masked["mask_positions"][:, :keep], tf.int32),
        }
        return (inputs, tf.cast(masked["mask_ids"][:, :keep], tf.int32),
                tf.cast(masked["mask_weights"][:, :keep], tf.float32))

    return ids.map(mask, num_parallel_calls=AUTOTUNE)


def load_pretraining_data(config: dict, source: str, data_dir: str | None, seed: int, batch_size: int,
                          shard: tuple[int, int] | None, preprocessor=None) -> DataBundle:
    """Return a DataBundle of masked batches for a `masked_lm` config (see the module docstring).

    There is no test split: `test` is the held-out slice (the bundle's notes say so). A fitted
    `preprocessor` (a resumed run's) is reused instead of learning a new vocabulary.
    """
    data, model = config.data, config.model
    texts, n, kind, name, notes = load_documents(config, source, data_dir, seed)
    [(texts, n)] = pipeline.first_examples(data, kind, (texts, n))
    texts = texts.cache()  # read once: the vocabulary pass fills it, the pipelines reuse it
    fit, held_out, n_fit, n_val = pipeline.carve_validation(texts, n, data.val_fraction, seed)
    if held_out is None:
        raise DataError("data.val_fraction is 0: masked-language-model pretraining needs a held-out slice to score")
    if preprocessor is None:
        preprocessor = TextPreprocessor.adapt(fit, data.sequence_length, model.vocab_size,
                                              "wordpiece", size=n_fit, extra_reserved=[MASK_TOKEN])
        notes.append(f"wordpiece vocabulary of {preprocessor.vocabulary_size} tokens learned from the {n_fit} "
                     f"pretraining documents only")
    if MASK_TOKEN not in preprocessor.vocabulary:
        raise DataError(f"the vocabulary has no {MASK_TOKEN} token: masked-language-model pretraining needs one")
    notes.append(f"no test split: {n_val} held-out documents ({data.get('val_fraction', 0.02):.0%}) score every "
                 f"epoch and the final model (masked-token loss and accuracy)")
    mask_rate = data.mask_rate
    masker = mask_generator(preprocessor, mask_rate)

    def tokenize(strings):
        ids = preprocessor(strings)
        return ids, tf.zeros(tf.shape(ids)[:1], tf.int32)  # a dummy label: the batching helpers carry pairs

    buffer = min(data.shuffle_buffer or n_fit, n_fit)
    chunk = data.length_sorted_chunks

    def batched(ds, size, training):
        ds = pipeline.map_in_chunks(ds, tokenize)
        rows = pipeline.shard_size(size, shard) if training else size
        if not chunk:
            ids = pipeline.finish(ds, batch_size, size, training=training, seed=seed,
                                  shard=shard if training else None, shuffle_buffer=buffer)
        else:
            chunks = pipeline.finish(ds, batch_size * chunk, size, training=training, seed=seed,
                                     shard=shard if training else None, shuffle_buffer=buffer)
            ids = pipeline.length_sorted_batches(chunks, batch_size, rows, shuffle_seed=seed if training else None)
        masked = masked_batches(ids, masker, mask_rate)
        if not training:
            masked = masked.cache()  # the same masks every epoch: comparable held-out scores
        return masked.apply(tf.data.experimental.assert_cardinality(-(-rows // batch_size))).prefetch(AUTOTUNE)

    val = batched(held_out, n_val, training=False)
    return DataBundle(
        train=batched(fit, n_fit, training=True),
        val=val,
        test=val,
        source=kind,
        name=name,
        sizes={"train": pipeline.shard_size(n_fit, shard), "val": n_val, "test": 0,
               **({"train_all_workers": n_fit} if shard else {})},
        preprocessor=preprocessor,
        notes=notes,
    )
