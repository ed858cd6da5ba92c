"""Negative sampling: per-epoch training negatives, fixed evaluation candidates, and their datasets.

Items are 1-based indices. Training negatives avoid the user's training positives, looked up by
their `pair_keys` codes with one vectorised `searchsorted`; evaluation candidates avoid every
interaction of the user, in any split.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kzoo.errors import DataError


def pair_keys(users, items, num_items: int) -> np.ndarray:
    """Encode (user, item) index pairs as one int64 key each."""
    return np.asarray(users, np.int64) * (num_items + 1) + np.asarray(items, np.int64)


def _is_member(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    if not sorted_keys.size:
        return np.zeros(keys.shape, bool)
    pos = np.clip(np.searchsorted(sorted_keys, keys), 0, sorted_keys.size - 1)
    return sorted_keys[pos] == keys


def sample_negatives(users, num_items: int, positive_keys: np.ndarray, rng, max_rounds: int = 50) -> np.ndarray:
    """Return one uniformly drawn item per entry of `users` that is not a positive of that user.

    `positive_keys`: sorted `pair_keys` of the positives to avoid. All draws happen at once and
    only the collisions are redrawn; after `max_rounds` the few left are drawn exactly from each
    user's complement. Users with no item left to draw raise DataError.
    """
    users = np.asarray(users, np.int64)
    items = rng.integers(1, num_items + 1, size=users.size)
    bad = np.flatnonzero(_is_member(pair_keys(users, items, num_items), positive_keys))
    for _ in range(max_rounds):
        if not bad.size:
            return items
        items[bad] = rng.integers(1, num_items + 1, size=bad.size)
        bad = bad[_is_member(pair_keys(users[bad], items[bad], num_items), positive_keys)]
    for user in np.unique(users[bad]):  # users who interacted with almost every item
        known = positive_keys[(positive_keys > user * (num_items + 1)) & (positive_keys < (user + 1) * (num_items + 1))]
        free = np.setdiff1d(np.arange(1, num_items + 1), known - user * (num_items + 1))
        if not free.size:
            raise DataError(f"user index {user} interacted with every item; no negative can be sampled")
        rows = bad[users[bad] == user]
        items[rows] = rng.choice(free, size=rows.size)
    return items


def sample_eval_candidates(users, targets, all_users, all_items, num_items: int, num_negatives: int, rng):
    """Return (candidates, valid): int32 [U, 1 + M] with the target first, then M distinct items
    the user never interacted with (any split); `valid` is False where a user has fewer than M."""
    users = np.asarray(users, np.int64)
    m = int(num_negatives)
    candidates = np.zeros((users.size, 1 + m), np.int32)
    valid = np.ones((users.size, 1 + m), bool)
    candidates[:, 0] = targets
    starts = np.searchsorted(all_users, users, side="left")
    ends = np.searchsorted(all_users, users, side="right")
    chunk = max(1, int(4_000_000 // (num_items + 1)))
    for a in range(0, users.size, chunk):
        b = min(users.size, a + chunk)
        priority = rng.random((b - a, num_items + 1))
        priority[:, 0] = np.inf  # index 0 is out of vocabulary, never a candidate
        lengths = ends[a:b] - starts[a:b]
        rows = np.repeat(np.arange(b - a), lengths)
        seen = all_items[np.concatenate([np.arange(s, e) for s, e in zip(starts[a:b], ends[a:b])])] if rows.size else []
        priority[rows, seen] = np.inf
        if m < num_items + 1:
            picked = np.argpartition(priority, m - 1, axis=1)[:, :m] if m else np.zeros((b - a, 0), int)
        else:
            picked = np.zeros((b - a, m), np.int64)  # fewer items than asked: pad with index 0 (invalid)
            picked[:, : num_items + 1] = np.argsort(priority, axis=1)
        picked = np.sort(picked, axis=1)
        candidates[a:b, 1:] = picked
        valid[a:b, 1:] = np.isfinite(np.take_along_axis(priority, picked, axis=1))
    candidates[:, 1:][~valid[:, 1:]] = 0
    return candidates, valid


class EpochSampler:
    """Generator factory for `tf.data.Dataset.from_generator`: a fresh sample every iteration.

    Takes the training positives (`users`, `items` index arrays), `num_items`, `num_negatives` per
    positive, the sorted `pair_keys` of the positives to avoid, the batch size and the seed; each
    call yields the batches of the next epoch (epoch e draws from the seed and e).
    """

    def __init__(self, users, items, num_items, num_negatives, positive_keys, batch_size, seed):
        self.users, self.items = users, items
        self.num_items, self.num_negatives = num_items, num_negatives
        self.positive_keys, self.batch_size, self.seed = positive_keys, batch_size, seed
        self.epoch = 0

    @property
    def rows(self) -> int:
        return self.users.size * (1 + self.num_negatives)

    def epoch_arrays(self, epoch: int):
        """Return shuffled (users, items, labels) of epoch `epoch`: positives + fresh negatives."""
        rng = np.random.default_rng([self.seed, 101, epoch])
        neg_users = np.repeat(self.users, self.num_negatives)
        neg_items = sample_negatives(neg_users, self.num_items, self.positive_keys, rng)
        users = np.concatenate([self.users, neg_users]).astype(np.int32)
        items = np.concatenate([self.items, neg_items]).astype(np.int32)
        labels = np.concatenate([np.ones(self.users.size, np.float32), np.zeros(neg_users.size, np.float32)])
        order = rng.permutation(users.size)
        return users[order], items[order], labels[order]

    def __call__(self):
        users, items, labels = self.epoch_arrays(self.epoch)
        self.epoch += 1
        for a in range(0, users.size, self.batch_size):
            b = a + self.batch_size
            yield {"user_id": users[a:b], "item_id": items[a:b]}, labels[a:b]


_SIGNATURE = (
    {
        "user_id": tf.TensorSpec(shape=(None,), dtype=tf.int32),
        "item_id": tf.TensorSpec(shape=(None,), dtype=tf.int32),
    },
    tf.TensorSpec(shape=(None,), dtype=tf.float32),
)


def train_dataset(sampler: EpochSampler) -> tf.data.Dataset:
    """Return the training dataset of `sampler`: ({"user_id", "item_id"}, label) batches, resampled
    on every pass, with a known number of steps."""
    steps = -(-sampler.rows // sampler.batch_size)
    ds = tf.data.Dataset.from_generator(sampler, output_signature=_SIGNATURE)
    return ds.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(tf.data.AUTOTUNE)


def pointwise_dataset(users, candidates, valid, batch_size: int) -> tf.data.Dataset:
    """Return the ranking candidates as pointwise batches for `model.evaluate`: each user's valid
    candidates from `sample_eval_candidates`, the held-out item labelled 1, the others 0."""
    labels = np.zeros(candidates.shape, np.float32)
    labels[:, 0] = 1.0
    rows = np.broadcast_to(np.asarray(users, np.int32)[:, None], candidates.shape)
    x = {"user_id": rows[valid].astype(np.int32), "item_id": candidates[valid].astype(np.int32)}
    return tf.data.Dataset.from_tensor_slices((x, labels[valid])).batch(batch_size).prefetch(tf.data.AUTOTUNE)
