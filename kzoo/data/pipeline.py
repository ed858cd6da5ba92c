"""Shared `tf.data` plumbing: validation carve-out, sharding, cache/shuffle/batch/prefetch, source choice."""

from __future__ import annotations

import os
from typing import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from kzoo.data import tfds_source
from kzoo.data.tfds_source import resolve_data_dir
from kzoo.errors import DataError

AUTOTUNE = tf.data.AUTOTUNE


def validation_mask(n: int, val_fraction: float, seed: int) -> np.ndarray:
    """Return a boolean array of length `n`, True for the `round(n * val_fraction)` validation rows.

    The rows are chosen by a permutation seeded with `seed`, so the same seed gives the same split.
    """
    n_val = int(round(n * float(val_fraction)))
    if val_fraction > 0 and n_val == 0 and n > 1:
        n_val = 1
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[:n_val]] = True
    return mask


def balanced_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Return a boolean mask over `labels` selecting `n` rows, as evenly over the classes as they allow.

    Each class gets `n // classes` rows (the first `n % classes` classes one more), drawn with a
    permutation seeded by `seed`; a class with too few rows raises ValueError naming it.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if n > len(labels):
        raise ValueError(f"{n} examples asked for, the split has {len(labels)}")
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for i, label in enumerate(classes):
        share = n // len(classes) + (1 if i < n % len(classes) else 0)
        rows = np.flatnonzero(labels == label)
        if share > len(rows):
            raise ValueError(f"class {label} has {len(rows)} examples, a balanced subset of {n} needs {share}")
        mask[rng.permutation(rows)[:share]] = True
    return mask


def keep_rows(ds: tf.data.Dataset, mask: np.ndarray) -> tf.data.Dataset:
    """The elements of unbatched `ds` whose index is True in `mask` (a graph-side lookup)."""
    table = tf.constant(mask)

    def kept(index, element):
        return tf.gather(table, index)

    def element_only(index, element):
        return element

    # Named functions: AutoGraph cannot read the source of two lambdas on one line (a warning per call).
    return ds.enumerate().filter(kept).map(element_only)


def carve_validation(
    ds: tf.data.Dataset, n: int, val_fraction: float, seed: int
) -> tuple[tf.data.Dataset, tf.data.Dataset | None, int, int]:
    """Split an unbatched dataset of `n` elements into (train, val, n_train, n_val).

    Uses `validation_mask` on the element index (a graph-side lookup, no Python per element).
    `val` is None when `val_fraction` is 0.
    """
    mask = validation_mask(n, val_fraction, seed)
    n_val = int(mask.sum())
    if n_val == 0:
        return ds, None, n, 0
    table = tf.constant(mask)
    indexed = ds.enumerate()

    def keep(is_val: bool):
        return lambda i, x: tf.equal(tf.gather(table, i), is_val)

    train = indexed.filter(keep(False)).map(lambda i, x: x)
    val = indexed.filter(keep(True)).map(lambda i, x: x)
    return train, val, n - n_val, n_val


def shard_size(n: int, shard: tuple[int, int] | None) -> int:
    """Return how many of `n` elements a worker keeps: `n // num_workers`, the same on every worker.

    Equal shards give every worker the same number of steps; collective all-reduces need that
    (a worker with one batch more would wait for its peers forever). At most `num_workers - 1`
    examples per epoch are left out.
    """
    if shard is None:
        return n
    return n // shard[0]


