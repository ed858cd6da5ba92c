"""Implicit-feedback leave-one-out data for the NCF recommenders (He et al. 2017 protocol).

`load_recommender_data(config, ...)` returns a `DataBundle`:

- Every rating is a positive interaction. Duplicate (user, item) pairs keep their latest time.
- Raw ids become contiguous indices through `IdMaps`: users 1..num_users, items 1..num_items,
  0 for ids not seen in the data (out of vocabulary). Ids are numbered in increasing raw-id order.
- Leave-one-out: each user's latest interaction (by timestamp; equal timestamps are ordered by a
  fixed hash of the (user, item) pair, see `tie_break_key`) is the test item; with `data.validation: true`
  the second latest is the validation item, and training keeps the rest. A user with a single
  interaction keeps it for training and is not evaluated; with validation on, a user with two
  interactions has a test item but no validation item. The notes count both.
- Training: each positive plus `data.num_negatives` items the user has no TRAINING interaction
  with (He et al.; held-out items may be drawn, so no test information leaks into training),
  label 1.0 / 0.0, resampled for every pass over `bundle.train` (epoch e draws from the seed and e),
  shuffled and batched. Sampling is vectorised: draw all negatives at once, redraw only the
  collisions.
- Evaluation: each held-out item is ranked against `data.eval_negatives` distinct items the
  user never interacted with (drawn once from the seed, so every evaluation uses the same
  candidates), or with `data.full_ranking: true` against every item except the user's other
  interactions. `bundle.evaluate(model, split)` returns {"hr@K", "ndcg@K"} with K = `data.top_k`
  (ties count against the positive, see `kzoo.ranking`).
- `bundle.val` / `bundle.test` hold the same ranking candidates as pointwise batches
  (the held-out item with label 1, its sampled negatives with label 0) for `model.evaluate`.
- `bundle.callbacks` (validation on): a callback adding `val_hr@K` / `val_ndcg@K` to the epoch
  logs; put it before EarlyStopping / ModelCheckpoint in the callback list.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Mapping

import keras
import numpy as np
import tensorflow as tf

from kzoo import ranking
from kzoo.data.bundle import DataBundle
from kzoo.data.movielens import Ratings, read_ratings_file, read_tfds_ratings
from kzoo.data.tfds_source import DataError, DataUnavailableError

SOURCES = ("auto", "tfds", "synthetic")
EVAL_BATCH_SIZE = 16384


# ----------------------------------------------------------------------------------------- id maps
class IdMaps:
    """Raw user / item ids <-> contiguous indices (1..N, 0 = out of vocabulary).

    `user_ids[k]` is the raw id of user index k + 1 (same for items). `save(directory)` writes
    `user_ids.txt` and `item_ids.txt`, one raw id a line in index order; `IdMaps.load` reads them.
    """

    USER_FILE = "user_ids.txt"
    ITEM_FILE = "item_ids.txt"

    def __init__(self, user_ids, item_ids):
        self.user_ids = _as_int_ids(user_ids, "user ids")
        self.item_ids = _as_int_ids(item_ids, "item ids")
        for what, ids in (("user", self.user_ids), ("item", self.item_ids)):
            if np.unique(ids).size != ids.size:
                raise DataError(f"IdMaps: duplicate raw {what} ids")
        self._user_order = np.argsort(self.user_ids, kind="stable")
        self._item_order = np.argsort(self.item_ids, kind="stable")

    @classmethod
    def from_raw(cls, users, items) -> "IdMaps":
        """Build maps numbering the distinct raw ids in increasing order."""
        return cls(np.unique(np.asarray(users, np.int64)), np.unique(np.asarray(items, np.int64)))

    @property
    def num_users(self) -> int:
        return int(self.user_ids.size)

    @property
    def num_items(self) -> int:
        return int(self.item_ids.size)

    def map_users(self, raw) -> np.ndarray:
        """Return int32 indices of raw user ids (ints or digit strings); unknown ids give 0."""
        return _lookup(self.user_ids, self._user_order, raw, "user id")

    def map_items(self, raw) -> np.ndarray:
        """Return int32 indices of raw item ids (ints or digit strings); unknown ids give 0."""
        return _lookup(self.item_ids, self._item_order, raw, "item id")

    def raw_items(self, indices) -> np.ndarray:
        """Return the raw item ids of indices 1..num_items (index 0 gives -1)."""
        indices = np.asarray(indices, np.int64)
        return np.where(indices > 0, self.item_ids[np.clip(indices - 1, 0, None)], -1)

    def model_overrides(self) -> dict:
        """Model config values only the data knows: the user and item counts."""
        return {"num_users": self.num_users, "num_items": self.num_items}

    def save(self, directory) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, ids in ((self.USER_FILE, self.user_ids), (self.ITEM_FILE, self.item_ids)):
            (directory / name).write_text("".join(f"{i}\n" for i in ids.tolist()), encoding="utf-8")

    @classmethod
    def load(cls, directory) -> "IdMaps":
        directory = Path(directory)
        return cls(_read_ids(directory / cls.USER_FILE), _read_ids(directory / cls.ITEM_FILE))

    def __repr__(self) -> str:
        return f"IdMaps(num_users={self.num_users}, num_items={self.num_items})"


def _as_int_ids(values, what: str) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        return values.astype(np.int64).reshape(-1)
    if values.dtype.kind == "O":
        values = values.astype(np.bytes_ if values.size and isinstance(values.flat[0], bytes) else np.str_)
    try:
        return values.astype(np.int64).reshape(-1)
    except (ValueError, TypeError):
        bad = next((v for v in values.reshape(-1).tolist() if not _is_int(v)), values.reshape(-1)[0])
        raise DataError(f"{what}: {bad!r} is not an integer") from None


def _is_int(value) -> bool:
    try:
        int(value)
        return True
    except (ValueError, TypeError):
        return False


def _lookup(ids: np.ndarray, order: np.ndarray, raw, what: str) -> np.ndarray:
    raw = _as_int_ids(raw, what)
    if not ids.size:
        return np.zeros(raw.shape, np.int32)
    pos = np.searchsorted(ids, raw, sorter=order)
    pos = np.clip(pos, 0, ids.size - 1)
    found = ids[order[pos]] == raw
    return np.where(found, order[pos] + 1, 0).astype(np.int32)


def _read_ids(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"id map file {str(path)!r} does not exist")
    ids = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if not _is_int(line.strip()):
            raise DataError(f"{path}:{n}: id {line.strip()!r} is not an integer")
        ids.append(int(line))
    if not ids:
        raise DataError(f"id map file {str(path)!r} is empty")
    return np.asarray(ids, np.int64)


# ---------------------------------------------------------------------------------- leave-one-out
@dataclasses.dataclass
class Interactions:
    """Indexed interactions split leave-one-out; `*_users` / `*_items` are int32 index arrays."""

    num_users: int
    num_items: int
    train_users: np.ndarray
    train_items: np.ndarray
    test_users: np.ndarray
    test_items: np.ndarray
    val_users: np.ndarray | None
    val_items: np.ndarray | None
    all_users: np.ndarray  # every interaction, sorted by user
    all_items: np.ndarray
    notes: list


def leave_one_out(users, items, timestamps, num_users: int, num_items: int, validation: bool) -> Interactions:
    """Split indexed interactions: latest per user -> test, second latest -> val (if asked)."""
    users = np.asarray(users, np.int64)
    items = np.asarray(items, np.int64)
    timestamps = np.asarray(timestamps, np.int64)
    notes = []
    # Deduplicate (user, item) pairs, keeping the latest timestamp.
    order = np.lexsort((timestamps, items, users))
    users, items, timestamps = users[order], items[order], timestamps[order]
    last_of_pair = np.ones(users.size, bool)
    last_of_pair[:-1] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
    if not last_of_pair.all():
        notes.append(f"{int((~last_of_pair).sum())} repeated (user, item) ratings merged (latest kept)")
        users, items, timestamps = users[last_of_pair], items[last_of_pair], timestamps[last_of_pair]
    # Chronological order per user; equal timestamps ordered by a fixed hash of the pair.
    order = np.lexsort((tie_break_key(users, items), timestamps, users))
    users, items = users[order], items[order]
    counts = np.bincount(users, minlength=num_users + 1)
    ends = np.cumsum(counts)
    from_end = ends[users] - 1 - np.arange(users.size)  # 0 = the user's latest interaction
    n_user = counts[users]
    test = (from_end == 0) & (n_user >= 2)
    val = (from_end == 1) & (n_user >= 3) if validation else np.zeros_like(test)
    train = ~(test | val)
    active = counts[1:] > 0
    single = int((counts[1:] == 1).sum())
    if single:
        notes.append(f"{single} users with a single interaction: kept for training, not evaluated")
    if validation:
        two = int((counts[1:] == 2).sum())
        if two:
            notes.append(f"{two} users with two interactions: test item but no validation item")
    notes.append(
        f"{int(active.sum())} users, {num_items} items, {users.size} interactions; "
        f"leave-one-out: {int(test.sum())} test, {int(val.sum())} validation, {int(train.sum())} training positives"
    )
    as32 = lambda a: a.astype(np.int32)  # noqa: E731
    return Interactions(
        num_users=num_users,
        num_items=num_items,
        train_users=as32(users[train]),
        train_items=as32(items[train]),
        test_users=as32(users[test]),
        test_items=as32(items[test]),
        val_users=as32(users[val]) if validation else None,
        val_items=as32(items[val]) if validation else None,
        all_users=as32(users),
        all_items=as32(items),
        notes=notes,
    )


def tie_break_key(users, items) -> np.ndarray:
    """Return a fixed pseudo-random uint64 per (user, item) index pair (splitmix64 of the pair).

    It orders interactions that share a timestamp (415 of the 943 ML-100k users rated several
    movies in their last second). Ordering ties by item id instead would bias the held-out item's
    popularity, because MovieLens ids follow release order: on ML-100k the largest id among the
    ties holds out movies with 124 ratings on average, the smallest 171, this hash 150 (ratings
    overall: 168). The hash depends on neither the seed nor the row order of the source.
    """
    x = (np.asarray(users, np.uint64) << np.uint64(32)) ^ np.asarray(items, np.uint64)
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


# --------------------------------------------------------------------------------------- sampling
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


# --------------------------------------------------------------------------------------- datasets
class _EpochSampler:
    """Generator factory for `tf.data.Dataset.from_generator`: a fresh sample every iteration."""

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


def _train_dataset(sampler: _EpochSampler) -> tf.data.Dataset:
    steps = -(-sampler.rows // sampler.batch_size)
    ds = tf.data.Dataset.from_generator(sampler, output_signature=_SIGNATURE)
    return ds.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(tf.data.AUTOTUNE)


def _pointwise_dataset(users, candidates, valid, batch_size: int) -> tf.data.Dataset:
    labels = np.zeros(candidates.shape, np.float32)
    labels[:, 0] = 1.0
    rows = np.broadcast_to(np.asarray(users, np.int32)[:, None], candidates.shape)
    x = {"user_id": rows[valid].astype(np.int32), "item_id": candidates[valid].astype(np.int32)}
    return tf.data.Dataset.from_tensor_slices((x, labels[valid])).batch(batch_size).prefetch(tf.data.AUTOTUNE)


# ------------------------------------------------------------------------------------- evaluation
def predict_scores(model, users, items, batch_size: int = EVAL_BATCH_SIZE) -> np.ndarray:
    """Return the model's float32 logits for index arrays `users`, `items` (any equal shape)."""
    users = np.asarray(users, np.int32)
    items = np.asarray(items, np.int32)
    x = {"user_id": users.reshape(-1), "item_id": items.reshape(-1)}
    scores = model.predict(x, batch_size=batch_size, verbose=0)
    return np.asarray(scores, np.float32).reshape(users.shape)


