"""Top-K ranking metrics for leave-one-out recommendation: HR@K and NDCG@K.

Each evaluated user has one held-out positive item, scored against a set of candidate negatives
(or all items). The positive's 0-based rank is the number of candidates scored above it; ties
count against the positive (pessimistic), so a model that gives every item the same score gets
the worst rank, not the best. Then, with one relevant item per user:

    HR@K   = mean(rank < K)
    NDCG@K = mean(1 / log2(rank + 2) if rank < K else 0)

All functions are pure NumPy.
"""

from __future__ import annotations

import numpy as np


def rank_of_positive(positive_scores, negative_scores, mask=None) -> np.ndarray:
    """Return the 0-based rank of each positive among its negatives, ties counted pessimistically.

    Args:
      positive_scores: [N] score of each user's held-out item.
      negative_scores: [N, M] scores of the candidates it is ranked against.
      mask: optional bool [N, M]; False marks padding candidates that do not count.
    A NaN positive score gets the worst rank (the number of valid candidates); NaN negatives
    count as scored above the positive.
    Returns int64 [N].
    """
    pos = np.asarray(positive_scores, dtype=np.float64).reshape(-1, 1)
    neg = np.asarray(negative_scores, dtype=np.float64)
    if neg.ndim != 2 or neg.shape[0] != pos.shape[0]:
        raise ValueError(f"negative_scores must be [N, M] with N={pos.shape[0]}, got shape {neg.shape}")
    above = ~(neg < pos)  # >=, and True whenever either side is NaN
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != neg.shape:
            raise ValueError(f"mask shape {mask.shape} does not match negative_scores {neg.shape}")
        above &= mask
    return above.sum(axis=1).astype(np.int64)


def hr_at_k(ranks, k: int) -> float:
    """Hit rate: the fraction of 0-based `ranks` below `k`."""
    ranks = _check(ranks, k)
    return float(np.mean(ranks < k)) if ranks.size else 0.0


def ndcg_at_k(ranks, k: int) -> float:
    """Mean NDCG@k with one relevant item per user: 1/log2(rank + 2) when rank < k, else 0."""
    ranks = _check(ranks, k)
    if not ranks.size:
        return 0.0
    gains = np.where(ranks < k, 1.0 / np.log2(ranks.astype(np.float64) + 2.0), 0.0)
    return float(np.mean(gains))


def hit_rate_at_k(positive_scores, negative_scores, k: int, mask=None) -> float:
    """HR@k straight from scores (see `rank_of_positive` for the tie rule)."""
    return hr_at_k(rank_of_positive(positive_scores, negative_scores, mask), k)


def ndcg_at_k_from_scores(positive_scores, negative_scores, k: int, mask=None) -> float:
    """NDCG@k straight from scores (see `rank_of_positive` for the tie rule)."""
    return ndcg_at_k(rank_of_positive(positive_scores, negative_scores, mask), k)


def ranking_metrics(ranks, k: int) -> dict:
    """Return {"hr@k": ..., "ndcg@k": ...} for 0-based `ranks`."""
    return {f"hr@{k}": hr_at_k(ranks, k), f"ndcg@{k}": ndcg_at_k(ranks, k)}


def _check(ranks, k: int) -> np.ndarray:
    if int(k) <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    ranks = np.asarray(ranks)
    if ranks.size and ranks.min() < 0:
        raise ValueError("ranks are 0-based and must be >= 0")
    return ranks
