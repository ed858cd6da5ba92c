"""Recommender signatures: raw user/item ids in, scores and top-k items out.

The run's id maps (`kzoo.data.recommender.IdMaps`: raw ids in index order) become
`keras.layers.IntegerLookup` layers in the graph, so clients send raw int64 ids. An id never seen in training maps to index 0, the models' out-of-vocabulary row:
it gets a valid score rather than an error.

- `serving_default`: `user_id`, `item_id` int64 `[None]` -> `score` float32 `[None]` (sigmoid).
  The two batches must have the same length (one pair per row); a call with different lengths is
  an `InvalidArgumentError` naming both inputs, never a broadcast.
- `recommend`: `user_id` int64 `[None]`, `k` int32 `[]` -> `item_ids` int64 `[None, k]` and
  `scores` float32 `[None, k]`, best first, over every known item (never the OOV slot).
  A `k` above the number of items is lowered to it; a negative `k` is an `InvalidArgumentError`.
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

from kzoo.signatures.core import ExportError, add_endpoint
from kzoo.signatures.tensor import TensorEndpoint


def _raw_ids(preprocessor) -> tuple[list[int], list[int]]:
    """The raw user and item ids, in index order, of the run's `IdMaps` (anything with `user_ids`, `item_ids`)."""
    try:
        users, items = preprocessor.user_ids, preprocessor.item_ids
    except AttributeError:
        raise ExportError(f"cannot export a recommender without id maps (got {type(preprocessor).__name__})") from None
    try:
        return [int(i) for i in users], [int(i) for i in items]
    except (TypeError, ValueError):
        raise ExportError("raw user/item ids must be integers for the int64 serving signatures") from None


def pair_scores(model, user_index, item_index):
    """Sigmoid scores f32 `[B]` of index pairs (the raw-input and the tensor-only signatures share it)."""
    # The zoo's recommenders take {"user_id", "item_id"} int32 indices and return logits [B].
    inputs = {"user_id": tf.cast(user_index, tf.int32), "item_id": tf.cast(item_index, tf.int32)}
    return tf.sigmoid(tf.reshape(tf.cast(model(inputs, training=False), tf.float32), [-1]))


def tensor_endpoint(model, example: dict) -> TensorEndpoint:
    """`user_index`, `item_index` int32 `[None]` (model indices, 0 = unknown) -> `score` f32 `[None]`.

    `example` is the task's example batch (`{"user_id", "item_id"}` indices, as the model takes them).
    """
    specs = [tf.TensorSpec([None], tf.int32, name="user_index"), tf.TensorSpec([None], tf.int32, name="item_index")]
    inputs_of = lambda x: {"user_index": x["user_id"], "item_index": x["item_id"]}  # noqa: E731
    return TensorEndpoint(lambda user_index, item_index: {"score": pair_scores(model, user_index, item_index)},
                          specs, inputs_of(example), inputs_of)


def write_assets(preprocessor, directory: Path) -> dict:
    """Write the run's id maps (`user_ids.txt`, `item_ids.txt`) into `directory`; return their spec."""
    preprocessor.save(directory)
    return {"user_ids": preprocessor.USER_FILE, "item_ids": preprocessor.ITEM_FILE,
            "lookup": "line k (from 0) of a file holds the raw id of index k + 1; a raw id not listed is index 0",
            "num_users": preprocessor.num_users, "num_items": preprocessor.num_items}


def _lookup(ids: list, name: str):
    layer = keras.layers.IntegerLookup(vocabulary=ids, num_oov_indices=1, name=name)
    layer(tf.constant([0], tf.int64))  # build it, so ExportArchive can track its table
    return layer


def add_endpoints(archive, model, config, preprocessor) -> dict:
    """Add `serving_default` (score one pair) and `recommend` (top-k items per user)."""
    user_ids, item_ids = _raw_ids(preprocessor)
    users, items = _lookup(user_ids, "user_lookup"), _lookup(item_ids, "item_lookup")
    archive.track(users)
    archive.track(items)
    num_items = len(item_ids)
    raw_items = tf.constant(item_ids, tf.int64)

    def scores(user_index, item_index):
        return pair_scores(model, user_index, item_index)

    def serve(user_id, item_id):
        # The model would broadcast a [1] batch against a [3] one and score pairs nobody asked for.
        same_length = tf.debugging.assert_equal(
            tf.size(user_id), tf.size(item_id),
            message="user_id and item_id must be batches of the same length (one pair per row)")
        with tf.control_dependencies([same_length]):
            return {"score": scores(users(user_id), items(item_id))}

    def recommend(user_id, k):
        non_negative = tf.debugging.assert_non_negative(k, message="k must be >= 0")
        user_index = users(user_id)
        batch = tf.shape(user_index)[0]
        all_items = tf.range(1, num_items + 1, dtype=tf.int64)  # index 0 (OOV) is never a candidate
        grid = tf.reshape(scores(tf.repeat(user_index, num_items), tf.tile(all_items, [batch])), [batch, num_items])
        with tf.control_dependencies([non_negative]):
            top, index = tf.math.top_k(grid, k=tf.minimum(k, num_items))
        return {"item_ids": tf.gather(raw_items, index), "scores": top}

    ids = lambda name: tf.TensorSpec([None], tf.int64, name=name)  # noqa: E731
    return {
        "serving_default": add_endpoint(archive, "serving_default", serve, [ids("user_id"), ids("item_id")]),
        "recommend": add_endpoint(archive, "recommend", recommend,
                                  [ids("user_id"), tf.TensorSpec([], tf.int32, name="k")]),
    }
