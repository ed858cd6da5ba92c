"""Recommender signatures: raw user/item ids in, scores and top-k items out.

The run's id maps (`kzoo.data.recommender.IdMaps`: raw ids in index order) become
`keras.layers.IntegerLookup` layers in the graph, so clients send raw int64 ids. An id never seen in training maps to index 0, the models' out-of-vocabulary row:
it gets a valid score rather than an error.

- `serving_default`: `user_id`, `item_id` int64 `[None]` -> `score` float32 `[None]` (sigmoid).
  The two batches must have the same length (one pair per row); a call with different lengths is
  an `InvalidArgumentError` naming both inputs, never a broadcast.
- `recommend`: `user_id` int64 `[None]`, `k` int32 `[]` -> `item_ids` int64 `[None, w]`,
  `scores` float32 `[None, w]` (best first) and `fallback` bool `[None]`. The user's seen items (every
  item the run's data has them interacting with, `IdMaps.seen`) are left out, and so is the OOV slot.
  w = min(k, the most candidates any user in the batch has): a single user with fewer than k unseen
  items gets them all; in a batch, a row with fewer is padded with item id -1 and score 0. A
  negative `k` is an `InvalidArgumentError` ("k must be >= 0").
  An unknown user id (`fallback` True) gets the most popular items of the data (by how many users
  interacted with each; ties: lower index first), `scores` being the share of users who did.
- `recommend_including_seen`: the same inputs and outputs, seen items not left out.

How `recommend` scores (`data.retrieval`, `data.rerank_candidates`, see `kzoo.signatures.retrieval`):
dot-product models (`gmf`) retrieve, one matrix product against the item table plus a top-k through
keras-rs (the same top-k as full scoring, to float rounding); other models (`ncf_mlp`, `neumf`) run
the full model on every item, or with `data.rerank_candidates: N` (neumf) re-rank the N items its
GMF path retrieves. Without keras-rs installed, every model is scored in full (a warning says so).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import keras
import tensorflow as tf

from kzoo.errors import ExportError
from kzoo.models.ncf import gmf_factors
from kzoo.signatures import retrieval as rt
from kzoo.signatures.core import add_endpoint
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
    return tf.sigmoid(rt.pair_logits(model, user_index, item_index))


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
            "num_users": preprocessor.num_users, "num_items": preprocessor.num_items,
            **({"seen_items": "seen_items.txt", "seen": "line k (from 0): the item indices user index k + 1 rated"}
               if getattr(preprocessor, "seen", None) is not None else {})}


def _lookup(ids: list, name: str):
    layer = keras.layers.IntegerLookup(vocabulary=ids, num_oov_indices=1, name=name)
    layer(tf.constant([0], tf.int64))  # build it, so ExportArchive can track its table
    return layer


def scoring_mode(model, data: dict) -> tuple[str, dict | None]:
    """`("retrieval" | "rerank" | "full", GMF factors or None)`: how `recommend` scores `model`.

    `data.retrieval` (default true) lets dot-product models retrieve; `data.rerank_candidates` > 0
    makes a model with a GMF path (neumf) re-rank what that path retrieves. Without keras-rs: full.
    Which of those a model allows is its own structure, read by its family (`gmf_factors`).
    """
    factors = gmf_factors(model)
    rerank = int(data.get("rerank_candidates", 0) or 0)  # `data` may be any mapping (a served config's section)
    wanted = "retrieval" if factors and factors["exact"] and data.get("retrieval", True) else \
        "rerank" if factors and not factors["exact"] and rerank > 0 else "full"
    if wanted != "full":
        try:
            import keras_rs  # noqa: F401
        except ImportError:
            warnings.warn(f"kzoo.export: keras-rs is not installed, so `recommend` scores every item with the "
                          f"full model instead of {wanted} (pip install 'kzoo[recommenders]')", stacklevel=2)
            return "full", None
    return wanted, factors


class Recommender:
    """What both `recommend` signatures share: the scoring, the seen-items table, the raw item ids."""

    def __init__(self, model, config, preprocessor, users):
        data = config.data
        self.model, self.users = model, users
        self.mode, factors = scoring_mode(model, data)
        self.num_items = len(preprocessor.item_ids)
        self.seen = rt.SeenItemsTable(getattr(preprocessor, "seen", None), len(preprocessor.user_ids),
                                      self.num_items, name="seen_items")
        self.raw_items = tf.constant([-1] + [int(i) for i in preprocessor.item_ids], tf.int64)  # index 0 -> -1
        self.retrieval = rt.DotProductRetrieval(factors) if self.mode != "full" else None
        self.rerank = data.rerank_candidates

    def resources(self) -> list:
        """The layers an `ExportArchive` must track for these signatures."""
        return [self.seen] + ([self.retrieval.layer] if self.retrieval else [])

    def model_top(self, user_index, k, exclude_seen: bool):
        """`(logits, item indices, padding)` `[B, w]` of the model's best items for each user index."""
        mask = self.seen if exclude_seen else None
        if self.mode == "rerank":
            logits, items = rt.rerank_logits(self.model, self.retrieval, user_index, self.rerank, mask)
            return rt.top_items(logits, k, items)
        if self.mode == "retrieval":
            logits = self.retrieval.logits(user_index)
        else:
            logits = rt.full_logits(self.model, user_index, self.num_items)
        logits = rt.without_oov_item(logits)
        return rt.top_items(mask.exclude(logits, user_index) if mask is not None else logits, k)

    def function(self, exclude_seen: bool):
        """The graph function `(user_id, k) -> {item_ids, scores, fallback}` (see the module doc)."""

        def recommend(user_id, k):
            non_negative = tf.debugging.assert_non_negative(k, message="k must be >= 0")
            with tf.control_dependencies([non_negative]):
                user_index = self.users(user_id)
                top, index, padding = self.model_top(user_index, k, exclude_seen)
            width = tf.shape(top)[1]
            popular, popular_index = tf.math.top_k(self.seen.popularity, k=width)  # index 0 (-1) comes last
            fallback = tf.equal(user_index, 0)[:, None]
            share = popular / tf.cast(self.seen.num_users, tf.float32)
            index = tf.where(fallback, tf.cast(popular_index, index.dtype)[None, :], index)
            padding = tf.logical_and(padding, tf.logical_not(fallback))
            scores = tf.where(fallback, share[None, :], tf.sigmoid(top))
            return {"item_ids": tf.where(padding, tf.constant(-1, tf.int64), tf.gather(self.raw_items, index)),
                    "scores": tf.where(padding, 0.0, scores), "fallback": fallback[:, 0]}

        return recommend


