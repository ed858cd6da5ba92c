"""Ranking evaluation of a recommender: HR@K / NDCG@K of the held-out items, and the epoch callback.

Scoring the test split draws a progress bar on a terminal (`kzoo.progress.bar`); the validation
split, scored after every epoch inside `fit`'s own bar, stays quiet.
"""

from __future__ import annotations

import keras
import numpy as np

from kzoo import progress, ranking
from kzoo.data.recommender.protocol import Interactions
from kzoo.errors import DataError

EVAL_BATCH_SIZE = 16384


def predict_scores(model, users, items, batch_size: int = EVAL_BATCH_SIZE, verbose: int = 0) -> np.ndarray:
    """Return the model's float32 logits for index arrays `users`, `items` (any equal shape)."""
    users = np.asarray(users, np.int32)
    items = np.asarray(items, np.int32)
    x = {"user_id": users.reshape(-1), "item_id": items.reshape(-1)}
    scores = model.predict(x, batch_size=batch_size, verbose=verbose)
    return np.asarray(scores, np.float32).reshape(users.shape)


def pair_scores(model, split: str, users, items) -> np.ndarray:
    """float32 `[U, C]` logits of each user index `users[u]` ([U]) with each of its items `items[u]` ([U, C]),
    from a pointwise model of `{"user_id", "item_id"}` pairs (the NCF models); `split` does not matter."""
    return predict_scores(model, np.broadcast_to(np.asarray(users)[:, None], np.shape(items)), items)


class RankingEvaluator:
    """`evaluate(model, split)` for a bundle: HR@K and NDCG@K over the held-out items.

    `score(model, split, users [U], items [U, C]) -> float32 [U, C]` scores each evaluated user's
    candidates (default `pair_scores`, the pointwise models'); a sequence model's scorer reads each
    user's history before the `split`'s held-out item instead. The ranking, the tie rule, the sampled
    candidates and the full-catalogue mask are the same whatever scores them.
    """

    def __init__(self, data: Interactions, candidates: dict, top_k: int, full_ranking: bool, score=pair_scores):
        self.data, self.candidates, self.top_k, self.full_ranking = data, candidates, top_k, full_ranking
        self.score = score

    def ranks(self, model, split: str = "test") -> np.ndarray:
        """Return the 0-based rank of each evaluated user's held-out item."""
        if split not in ("val", "test"):
            raise DataError(f"unknown split {split!r} for recommender evaluation; valid splits: val, test")
        if split not in self.candidates:
            raise DataError("split 'val' is not available: set data.validation: true")
        shown = split == "test" and progress.interactive()
        if self.full_ranking:
            users, candidates, _ = self.candidates[split]
            return self._full_ranks(model, split, users, candidates[:, 0], shown)
        scores, valid = self.candidate_scores(model, split, verbose=int(shown))
        return ranking.rank_of_positive(scores[:, 0], scores[:, 1:], valid[:, 1:])

    def random_hit_rates(self, split: str = "val") -> np.ndarray:
        """Each `split` user's chance of a hit in the top K under a random ranking: K / (candidates), at most 1."""
        users, candidates, valid = self.candidates[split]
        if self.full_ranking:  # the held-out item against every item the user has not rated
            d = self.data
            seen = np.searchsorted(d.all_users, users, "right") - np.searchsorted(d.all_users, users, "left")
            count = d.num_items - seen + 1
        else:
            count = valid.sum(axis=1)  # the held-out item and its real sampled negatives
        return np.minimum(1.0, self.top_k / np.maximum(count, 1))

    def candidate_scores(self, model, split: str = "test", verbose: int = 0):
        """Return `(scores, valid)`: float32 [U, 1 + M] logits of `split`'s sampled candidates (the
        held-out item first) and the bool mask of real candidates (False = padding)."""
        users, candidates, valid = self.candidates[split]
        if self.score is pair_scores:  # the pointwise models' scoring, with predict's own progress bar
            users = np.broadcast_to(users[:, None], candidates.shape)
            return predict_scores(model, users, candidates, verbose=verbose), valid
        return np.asarray(self.score(model, split, users, candidates), np.float32), valid

    def _full_ranks(self, model, split, users, targets, shown: bool = False) -> np.ndarray:
        d = self.data
        n = d.num_items
        all_items = np.arange(1, n + 1, dtype=np.int32)
        ranks = np.empty(users.size, np.int64)
        chunk = max(1, EVAL_BATCH_SIZE * 8 // n)
        bar = progress.bar(users.size) if shown else None
        for a in range(0, users.size, chunk):
            if bar is not None:
                bar.update(a)
            u = users[a : a + chunk]
            scores = np.asarray(self.score(model, split, u, np.tile(all_items, (u.size, 1))), np.float32)
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
        if bar is not None:
            bar.update(users.size)
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
