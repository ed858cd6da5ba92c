"""Sequential recommender signatures (`sasrec`): a history of raw item ids, or a known user id, in; top-k items out.

The model reads the most recent `max_length` items of a history, right-aligned (index 0 before
them); its last position's state, dotted with the item table, scores every item. The run's id maps
become `keras.layers.IntegerLookup` layers, each user's ordered history (`SequenceIdMaps.histories`)
a CSR table of non-trainable variables (`kzoo.signatures.retrieval.SeenItemsTable`), so clients send
raw ids and need nothing beside the SavedModel.

- `recommend_from_history` (and `serving_default`, the same function): `item_ids` int64 `[None, None]`,
  one history per row in time order, oldest first, padded with -1 (`HISTORY_PADDING`; anywhere in the
  row, usually at its end); `k` int32 `[]` -> `item_ids` int64 `[None, w]`, `scores` float32 `[None, w]`
  (best first), `fallback` bool `[None]` and `unknown_items` int32 `[None]`. Ids the run never saw are
  dropped from the history and counted in `unknown_items`; the items of the history are never
  recommended back. A row with no known item (empty, or all unknown) gets the most popular items
  (`fallback` True), `scores` being the share of users who rated each.
- `recommend`: `user_id` int64 `[None]`, `k` -> `item_ids`, `scores`, `fallback`: the user's whole stored
  history (every item the run's data has them rating, held-out ones included) in, those items left
  out; an unknown user id gets the popularity fallback.
- `recommend_including_seen`: `recommend` with the seen items kept.

`scores` of model recommendations are the model's softmax probability of each item being the next one
(over the catalogue, before the seen items are left out). w = min(k, the most candidates any row
has); a row with fewer is padded with item id -1 and score 0; a negative `k` is an InvalidArgumentError.
The catalogue is scored as one product of the last state with the item table, through keras-rs's
`BruteForceRetrieval` (its candidates are the model's own item embedding variable) where keras-rs is
installed, else as a plain matmul (the same numbers).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import keras
import tensorflow as tf

from kzoo.data.recommender.sequences import HISTORY_PADDING
from kzoo.errors import ExportError
from kzoo.models.sasrec import sequence_parts
from kzoo.signatures import retrieval as rt
from kzoo.signatures.core import add_endpoint
from kzoo.signatures.recommender import write_assets as write_id_maps
from kzoo.signatures.tensor import TensorEndpoint


def _parts(model) -> dict:
    parts = sequence_parts(model)
    if parts is None:
        raise ExportError(f"model {model.name!r} is not a sequence model: it has no item_embedding / sequence_state "
                          "layers to score the catalogue with")
    return parts


class LastPositionLogits:
    """`(windows int32 [B, L]) -> logits f32 [B, N + 1]`: the last state against the whole item table."""

    def __init__(self, model, retrieval: bool = True):
        self.model, self.parts = model, _parts(model)
        self.max_length = self.parts["max_length"]
        self.table = self.parts["items"].embeddings
        # An int8 item table is no plain matrix to multiply (kzoo's int8 export keeps it float): the full model then.
        self.quantized = bool(getattr(self.parts["items"].dtype_policy, "quantization_mode", None))
        self.retrieval = None
        if retrieval and not self.quantized:
            try:
                self.retrieval = rt.table_retrieval(self.table)
            except ImportError:
                warnings.warn("kzoo.export: keras-rs is not installed, so the sequence model's catalogue scores are a "
                              "plain matmul (the same numbers; pip install 'kzoo[recommenders]')", stacklevel=2)

    def __call__(self, windows):
        if self.quantized:
            return tf.cast(self.model(tf.cast(windows, tf.int32), training=False)[:, -1, :], tf.float32)
        state = tf.cast(self.parts["last_state"](tf.cast(windows, tf.int32), training=False), tf.float32)
        table = tf.cast(self.table, tf.float32)
        if self.retrieval is not None:
            return self.retrieval.compute_score(state, table)
        return tf.matmul(state, table, transpose_b=True)


def history_windows(item_index, real, max_length: int):
    """`(windows int32 [B, max_length], unknown int32 [B], known bool [B, T])` of histories as item indices
    `[B, T]` (0 = unknown id) with `real` (False = padding): the known items kept in order, the most recent
    `max_length` of them right-aligned, 0 before them; `unknown` counts the real ids not in the maps."""
    known = tf.logical_and(real, tf.not_equal(item_index, 0))
    unknown = tf.reduce_sum(tf.cast(tf.logical_and(real, tf.logical_not(known)), tf.int32), axis=1)
    count = tf.reduce_sum(tf.cast(known, tf.int32), axis=1)
    from_end = count[:, None] - tf.cumsum(tf.cast(known, tf.int32), axis=1)  # 0 at the latest known item
    keep = tf.logical_and(known, from_end < max_length)
    where = tf.where(keep)
    columns = tf.cast(max_length - 1 - tf.gather_nd(from_end, where), tf.int64)
    windows = tf.scatter_nd(tf.stack([where[:, 0], columns], axis=1), tf.cast(tf.gather_nd(item_index, where), tf.int32),
                            tf.stack([tf.shape(item_index, out_type=tf.int64)[0], tf.constant(max_length, tf.int64)]))
    return windows, unknown, known


def user_windows(table: rt.SeenItemsTable, user_index, max_length: int):
    """int32 `[B, max_length]`: each user index's stored history (`table`, in time order), its most recent
    `max_length` items right-aligned, 0 before them (all 0 for index 0, the unknown user)."""
    user_index = tf.cast(user_index, tf.int64)
    ends = tf.gather(table.splits, user_index + 1)
    starts = tf.maximum(tf.gather(table.splits, user_index), ends - max_length)
    positions = tf.ragged.range(starts, ends)
    rows = positions.value_rowids()
    columns = max_length - tf.gather(ends, rows) + positions.flat_values
    items = tf.gather(table.items, positions.flat_values)
    return tf.scatter_nd(tf.stack([rows, columns], axis=1), items,
                         tf.stack([tf.shape(user_index, out_type=tf.int64)[0], tf.constant(max_length, tf.int64)]))


def exclude_items(logits, item_index, known):
    """`logits` `[B, N + 1]` with each row's `item_index` entries where `known` (`[B, T]`) set to -inf."""
    where = tf.where(known)
    items = tf.cast(tf.gather_nd(item_index, where), tf.int64)
    indices = tf.stack([where[:, 0], items], axis=1)
    return tf.tensor_scatter_nd_update(logits, indices, tf.fill(tf.shape(items), tf.constant(rt.NEG_INF, logits.dtype)))