class RankingEvaluator:
    """`evaluate(model, split)` for a bundle: HR@K and NDCG@K over the held-out items."""

    def __init__(self, data: Interactions, candidates: dict, top_k: int, full_ranking: bool):
        self.data, self.candidates, self.top_k, self.full_ranking = data, candidates, top_k, full_ranking

    def ranks(self, model, split: str = "test") -> np.ndarray:
        """Return the 0-based rank of each evaluated user's held-out item."""
        if split not in ("val", "test"):
            raise DataError(f"unknown split {split!r} for recommender evaluation; valid splits: val, test")
        if split not in self.candidates:
            raise DataError("split 'val' is not available: set data.validation: true")
        if self.full_ranking:
            users, candidates, _ = self.candidates[split]
            return self._full_ranks(model, users, candidates[:, 0])
        scores, valid = self.candidate_scores(model, split)
        return ranking.rank_of_positive(scores[:, 0], scores[:, 1:], valid[:, 1:])

    def candidate_scores(self, model, split: str = "test"):
        """Return `(scores, valid)`: float32 [U, 1 + M] logits of `split`'s sampled candidates (the
        held-out item first) and the bool mask of real candidates (False = padding)."""
        users, candidates, valid = self.candidates[split]
        return predict_scores(model, np.broadcast_to(users[:, None], candidates.shape), candidates), valid

    def _full_ranks(self, model, users, targets) -> np.ndarray:
        d = self.data
        n = d.num_items
        all_items = np.arange(1, n + 1, dtype=np.int32)
        ranks = np.empty(users.size, np.int64)
        chunk = max(1, EVAL_BATCH_SIZE * 8 // n)
        for a in range(0, users.size, chunk):
            u = users[a : a + chunk]
            scores = predict_scores(model, np.repeat(u, n).reshape(-1, n), np.tile(all_items, (u.size, 1)))
            lo = np.searchsorted(d.all_users, u, "left")
            hi = np.searchsorted(d.all_users, u, "right")
            mask = np.ones(scores.shape, bool)
            rows = np.repeat(np.arange(u.size), hi - lo)
            seen = d.all_items[np.concatenate([np.arange(s, e) for s, e in zip(lo, hi)])]
            mask[rows, seen - 1] = False  # the user's other interactions do not compete
            t = targets[a : a + chunk].astype(np.int64) - 1
            positive = scores[np.arange(u.size), t]
            mask[np.arange(u.size), t] = False
            ranks[a : a + chunk] = ranking.rank_of_positive(positive, scores, mask)
        return ranks

    def __call__(self, model, split: str = "test") -> dict:
        return ranking.ranking_metrics(self.ranks(model, split), self.top_k)


class RankingMetricsCallback(keras.callbacks.Callback):
    """Adds `val_hr@K` and `val_ndcg@K` to the logs at the end of each epoch.

    Place it before EarlyStopping / ModelCheckpoint so they can monitor those keys.
    """

    def __init__(self, evaluate, split: str = "val", prefix: str = "val_"):
        super().__init__()
        self.evaluate, self.split, self.prefix = evaluate, split, prefix

    def on_epoch_end(self, epoch, logs=None):
        metrics = self.evaluate(self.model, self.split)
        if logs is not None:
            logs.update({f"{self.prefix}{k}": v for k, v in metrics.items()})


# ----------------------------------------------------------------------------------------- sources
def synthetic_ratings(seed: int = 0, num_users: int = 200, num_items: int = 300, per_user: int = 25,
                      clusters: int = 8, affinity: float = 20.0) -> Ratings:
    """Generated ratings with learnable structure: users and items fall in `clusters` taste groups,
    and a user picks items of its own group `affinity` + 1 times as often (times a Zipf-like item
    popularity). Each user has between per_user / 2 and per_user * 3 / 2 interactions, with
    increasing timestamps. Deterministic given `seed`."""
    rng = np.random.default_rng([seed, 2017])
    user_cluster = rng.integers(clusters, size=num_users)
    item_cluster = rng.permutation(np.arange(num_items) % clusters)
    popularity = 1.0 / (rng.permutation(num_items) + 10.0) ** 0.8
    weight = popularity[None, :] * (1.0 + affinity * (user_cluster[:, None] == item_cluster[None, :]))
    keys = np.log(weight) + rng.gumbel(size=weight.shape)  # Gumbel top-k: sampling without replacement
    lo, hi = max(2, per_user // 2), max(3, per_user * 3 // 2)
    counts = rng.integers(lo, min(hi, num_items) + 1, size=num_users)
    ranked = np.argsort(-keys, axis=1)
    take = np.arange(num_items)[None, :] < counts[:, None]
    users = np.broadcast_to(np.arange(num_users)[:, None], ranked.shape)[take]
    items = ranked[take]  # in sampled order per user, which becomes their time order
    step = rng.integers(60, 86_400, size=users.size)
    timestamps = 880_000_000 + np.cumsum(step)
    return Ratings(
        users=users.astype(np.int64) + 1,
        items=items.astype(np.int64) + 1,
        ratings=rng.integers(1, 6, size=users.size).astype(np.float32),
        timestamps=timestamps.astype(np.int64),
        name="synthetic/recommendation",
    )


def _read_source(data: Mapping, source, data_dir, seed: int) -> tuple[Ratings, str, list]:
    notes = []
    if isinstance(source, str) and source in SOURCES:
        if source == "synthetic":
            return _synthetic(data, seed), "synthetic", notes
        name = data.get("dataset", "movielens/100k-ratings")
        try:
            return read_tfds_ratings(name, data_dir, download="auto"), "tfds", notes
        except DataUnavailableError as err:
            if source == "tfds":
                raise
            notes.append(f"tfds {name!r} unavailable ({err}); using generated data instead")
            return _synthetic(data, seed), "synthetic", notes
    return read_ratings_file(source), "files", notes


def _synthetic(data: Mapping, seed: int) -> Ratings:
    return synthetic_ratings(
        seed,
        num_users=int(data.get("synthetic_users", 200)),
        num_items=int(data.get("synthetic_items", 300)),
        per_user=int(data.get("synthetic_per_user", 25)),
    )


def _check_settings(data: Mapping) -> dict:
    settings = {
        "validation": bool(data.get("validation", True)),
        "num_negatives": int(data.get("num_negatives", 4)),
        "eval_negatives": int(data.get("eval_negatives", 99)),
        "full_ranking": bool(data.get("full_ranking", False)),
        "top_k": int(data.get("top_k", 10)),
    }
    if settings["num_negatives"] < 0:
        raise DataError(f"data.num_negatives must be >= 0, got {settings['num_negatives']}")
    if settings["eval_negatives"] < 1:
        raise DataError(f"data.eval_negatives must be >= 1, got {settings['eval_negatives']}")
    if settings["top_k"] < 1:
        raise DataError(f"data.top_k must be >= 1, got {settings['top_k']}")
    return settings


def load_recommender_data(
    config: Mapping,
    source="auto",
    data_dir=None,
    seed: int = 0,
    batch_size: int | None = None,
    shard: tuple[int, int] | None = None,
    preprocessor: "IdMaps | None" = None,
) -> DataBundle:
    """Return the leave-one-out implicit-feedback `DataBundle` for an NCF config.

    Args:
      config: resolved config; uses `data.dataset` (tfds name), `data.validation`,
        `data.num_negatives`, `data.eval_negatives`, `data.full_ranking`, `data.top_k`
        and `train.batch_size`.
      source: "auto" (tfds, else generated data), "tfds", "synthetic", or a path to `u.data`,
        `ratings.dat`, `ratings.csv` or a folder holding one.
      data_dir: tfds data directory.
      seed: fixes the evaluation candidates and the per-epoch negatives (epoch e uses seed, e).
      batch_size: training / pointwise evaluation batch size (default `train.batch_size`).
      shard: `(num_workers, index)`: this worker's share of the training positives.
      preprocessor: the `IdMaps` of an earlier run on the same ratings (a resumed or refit run), so
        its model's embedding rows keep their meaning; default: built from the ratings.
    `bundle.preprocessor` is the `IdMaps`; copy its `num_users` / `num_items` into the model config.
    """
    data = config.get("data", {})
    settings = _check_settings(data)
    if batch_size is None:
        batch_size = int(config.get("train", {}).get("batch_size", 256))
    ratings, kind, notes = _read_source(data, source, data_dir, seed)
    if not len(ratings):
        raise DataError(f"{ratings.name}: no ratings")
    maps = preprocessor if preprocessor is not None else IdMaps.from_raw(ratings.users, ratings.items)
    split = leave_one_out(
        maps.map_users(ratings.users), maps.map_items(ratings.items), ratings.timestamps,
        maps.num_users, maps.num_items, settings["validation"],
    )
    notes += split.notes
    if not split.test_users.size:
        raise DataError(f"{ratings.name}: no user has two interactions, nothing to hold out for testing")

    eval_rng = {"test": np.random.default_rng([seed, 202]), "val": np.random.default_rng([seed, 303])}
    candidates = {}
    for name, users, items in (("val", split.val_users, split.val_items), ("test", split.test_users, split.test_items)):
        if users is None:
            continue
        cands, valid = sample_eval_candidates(
            users, items, split.all_users, split.all_items, maps.num_items, settings["eval_negatives"], eval_rng[name]
        )
        candidates[name] = (users, cands, valid)
        short = int((~valid.all(axis=1)).sum())
        if short:
            notes.append(f"{name}: {short} users have fewer than {settings['eval_negatives']} unseen items to rank against")
    evaluator = RankingEvaluator(split, candidates, settings["top_k"], settings["full_ranking"])

    train_users, train_items = split.train_users, split.train_items
    if shard is not None:
        workers, index = shard
        keep = len(train_users) // workers  # equal shards: every worker runs the same number of steps
        train_users, train_items = train_users[index::workers][:keep], train_items[index::workers][:keep]
    positive_keys = np.unique(pair_keys(split.train_users, split.train_items, maps.num_items))
    sampler = _EpochSampler(
        train_users, train_items, maps.num_items, settings["num_negatives"], positive_keys, batch_size, seed
    )
    pointwise = {
        name: _pointwise_dataset(users, cands, valid, batch_size) for name, (users, cands, valid) in candidates.items()
    }
    callbacks = [RankingMetricsCallback(evaluator, "val")] if "val" in candidates else []
    sizes = {"train": sampler.rows}
    sizes.update({name: int(valid.sum()) for name, (_, _, valid) in candidates.items()})
    notes.append(
        f"pointwise val/test rows: each held-out item (label 1) with its {settings['eval_negatives']} "
        f"ranking candidates (label 0); train rows: positives + {settings['num_negatives']} fresh negatives each, per epoch"
    )
    return DataBundle(
        train=_train_dataset(sampler),
        val=pointwise.get("val"),
        test=pointwise["test"],
        source=kind,
        name=ratings.name if kind != "tfds" else data.get("dataset", ratings.name),
        sizes=sizes,
        preprocessor=maps,
        evaluate=evaluator,
        callbacks=callbacks,
        notes=notes,
    )
