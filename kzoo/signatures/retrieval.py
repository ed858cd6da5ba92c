"""The graph pieces of `recommend`: score a user against the catalogue, leave out seen items, top-k.

Three ways to score a batch of user indices against every item index (0..num_items; column 0 is
the out-of-vocabulary item and never recommended), all as logits `[B, num_items + 1]`:

- `full_logits`: the model on every (user, item) pair, B x (num_items + 1) forward passes' worth.
- `DotProductRetrieval`: for dot-product models (`gmf`, see `kzoo.models.ncf.gmf_factors`), the
  query `u * w` against the item table, one matrix product, through keras-rs's
  `BruteForceRetrieval` (its candidate table *is* the model's item embedding variable, so the
  export stores it once).
- two-stage (`rerank_logits`): the same retrieval on NeuMF's GMF path picks `candidates` items,
  the full model re-scores only those.

`SeenItemsTable` holds each user's seen items (CSR, as non-trainable variables: stored once in the
export's variables, not in the graph) and their popularity, the unknown users' fallback.
`top_items` takes the top-k with the seen items masked and says which entries are padding.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

NEG_INF = float("-inf")


class SeenItemsTable(keras.layers.Layer):
    """Each user index's seen item indices (CSR `splits` / `items`) and each item's popularity.

    `popularity[i]` is the number of users who interacted with item index i (index 0: -1, never
    picked). Built from a `kzoo.data.recommender.SeenItems`; None gives an empty table.
    """

    def __init__(self, seen, num_users: int, num_items: int, **kwargs):
        super().__init__(**kwargs)
        if seen is None:
            splits, items = np.zeros(num_users + 2, np.int64), np.zeros(0, np.int32)
            popularity = np.zeros(num_items + 1, np.float32)
        else:
            splits, items = seen.splits, seen.items
            popularity = seen.popularity(num_items).astype(np.float32)
        popularity[0] = -1.0
        self.known = seen is not None
        self.num_users = max(1, num_users)
        self.splits = keras.Variable(splits, dtype="int64", trainable=False, name="seen_splits")
        self.items = keras.Variable(np.asarray(items, np.int32).reshape(-1), dtype="int32", trainable=False,
                                    name="seen_items")
        self.popularity = keras.Variable(popularity, dtype="float32", trainable=False, name="item_popularity")
        self.built = True

    def counts(self, user_index):
        """int64 `[B]`: how many items each user index has seen."""
        user_index = tf.cast(user_index, tf.int64)
        return tf.gather(self.splits, user_index + 1) - tf.gather(self.splits, user_index)

    def exclude(self, logits, user_index):
        """`logits` `[B, N + 1]` with every (row, seen item) entry set to -inf."""
        user_index = tf.cast(user_index, tf.int64)
        rows = tf.ragged.range(tf.gather(self.splits, user_index), tf.gather(self.splits, user_index + 1))
        items = tf.cast(tf.gather(self.items, rows.flat_values), tf.int64)
        where = tf.stack([rows.value_rowids(), items], axis=1)
        return tf.tensor_scatter_nd_update(logits, where, tf.fill(tf.shape(items), tf.constant(NEG_INF, logits.dtype)))


def without_oov_item(logits):
    """`logits` `[B, N + 1]` with column 0 (the out-of-vocabulary item) set to -inf."""
    return tf.concat([tf.fill([tf.shape(logits)[0], 1], tf.constant(NEG_INF, logits.dtype)), logits[:, 1:]], axis=1)


def pair_logits(model, user_index, item_index):
    """The model's logits f32 `[B]` of index pairs (the zoo's recommenders take int32 `user_id`, `item_id`)."""
    inputs = {"user_id": tf.cast(user_index, tf.int32), "item_id": tf.cast(item_index, tf.int32)}
    return tf.reshape(tf.cast(model(inputs, training=False), tf.float32), [-1])


def full_logits(model, user_index, num_items: int):
    """The model's logits f32 `[B, N + 1]` of each user index against every item index 0..N."""
    batch = tf.shape(user_index)[0]
    items = tf.range(num_items + 1, dtype=tf.int32)
    logits = pair_logits(model, tf.repeat(user_index, num_items + 1), tf.tile(items, [batch]))
    return tf.reshape(logits, [batch, num_items + 1])