class SequentialRecommender:
    """What the signatures share: the catalogue scoring, the histories table, the raw item ids, the fallback."""

    def __init__(self, model, preprocessor, users, items):
        histories = getattr(preprocessor, "histories", None)
        if histories is None:
            raise ExportError("cannot export a sequential recommender without its users' histories "
                              "(preprocessing/histories.txt)")
        self.users, self.items = users, items
        self.logits = LastPositionLogits(model)
        self.max_length = self.logits.max_length
        self.num_items = len(preprocessor.item_ids)
        self.histories = rt.SeenItemsTable(histories, len(preprocessor.user_ids), self.num_items, name="histories")
        self.raw_items = tf.constant([-1] + [int(i) for i in preprocessor.item_ids], tf.int64)  # index 0 -> -1

    def resources(self) -> list:
        """The layers an `ExportArchive` must track for these signatures."""
        return [self.histories] + ([self.logits.retrieval] if self.logits.retrieval is not None else [])

    def top(self, windows, k, exclude, fallback):
        """`{item_ids, scores, fallback}` of the top k items for right-aligned `windows`; `exclude(logits)` sets
        the items not to recommend to -inf; rows where `fallback` get the most popular items."""
        logits = rt.without_oov_item(self.logits(windows))
        probabilities = tf.nn.softmax(logits, axis=-1)
        top, index, padding = rt.top_items(exclude(logits), k)
        width = tf.shape(top)[1]
        popular, popular_index = tf.math.top_k(self.histories.popularity, k=width)  # index 0 (-1) comes last
        share = popular / tf.cast(self.histories.num_users, tf.float32)
        chosen = fallback[:, None]
        index = tf.where(chosen, tf.cast(popular_index, index.dtype)[None, :], index)
        padding = tf.logical_and(padding, tf.logical_not(chosen))
        scores = tf.where(chosen, share[None, :], tf.gather(probabilities, index, batch_dims=1))
        return {"item_ids": tf.where(padding, tf.constant(-1, tf.int64), tf.gather(self.raw_items, index)),
                "scores": tf.where(padding, 0.0, scores), "fallback": fallback}

    def from_history(self, item_ids, k):
        """`recommend_from_history` (see the module doc)."""
        non_negative = tf.debugging.assert_non_negative(k, message="k must be >= 0")
        with tf.control_dependencies([non_negative]):
            index = self.items(item_ids)
            windows, unknown, known = history_windows(index, tf.not_equal(item_ids, HISTORY_PADDING), self.max_length)
            fallback = tf.equal(tf.reduce_sum(tf.cast(known, tf.int32), axis=1), 0)
            outputs = self.top(windows, k, lambda logits: exclude_items(logits, index, known), fallback)
        return {**outputs, "unknown_items": unknown}

    def for_user(self, exclude_seen: bool):
        """`recommend` (`exclude_seen`) or `recommend_including_seen` (see the module doc)."""

        def recommend(user_id, k):
            non_negative = tf.debugging.assert_non_negative(k, message="k must be >= 0")
            with tf.control_dependencies([non_negative]):
                user_index = self.users(user_id)
                windows = user_windows(self.histories, user_index, self.max_length)
                exclude = (lambda logits: self.histories.exclude(logits, user_index)) if exclude_seen else (lambda x: x)
                return self.top(windows, k, exclude, tf.equal(self.histories.counts(user_index), 0))

        return recommend


