"""HR@K / NDCG@K on a small example worked out by hand."""

import numpy as np
import pytest

from kzoo import ranking

# Four users; each held-out item's score, then its three candidates' scores.
POS = np.array([0.9, 0.5, 0.2, 0.7])
NEG = np.array(
    [
        [0.1, 0.3, 0.8],  # nothing >= 0.9                        -> rank 0
        [0.6, 0.5, 0.1],  # 0.6 above, 0.5 ties (counts against)  -> rank 2
        [0.9, 0.8, 0.7],  # all three above                       -> rank 3
        [0.7, 0.1, 0.2],  # 0.7 ties, but masked out below        -> rank 0
    ]
)
MASK = np.array([[True] * 3, [True] * 3, [True] * 3, [False, True, True]])


def test_ranks_are_pessimistic_and_respect_the_mask():
    np.testing.assert_array_equal(ranking.rank_of_positive(POS, NEG, MASK), [0, 2, 3, 0])
    # Without the mask the last user's tie counts against it.
    np.testing.assert_array_equal(ranking.rank_of_positive(POS, NEG), [0, 2, 3, 1])


@pytest.mark.smoke
def test_hand_checked_hr_and_ndcg():
    ranks = np.array([0, 2, 3, 0])
    # K=3: ranks 0, 2, 0 are hits -> HR = 3/4.
    # NDCG gains: 1/log2(0+2) = 1, 1/log2(2+2) = 1/2, 0 (rank 3 >= K), 1 -> (1 + .5 + 0 + 1) / 4.
    assert ranking.hr_at_k(ranks, 3) == pytest.approx(0.75)
    assert ranking.ndcg_at_k(ranks, 3) == pytest.approx(0.625)
    # K=2: only the two rank-0 users hit, each with gain 1.
    assert ranking.hr_at_k(ranks, 2) == pytest.approx(0.5)
    assert ranking.ndcg_at_k(ranks, 2) == pytest.approx(0.5)
    # K=4: every user hits; the rank-3 user adds 1/log2(5).
    assert ranking.ndcg_at_k(ranks, 4) == pytest.approx((2.5 + 1 / np.log2(5)) / 4)
    assert ranking.ranking_metrics(ranks, 3) == {"hr@3": pytest.approx(0.75), "ndcg@3": pytest.approx(0.625)}


def test_score_based_helpers_match_the_rank_based_ones():
    assert ranking.hit_rate_at_k(POS, NEG, 3, MASK) == pytest.approx(0.75)
    assert ranking.ndcg_at_k_from_scores(POS, NEG, 3, MASK) == pytest.approx(0.625)


def test_constant_scores_get_the_worst_rank_and_nan_is_never_a_hit():
    assert ranking.rank_of_positive([1.0], [[1.0, 1.0, 1.0]])[0] == 3
    assert ranking.rank_of_positive([np.nan], [[0.0, 1.0]])[0] == 2


def test_bad_arguments():
    with pytest.raises(ValueError, match="k must be"):
        ranking.hr_at_k([0, 1], 0)
    with pytest.raises(ValueError, match=r"\[N, M\]"):
        ranking.rank_of_positive([1.0, 2.0], [[0.0]])
    with pytest.raises(ValueError, match="mask shape"):
        ranking.rank_of_positive([1.0], [[0.0, 1.0]], [[True]])


def test_full_catalogue_hr_and_ndcg_of_a_hand_worked_case():
    """Full ranking: the held-out item against every item its user has not rated, never against itself.

    6 items. User 1 rated 1, 2, 3 (3 held out); user 2 rated 4, 6 (6 held out). Scores by item:

        user 1: 9 8 [5] 6 4 1   -> 1 and 2 are rated: out; 4 (6) is above 5: rank 1
        user 2: 2 5 3 10 1 [6]  -> 4 is rated: out; nothing unrated is above 6: rank 0

    HR@2 = 1, NDCG@2 = (1/log2(3) + 1/log2(2)) / 2; HR@1 = NDCG@1 = 1/2. Letting rated items compete
    gives ranks (3, 1), ranking the target against itself (a tie, counted against it) gives (2, 1):
    HR@2 = 1/2 either way.
    """
    from kzoo.data.recommender.evaluation import RankingEvaluator
    from kzoo.data.recommender.protocol import Interactions

    table = {1: [9, 8, 5, 6, 4, 1], 2: [2, 5, 3, 10, 1, 6]}

    class ByTable:  # `predict_scores` calls model.predict({"user_id", "item_id"})
        def predict(self, x, batch_size=None, verbose=0):
            return np.array([table[u][i - 1] for u, i in zip(x["user_id"], x["item_id"])], np.float32)

    empty = np.zeros(0, np.int32)
    data = Interactions(num_users=2, num_items=6, train_users=empty, train_items=empty, test_users=np.array([1, 2]),
                        test_items=np.array([3, 6]), val_users=None, val_items=None,
                        all_users=np.array([1, 1, 1, 2, 2]), all_items=np.array([1, 2, 3, 4, 6]), notes=[])
    targets = np.array([[3], [6]])  # the held-out item first, as the loader lays out candidates
    evaluator = RankingEvaluator(data, {"test": (np.array([1, 2]), targets, np.ones_like(targets, bool))}, 2, True)
    np.testing.assert_array_equal(evaluator.ranks(ByTable(), "test"), [1, 0])
    assert evaluator(ByTable(), "test") == pytest.approx({"hr@2": 1.0, "ndcg@2": (1 / np.log2(3) + 1) / 2})
    evaluator.top_k = 1
    assert evaluator(ByTable(), "test") == pytest.approx({"hr@1": 0.5, "ndcg@1": 0.5})
