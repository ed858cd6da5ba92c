"""Recommendation (implicit feedback): `{"user_id", "item_id"}` int32 indices in, one logit per pair out.

The NCF protocol (`kzoo.data.recommender`): leave-one-out splits, sampled negatives, HR@10 /
NDCG@10 on the held-out item against sampled candidates. The preprocessor is the run's `IdMaps`
(raw ids <-> indices); the export looks raw ids up inside the graph.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kzoo.data.recommender import IdMaps, load_recommender_data
from kzoo.data.recommender.evaluation import RankingEvaluator
from kzoo.data.schemas import RECOMMENDATION_DATA
from kzoo.errors import DataError
from kzoo.signatures import recommender as recommender_signatures
from kzoo.tasks.base import Task, register_task


class LeaveOneOutRanking:
    """What the recommender tasks share (mixed in before `Task`): HR@10 on the `data.validation` split, the
    chance level of a random ranking of its candidates, and the item titles an export carries."""

    monitor, mode = "val_hr@10", "max"
    validation_key = "data.validation"

    def has_validation(self, config):
        return config.data.validation

    def without_validation(self):
        return {"data.validation": False}

    def chance_level(self, config, bundle):
        """A random ranking of each validation user's candidates: its expected HR@K."""
        evaluator = bundle.evaluate
        if not isinstance(evaluator, RankingEvaluator) or "val" not in evaluator.candidates:
            return None
        hits = evaluator.random_hit_rates("val")
        return {"value": float(hits.mean()), "examples": int(hits.size), "guess": "ranking the candidates at random"}

    def write_export_extras(self, preprocessor, directory):
        if getattr(preprocessor, "item_titles", None):  # `tools/predict.py --k` shows them
            preprocessor.write_titles(Path(directory) / preprocessor.TITLE_FILE)


@register_task
class Recommendation(LeaveOneOutRanking, Task):
    """Binary cross-entropy on logits; AUC while training; HR@10 on validation; `data.validation` split."""

    name = "recommendation"
    main_metrics = ("hr@10", "ndcg@10")
    data_schema = RECOMMENDATION_DATA
    predict_example = "--user-id 1 --k 10"  # an unknown id gets the most popular items

    def loss(self):
        return keras.losses.BinaryCrossentropy(from_logits=True)

    def metrics(self):
        return [keras.metrics.AUC(from_logits=True, name="auc")]

    def load_data(self, config, source, data_dir, seed, batch_size, shard, preprocessor=None):
        extra = {"preprocessor": preprocessor} if preprocessor is not None else {}
        return load_recommender_data(config, source, data_dir, seed, batch_size, shard, **extra)

    def load_preprocessor(self, directory: Path) -> IdMaps:
        if not Path(directory).is_dir():
            raise DataError(f"{directory} not found: a recommender run must hold its id maps")
        return IdMaps.load(directory)

    def example_batch(self, config, batch_size=8, seed=0):
        rng = np.random.default_rng(seed)
        model = config.model
        x = {
            "user_id": rng.integers(1, model.num_users + 1, size=(batch_size,)).astype("int32"),
            "item_id": rng.integers(1, model.num_items + 1, size=(batch_size,)).astype("int32"),
        }
        return x, rng.integers(0, 2, size=(batch_size,)).astype("float32")

    def add_serving_endpoints(self, archive, model, config, preprocessor):
        return recommender_signatures.add_endpoints(archive, model, config, preprocessor)

    def tensor_endpoint(self, model, config, preprocessor):
        return recommender_signatures.tensor_endpoint(model, self.example_batch(config)[0])

    def write_preprocessing_assets(self, preprocessor, directory):
        return recommender_signatures.write_assets(preprocessor, directory)

    def tensor_inputs(self, raw, preprocessor):
        return {"user_index": preprocessor.map_users(np.asarray(raw["user_id"])),
                "item_index": preprocessor.map_items(np.asarray(raw["item_id"]))}

    def profile_signatures(self, sample):
        # `recommend` is asked for the top 10 (the NCF protocol's K); its features (the user known, the
        # best score, the fallback) do not depend on k.
        users = {"user_id": np.asarray(sample["user_id"], np.int64), "k": np.int32(10)}
        return {"serving_default": {"user_id": users["user_id"], "item_id": np.asarray(sample["item_id"], np.int64)},
                "recommend": users, "recommend_including_seen": users}

    def known_ids(self, preprocessor):
        return {"user_id": preprocessor.user_ids, "item_id": preprocessor.item_ids}

    def serving_example(self, batch):
        ids = tf.constant(np.arange(1, batch + 1), dtype=tf.int64)
        return {"user_id": ids, "item_id": ids}
