"""Generated implicit-feedback ratings with learnable taste clusters, for tests and offline runs."""

from __future__ import annotations

import numpy as np

from kzoo.data.movielens import Ratings


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
