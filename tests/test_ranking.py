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
