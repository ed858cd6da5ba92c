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

Modules: `ids` (`IdMaps`, the id map files), `protocol` (the leave-one-out split), `sampling`
(training negatives, evaluation candidates, their datasets), `evaluation` (`RankingEvaluator`,
the epoch callback), `seen` (`SeenItems`: each user's interactions, which serving leaves out), `synthetic` (generated ratings), `loader` (`load_recommender_data`),
`sequences` (the same split read as ordered histories for sequential recommenders: `load_sequence_data`).
"""

from kzoo.data.recommender.evaluation import EVAL_BATCH_SIZE, RankingEvaluator, RankingMetricsCallback, predict_scores
from kzoo.data.recommender.ids import IdMaps, read_ids
from kzoo.data.recommender.loader import SOURCES, load_recommender_data
from kzoo.data.recommender.protocol import Interactions, leave_one_out, tie_break_key
from kzoo.data.recommender.sampling import pair_keys, sample_eval_candidates, sample_negatives
from kzoo.data.recommender.seen import SeenItems
from kzoo.data.recommender.synthetic import synthetic_ratings

__all__ = ["EVAL_BATCH_SIZE", "IdMaps", "Interactions", "RankingEvaluator", "RankingMetricsCallback", "SOURCES", "SeenItems",
           "leave_one_out", "load_recommender_data", "pair_keys", "predict_scores", "read_ids",
           "sample_eval_candidates", "sample_negatives", "synthetic_ratings", "tie_break_key"]