def finish(
    ds: tf.data.Dataset,
    batch_size: int,
    size: int,
    *,
    training: bool = False,
    seed: int = 0,
    shard: tuple[int, int] | None = None,
    shuffle_buffer: int | None = None,
) -> tf.data.Dataset:
    """Return `ds` (decoded, unbatched, `size` elements) sharded (train), cached, shuffled (train), batched, prefetched.

    The cardinality is asserted to be the (sharded) size, so `len(ds)` / `cardinality()` gives the
    number of batches (filters and unbatching would otherwise leave it unknown).
    """
    if training and shard is not None:
        ds = ds.shard(*shard).take(shard_size(size, shard))
        size = shard_size(size, shard)
    ds = ds.apply(tf.data.experimental.assert_cardinality(size)).cache()
    if training:
        ds = ds.shuffle(shuffle_buffer or 10_000, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(AUTOTUNE)


def map_in_chunks(ds: tf.data.Dataset, fn: Callable, chunk: int = 1024) -> tf.data.Dataset:
    """Apply a vectorised `fn` to chunks of `chunk` elements in parallel, then unbatch."""
    return ds.batch(chunk).map(fn, num_parallel_calls=AUTOTUNE).unbatch()



def raw_inputs(ds: tf.data.Dataset, size: int, name: str) -> tf.data.Dataset:
    """The unbatched `(input, label)` elements of `ds` as `{name: input}`, of cardinality `size`
    (a `DataBundle.raw_train`)."""

    def named(x, label):
        return {name: x}

    return ds.map(named).apply(tf.data.experimental.assert_cardinality(size))


def sample_rows(ds: tf.data.Dataset, count: int, seed: int) -> dict:
    """`{name: NumPy array}` of `count` elements of unbatched `ds` (all when it has fewer), drawn with `seed`.

    The rows are a uniform draw over the whole dataset, in dataset order: one pass that keeps the
    chosen indices (`keep_rows`), so memory holds the sample, never the dataset. `ds` must have a
    known cardinality (`raw_inputs` asserts it).
    """
    size = int(ds.cardinality())
    if size < 0:
        raise DataError("cannot sample a dataset of unknown size")
    mask = np.zeros(size, dtype=bool)
    mask[np.random.default_rng(seed).permutation(size)[:count]] = True
    batch = next(keep_rows(ds, mask).batch(max(count, 1)).as_numpy_iterator(), None)
    return dict(batch) if batch is not None else {}


def choose_source(source: str, tfds_name: str | None, data_dir: str | None, task: str) -> tuple[str, list]:
    """Resolve `source` to "tfds", "synthetic" or "files" and return it with notes for the bundle.

    "auto" picks tfds when `tfds_name` is prepared in `data_dir` or the network answers, else
    synthetic (printing one line saying so). A path that does not exist raises FileNotFoundError.
    """
    if source in ("tfds", "synthetic"):
        return source, []
    if source != "auto":
        if not os.path.exists(os.path.expanduser(source)):
            raise FileNotFoundError(f"data path {source!r} does not exist (expected a file or folder of {task} data)")
        return "files", []
    resolved = resolve_data_dir(data_dir)
    if tfds_name is not None:
        try:
            prepared = tfds_source.is_prepared(tfds_name, resolved)
        except DataError:
            prepared = False
        if prepared or tfds_source.network_reachable():
            return "tfds", []
    note = (
        f"{tfds_name or task} is not prepared in {resolved} and cannot be downloaded; "
        f"using generated synthetic data instead (pass --data-dir DIR or --data PATH for real data)"
    )
    print(f"kzoo.data: {note}", flush=True)
    return "synthetic", [note]


def max_examples(data: Mapping, kind: str) -> int | None:
    """How many examples of each split a `kind` source ("tfds", "files", "synthetic") gives; None: all.

    `data.max_examples` (0 = all) caps the real sources only: a synthetic set's size is `data.synthetic_size`.
    """
    cap = data.get("max_examples", 0)  # a task of a user's own may declare no such key
    return cap if cap and kind != "synthetic" else None


def first_examples(data: Mapping, kind: str, *splits: tuple[tf.data.Dataset, int]) -> list[tuple[tf.data.Dataset, int]]:
    """Each `(dataset, size)` of `splits` cut to its first `data.max_examples` examples (see `max_examples`)."""
    cap = max_examples(data, kind)
    if cap is None:
        return list(splits)
    return [(ds.take(cap), min(int(n), cap)) if n > cap else (ds, n) for ds, n in splits]


def first_rows(data: Mapping, kind: str, arrays):
    """`arrays` (a nest of arrays, one row per example) cut to their first `data.max_examples` rows."""
    cap = max_examples(data, kind)
    return arrays if cap is None else tf.nest.map_structure(lambda a: a[:cap], arrays)


def first_users(users: np.ndarray, cap: int | None) -> np.ndarray:
    """A mask keeping every interaction of the first users (in order of appearance) that fit in `cap` rows.

    Recommenders split each user's interactions leave-one-out, so a cap keeps users whole.
    """
    if cap is None or len(users) <= cap:
        return np.ones(len(users), dtype=bool)
    uniques, first, counts = np.unique(users, return_index=True, return_counts=True)
    order = np.argsort(first)
    kept = uniques[order][np.cumsum(counts[order]) <= cap]
    if not kept.size:  # one user with more than `cap` rows: keep that user alone
        kept = uniques[order][:1]
    return np.isin(users, kept)


def synthetic_size(data) -> int:
    """Return the `data` section's `synthetic_size` (the number of generated training examples), checked."""
    size = data.synthetic_size
    if size < 10:
        raise DataError(f"data.synthetic_size must be at least 10, got {size}")
    return size


def length_sorted_batches(chunks: tf.data.Dataset, batch_size: int, size: int, round_to: int = 64,
                          shuffle_seed: int | None = None) -> tf.data.Dataset:
    """Cut chunks of padded id rows into length-sorted batches with the common padding trimmed.

    `chunks` yields `(ids [C, L], labels [C])` with C a multiple of `batch_size` (the last chunk
    may be short) and 0 as trailing padding; `size` is the number of rows in an epoch. Each chunk
    is sorted by the rows' token counts and cut into batches of `batch_size`; every batch is cut
    to its longest row rounded up to `round_to` (few distinct shapes, few retraces). Masked
    models compute the same outputs on far fewer padded steps. With `shuffle_seed`, the batches
    of a chunk come in shuffled order. An epoch keeps its `ceil(size / batch_size)` batches.
    """
    def sort_chunk(ids, labels):
        order = tf.argsort(tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1), stable=True)
        return tf.gather(ids, order), tf.gather(labels, order)

    def trim(ids, labels):
        longest = tf.reduce_max(tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1))
        keep = tf.minimum(tf.shape(ids)[1], tf.maximum(1, (longest + round_to - 1) // round_to) * round_to)
        return ids[:, :keep], labels

    ds = chunks.map(sort_chunk, num_parallel_calls=AUTOTUNE).unbatch().batch(batch_size)
    if shuffle_seed is not None:
        ds = ds.shuffle(64, seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.map(trim, num_parallel_calls=AUTOTUNE)
    return ds.apply(tf.data.experimental.assert_cardinality(-(-size // batch_size))).prefetch(AUTOTUNE)