def table_retrieval(table, name: str = "item_retrieval"):
    """A `keras_rs.layers.BruteForceRetrieval` whose candidates are `table` (`[N + 1, d]`), the model's own
    item embedding variable, not a copy (`update_candidates` would copy it): the export then stores the
    item table once, and a later fine-tune is served as it is. Score with its `compute_score(query, table)`.
    ImportError without keras-rs (`pip install kzoo[recommenders]`)."""
    import keras_rs  # optional dependency; see scoring_mode in kzoo.signatures.recommender

    layer = keras_rs.layers.BruteForceRetrieval(k=1, return_scores=True, name=name)
    layer.candidate_embeddings = table
    layer.built = True
    return layer


class DotProductRetrieval:
    """One matrix product per batch: the GMF query `u * w` against the item table, plus the head bias.

    Uses `keras_rs.layers.BruteForceRetrieval` for the candidate table and its scoring
    (`compute_score`: query @ candidates^T). Its `call` is not used: it takes `k` when the layer is
    built (a Python int) and ranks every candidate, while `recommend` takes `k` per call and must
    drop each user's seen items before the top-k; `top_items` does that top-k instead.
    """

    def __init__(self, factors: dict):
        self.factors = factors
        self.layer = table_retrieval(factors["item"].embeddings)

    def logits(self, user_index, with_bias: bool = True):
        """f32 `[B, N + 1]`: `(u * w) . i + b` for every item index i (b only when `with_bias`)."""
        f = self.factors
        head = f["head"]
        weights = tf.reshape(tf.cast(head.kernel, tf.float32)[: f["size"]], [1, -1])
        query = tf.cast(f["user"](tf.cast(user_index, tf.int32)), tf.float32) * weights
        scores = self.layer.compute_score(query, tf.cast(self.layer.candidate_embeddings, tf.float32))
        if with_bias and head.use_bias and f["exact"]:
            scores = scores + tf.cast(head.bias, tf.float32)
        return scores


def rerank_logits(model, retrieval: DotProductRetrieval, user_index, candidates: int, seen=None):
    """Two-stage scoring: `candidates` items per user by the GMF path, re-scored by the full model.

    Returns `(logits, items)`: f32 `[B, C]` full-model logits (-inf where the retrieval ran out of
    items) and int32 `[B, C]` their item indices, C = min(candidates, N). `seen` (a
    `SeenItemsTable`) leaves each user's seen items out of the retrieval.
    """
    coarse = without_oov_item(retrieval.logits(user_index, with_bias=False))
    if seen is not None:
        coarse = seen.exclude(coarse, user_index)
    width = tf.minimum(tf.constant(candidates), tf.shape(coarse)[1] - 1)
    top, items = tf.math.top_k(coarse, k=width)
    batch = tf.shape(items)[0]
    fine = tf.reshape(pair_logits(model, tf.repeat(user_index, width), tf.reshape(items, [-1])), [batch, width])
    return tf.where(tf.math.is_inf(top), tf.constant(NEG_INF), fine), items


def top_items(logits, k, items=None):
    """Top-k of `logits` `[B, M]` (-inf = not a candidate): `(logits, item indices, padding)`, each `[B, w]`.

    w = min(k, the most candidates any row has), so one user with fewer than k unseen items gets
    them all and no padding; in a batch, a row with fewer candidates than w is padded (`padding`
    True). `items` `[B, M]` maps columns to item indices (default: column j is item index j).
    """
    candidates = tf.reduce_sum(tf.cast(logits > NEG_INF, tf.int32), axis=1)
    width = tf.minimum(k, tf.reduce_max(tf.concat([candidates, [0]], axis=0)))
    top, column = tf.math.top_k(logits, k=width)
    index = column if items is None else tf.gather(items, column, batch_dims=1)
    return top, index, tf.math.is_inf(top)