def add_endpoints(archive, model, config, preprocessor) -> dict:
    """Add `serving_default` (score one pair), `recommend` (top-k unseen items per user) and
    `recommend_including_seen`."""
    user_ids, item_ids = _raw_ids(preprocessor)
    users, items = _lookup(user_ids, "user_lookup"), _lookup(item_ids, "item_lookup")
    archive.track(users)
    archive.track(items)

    def serve(user_id, item_id):
        # The model would broadcast a [1] batch against a [3] one and score pairs nobody asked for.
        same_length = tf.debugging.assert_equal(
            tf.size(user_id), tf.size(item_id),
            message="user_id and item_id must be batches of the same length (one pair per row)")
        with tf.control_dependencies([same_length]):
            return {"score": pair_scores(model, users(user_id), items(item_id))}

    ids = lambda name: tf.TensorSpec([None], tf.int64, name=name)  # noqa: E731
    endpoints = {"serving_default": add_endpoint(archive, "serving_default", serve, [ids("user_id"), ids("item_id")])}
    recommender = Recommender(model, config, preprocessor, users)
    for resource in recommender.resources():
        archive.track(resource)
    for name, exclude_seen in (("recommend", True), ("recommend_including_seen", False)):
        endpoints[name] = add_endpoint(archive, name, recommender.function(exclude_seen),
                                       [ids("user_id"), tf.TensorSpec([], tf.int32, name="k")])
    return endpoints
