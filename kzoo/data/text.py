"""Text-classification data: int32 token ids `[B, data.sequence_length]` (0 = padding), int32 labels.

Sources: tfds `imdb_reviews` (`data.dataset`), the user's aclImdb-style folder or CSV/TSV tables,
or synthetic reviews. The tokenizer (`TextPreprocessor`, word-level or WordPiece when
`data.tokenizer: wordpiece`) learns its vocabulary from the training split only (after the
validation carve-out), and is the bundle's `preprocessor`. With `data.length_sorted_chunks: K`
(> 0), every split is batched by `pipeline.length_sorted_batches`: chunks of K batches are sorted
by review length and each batch is trimmed to its longest review (rounded up to 64 tokens).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from kzoo import pretrained
from kzoo.data import files, pipeline, synthetic
from kzoo.data.bundle import DataBundle
from kzoo.data.text_preprocessing import TextPreprocessor
from kzoo.data.tfds_source import label_names, dataset_size, load_tfds
from kzoo.errors import DataError


def load_text_data(config: dict, source: str, data_dir: str | None, seed: int,
                   batch_size: int, shard: tuple[int, int] | None, preprocessor=None) -> DataBundle:
    """Return a DataBundle of `(int32 ids [B, L], int32 labels)` for a text_classification config.

    A fitted `preprocessor` (e.g. a run's saved one) is reused instead of learning a new vocabulary.

    `source`: "auto", "tfds", "synthetic", or a path (aclImdb-style folder, CSV/TSV file, or a
    folder with `train.csv` [and `test.csv`]). Validation is `data.val_fraction` of the training data.
    """
    data, model = config.data, config.model
    num_classes = model.num_classes
    name = data.dataset
    kind, notes = pipeline.choose_source(source, name, data_dir, config.task)
    if kind == "tfds":
        train, test = load_tfds(name, ["train", "test"], data_dir, as_supervised=True)
        train = train.cache()  # read once: the vocabulary pass fills it, the pipelines reuse it
        n_train, n_test = dataset_size(train, name, "train", data_dir), dataset_size(test, name, "test", data_dir)
        class_names = label_names(name, data_dir)
    else:
        if kind == "files":
            arrays, class_names, file_notes = read_user_text(source, num_classes, seed, data)
            name, notes = files.absolute(source), notes + file_notes
        else:
            n = pipeline.synthetic_size(data)
            x, y, xt, yt = synthetic.synthetic_reviews(n, max(n // 4, 10), num_classes, seed)
            arrays, name = (x, y, xt, yt), "synthetic/text_classification"
            class_names = ["neg", "pos"] if num_classes == 2 else [str(i) for i in range(num_classes)]
        train = tf.data.Dataset.from_tensor_slices(arrays[:2])
        test = tf.data.Dataset.from_tensor_slices(arrays[2:])
        n_train, n_test = len(arrays[1]), len(arrays[3])
    (train, n_train), (test, n_test) = pipeline.first_examples(data, kind, (train, n_train), (test, n_test))
    if len(class_names) > num_classes:
        raise DataError(f"{name} has {len(class_names)} classes {class_names} but model.num_classes={num_classes}")
    train, n_train = labelled_subset(train, n_train, data.train_examples, seed, "train", notes)
    # The same test reviews whatever the run's seed: runs that differ in seed or start are scored alike.
    test, n_test = labelled_subset(test, n_test, data.test_examples, 0, "test", notes)

    train, val, n_fit, n_val = pipeline.carve_validation(train, n_train, data.val_fraction, seed)
    preset = config.model.get("preset")  # keras-hub entries only (bert_cls)
    if preprocessor is None and preset:
        preprocessor = preset_preprocessor(preset, data.sequence_length, class_names,
                                           data.truncation)
        notes.append(f"the vocabulary of preset {preset} ({preprocessor.vocabulary_size} tokens); none learned")
    elif preprocessor is None:
        preprocessor = TextPreprocessor.adapt(
            train.map(lambda text, label: text), data.sequence_length, model.vocab_size,
            data.tokenizer, class_names, size=n_fit, truncation=data.truncation,
        )
        notes.append(f"{preprocessor.tokenizer} vocabulary of {preprocessor.vocabulary_size} tokens "
                     f"learned from the {n_fit} training examples only")
    else:
        notes.append(f"reused the given {preprocessor.tokenizer} vocabulary of {preprocessor.vocabulary_size} tokens")

    def vectorize(texts, labels):
        return preprocessor(texts), tf.cast(labels, tf.int32)

    raw_train = pipeline.raw_inputs(train, n_fit, "text")  # the strings a client sends: the export's profile
    train, test = (pipeline.map_in_chunks(ds, vectorize) for ds in (train, test))
    buffer = min(data.shuffle_buffer or n_fit, n_fit)  # null = the whole split
    chunk = data.length_sorted_chunks

    def batched(ds, size, training=False):
        if not chunk:
            return pipeline.finish(ds, batch_size, size, training=training, seed=seed,
                                   shard=shard if training else None, shuffle_buffer=buffer)
        chunks = pipeline.finish(ds, batch_size * chunk, size, training=training, seed=seed,
                                 shard=shard if training else None, shuffle_buffer=buffer)
        rows = pipeline.shard_size(size, shard) if training else size
        return pipeline.length_sorted_batches(chunks, batch_size, rows, shuffle_seed=seed if training else None)

    return DataBundle(
        train=batched(train, n_fit, training=True),
        val=batched(pipeline.map_in_chunks(val, vectorize), n_val) if val is not None else None,
        test=batched(test, n_test),
        source=kind,
        name=name,
        sizes={"train": pipeline.shard_size(n_fit, shard), "val": n_val, "test": n_test,
               **({"train_all_workers": n_fit} if shard else {})},
        preprocessor=preprocessor,
        notes=notes,
        raw_train=raw_train,
    )


def labelled_subset(ds: tf.data.Dataset, n: int, wanted: int, seed: int, split: str,
                    notes: list) -> tuple[tf.data.Dataset, int]:
    """`(dataset, size)`: a seeded, class-balanced `wanted` of the `n` `(text, label)` rows of `ds` (all when 0).

    The labels are read once (the texts stay in the pipeline); a note says what was kept. A subset
    larger than the split, or than a class allows, is a DataError naming the key.
    """
    if not wanted or wanted == n:
        return ds, n
    labels = np.concatenate([batch for batch in ds.map(lambda text, label: label).batch(8192).as_numpy_iterator()])
    try:
        mask = pipeline.balanced_subset(labels, wanted, seed)
    except ValueError as error:
        raise DataError(f"data.{split}_examples={wanted}: {error}") from None
    counts = np.bincount(labels[mask].astype(np.int64))
    notes.append(f"{split} split: a class-balanced subset of {wanted} of its {n} examples (seed {seed}; per class "
                 f"{', '.join(str(int(c)) for c in counts)})")
    return pipeline.keep_rows(ds, mask), wanted


def preset_preprocessor(handle: str, sequence_length: int, class_names, truncation: str = "head") -> TextPreprocessor:
    """A WordPiece `TextPreprocessor` with the vocabulary and casing of the checkpoint `handle`."""
    settings = pretrained.tokenizer_settings(handle)
    return TextPreprocessor(settings["vocabulary"], sequence_length, len(settings["vocabulary"]), "wordpiece",
                            class_names, lowercase=settings["lowercase"], strip_accents=settings["strip_accents"],
                            truncation=truncation)


def read_user_text(source: str, num_classes: int, seed: int, data: dict):
    """Read the user's text data -> ((x_train, y_train, x_test, y_test), class_names, notes).

    Accepts an aclImdb-style folder (`train/<class>/*.txt` [and `test/<class>/*.txt`]), a folder
    with `train.csv|tsv` [and `test.csv|tsv`], or one CSV/TSV file. Every layout follows one rule:
    without test data (one file, no `test.csv`, no `test/`), the test split is `data.test_fraction`
    (default 0.2) of the training rows, chosen with `seed`, and a note says so.
    """
    path = files.require_path(source)
    notes = []
    if path.is_dir() and (path / "train").is_dir():
        x, y, class_names = files.read_text_folder(path, "train")
        test = files.read_text_folder(path, "test", class_names)[:2] if (path / "test").is_dir() else None
        train_name, blank = "train/", 0
    else:
        train_file, test_file = _tables(path)
        x, y, class_names, blank = files.read_text_table(train_file, None, num_classes)
        train_name, test = train_file.name, None
        if test_file is not None:
            xt, yt, _, blank_test = files.read_text_table(test_file, class_names, num_classes)
            test, blank = (xt, yt), blank + blank_test
    if test is None:
        fraction = data.test_fraction
        is_test = pipeline.validation_mask(len(y), fraction, seed + 1)
        x, y, test = x[~is_test], y[~is_test], (x[is_test], y[is_test])
        notes.append(f"{train_name} has no separate test data: {int(is_test.sum())} rows ({fraction:.0%}) "
                     f"held out as test")
    if blank:
        notes.append(f"skipped {blank} blank line(s) in {path}")
    return (x, y, *test), class_names, notes


def _tables(path: Path) -> tuple[Path, Path | None]:
    """The (train, test or None) tables of a CSV/TSV file or a folder holding `train.csv|tsv`."""
    if path.is_file() and path.suffix.lower() in (".csv", ".tsv"):
        return path, None
    if not path.is_dir():
        raise DataError(f"{path}: expected an aclImdb-style folder (train/<class>/*.txt), "
                        f"a .csv/.tsv file with text,label columns, or a folder with train.csv [and test.csv]")
    return _table(path, "train"), _table(path, "test", required=False)


def _table(folder: Path, split: str, required: bool = True) -> Path | None:
    for suffix in (".csv", ".tsv"):
        if (folder / f"{split}{suffix}").is_file():
            return folder / f"{split}{suffix}"
    if not required:
        return None
    raise DataError(f"{folder}: no {split}.csv or {split}.tsv (expected train/ [and test/] folders "
                    f"of .txt files, or train.csv [and test.csv] with text,label columns)")