def _lookup(ids, name: str):
    layer = keras.layers.IntegerLookup(vocabulary=[int(i) for i in ids], num_oov_indices=1, name=name)
    layer(tf.constant([0], tf.int64))  # build it, so ExportArchive can track its table
    return layer


def add_endpoints(archive, model, config, preprocessor) -> dict:
    """Add `serving_default` and `recommend_from_history` (a raw history), `recommend` and
    `recommend_including_seen` (a known user id); return {name: endpoint}."""
    try:
        users, items = _lookup(preprocessor.user_ids, "user_lookup"), _lookup(preprocessor.item_ids, "item_lookup")
    except (AttributeError, TypeError, ValueError):
        raise ExportError(f"cannot export a recommender without integer id maps (got {type(preprocessor).__name__})") \
            from None
    recommender = SequentialRecommender(model, preprocessor, users, items)
    for resource in [users, items, *recommender.resources()]:
        archive.track(resource)

    def from_history(item_ids, k):
        return recommender.from_history(item_ids, k)

    k = tf.TensorSpec([], tf.int32, name="k")
    history = tf.TensorSpec([None, None], tf.int64, name="item_ids")
    endpoints = {name: add_endpoint(archive, name, from_history, [history, k])
                 for name in ("serving_default", "recommend_from_history")}
    for name, exclude_seen in (("recommend", True), ("recommend_including_seen", False)):
        endpoints[name] = add_endpoint(archive, name, recommender.for_user(exclude_seen),
                                       [tf.TensorSpec([None], tf.int64, name="user_id"), k])
    return endpoints


def tensor_endpoint(model, example) -> TensorEndpoint:
    """`item_index` int32 `[None, L]` (a history's most recent L item indices, right-aligned, 0 before them) ->
    `logits` f32 `[None, num_items + 1]`: every item's score as the next one (column 0, padding, is never one).
    The caller leaves the history's items out and takes the top k, as `recommend_from_history` does."""
    logits = LastPositionLogits(model, retrieval=False)
    length = logits.max_length
    specs = [tf.TensorSpec([None, length], tf.int32, name="item_index")]
    inputs_of = lambda x: {"item_index": x}  # noqa: E731
    return TensorEndpoint(lambda item_index: {"logits": logits(item_index)}, specs, inputs_of(example), inputs_of)


def write_assets(preprocessor, directory: Path) -> dict:
    """Write the id maps and the users' histories into `directory`; return their spec."""
    spec = write_id_maps(preprocessor, directory)
    return {**spec, "histories": preprocessor.histories.FILE,
            "history": "line k (from 0): the item indices user index k + 1 rated, oldest first",
            "item_index": f"the most recent {preprocessor.max_length} known item indices of a history, right-aligned, "
                          "0 before them; logits column i scores item index i (0: padding, never an item)",
            "max_length": preprocessor.max_length}
